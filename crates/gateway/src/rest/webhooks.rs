//! Webhook subscriptions, their delivery log, retry and replay (admin, or an API key with
//! `webhooks:write`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use emporium_core::Patch;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, IfMatch, etag};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::webhooks::{self, DeliveryDto, ReplayDto, SubscriptionDto, WithSecretDto};

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookDto {
    /// `https` (a host that resolves only to public addresses).
    #[schema(example = "https://erp.example.com/hooks/emporium", min_length = 1, max_length = 2000)]
    pub url: String,
    /// Event types, or `["*"]` for every one.
    #[schema(example = json!(["order.placed", "order.paid"]), min_items = 1)]
    pub events: Vec<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// `PATCH /v1/webhooks/{webhook_id}`: fields left out stay; the secret is changed only by
/// rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatchDto {
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 2000)]
    pub url: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, min_items = 1)]
    pub events: Patch<Vec<String>>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Patch<String>,
    /// Turning a subscription on again clears its `disabled_reason`.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub active: Patch<bool>,
}

/// Every subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<SubscriptionDto>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryDto>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    /// `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `POST /v1/webhooks/{webhook_id}/replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequestDto {
    /// Queue again every matching event since this time (at most 30 days back).
    pub since: DateTime<Utc>,
}

/// Subscribe a URL to events. The answer holds the signing secret, shown this once.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    params(IdempotencyKey),
    request_body = NewWebhookDto,
    responses(
        (status = 201, description = "Created, with its secret", body = WithSecretDto),
        (status = 422, description = "An unknown event type, or a URL that is not https or reaches a private address", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewWebhookDto>,
) -> Result<Answer, ApiError> {
    let input = emporium_webhooks::NewSubscription {
        url: body.url,
        events: body.events,
        description: body.description,
        active: body.active,
    };
    webhooks::create(&state, &idempotency, input).await.map(|d| d.answer)
}

/// Every subscription.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    responses((status = 200, description = "The subscriptions, oldest first", body = WebhookList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList { data: webhooks::list(&state).await? }))
}

/// One subscription.
#[utoipa::path(
    get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "get_webhook",
    params(("webhook_id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionDto,
            headers(("ETag" = String, description = "Its version, for `If-Match`"))),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    Path(webhook_id): Path<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let subscription = webhooks::get(&state, &webhook_id).await?;
    Ok((etag(subscription.version), Json(subscription)))
}

/// Change a subscription's URL, events, description or whether it is active. With
/// `If-Match`, only while it is at that version.
#[utoipa::path(
    patch, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "update_webhook",
    params(
        ("webhook_id" = String, Path, description = "Subscription id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since"),
    ),
    request_body = WebhookPatchDto,
    responses(
        (status = 200, description = "The subscription", body = SubscriptionDto,
            headers(("ETag" = String, description = "Its new version"))),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_webhook(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    Path(webhook_id): Path<String>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<WebhookPatchDto>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let change =
        webhooks::Change { url: body.url, events: body.events, description: body.description, active: body.active };
    let subscription = webhooks::update(&state, &webhook_id, change, &expected).await?;
    Ok((etag(subscription.version), Json(subscription)))
}

/// Delete a subscription and its delivery log. With `If-Match`, only while it is at that
/// version.
#[utoipa::path(
    delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "delete_webhook",
    params(
        ("webhook_id" = String, Path, description = "Subscription id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    Path(webhook_id): Path<String>,
    IfMatch(expected): IfMatch,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state, &webhook_id, &expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a subscription a new secret (shown this once); for 24 hours deliveries are signed
/// with both.
#[utoipa::path(
    post, path = "/v1/webhooks/{webhook_id}/rotate-secret", tag = "webhooks", operation_id = "rotate_webhook_secret",
    params(("webhook_id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription with its new secret", body = WithSecretDto),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    Path(webhook_id): Path<String>,
) -> Result<Json<WithSecretDto>, ApiError> {
    Ok(Json(webhooks::rotate(&state, &webhook_id).await?))
}

/// A subscription's deliveries, newest event first.
#[utoipa::path(
    get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks", operation_id = "list_webhook_deliveries",
    params(("webhook_id" = String, Path, description = "Subscription id"), DeliveryListParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    Path(webhook_id): Path<String>,
    ApiQuery(params): ApiQuery<DeliveryListParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let (data, next_cursor) =
        webhooks::deliveries(&state, &webhook_id, params.status.as_deref(), limit, cursor.as_deref()).await?;
    Ok(Json(DeliveryPage { data, next_cursor }))
}

/// Send a delivery again now.
#[utoipa::path(
    post, path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    operation_id = "retry_webhook_delivery",
    params(
        ("webhook_id" = String, Path, description = "Subscription id"),
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses(
        (status = 200, description = "The delivery, pending", body = DeliveryDto),
        (status = 404, description = "No such delivery of this subscription", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn retry_webhook_delivery(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    Path((webhook_id, delivery_id)): Path<(String, String)>,
) -> Result<Json<DeliveryDto>, ApiError> {
    Ok(Json(webhooks::retry(&state, &webhook_id, &delivery_id).await?))
}

/// Queue again every event the subscription hears since a time (at most 30 days back).
#[utoipa::path(
    post, path = "/v1/webhooks/{webhook_id}/replay", tag = "webhooks", operation_id = "replay_webhook",
    params(("webhook_id" = String, Path, description = "Subscription id")),
    request_body = ReplayRequestDto,
    responses(
        (status = 202, description = "Queued", body = ReplayDto),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`since` more than 30 days back, or in the future", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn replay_webhook(
    State(state): State<AppState>,
    _: Can<caps::WebhooksWrite>,
    Path(webhook_id): Path<String>,
    ApiJson(body): ApiJson<ReplayRequestDto>,
) -> Result<(StatusCode, Json<ReplayDto>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(webhooks::replay(&state, &webhook_id, body.since).await?)))
}
