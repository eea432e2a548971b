//! Reviews over GraphQL: the same use cases as the REST routes (a buyer submits, anyone reads
//! the approved ones, staff with `reviews:write` moderate).

use async_graphql::{Context, Object, Result, SimpleObject};
use emporium_customers::Permission;
use emporium_reviews::ReviewStatus;

use crate::usecases::reviews::{self, ReviewDto, ReviewInput};

/// A page of reviews.
#[derive(SimpleObject)]
pub struct ReviewPage {
    pub nodes: Vec<ReviewDto>,
    /// Pass as `after` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Review reads.
#[derive(Default)]
pub struct ReviewQuery;

#[Object]
impl ReviewQuery {
    /// A product's approved reviews; `sort` is `newest` (default), `rating_desc` or
    /// `rating_asc`.
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn product_reviews(
        &self,
        ctx: &Context<'_>,
        id_or_slug: String,
        sort: Option<String>,
        rating: Option<i64>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
    ) -> Result<ReviewPage> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let (nodes, next_cursor) = reviews::list_for_product(
            state,
            principal,
            &id_or_slug,
            sort.as_deref(),
            rating,
            Some(first),
            after.as_deref(),
        )
        .await?;
        Ok(ReviewPage { nodes, next_cursor })
    }

    /// Every review, newest first, optionally in one `status` (`reviews:write`).
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        status: Option<String>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
    ) -> Result<ReviewPage> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReviewsWrite)?;
        let (nodes, next_cursor) =
            reviews::list_for_staff(state, status.as_deref(), Some(first), after.as_deref()).await?;
        Ok(ReviewPage { nodes, next_cursor })
    }
}

/// Review writes.
#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Reviews a product the signed-in customer bought (`purchase_required` otherwise); it
    /// waits for moderation.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_review(
        &self,
        ctx: &Context<'_>,
        id_or_slug: String,
        rating: i64,
        title: String,
        body: String,
    ) -> Result<ReviewDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let customer = principal.customer_id()?;
        Ok(reviews::submit(state, principal, customer, &id_or_slug, ReviewInput { rating, title, body }).await?)
    }

    /// Approves a review (`reviews:write`): listed, and counted in its product's rating.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn approve_review(&self, ctx: &Context<'_>, id: String) -> Result<ReviewDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReviewsWrite)?;
        Ok(reviews::moderate(state, &id, ReviewStatus::Approved).await?)
    }

    /// Rejects a review (`reviews:write`): not listed, not counted.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn reject_review(&self, ctx: &Context<'_>, id: String) -> Result<ReviewDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReviewsWrite)?;
        Ok(reviews::moderate(state, &id, ReviewStatus::Rejected).await?)
    }
}
