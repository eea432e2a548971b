//! Catalog queries and staff mutations.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};
use emporium_catalog as catalog;
use emporium_core::Patch;
use emporium_customers::Permission;

use super::money::{Amount, MoneyInput};
use crate::auth::Principal;
use crate::availability;
use crate::dto::{
    CategoryDto, ImageDto, NewCategoryDto, OptionValue, ProductDto, ProductOptionDto, StatusDto, VariantDto,
};
use crate::error::ApiError;
use crate::infra::cache::Doc;
use crate::state::AppState;
use crate::usecases;
use crate::usecases::products;

/// Batches category lookups of a whole product list into one query.
pub struct CategoryLoader(pub AppState);

impl Loader<String> for CategoryLoader {
    type Value = CategoryDto;
    type Error = Arc<async_graphql::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let found = catalog::categories_by_ids(&self.0.db, keys)
            .await
            .map_err(|e| Arc::new(async_graphql::Error::from(ApiError::database(&e))))?;
        Ok(found.into_iter().map(|c| (c.id.clone(), c.into())).collect())
    }
}

/// A product: a view of its cached read document, resolved without copying it, and its
/// variants' availability (aligned with them) looked up for this request.
#[derive(Clone)]
pub struct Product(Arc<ProductDto>, Arc<[i64]>);

#[Object]
impl Product {
    async fn id(&self) -> &str {
        &self.0.id
    }

    async fn slug(&self) -> &str {
        &self.0.slug
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn status(&self) -> StatusDto {
        match self.0.status {
            catalog::ProductStatus::Draft => StatusDto::Draft,
            catalog::ProductStatus::Published => StatusDto::Published,
        }
    }

    async fn seo_title(&self) -> Option<&str> {
        self.0.seo_title.as_deref()
    }

    async fn seo_description(&self) -> Option<&str> {
        self.0.seo_description.as_deref()
    }

    async fn category_ids(&self) -> &[String] {
        &self.0.category_ids
    }

    async fn options(&self) -> &[ProductOptionDto] {
        &self.0.options
    }

    async fn images(&self) -> &[ImageDto] {
        &self.0.images
    }

    /// Variants in the order they were added.
    async fn variants(&self) -> Vec<VariantDto> {
        self.0
            .variants
            .iter()
            .zip(self.1.iter())
            .map(|(variant, available)| VariantDto { available: *available, ..variant.clone() })
            .collect()
    }

    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }

    /// The product's categories (batched across a list).
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<CategoryDto>> {
        let loader = ctx.data::<DataLoader<CategoryLoader>>()?;
        let found = loader.load_many(self.0.category_ids.iter().cloned()).await.map_err(|e| (*e).clone())?;
        Ok(self.0.category_ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }
}

fn to_product(doc: &Doc, figures: &[i64]) -> Result<Product> {
    Ok(Product(doc.product().map_err(|e| ApiError::internal(&e))?, Arc::from(figures)))
}

/// How products are ordered.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    /// Best match first (the default with `query`).
    Relevance,
    /// Most recently created first (the default without `query`).
    Newest,
    Name,
    PriceAsc,
    PriceDesc,
}

impl From<ProductSort> for catalog::ProductSort {
    fn from(sort: ProductSort) -> Self {
        match sort {
            ProductSort::Relevance => Self::Relevance,
            ProductSort::Newest => Self::Newest,
            ProductSort::Name => Self::Name,
            ProductSort::PriceAsc => Self::PriceAsc,
            ProductSort::PriceDesc => Self::PriceDesc,
        }
    }
}

/// Which statuses a staff list includes.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Draft,
    Published,
    All,
}

impl From<StatusFilter> for catalog::StatusFilter {
    fn from(status: StatusFilter) -> Self {
        match status {
            StatusFilter::Draft => Self::Draft,
            StatusFilter::Published => Self::Published,
            StatusFilter::All => Self::All,
        }
    }
}

