//! Reviews, once for both transports: a customer who bought a product reviews it; anyone reads
//! the approved reviews; staff with `reviews:write` list every review and approve or reject.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use emporium_core::{ErrorKind, ValidationErrors};
use emporium_reviews::{self as reviews, NewReview, Review, ReviewCursor, ReviewError, ReviewSort, ReviewStatus};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// A review.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = Review)]
#[graphql(name = "Review")]
pub struct ReviewDto {
    #[schema(example = "rev_0192f5c3a1b27c4e8a0f3d2b1c4e5f60")]
    pub id: String,
    pub product_id: String,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i32,
    pub title: String,
    pub body: String,
    /// The reviewer's first name and last initial.
    #[schema(example = "Ada L.")]
    pub author: String,
    /// Always true: only buyers review.
    pub verified_purchase: bool,
    /// `pending`, `approved` or `rejected`.
    #[schema(example = "pending")]
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<Review> for ReviewDto {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            product_id: r.product_id,
            rating: r.rating,
            title: r.title,
            body: r.body,
            author: r.author,
            verified_purchase: r.verified_purchase,
            status: r.status.as_str().to_owned(),
            created_at: r.created_at,
        }
    }
}

/// A review as the transports receive it.
pub struct ReviewInput {
    pub rating: i64,
    pub title: String,
    pub body: String,
}

/// Submits the signed-in customer's review of a published product they bought (201,
/// `pending`): 403 `purchase_required` without a paid order holding it, 409
/// `already_reviewed` for a second one. `review.submitted` is written with it.
pub async fn submit(
    state: &AppState,
    principal: &Principal,
    customer_id: &str,
    product: &str,
    input: ReviewInput,
) -> Result<ReviewDto, ApiError> {
    let review = NewReview::parse(input.rating, &input.title, &input.body)?;
    let doc = crate::usecases::products::read(state, principal, product).await?;
    if !doc.published {
        return Err(ApiError::not_found("product"));
    }
    if !emporium_orders::orders::has_bought(&state.db, customer_id, &doc.id).await? {
        return Err(ReviewError::PurchaseRequired.into());
    }
    let customer = emporium_customers::get_customer(&state.db, customer_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The account is disabled."))?;
    let initial = customer.last_name.chars().next().map(|c| format!(" {c}.")).unwrap_or_default();
    let author = format!("{}{initial}", customer.first_name);
    let mut work = state.writer.begin().await?;
    let created = reviews::submit(&work, &doc.id, customer_id, &author, &review).await?;
    work.emit(reviews::ReviewEvent::Submitted {
        review_id: created.id.clone(),
        product_id: created.product_id.clone(),
        customer_id: created.customer_id.clone(),
        rating: created.rating,
    });
    work.commit().await?;
    Ok(created.into())
}

fn invalid_cursor() -> ApiError {
    ApiError::new(ErrorKind::Invalid, "invalid_cursor", "The cursor is unknown or altered.")
}

fn cursor_of(state: &AppState, kind: &str, review: &Review, sort: ReviewSort) -> String {
    let at = ReviewCursor { sort, rating: review.rating, created_at: review.created_at, id: review.id.clone() };
    state.cursors.encode(&(kind, at))
}

fn decode(state: &AppState, kind: &str, cursor: Option<&str>) -> Result<Option<ReviewCursor>, ApiError> {
    let Some(text) = cursor else { return Ok(None) };
    let (k, at) = state.cursors.decode::<(String, ReviewCursor)>(text).ok_or_else(invalid_cursor)?;
    if k != kind {
        return Err(invalid_cursor());
    }
    Ok(Some(at))
}

/// A page of a published product's approved reviews (anyone).
pub async fn list_for_product(
    state: &AppState,
    principal: &Principal,
    product: &str,
    sort: Option<&str>,
    rating: Option<i64>,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(Vec<ReviewDto>, Option<String>), ApiError> {
    let mut errors = ValidationErrors::new();
    let sort = match sort.filter(|s| !s.is_empty()) {
        None => ReviewSort::Newest,
        Some(text) => ReviewSort::parse(text).unwrap_or_else(|| {
            errors.add("sort", "invalid_value", "must be newest, rating_desc or rating_asc");
            ReviewSort::Newest
        }),
    };
    if rating.is_some_and(|r| !(1..=5).contains(&r)) {
        errors.add("rating", "out_of_range", "must be a whole number from 1 to 5");
    }
    errors.finish(())?;
    let limit = crate::usecases::products::page_size(limit, "limit")?;
    let after = decode(state, "reviews", cursor)?;
    if after.as_ref().is_some_and(|a| a.sort != sort) {
        return Err(invalid_cursor());
    }
    let doc = crate::usecases::products::read(state, principal, product).await?;
    let rating = rating.map(|r| r as i32);
    let mut found = reviews::list_approved(&state.db, &doc.id, sort, rating, after.as_ref(), limit.get() + 1).await?;
    let more = found.len() as u64 > limit.get();
    found.truncate(limit.get() as usize);
    let next = if more { found.last().map(|r| cursor_of(state, "reviews", r, sort)) } else { None };
    Ok((found.into_iter().map(ReviewDto::from).collect(), next))
}

/// A page of every review, optionally in one status, newest first (`reviews:write`).
pub async fn list_for_staff(
    state: &AppState,
    status: Option<&str>,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(Vec<ReviewDto>, Option<String>), ApiError> {
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(ReviewStatus::parse(text).ok_or_else(|| {
            ApiError::validation(ValidationErrors::single(
                "status",
                "invalid_value",
                "must be pending, approved or rejected",
            ))
        })?),
    };
    let limit = crate::usecases::products::page_size(limit, "limit")?;
    let after = decode(state, "staff-reviews", cursor)?;
    let mut found = reviews::list_for_staff(&state.db, status, after.as_ref(), limit.get() + 1).await?;
    let more = found.len() as u64 > limit.get();
    found.truncate(limit.get() as usize);
    let next = if more { found.last().map(|r| cursor_of(state, "staff-reviews", r, ReviewSort::Newest)) } else { None };
    Ok((found.into_iter().map(ReviewDto::from).collect(), next))
}

/// Approves or rejects a review (`reviews:write`); its product's rating follows in the same
/// transaction.
///
/// The product's rating is part of its cached document and of its place in `sort=rating`
/// lists: the moderation touches the product (by id and slug) and the catalog's lists, so
/// every instance reads the new rating once this returns (the search index takes it too).
pub async fn moderate(state: &AppState, review_id: &str, to: ReviewStatus) -> Result<ReviewDto, ApiError> {
    let mut work = state.writer.begin().await?;
    let review = reviews::moderate(&work, review_id, to).await?;
    if let Some(product) = emporium_catalog::get_product(&work, &review.product_id).await? {
        work.touch(product.slug);
    }
    work.touch(review.product_id.clone());
    work.touch(crate::infra::cache::CATALOG);
    work.commit().await?;
    Ok(review.into())
}
