//! The catalog's GraphQL types: products as views of their cached documents, connections,
//! facets, suggestions, and the loader that batches categories.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};
use emporium_catalog as catalog;

use crate::dto::{CategoryDto, ImageDto, ProductDto, ProductOptionDto, StatusDto, VariantDto};
use crate::error::ApiError;
use crate::graphql::money::Amount;
use crate::infra::cache::Doc;
use crate::state::AppState;

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

    /// Moved by every change of the product or its variants (not by stock): pass it as
    /// `expectedVersion` to change it only if no one else did meanwhile.
    async fn version(&self) -> i64 {
        self.0.version
    }

    /// Over the product's approved reviews.
    async fn rating(&self) -> Rating {
        Rating(self.0.rating.clone())
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

/// A product's rating over its approved reviews.
pub struct Rating(crate::dto::RatingDto);

#[Object]
impl Rating {
    /// The average number of stars with two places (`"4.50"`), rounded half to even; `"0.00"`
    /// without reviews.
    async fn average(&self) -> &str {
        &self.0.average
    }

    /// Approved reviews.
    async fn count(&self) -> i64 {
        self.0.count
    }

    /// Approved reviews per number of stars, 1 to 5, each listed.
    async fn histogram(&self) -> Vec<StarCount> {
        self.0
            .histogram
            .iter()
            .map(|(stars, count)| StarCount { stars: stars.parse().unwrap_or_default(), count: *count })
            .collect()
    }
}

/// How many approved reviews gave a number of stars.
#[derive(SimpleObject)]
pub struct StarCount {
    pub stars: i32,
    pub count: i64,
}

pub(crate) fn to_product(doc: &Doc, figures: &[i64]) -> Result<Product> {
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
    /// Best rated first (average, then number of approved reviews); unrated products last.
    Rating,
}

impl From<ProductSort> for catalog::ProductSort {
    fn from(sort: ProductSort) -> Self {
        match sort {
            ProductSort::Relevance => Self::Relevance,
            ProductSort::Newest => Self::Newest,
            ProductSort::Name => Self::Name,
            ProductSort::PriceAsc => Self::PriceAsc,
            ProductSort::PriceDesc => Self::PriceDesc,
            ProductSort::Rating => Self::Rating,
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
pub struct Suggestion(pub(super) emporium_search::Suggestion);

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
