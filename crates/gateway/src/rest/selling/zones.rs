//! Shipping zones and their methods.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use emporium_orders::setup::{MethodInput, ZoneInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Can, caps};
use crate::dto::AmountDto;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IfMatch, etag};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::orders::{self, ZoneDto, amount_or_zero};

/// A shipping method of a zone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMethodDto {
    #[schema(example = "Standard", min_length = 1, max_length = 100)]
    pub name: String,
    /// The price, in one currency (0: free); a zone may hold methods in several.
    pub price: AmountDto,
    /// Free when the subtotal after discounts reaches this (same currency).
    pub free_over: Option<AmountDto>,
}

/// `POST /v1/shipping-zones` and `PATCH /v1/shipping-zones/{zone_id}` (which replaces all).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewZoneDto {
    #[schema(example = "EU", min_length = 1, max_length = 100)]
    pub name: String,
    /// ISO 3166-1 alpha-2 codes.
    #[schema(example = json!(["FR", "DE"]), min_items = 1, max_items = 250)]
    pub countries: Vec<String>,
    #[schema(min_items = 1, max_items = 20)]
    pub methods: Vec<NewMethodDto>,
}

impl From<NewZoneDto> for ZoneInput {
    fn from(z: NewZoneDto) -> Self {
        Self {
            name: z.name,
            countries: z.countries,
            methods: z
                .methods
                .into_iter()
                .map(|m| MethodInput {
                    name: m.name,
                    price: amount_or_zero(m.price),
                    free_over: m.free_over.map(amount_or_zero),
                })
                .collect(),
        }
    }
}

/// Every shipping zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneList {
    pub data: Vec<ZoneDto>,
}

/// Create a shipping zone with its methods.
#[utoipa::path(
    post, path = "/v1/shipping-zones", tag = "selling", operation_id = "create_shipping_zone",
    params(IdempotencyKey),
    request_body = NewZoneDto,
    responses((status = 201, description = "Created", body = ZoneDto)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewZoneDto>,
) -> Result<Answer, ApiError> {
    orders::create_zone(&state, &idempotency, &body.into()).await.map(|d| d.answer)
}

/// Every shipping zone.
#[utoipa::path(
    get, path = "/v1/shipping-zones", tag = "selling", operation_id = "list_shipping_zones",
    responses((status = 200, description = "The zones, by name", body = ZoneList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_shipping_zones(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
) -> Result<Json<ZoneList>, ApiError> {
    Ok(Json(ZoneList { data: orders::zones(&state).await? }))
}

/// One shipping zone.
#[utoipa::path(
    get, path = "/v1/shipping-zones/{zone_id}", tag = "selling", operation_id = "get_shipping_zone",
    params(("zone_id" = String, Path, description = "Zone id")),
    responses(
        (status = 200, description = "The zone", body = ZoneDto,
            headers(("ETag" = String, description = "Its version, for `If-Match`"))),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
    Path(zone_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let zone = orders::zone(&state, &zone_id).await?;
    Ok((etag(zone.version), Json(zone)))
}

/// Replace a zone's name, countries and methods. With `If-Match`, only while it is at that
/// version.
#[utoipa::path(
    patch, path = "/v1/shipping-zones/{zone_id}", tag = "selling", operation_id = "update_shipping_zone",
    params(("zone_id" = String, Path, description = "Zone id"), ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since")),
    request_body = NewZoneDto,
    responses(
        (status = 200, description = "The zone", body = ZoneDto,
            headers(("ETag" = String, description = "Its new version"))),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(zone_id): Path<String>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<NewZoneDto>,
) -> Result<impl IntoResponse, ApiError> {
    let zone = orders::replace_zone(&state, &zone_id, &body.into(), &expected).await?;
    Ok((etag(zone.version), Json(zone)))
}

/// Delete a zone and its methods. With `If-Match`, only while it is at that version.
#[utoipa::path(
    delete, path = "/v1/shipping-zones/{zone_id}", tag = "selling", operation_id = "delete_shipping_zone",
    params(("zone_id" = String, Path, description = "Zone id"), ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(zone_id): Path<String>,
    IfMatch(expected): IfMatch,
) -> Result<StatusCode, ApiError> {
    orders::delete_zone(&state, &zone_id, &expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
