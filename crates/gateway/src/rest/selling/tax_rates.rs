//! Tax rates per country or region.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IfMatch, etag};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::orders::{self, TaxRateDto};

/// `POST /v1/tax-rates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaxRateDto {
    #[schema(example = "FR", min_length = 2, max_length = 2)]
    pub country: String,
    /// A region of the country (a state, a province); left out: the whole country.
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(example = "TVA", min_length = 1, max_length = 100)]
    pub name: String,
    /// Basis points: 2000 is 20%.
    #[schema(example = 2000, minimum = 0, maximum = 10000)]
    pub rate_bp: i64,
}

/// `PATCH /v1/tax-rates/{rate_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRatePatchDto {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 10000)]
    pub rate_bp: Option<i64>,
}

/// Every tax rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRateList {
    pub data: Vec<TaxRateDto>,
}

/// Create a tax rate for a country, or a region of it.
#[utoipa::path(
    post, path = "/v1/tax-rates", tag = "selling", operation_id = "create_tax_rate",
    params(IdempotencyKey),
    request_body = NewTaxRateDto,
    responses(
        (status = 201, description = "Created", body = TaxRateDto),
        (status = 409, description = "`tax_rate_exists`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewTaxRateDto>,
) -> Result<Answer, ApiError> {
    orders::create_rate(&state, &idempotency, &body.country, body.region.as_deref(), &body.name, body.rate_bp)
        .await
        .map(|d| d.answer)
}

/// Every tax rate.
#[utoipa::path(
    get, path = "/v1/tax-rates", tag = "selling", operation_id = "list_tax_rates",
    responses((status = 200, description = "The rates, by country and region", body = TaxRateList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_tax_rates(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
) -> Result<Json<TaxRateList>, ApiError> {
    Ok(Json(TaxRateList { data: orders::rates(&state).await? }))
}

/// One tax rate.
#[utoipa::path(
    get, path = "/v1/tax-rates/{rate_id}", tag = "selling", operation_id = "get_tax_rate",
    params(("rate_id" = String, Path, description = "Rate id")),
    responses(
        (status = 200, description = "The rate", body = TaxRateDto,
            headers(("ETag" = String, description = "Its version, for `If-Match`"))),
        (status = 404, description = "No such rate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
    Path(rate_id): Path<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let rate = orders::rate(&state, &rate_id).await?;
    Ok((etag(rate.version), Json(rate)))
}

/// Change a rate's name or basis points. With `If-Match`, only while it is at that version.
#[utoipa::path(
    patch, path = "/v1/tax-rates/{rate_id}", tag = "selling", operation_id = "update_tax_rate",
    params(
        ("rate_id" = String, Path, description = "Rate id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since"),
    ),
    request_body = TaxRatePatchDto,
    responses(
        (status = 200, description = "The rate", body = TaxRateDto,
            headers(("ETag" = String, description = "Its new version"))),
        (status = 404, description = "No such rate", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(rate_id): Path<String>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<TaxRatePatchDto>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let rate = orders::change_rate(&state, &rate_id, body.name.as_deref(), body.rate_bp, &expected).await?;
    Ok((etag(rate.version), Json(rate)))
}

/// Delete a rate. With `If-Match`, only while it is at that version.
#[utoipa::path(
    delete, path = "/v1/tax-rates/{rate_id}", tag = "selling", operation_id = "delete_tax_rate",
    params(
        ("rate_id" = String, Path, description = "Rate id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rate", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(rate_id): Path<String>,
    IfMatch(expected): IfMatch,
) -> Result<StatusCode, ApiError> {
    orders::delete_rate(&state, &rate_id, &expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
