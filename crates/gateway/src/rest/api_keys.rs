//! `/v1/api-keys`: integrator keys (admins only). A key's secret is answered once, at
//! creation; only its hash is kept.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::accounts::{self, ApiKeyDto, CreatedApiKeyDto};

/// A scope an API key may hold.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum ScopeDto {
    #[serde(rename = "catalog:read")]
    #[schema(rename = "catalog:read")]
    CatalogRead,
    #[serde(rename = "catalog:write")]
    #[schema(rename = "catalog:write")]
    CatalogWrite,
    #[serde(rename = "inventory:read")]
    #[schema(rename = "inventory:read")]
    InventoryRead,
    #[serde(rename = "inventory:write")]
    #[schema(rename = "inventory:write")]
    InventoryWrite,
    #[serde(rename = "orders:read")]
    #[schema(rename = "orders:read")]
    OrdersRead,
    #[serde(rename = "orders:write")]
    #[schema(rename = "orders:write")]
    OrdersWrite,
    #[serde(rename = "customers:read")]
    #[schema(rename = "customers:read")]
    CustomersRead,
    #[serde(rename = "events:read")]
    #[schema(rename = "events:read")]
    EventsRead,
    #[serde(rename = "discounts:write")]
    #[schema(rename = "discounts:write")]
    DiscountsWrite,
    #[serde(rename = "settings:write")]
    #[schema(rename = "settings:write")]
    SettingsWrite,
}

/// `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKeyDto {
    #[schema(example = "ERP sync", min_length = 1, max_length = 100)]
    pub name: String,
    /// What the key may do; at least one.
    #[schema(value_type = Vec<ScopeDto>, min_items = 1)]
    pub scopes: Vec<String>,
}

/// A page of API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyPage {
    pub data: Vec<ApiKeyDto>,
    pub next_cursor: Option<String>,
}

/// Query parameters of `GET /v1/api-keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApiKeyListParams {
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Create an API key (admin). The secret (`key`) is in this answer only.
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "staff", operation_id = "create_api_key",
    params(IdempotencyKey),
    request_body = NewApiKeyDto,
    responses(
        (status = 201, description = "Created; `key` is the secret, shown this once", body = CreatedApiKeyDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    admin: Can<caps::ApiKeysManage>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewApiKeyDto>,
) -> Result<Answer, ApiError> {
    let created_by = admin.0.actor_id().unwrap_or_default().to_owned();
    Ok(accounts::create_api_key(&state, &idempotency, &created_by, &body.name, &body.scopes).await?.1)
}

/// List live API keys, oldest first (admin); never their secrets.
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "staff", operation_id = "list_api_keys",
    params(ApiKeyListParams),
    responses(
        (status = 200, description = "A page of keys", body = ApiKeyPage),
        (status = 422, description = "A bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    _: Can<caps::ApiKeysManage>,
    ApiQuery(params): ApiQuery<ApiKeyListParams>,
) -> Result<Json<ApiKeyPage>, ApiError> {
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let page = accounts::list_api_keys(&state, limit, cursor.as_deref(), "limit").await?;
    Ok(Json(ApiKeyPage { data: page.items, next_cursor: page.next_cursor }))
}

/// Revoke an API key (admin): it is refused (401) from then on.
#[utoipa::path(
    delete, path = "/v1/api-keys/{key_id}", tag = "staff", operation_id = "revoke_api_key",
    params(("key_id" = String, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    _: Can<caps::ApiKeysManage>,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts::revoke_api_key(&state, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
