//! Catalog queries and staff mutations.
//!
//! By topic: `types.rs` (products, connections, facets, suggestions and the category loader)
//! and `mutations.rs` (staff writes and their inputs); here, the query root.

use async_graphql::{Context, Object, Result};
use emporium_catalog as catalog;

use crate::auth::Principal;
use crate::availability;
use crate::dto::CategoryDto;
use crate::error::ApiError;
use crate::graphql::money::Amount;
use crate::state::AppState;
use crate::usecases::products;

mod mutations;
mod types;

pub use mutations::CatalogMutation;
pub(crate) use mutations::patch;
use types::{
    CategoryConnection, CategoryEdge, FacetsInput, OptionFilterInput, Product, ProductConnection, ProductEdge,
    ProductSort, StatusFilter, Suggestion, to_product,
};
pub use types::{CategoryLoader, PageInfo};
pub(crate) use types::{Product as ProductNode, to_product as product_node};

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
        let found = crate::infra::search::suggestions(state, Some(&query), Some(first), ("query", "first"))?;
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
