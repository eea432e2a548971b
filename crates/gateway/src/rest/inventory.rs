//! `/v1/locations` and `/v1/inventory`: where stock is kept, stock per SKU, adjustments and
//! their ledger, reorder points, backorders and the low-stock report (staff).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use emporium_core::Patch;
use emporium_inventory::Reason;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, IfMatch, etag};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::inventory::{self, AdjustmentInput, LocationDto, LowStockDto, MovementDto, StockDto};

/// `POST /v1/locations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocationDto {
    #[schema(example = "main", pattern = "^[a-z0-9-]{1,40}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Lower first when an order takes stock (default 0).
    #[schema(minimum = 0, maximum = 10000)]
    pub priority: Option<i64>,
}

/// `PATCH /v1/locations/{code}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPatchDto {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 10000)]
    pub priority: Option<i64>,
    pub active: Option<bool>,
}

/// Every location.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationList {
    pub data: Vec<LocationDto>,
}

/// Why stock is adjusted.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonDto {
    Restock,
    Correction,
    Damage,
    Return,
    Count,
}

impl From<ReasonDto> for Reason {
    fn from(r: ReasonDto) -> Self {
        match r {
            ReasonDto::Restock => Reason::Restock,
            ReasonDto::Correction => Reason::Correction,
            ReasonDto::Damage => Reason::Damage,
            ReasonDto::Return => Reason::Return,
            ReasonDto::Count => Reason::Count,
        }
    }
}

/// `POST /v1/inventory/adjustments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentDto {
    #[schema(example = "TEE-ORG-M", min_length = 1, max_length = 64)]
    pub sku: String,
    /// The location's code.
    #[schema(example = "main")]
    pub location: String,
    /// Units to add (positive) or remove (negative); never zero.
    #[schema(example = 12, minimum = -1_000_000_000, maximum = 1_000_000_000)]
    pub delta: i64,
    pub reason: ReasonDto,
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// The backorder part of `PATCH /v1/inventory/{sku}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackorderPatchDto {
    pub allowed: bool,
    /// Units that may be sold past stock at most; left out: no limit.
    #[schema(minimum = 0)]
    pub limit: Option<i64>,
}

/// `PATCH /v1/inventory/{sku}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryPatchDto {
    pub backorder: BackorderPatchDto,
}

/// `PATCH /v1/inventory/{sku}/locations/{code}`: `null` clears a value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderPatchDto {
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub reorder_point: Patch<i64>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub reorder_quantity: Patch<i64>,
}

/// A page of the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct MovementPage {
    pub data: Vec<MovementDto>,
    pub next_cursor: Option<String>,
}

/// The low-stock report.
#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockReport {
    pub data: Vec<LowStockDto>,
}