/// Where a page of a connection starts and ends (Relay's `PageInfo`).
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether another page follows.
    pub has_next_page: bool,
    /// Whether this page was asked for after a cursor (so items come before it).
    pub has_previous_page: bool,
    /// The first edge's cursor.
    pub start_cursor: Option<String>,
    /// The last edge's cursor: pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub(crate) fn of(cursors: &[&str], has_next_page: bool, after: bool) -> Self {
        Self {
            has_next_page,
            has_previous_page: after,
            start_cursor: cursors.first().map(|c| (*c).to_owned()),
            end_cursor: cursors.last().map(|c| (*c).to_owned()),
        }
    }
}

/// A product in a connection, with the cursor that continues after it.
#[derive(SimpleObject)]
pub struct ProductEdge {
    pub cursor: String,
    pub node: Product,
}

/// A page of products (a Relay connection; `nodes` is a shortcut to the edges' nodes).
#[derive(SimpleObject)]
pub struct ProductConnection {
    pub edges: Vec<ProductEdge>,
    pub nodes: Vec<Product>,
    pub page_info: PageInfo,
    /// Products matching the query and every filter, over all pages.
    pub total_count: i64,
    /// The counts `facets` asked for; null without it.
    pub facets: Option<ProductFacets>,
}

/// A completion of a search box's text.
pub struct Suggestion(emporium_search::Suggestion);

#[Object]
impl Suggestion {
    /// `CATEGORY` or `PRODUCT`.
    async fn kind(&self) -> SuggestionKind {
        match self.0 {
            emporium_search::Suggestion::Category { .. } => SuggestionKind::Category,
            emporium_search::Suggestion::Product { .. } => SuggestionKind::Product,
        }
    }

    /// The name to show and search for.
    async fn text(&self) -> &str {
        match &self.0 {
            emporium_search::Suggestion::Category { name, .. } | emporium_search::Suggestion::Product { name, .. } => {
                name
            }
        }
    }

    async fn id(&self) -> &str {
        match &self.0 {
            emporium_search::Suggestion::Category { id, .. } | emporium_search::Suggestion::Product { id, .. } => id,
        }
    }

    /// For a link: the product's slug, or the `category` filter's.
    async fn slug(&self) -> &str {
        match &self.0 {
            emporium_search::Suggestion::Category { slug, .. } | emporium_search::Suggestion::Product { slug, .. } => {
                slug
            }
        }
    }
}

/// What a completion names.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SuggestionKind {
    Category,
    Product,
}

/// Products to keep: those with a variant having one of `values` for option `name`.
#[derive(InputObject)]
pub struct OptionFilterInput {
    pub name: String,
    pub values: Vec<String>,
}

/// Facets to count, each with the other filters applied and its own left out.
#[derive(InputObject, Default)]
pub struct FacetsInput {
    /// Per category (by slug), its sub-categories' products included.
    #[graphql(default)]
    pub category: bool,
    /// Per value of each option named.
    #[graphql(default)]
    pub options: Vec<String>,
    /// Per price band in the list's `currency`.
    #[graphql(default)]
    pub price: bool,
}

/// One facet value and how many products have it.
#[derive(SimpleObject)]
pub struct FacetValue {
    pub value: String,
    pub count: i64,
}

/// The counts of one option's values.
#[derive(SimpleObject)]
pub struct OptionFacet {
    pub name: String,
    pub values: Vec<FacetValue>,
}

/// Products whose lowest matching price lies in `[min, max)` (no `max`: and above).
#[derive(SimpleObject)]
pub struct PriceBandCount {
    pub min: Amount,
    pub max: Option<Amount>,
    pub count: i64,
}

/// Facet counts of a product list.
#[derive(SimpleObject)]
pub struct ProductFacets {
    pub category: Option<Vec<FacetValue>>,
    pub options: Vec<OptionFacet>,
    pub price: Option<Vec<PriceBandCount>>,
}

impl From<emporium_search::Facets> for ProductFacets {
    fn from(facets: emporium_search::Facets) -> Self {
        let values = |list: Vec<emporium_search::FacetCount>| -> Vec<FacetValue> {
            list.into_iter().map(|c| FacetValue { value: c.value, count: c.count as i64 }).collect()
        };
        Self {
            category: facets.category.map(values),
            options: facets
                .options
                .into_iter()
                .map(|(name, list)| OptionFacet { name, values: values(list) })
                .collect(),
            price: facets.price.map(|bands| {
                bands
                    .into_iter()
                    .map(|b| PriceBandCount { min: Amount(b.min), max: b.max.map(Amount), count: b.count as i64 })
                    .collect()
            }),
        }
    }
}

