//! Discount codes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use emporium_core::Patch;
use emporium_orders::setup::{DiscountChange, DiscountInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Can, caps};
use crate::dto::MoneyDto;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IfMatch, etag};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::orders::{self, DiscountDto, DiscountValueDto, amount};

/// The kind of discount.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKindDto {
    Percentage,
    Fixed,
    FreeShipping,
}

/// `POST /v1/discounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDiscountDto {
    /// Matched whatever its case.
    #[schema(example = "WELCOME10", min_length = 1, max_length = 50, pattern = "^[A-Za-z0-9_-]+$")]
    pub code: String,
    pub kind: DiscountKindDto,
    /// Basis points for a percentage, an amount for a fixed discount, nothing for free shipping.
    pub value: Option<DiscountValueDto>,
    pub minimum_subtotal: Option<MoneyDto>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Orders that may use it in all.
    #[schema(minimum = 1)]
    pub usage_limit: Option<i64>,
    /// Orders one customer (or guest email) may use it on.
    #[schema(minimum = 1)]
    pub usage_limit_per_customer: Option<i64>,
}

/// `PATCH /v1/discounts/{discount_id}`: a merge patch; the code and kind stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountPatchDto {
    pub value: Option<DiscountValueDto>,
    #[serde(default)]
    #[schema(value_type = Option<MoneyDto>)]
    pub minimum_subtotal: Patch<MoneyDto>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Patch<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Patch<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub usage_limit: Patch<i64>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub usage_limit_per_customer: Patch<i64>,
}

/// Every discount.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscountList {
    pub data: Vec<DiscountDto>,
}

/// Create a discount code.
#[utoipa::path(
    post, path = "/v1/discounts", tag = "selling", operation_id = "create_discount",
    params(IdempotencyKey),
    request_body = NewDiscountDto,
    responses(
        (status = 201, description = "Created", body = DiscountDto),
        (status = 409, description = "`discount_code_taken`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_discount(
    State(state): State<AppState>,
    _: Can<caps::DiscountsWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewDiscountDto>,
) -> Result<Answer, ApiError> {
    let kind = match body.kind {
        DiscountKindDto::Percentage => "percentage",
        DiscountKindDto::Fixed => "fixed",
        DiscountKindDto::FreeShipping => "free_shipping",
    };
    let input = DiscountInput {
        code: body.code,
        kind: kind.to_owned(),
        value: body.value.map(Into::into),
        minimum_subtotal: body.minimum_subtotal.map(amount),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        usage_limit: body.usage_limit,
        usage_limit_per_customer: body.usage_limit_per_customer,
    };
    orders::create_discount(&state, &idempotency, &input).await.map(|d| d.answer)
}

/// Every discount, newest first.
#[utoipa::path(
    get, path = "/v1/discounts", tag = "selling", operation_id = "list_discounts",
    responses((status = 200, description = "The discounts", body = DiscountList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_discounts(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
) -> Result<Json<DiscountList>, ApiError> {
    Ok(Json(DiscountList { data: orders::discounts(&state).await? }))
}

/// One discount, with its uses.
#[utoipa::path(
    get, path = "/v1/discounts/{discount_id}", tag = "selling", operation_id = "get_discount",
    params(("discount_id" = String, Path, description = "Discount id")),
    responses(
        (status = 200, description = "The discount", body = DiscountDto,
            headers(("ETag" = String, description = "Its version (a redemption does not move it), for `If-Match`"))),
        (status = 404, description = "No such discount", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_discount(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
    Path(discount_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let discount = orders::discount(&state, &discount_id).await?;
    Ok((etag(discount.version), Json(discount)))
}

/// Change a discount's value, rules or limits. With `If-Match`, only while it is at that
/// version.
#[utoipa::path(
    patch, path = "/v1/discounts/{discount_id}", tag = "selling", operation_id = "update_discount",
    params(("discount_id" = String, Path, description = "Discount id"), ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since")),
    request_body = DiscountPatchDto,
    responses(
        (status = 200, description = "The discount", body = DiscountDto,
            headers(("ETag" = String, description = "Its new version"))),
        (status = 404, description = "No such discount", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_discount(
    State(state): State<AppState>,
    _: Can<caps::DiscountsWrite>,
    Path(discount_id): Path<String>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<DiscountPatchDto>,
) -> Result<impl IntoResponse, ApiError> {
    let change = DiscountChange {
        value: body.value.map(Into::into),
        minimum_subtotal: body.minimum_subtotal.map(amount),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        usage_limit: body.usage_limit,
        usage_limit_per_customer: body.usage_limit_per_customer,
    };
    let discount = orders::change_discount(&state, &discount_id, &change, &expected).await?;
    Ok((etag(discount.version), Json(discount)))
}

/// Delete a discount (carts holding it lose it; orders keep their copy). With `If-Match`,
/// only while it is at that version.
#[utoipa::path(
    delete, path = "/v1/discounts/{discount_id}", tag = "selling", operation_id = "delete_discount",
    params(("discount_id" = String, Path, description = "Discount id"), ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such discount", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_discount(
    State(state): State<AppState>,
    _: Can<caps::DiscountsWrite>,
    Path(discount_id): Path<String>,
    IfMatch(expected): IfMatch,
) -> Result<StatusCode, ApiError> {
    orders::delete_discount(&state, &discount_id, &expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