/// Query parameters of the ledger.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovementListParams {
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Create a location.
#[utoipa::path(
    post, path = "/v1/locations", tag = "inventory", operation_id = "create_location",
    params(IdempotencyKey),
    request_body = NewLocationDto,
    responses(
        (status = 201, description = "Created", body = LocationDto),
        (status = 409, description = "`location_code_taken`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_location(
    State(state): State<AppState>,
    _: Can<caps::InventoryWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewLocationDto>,
) -> Result<Answer, ApiError> {
    Ok(inventory::create_location(&state, &idempotency, &body.code, &body.name, body.priority).await?.1)
}

/// Every location, lowest priority first.
#[utoipa::path(
    get, path = "/v1/locations", tag = "inventory", operation_id = "list_locations",
    responses((status = 200, description = "The locations", body = LocationList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_locations(
    State(state): State<AppState>,
    _: Can<caps::InventoryRead>,
) -> Result<Json<LocationList>, ApiError> {
    Ok(Json(LocationList { data: inventory::list_locations(&state).await? }))
}

/// One location by code.
#[utoipa::path(
    get, path = "/v1/locations/{code}", tag = "inventory", operation_id = "get_location",
    params(("code" = String, Path, description = "Location code")),
    responses(
        (status = 200, description = "The location", body = LocationDto,
            headers(("ETag" = String, description = "Its version, for `If-Match`"))),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_location(
    State(state): State<AppState>,
    _: Can<caps::InventoryRead>,
    Path(code): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let location = inventory::get_location(&state, &code).await?;
    Ok((etag(location.version), Json(location)))
}

/// Change a location's name, priority or activity. With `If-Match`, only while it is at that
/// version.
#[utoipa::path(
    patch, path = "/v1/locations/{code}", tag = "inventory", operation_id = "update_location",
    params(("code" = String, Path, description = "Location code"), ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since")),
    request_body = LocationPatchDto,
    responses(
        (status = 200, description = "The location", body = LocationDto,
            headers(("ETag" = String, description = "Its new version"))),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_location(
    State(state): State<AppState>,
    _: Can<caps::InventoryWrite>,
    Path(code): Path<String>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<LocationPatchDto>,
) -> Result<impl IntoResponse, ApiError> {
    let (name, priority, active) = (body.name.as_deref(), body.priority, body.active);
    let location = inventory::update_location(&state, &code, name, priority, active, &expected).await?;
    Ok((etag(location.version), Json(location)))
}

/// Add or remove units of a SKU at a location; answers the ledger entry.
#[utoipa::path(
    post, path = "/v1/inventory/adjustments", tag = "inventory", operation_id = "adjust_stock",
    params(IdempotencyKey),
    request_body = AdjustmentDto,
    responses(
        (status = 201, description = "Adjusted", body = MovementDto),
        (status = 404, description = "No such SKU or location", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_stock`: on-hand would go below zero or below what is reserved", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn adjust_stock(
    State(state): State<AppState>,
    staff: Can<caps::InventoryWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<AdjustmentDto>,
) -> Result<Answer, ApiError> {
    let input = AdjustmentInput {
        sku: body.sku,
        location: body.location,
        delta: body.delta,
        reason: body.reason.into(),
        note: body.note,
    };
    Ok(inventory::adjust(&state, &idempotency, staff.0.actor_id(), input).await?.1)
}

/// A SKU's stock, in total and per location.
#[utoipa::path(
    get, path = "/v1/inventory/{sku}", tag = "inventory", operation_id = "get_stock",
    params(("sku" = String, Path, description = "Variant SKU")),
    responses(
        (status = 200, description = "The stock", body = StockDto),
        (status = 404, description = "No such SKU", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_stock(
    State(state): State<AppState>,
    _: Can<caps::InventoryRead>,
    Path(sku): Path<String>,
) -> Result<Json<StockDto>, ApiError> {
    Ok(Json(inventory::stock(&state, &sku).await?))
}

/// Set whether a SKU may be sold past its stock.
#[utoipa::path(
    patch, path = "/v1/inventory/{sku}", tag = "inventory", operation_id = "update_stock_settings",
    params(("sku" = String, Path, description = "Variant SKU")),
    request_body = InventoryPatchDto,
    responses(
        (status = 200, description = "The stock", body = StockDto),
        (status = 404, description = "No such SKU", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_stock_settings(
    State(state): State<AppState>,
    _: Can<caps::InventoryWrite>,
    Path(sku): Path<String>,
    ApiJson(body): ApiJson<InventoryPatchDto>,
) -> Result<Json<StockDto>, ApiError> {
    Ok(Json(inventory::set_backorder(&state, &sku, body.backorder.allowed, body.backorder.limit).await?))
}

/// A SKU's stock ledger, newest first. The movements of each location sum to its on-hand.
#[utoipa::path(
    get, path = "/v1/inventory/{sku}/movements", tag = "inventory", operation_id = "list_movements",
    params(("sku" = String, Path, description = "Variant SKU"), MovementListParams),
    responses(
        (status = 200, description = "A page of movements", body = MovementPage),
        (status = 404, description = "No such SKU", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_movements(
    State(state): State<AppState>,
    _: Can<caps::InventoryRead>,
    Path(sku): Path<String>,
    ApiQuery(params): ApiQuery<MovementListParams>,
) -> Result<Json<MovementPage>, ApiError> {
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let (data, next_cursor) = inventory::movements(&state, &sku, limit, cursor.as_deref(), "limit").await?;
    Ok(Json(MovementPage { data, next_cursor }))
}

/// Set or clear a SKU's reorder point and quantity at a location.
#[utoipa::path(
    patch, path = "/v1/inventory/{sku}/locations/{code}", tag = "inventory", operation_id = "update_reorder_point",
    params(("sku" = String, Path, description = "Variant SKU"), ("code" = String, Path, description = "Location code")),
    request_body = ReorderPatchDto,
    responses(
        (status = 200, description = "The stock", body = StockDto),
        (status = 404, description = "No such SKU or location", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_reorder_point(
    State(state): State<AppState>,
    _: Can<caps::InventoryWrite>,
    Path((sku, code)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReorderPatchDto>,
) -> Result<Json<StockDto>, ApiError> {
    Ok(Json(inventory::set_reorder(&state, &sku, &code, body.reorder_point, body.reorder_quantity).await?))
}

/// Every SKU and location at or under its reorder point, with sales velocity, fewest days of
/// cover first.
#[utoipa::path(
    get, path = "/v1/inventory/low-stock", tag = "inventory", operation_id = "low_stock",
    responses((status = 200, description = "The report", body = LowStockReport)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn low_stock(
    State(state): State<AppState>,
    _: Can<caps::InventoryRead>,
) -> Result<Json<LowStockReport>, ApiError> {
    Ok(Json(LowStockReport { data: inventory::low_stock(&state).await? }))
}