/// A category in a connection.
#[derive(SimpleObject)]
pub struct CategoryEdge {
    pub cursor: String,
    pub node: CategoryDto,
}

/// A page of categories, oldest first.
#[derive(SimpleObject)]
pub struct CategoryConnection {
    pub edges: Vec<CategoryEdge>,
    pub nodes: Vec<CategoryDto>,
    pub page_info: PageInfo,
}

/// Catalog reads.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// A product by id or slug; drafts only for staff.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn product(&self, ctx: &Context<'_>, id_or_slug: String) -> Result<Option<Product>> {
        let state = ctx.data::<AppState>()?;
        let principal = ctx.data::<Principal>()?;
        match products::read(state, principal, &id_or_slug).await {
            Ok(doc) => {
                // Availability is looked up only when the query asks for it.
                let figures = if ctx.look_ahead().field("variants").field("available").exists() {
                    availability::figures(state, &doc.template.variant_ids).await?
                } else {
                    vec![0; doc.template.variant_ids.len()]
                };
                Ok(Some(to_product(&doc, &figures)?))
            }
            Err(e) if e.code == "not_found" => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Products, as `GET /v1/products` lists them.
    #[expect(clippy::too_many_arguments, reason = "one argument per list filter, as GraphQL declares them")]
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
        query: Option<String>,
        category: Option<String>,
        sort: Option<ProductSort>,
        currency: Option<String>,
        status: Option<StatusFilter>,
        #[graphql(desc = "Only products with a variant that can be bought now.")] in_stock: Option<bool>,
        #[graphql(desc = "Only products with a variant priced at least this in `currency`.")] price_min: Option<Amount>,
        #[graphql(desc = "Only products with a variant priced at most this in `currency`.")] price_max: Option<Amount>,
        #[graphql(desc = "Option values a variant must have (any of each option's values).")] options: Option<
            Vec<OptionFilterInput>,
        >,
        #[graphql(desc = "Facets to count on the connection.")] facets: Option<FacetsInput>,
    ) -> Result<ProductConnection> {
        let state = ctx.data::<AppState>()?;
        let principal = ctx.data::<Principal>()?;
        let had_cursor = after.is_some();
        let look = ctx.look_ahead();
        // The total is counted with the facets: asking for it alone asks for no facet.
        let facets = match facets {
            Some(f) => Some(f),
            None if look.field("totalCount").exists() => Some(FacetsInput::default()),
            None => None,
        };
        let facets =
            facets.map(|f| catalog::FacetSelection { category: f.category, options: f.options, price: f.price });
        let input = products::ListInput {
            limit: Some(first),
            cursor: after,
            q: query,
            category,
            sort: sort.map(Into::into),
            currency,
            status: status.map(Into::into),
            in_stock,
            price_min: price_min.map(|a| a.0),
            price_max: price_max.map(|a| a.0),
            options: options.unwrap_or_default().into_iter().map(|o| (o.name, o.values)).collect(),
            facets,
        };
        let request = input.check(principal, &products::ListFields::GRAPHQL, Default::default())?;
        let page = products::list(state, &request).await?;
        // One batch of availability for the whole page, when the query asks for it.
        let ids: Vec<String> = page.docs().flat_map(|d| d.template.variant_ids.iter().cloned()).collect();
        let wanted = look.field("nodes").field("variants").field("available").exists()
            || look.field("edges").field("node").field("variants").field("available").exists();
        let figures = if wanted { availability::figures(state, &ids).await? } else { vec![0; ids.len()] };
        let mut edges = Vec::with_capacity(page.items.len());
        let mut at = 0;
        for (doc, cursor) in &page.items {
            let count = doc.template.variant_ids.len();
            edges.push(ProductEdge { cursor: cursor.clone(), node: to_product(doc, &figures[at..at + count])? });
            at += count;
        }
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor.as_str()).collect();
        let page_info = PageInfo::of(&cursors, page.next_cursor.is_some(), had_cursor);
        let total_count = page.total.unwrap_or(page.items.len()) as i64;
        Ok(ProductConnection {
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            edges,
            page_info,
            total_count,
            facets: page.facets.map(Into::into),
        })
    }

    /// Up to 8 completions (category and product names) of what a shopper has typed, as
    /// `GET /v1/search/suggest` gives them.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + first.clamp(0, 8) as usize * child_complexity")]
    async fn search_suggestions(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default = 8)] first: i64,
    ) -> Result<Vec<Suggestion>> {
        let state = ctx.data::<AppState>()?;
        let found = crate::search::suggestions(state, Some(&query), Some(first), ("query", "first"))?;
        Ok(found.into_iter().map(Suggestion).collect())
    }

    /// Categories, oldest first; a client builds the tree from `parentId`.
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i64,
        after: Option<String>,
    ) -> Result<CategoryConnection> {
        let state = ctx.data::<AppState>()?;
        let had_cursor = after.is_some();
        let (rows, next) = products::list_categories(state, Some(first), "first", after.as_deref()).await?;
        let edges: Vec<CategoryEdge> =
            rows.into_iter().map(|(c, cursor)| CategoryEdge { cursor, node: c.into() }).collect();
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor.as_str()).collect();
        let page_info = PageInfo::of(&cursors, next.is_some(), had_cursor);
        Ok(CategoryConnection { nodes: edges.iter().map(|e| e.node.clone()).collect(), edges, page_info })
    }

    /// A category by id or slug.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn category(&self, ctx: &Context<'_>, id_or_slug: String) -> Result<Option<CategoryDto>> {
        let state = ctx.data::<AppState>()?;
        if !emporium_core::db::lookupable(&id_or_slug) {
            return Ok(None);
        }
        let found = catalog::get_category(&state.db, &id_or_slug).await.map_err(|e| ApiError::database(&e))?;
        Ok(found.map(Into::into))
    }
}

