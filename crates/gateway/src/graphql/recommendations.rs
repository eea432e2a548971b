//! Recommendations over GraphQL: the same use cases as the REST routes.

use async_graphql::{Context, Object, Result, SimpleObject};

use crate::graphql::catalog::{ProductNode, product_node};
use crate::usecases::recommendations::{self, Reason, Recommended};

/// A product bought together with another.
#[derive(SimpleObject)]
pub struct BoughtTogether {
    pub product: ProductNode,
    /// Paid orders (not cancelled) that held both.
    pub orders_together: i64,
}

/// A product recommended to the signed-in customer.
#[derive(SimpleObject)]
pub struct Recommendation {
    pub product: ProductNode,
    pub reason: Reason,
}

fn nodes<T: Copy, N>(found: Vec<Recommended<T>>, node: impl Fn(ProductNode, T) -> N) -> Result<Vec<N>> {
    found.into_iter().map(|r| Ok(node(product_node(&r.doc, &r.figures)?, r.why))).collect()
}

/// Recommendation reads.
#[derive(Default)]
pub struct RecommendationQuery;

#[Object]
impl RecommendationQuery {
    /// The published, in-stock products most often bought in the same orders as this one
    /// (`limit` 1 to 20, default 4).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + limit.clamp(0, 20) as usize * child_complexity")]
    async fn frequently_bought_together(
        &self,
        ctx: &Context<'_>,
        id_or_slug: String,
        #[graphql(default = 4)] limit: i64,
    ) -> Result<Vec<BoughtTogether>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let limit = recommendations::limit(Some(limit))?;
        let found = recommendations::bought_together(state, principal, &id_or_slug, limit).await?;
        nodes(found, |product, orders_together| BoughtTogether { product, orders_together })
    }

    /// What the signed-in customer may like next (`limit` 1 to 20, default 4).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + limit.clamp(0, 20) as usize * child_complexity")]
    async fn my_recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 4)] limit: i64,
    ) -> Result<Vec<Recommendation>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let customer = principal.customer_id()?;
        let limit = recommendations::limit(Some(limit))?;
        let found = recommendations::for_customer(state, customer, limit).await?;
        nodes(found, |product, reason| Recommendation { product, reason })
    }
}
