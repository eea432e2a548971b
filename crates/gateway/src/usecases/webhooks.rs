//! Webhook subscriptions and their delivery log: what both transports call (admin, or an API
//! key with `webhooks:write`).

use async_graphql::SimpleObject;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use emporium_core::{Patch, ValidationErrors};
use emporium_webhooks::{self as webhooks, DeliveryStatus, NewSubscription, Subscription, SubscriptionPatch};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;
use crate::usecases::orders::Done;

/// A subscription.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = WebhookSubscription)]
#[graphql(name = "WebhookSubscription")]
pub struct SubscriptionDto {
    #[schema(example = "whk_0192f5c3a1b27c4e8a0f3d2b1c4e5f60")]
    pub id: String,
    #[schema(example = "https://erp.example.com/hooks/emporium")]
    pub url: String,
    /// Event types, or `["*"]` for all.
    #[schema(example = json!(["order.placed", "order.paid"]))]
    pub events: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
    /// Why the server turned it off (every delivery failed for three days).
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Moves with every change; REST sends it as the `ETag`, GraphQL's updates take it as
    /// `expectedVersion`.
    #[serde(skip)]
    pub version: i64,
}

impl From<Subscription> for SubscriptionDto {
    fn from(s: Subscription) -> Self {
        Self {
            id: s.id,
            url: s.url,
            events: s.events,
            description: s.description,
            active: s.active,
            disabled_reason: s.disabled_reason,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

/// A subscription with its signing secret, shown this once (at creation and rotation).
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = WebhookSubscriptionWithSecret)]
#[graphql(name = "WebhookSubscriptionWithSecret")]
pub struct WithSecretDto {
    #[serde(flatten)]
    #[graphql(flatten)]
    pub subscription: SubscriptionDto,
    /// `whsec_...`: the key of `Emporium-Signature`'s HMAC. Shown this once.
    pub secret: String,
}

/// One delivery of an event to a subscription.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = WebhookDelivery)]
#[graphql(name = "WebhookDelivery")]
pub struct DeliveryDto {
    #[schema(example = "dlv_0192f5c3a1b27c4e8a0f3d2b1c4e5f60")]
    pub id: String,
    pub event_id: String,
    #[schema(example = "order.placed")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(example = "pending")]
    pub status: String,
    pub attempts: i32,
    /// The status code of the last answer, if one came.
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// When it is tried next (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<webhooks::Delivery> for DeliveryDto {
    fn from(d: webhooks::Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
        }
    }
}

/// How many events a replay queued.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = WebhookReplay)]
#[graphql(name = "WebhookReplay")]
pub struct ReplayDto {
    pub queued: i64,
}

/// Refuses a URL whose host resolves to an address deliveries may not reach (each delivery
/// checks again: DNS can change). Private targets allowed, nothing is resolved.
async fn check_target(state: &AppState, url: &url::Url) -> Result<(), ApiError> {
    if state.config.webhook_allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let resolved = tokio::time::timeout(std::time::Duration::from_secs(5), tokio::net::lookup_host((host, port))).await;
    let checked = match resolved {
        Ok(Ok(addresses)) => webhooks::check_address(addresses, false).map(|_| ()).map_err(|e| e.to_string()),
        _ => Err("the host does not resolve".to_owned()),
    };
    checked.map_err(|why| {
        ApiError::validation(ValidationErrors::single("url", "unsafe_target", format!("refused: {why}")))
    })
}

/// Subscribes a URL to event types (201); its secret is in the answer, this once.
pub async fn create(
    state: &AppState,
    idempotency: &Idempotency,
    input: NewSubscription,
) -> Result<Done<WithSecretDto>, ApiError> {
    let (url, ..) = webhooks::check_new(&input, state.config.webhook_allow_private)?;
    check_target(state, &url).await?;
    let mut work = state.writer.begin().await?;
    let now = state.clock.now();
    let (subscription, secret) =
        webhooks::create(&work, &state.keyring, &input, state.config.webhook_allow_private, now).await?;
    let value = WithSecretDto { subscription: subscription.into(), secret };
    let answer = Answer::of(StatusCode::CREATED, &value)?;
    // The secret is shown once and never stored: a retry with the same key is answered the
    // subscription without it (rotation makes a new one).
    if let Some(stored) = idempotency.stored(&Answer::of(StatusCode::CREATED, &value.subscription)?) {
        work.answer(stored);
    }
    work.commit().await?;
    Ok(Done { value, answer })
}