/// A variant in `createProduct` and `addVariant`.
#[derive(InputObject)]
pub struct VariantInput {
    pub sku: String,
    pub title: Option<String>,
    #[graphql(default)]
    pub options: Vec<OptionValue>,
    pub prices: Vec<MoneyInput>,
}

/// `updateVariant`'s input: fields left out stay; `prices` replaces the whole list.
#[derive(InputObject)]
pub struct UpdateVariantInput {
    pub sku: async_graphql::MaybeUndefined<String>,
    pub title: async_graphql::MaybeUndefined<String>,
    pub options: async_graphql::MaybeUndefined<Vec<OptionValue>>,
    pub prices: async_graphql::MaybeUndefined<Vec<MoneyInput>>,
}

impl From<VariantInput> for catalog::NewVariant {
    fn from(v: VariantInput) -> Self {
        Self {
            sku: v.sku,
            title: v.title,
            options: v.options.into_iter().map(|o| (o.name, o.value)).collect(),
            prices: v.prices.into_iter().map(Into::into).collect(),
        }
    }
}

/// `createProduct`'s input.
#[derive(InputObject)]
pub struct CreateProductInput {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub status: StatusDto,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    #[graphql(default)]
    pub category_ids: Vec<String>,
    #[graphql(default)]
    pub options: Vec<ProductOptionDto>,
    #[graphql(default)]
    pub images: Vec<ImageDto>,
    pub variants: Vec<VariantInput>,
}

/// `updateProduct`'s input: fields left out stay; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateProductInput {
    pub name: async_graphql::MaybeUndefined<String>,
    pub slug: async_graphql::MaybeUndefined<String>,
    pub description: async_graphql::MaybeUndefined<String>,
    pub status: async_graphql::MaybeUndefined<StatusDto>,
    pub seo_title: async_graphql::MaybeUndefined<String>,
    pub seo_description: async_graphql::MaybeUndefined<String>,
    pub category_ids: async_graphql::MaybeUndefined<Vec<String>>,
    pub options: async_graphql::MaybeUndefined<Vec<ProductOptionDto>>,
    pub images: async_graphql::MaybeUndefined<Vec<ImageDto>>,
}

