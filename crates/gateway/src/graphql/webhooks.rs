//! Webhook subscriptions, rotation, the delivery log, retry and replay over GraphQL: the same
//! use cases as `/v1/webhooks` (admin, or an API key with `webhooks:write`).

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use emporium_customers::Permission;

use crate::graphql::catalog::{PageInfo, patch};
use crate::usecases::webhooks::{self, DeliveryDto, ReplayDto, SubscriptionDto, WithSecretDto};

/// A delivery in a connection.
#[derive(SimpleObject)]
pub struct WebhookDeliveryEdge {
    pub cursor: String,
    pub node: DeliveryDto,
}

/// A page of a subscription's deliveries, newest event first.
#[derive(SimpleObject)]
pub struct WebhookDeliveryConnection {
    pub edges: Vec<WebhookDeliveryEdge>,
    pub nodes: Vec<DeliveryDto>,
    pub page_info: PageInfo,
}

/// A new subscription.
#[derive(InputObject)]
pub struct NewWebhookInput {
    /// `https`, to a host that resolves only to public addresses.
    pub url: String,
    /// Event types, or `["*"]` for every one.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// A change of a subscription: fields left out stay; `description: null` clears it.
#[derive(InputObject)]
pub struct WebhookPatchInput {
    pub url: MaybeUndefined<String>,
    pub events: MaybeUndefined<Vec<String>>,
    pub description: MaybeUndefined<String>,
    pub active: MaybeUndefined<bool>,
}

fn may_manage<'a>(ctx: &'a Context<'_>) -> Result<&'a crate::state::AppState> {
    let (state, principal) = crate::graphql::state_and_principal(ctx)?;
    principal.require(Permission::WebhooksWrite)?;
    Ok(state)
}

/// Webhook subscriptions and their deliveries.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every subscription, oldest first.
    #[graphql(complexity = "crate::graphql::LIST_COST + child_complexity")]
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<SubscriptionDto>> {
        Ok(webhooks::list(may_manage(ctx)?).await?)
    }

    /// One subscription.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn webhook(&self, ctx: &Context<'_>, id: String) -> Result<SubscriptionDto> {
        Ok(webhooks::get(may_manage(ctx)?, &id).await?)
    }

    /// A subscription's deliveries, newest event first; `status` is `pending`, `delivered` or
    /// `failed`.
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        id: String,
        status: Option<String>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
    ) -> Result<WebhookDeliveryConnection> {
        let state = may_manage(ctx)?;
        let had_after = after.is_some();
        let (nodes, next) = webhooks::deliveries(state, &id, status.as_deref(), Some(first), after.as_deref()).await?;
        let edges: Vec<WebhookDeliveryEdge> = nodes
            .iter()
            .map(|d| WebhookDeliveryEdge { cursor: webhooks::delivery_cursor(state, &d.id), node: d.clone() })
            .collect();
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor.as_str()).collect();
        let page_info = PageInfo::of(&cursors, next.is_some(), had_after);
        Ok(WebhookDeliveryConnection { edges, nodes, page_info })
    }
}

/// Webhook writes.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Subscribes a URL to event types; the answer holds the signing secret, this once.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_webhook(&self, ctx: &Context<'_>, input: NewWebhookInput) -> Result<WithSecretDto> {
        let state = may_manage(ctx)?;
        let input = emporium_webhooks::NewSubscription {
            url: input.url,
            events: input.events,
            description: input.description,
            active: input.active,
        };
        Ok(webhooks::create(state, &crate::graphql::claim(ctx), input).await?.value)
    }

    /// Changes a subscription's URL, events, description or whether it is active; with
    /// `expectedVersion`, only while it is at that version (`precondition_failed` otherwise).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: String,
        input: WebhookPatchInput,
        expected_version: Option<i64>,
    ) -> Result<SubscriptionDto> {
        let state = may_manage(ctx)?;
        let change = webhooks::Change {
            url: patch(input.url),
            events: patch(input.events),
            description: patch(input.description),
            active: patch(input.active),
        };
        Ok(webhooks::update(state, &id, change, &crate::graphql::expected(expected_version)).await?)
    }

    /// Deletes a subscription and its delivery log; with `expectedVersion`, only while it is
    /// at that version.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn delete_webhook(&self, ctx: &Context<'_>, id: String, expected_version: Option<i64>) -> Result<bool> {
        webhooks::delete(may_manage(ctx)?, &id, &crate::graphql::expected(expected_version)).await?;
        Ok(true)
    }

    /// Gives a subscription a new secret (shown this once); the old one signs beside it for
    /// 24 hours.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn rotate_webhook_secret(&self, ctx: &Context<'_>, id: String) -> Result<WithSecretDto> {
        Ok(webhooks::rotate(may_manage(ctx)?, &id).await?)
    }

    /// Sends a delivery again now.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn retry_webhook_delivery(&self, ctx: &Context<'_>, id: String, delivery_id: String) -> Result<DeliveryDto> {
        Ok(webhooks::retry(may_manage(ctx)?, &id, &delivery_id).await?)
    }

    /// Queues again every event the subscription hears since `since` (30 days at most).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn replay_webhook(&self, ctx: &Context<'_>, id: String, since: DateTime<Utc>) -> Result<ReplayDto> {
        Ok(webhooks::replay(may_manage(ctx)?, &id, since).await?)
    }
}