/// Every subscription.
pub async fn list(state: &AppState) -> Result<Vec<SubscriptionDto>, ApiError> {
    Ok(webhooks::list(&state.db).await?.into_iter().map(SubscriptionDto::from).collect())
}

/// One subscription.
pub async fn get(state: &AppState, id: &str) -> Result<SubscriptionDto, ApiError> {
    Ok(webhooks::find(&state.db, id).await?.into())
}

/// What a change of a subscription may set.
#[derive(Debug, Default)]
pub struct Change {
    pub url: Patch<String>,
    pub events: Patch<Vec<String>>,
    pub description: Patch<String>,
    pub active: Patch<bool>,
}

/// Changes a subscription, if it is at a version `expected` admits (412 otherwise).
pub async fn update(
    state: &AppState,
    id: &str,
    change: Change,
    expected: &emporium_core::Expected,
) -> Result<SubscriptionDto, ApiError> {
    if let Patch::Value(url) = &change.url {
        let mut errors = ValidationErrors::new();
        match webhooks::check_url(&mut errors, "url", url, state.config.webhook_allow_private) {
            Some(url) => check_target(state, &url).await?,
            None => return Err(ApiError::validation(errors)),
        }
    }
    let work = state.writer.begin().await?;
    let patch = SubscriptionPatch {
        url: change.url,
        events: change.events,
        description: change.description,
        active: change.active,
    };
    let changed =
        webhooks::update(&work, id, patch, state.config.webhook_allow_private, expected, state.clock.now()).await?;
    work.commit().await?;
    Ok(changed.into())
}

/// Deletes a subscription and its delivery log, if it is at a version `expected` admits.
pub async fn delete(state: &AppState, id: &str, expected: &emporium_core::Expected) -> Result<(), ApiError> {
    let work = state.writer.begin().await?;
    webhooks::delete(&work, id, expected).await?;
    work.commit().await?;
    Ok(())
}

/// Gives a subscription a new secret; the old one keeps signing beside it for 24 hours.
pub async fn rotate(state: &AppState, id: &str) -> Result<WithSecretDto, ApiError> {
    let work = state.writer.begin().await?;
    let (subscription, secret) = webhooks::rotate_secret(&work, &state.keyring, id, state.clock.now()).await?;
    work.commit().await?;
    Ok(WithSecretDto { subscription: subscription.into(), secret })
}

/// A page of a subscription's deliveries, newest first.
pub async fn deliveries(
    state: &AppState,
    id: &str,
    status: Option<&str>,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(Vec<DeliveryDto>, Option<String>), ApiError> {
    let subscription = webhooks::find(&state.db, id).await?;
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
            ApiError::validation(ValidationErrors::single(
                "status",
                "invalid_value",
                "must be pending, delivered or failed",
            ))
        })?),
    };
    let limit = crate::usecases::products::page_size(limit, "limit")?;
    let before = crate::usecases::products::cursor_id(state, "deliveries", cursor)?;
    let mut found =
        webhooks::list_deliveries(&state.db, &subscription.id, status, before.as_deref(), limit.get() + 1).await?;
    let more = found.len() as u64 > limit.get();
    found.truncate(limit.get() as usize);
    let next = if more { found.last().map(|d| delivery_cursor(state, &d.id)) } else { None };
    Ok((found.into_iter().map(DeliveryDto::from).collect(), next))
}

/// The cursor that continues a delivery log after this delivery.
pub fn delivery_cursor(state: &AppState, delivery_id: &str) -> String {
    state.cursors.encode(&("deliveries", delivery_id))
}

/// Sends a delivery again now.
pub async fn retry(state: &AppState, id: &str, delivery_id: &str) -> Result<DeliveryDto, ApiError> {
    let subscription = webhooks::find(&state.db, id).await?;
    let work = state.writer.begin().await?;
    let delivery = webhooks::retry_now(&work, &subscription.id, delivery_id, state.clock.now()).await?;
    work.commit().await?;
    state.webhooks_wake.notify_one();
    Ok(delivery.into())
}

/// Queues again every event the subscription hears since `since` (at most 30 days back).
pub async fn replay(state: &AppState, id: &str, since: DateTime<Utc>) -> Result<ReplayDto, ApiError> {
    let work = state.writer.begin().await?;
    let subscription = webhooks::find(&work, id).await?;
    let queued = webhooks::replay(&work, &subscription, since, state.clock.now()).await?;
    work.commit().await?;
    state.webhooks_wake.notify_one();
    Ok(ReplayDto { queued: queued as i64 })
}