pub(crate) fn patch<T>(value: async_graphql::MaybeUndefined<T>) -> Patch<T> {
    match value {
        async_graphql::MaybeUndefined::Undefined => Patch::Missing,
        async_graphql::MaybeUndefined::Null => Patch::Null,
        async_graphql::MaybeUndefined::Value(v) => Patch::Value(v),
    }
}

/// Staff catalog writes.
#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Creates a product with its variants, all or nothing.
    async fn create_product(&self, ctx: &Context<'_>, input: CreateProductInput) -> Result<Product> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let input = catalog::NewProduct {
            name: input.name,
            slug: input.slug,
            description: input.description,
            status: input.status.into(),
            seo_title: input.seo_title,
            seo_description: input.seo_description,
            category_ids: input.category_ids,
            options: input
                .options
                .into_iter()
                .map(|o| catalog::ProductOption { name: o.name, values: o.values })
                .collect(),
            images: input.images.into_iter().map(|i| catalog::Image { url: i.url, alt: i.alt }).collect(),
            variants: input.variants.into_iter().map(Into::into).collect(),
        };
        let written = usecases::catalog::create_product(state, &crate::graphql::claim(ctx), input).await?;
        to_product(&written.doc, &written.figures)
    }

    /// Changes a product's own fields.
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id_or_slug: String,
        input: UpdateProductInput,
    ) -> Result<Product> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let patch_input = catalog::ProductPatch {
            name: patch(input.name),
            slug: patch(input.slug),
            description: patch(input.description),
            status: patch(input.status).map(Into::into),
            seo_title: patch(input.seo_title),
            seo_description: patch(input.seo_description),
            category_ids: patch(input.category_ids),
            options: patch(input.options)
                .map(|os| os.into_iter().map(|o| catalog::ProductOption { name: o.name, values: o.values }).collect()),
            images: patch(input.images)
                .map(|is| is.into_iter().map(|i| catalog::Image { url: i.url, alt: i.alt }).collect()),
        };
        let claim = crate::graphql::claim(ctx);
        let written = usecases::catalog::update_product(state, &claim, &id_or_slug, patch_input).await?;
        to_product(&written.doc, &written.figures)
    }

    /// Deletes a product.
    async fn delete_product(&self, ctx: &Context<'_>, id_or_slug: String) -> Result<bool> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        usecases::catalog::delete_product(state, &crate::graphql::claim(ctx), &id_or_slug).await?;
        Ok(true)
    }

    /// Adds a variant to a product.
    async fn add_variant(&self, ctx: &Context<'_>, product: String, input: VariantInput) -> Result<VariantDto> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let claim = crate::graphql::claim(ctx);
        Ok(usecases::catalog::add_variant(state, &claim, &product, input.into()).await?.variant)
    }

    /// Changes a variant.
    async fn update_variant(
        &self,
        ctx: &Context<'_>,
        product: String,
        variant_id: String,
        input: UpdateVariantInput,
    ) -> Result<VariantDto> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let patch_input = catalog::VariantPatch {
            sku: patch(input.sku),
            title: patch(input.title),
            options: patch(input.options).map(|os| os.into_iter().map(|o| (o.name, o.value)).collect()),
            prices: patch(input.prices).map(|ps| ps.into_iter().map(Into::into).collect()),
        };
        let claim = crate::graphql::claim(ctx);
        Ok(usecases::catalog::update_variant(state, &claim, &product, &variant_id, patch_input).await?.variant)
    }

    /// Deletes a variant; a product keeps at least one (`last_variant`).
    async fn delete_variant(&self, ctx: &Context<'_>, product: String, variant_id: String) -> Result<bool> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        usecases::catalog::delete_variant(state, &crate::graphql::claim(ctx), &product, &variant_id).await?;
        Ok(true)
    }

    /// Creates a category.
    async fn create_category(&self, ctx: &Context<'_>, input: NewCategoryDto) -> Result<CategoryDto> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        Ok(usecases::catalog::create_category(state, &crate::graphql::claim(ctx), input.into()).await?.0)
    }
}
