//! Reviews: a buyer reviews a product, anyone reads the approved ones, staff with
//! `reviews:write` moderate.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, Principal, SignedInCustomer, caps};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::usecases::reviews::{self, ReviewDto, ReviewInput};

/// `POST /v1/products/{id}/reviews`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReviewDto {
    /// A whole number from 1 to 5.
    #[schema(minimum = 1, maximum = 5, example = 5)]
    pub rating: i64,
    #[schema(min_length = 1, max_length = 200, example = "Soft and true to size")]
    pub title: String,
    #[schema(min_length = 1, max_length = 5000)]
    pub body: String,
}

/// A page of reviews.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPage {
    pub data: Vec<ReviewDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/products/{id}/reviews` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductReviewParams {
    /// `newest` (default), `rating_desc` or `rating_asc`.
    pub sort: Option<String>,
    /// Only reviews of this rating (1 to 5).
    pub rating: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// `GET /v1/reviews` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewListParams {
    /// `pending`, `approved` or `rejected` (all when left out).
    pub status: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Review a product you bought (a paid order holding it); it waits for moderation.
#[utoipa::path(
    post, path = "/v1/products/{id}/reviews", tag = "reviews", operation_id = "create_review",
    params(("id" = String, Path, description = "Product id or slug")),
    request_body = NewReviewDto,
    responses(
        (status = 201, description = "The review, `pending`", body = ReviewDto),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`purchase_required`: no paid order holds the product; or not a customer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_reviewed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_review(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewReviewDto>,
) -> Result<(StatusCode, Json<ReviewDto>), ApiError> {
    let input = ReviewInput { rating: body.rating, title: body.title, body: body.body };
    Ok((StatusCode::CREATED, Json(reviews::submit(&state, &principal, &customer, &id, input).await?)))
}

/// A product's approved reviews.
#[utoipa::path(
    get, path = "/v1/products/{id}/reviews", tag = "reviews", operation_id = "list_product_reviews",
    params(("id" = String, Path, description = "Product id or slug"), ProductReviewParams),
    responses(
        (status = 200, description = "A page of approved reviews", body = ReviewPage),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn list_product_reviews(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ProductReviewParams>,
) -> Result<Json<ReviewPage>, ApiError> {
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let rating = params.rating.filter(|r| !r.is_empty()).map(|r| r.parse::<i64>().unwrap_or(0));
    let (data, next_cursor) =
        reviews::list_for_product(&state, &principal, &id, params.sort.as_deref(), rating, limit, cursor.as_deref())
            .await?;
    Ok(Json(ReviewPage { data, next_cursor }))
}

/// Every review, newest first, for moderation.
#[utoipa::path(
    get, path = "/v1/reviews", tag = "reviews", operation_id = "list_reviews",
    params(ReviewListParams),
    responses(
        (status = 200, description = "A page of reviews", body = ReviewPage),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing reviews:write", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_reviews(
    State(state): State<AppState>,
    _: Can<caps::ReviewsWrite>,
    ApiQuery(params): ApiQuery<ReviewListParams>,
) -> Result<Json<ReviewPage>, ApiError> {
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let (data, next_cursor) =
        reviews::list_for_staff(&state, params.status.as_deref(), limit, cursor.as_deref()).await?;
    Ok(Json(ReviewPage { data, next_cursor }))
}

/// Approve a review: it is listed, and its product's rating counts it at once.
#[utoipa::path(
    post, path = "/v1/reviews/{review_id}/approve", tag = "reviews", operation_id = "approve_review",
    params(("review_id" = String, Path, description = "Review id")),
    responses(
        (status = 200, description = "The review, `approved`", body = ReviewDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing reviews:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such review", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn approve_review(
    State(state): State<AppState>,
    _: Can<caps::ReviewsWrite>,
    Path(review_id): Path<String>,
) -> Result<Json<ReviewDto>, ApiError> {
    Ok(Json(reviews::moderate(&state, &review_id, emporium_reviews::ReviewStatus::Approved).await?))
}

/// Reject a review: it is not listed, and no longer counts in its product's rating.
#[utoipa::path(
    post, path = "/v1/reviews/{review_id}/reject", tag = "reviews", operation_id = "reject_review",
    params(("review_id" = String, Path, description = "Review id")),
    responses(
        (status = 200, description = "The review, `rejected`", body = ReviewDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing reviews:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such review", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn reject_review(
    State(state): State<AppState>,
    _: Can<caps::ReviewsWrite>,
    Path(review_id): Path<String>,
) -> Result<Json<ReviewDto>, ApiError> {
    Ok(Json(reviews::moderate(&state, &review_id, emporium_reviews::ReviewStatus::Rejected).await?))
}
