//! Subscriptions: a URL, the event types it hears (`*` for all), whether it is active, and
//! the nonces its secrets derive from (the current one, and for 24 hours after a rotation the
//! previous one).

use chrono::{DateTime, Duration, Utc};
use emporium_core::db::statement;
use emporium_core::{Expected, Patch, ValidationErrors, id};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use crate::signing::{Keyring, new_nonce};
use crate::{EVENT_TYPES, WebhookError};

/// The most subscriptions a shop holds.
pub const MAX_SUBSCRIPTIONS: usize = 50;
/// The longest description.
pub const MAX_DESCRIPTION: usize = 500;
/// How long the previous secret still signs after a rotation.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;

/// A subscription as stored (its secret is never kept: see [`Keyring`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
    /// Why it was turned off, when the server turned it off.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Moves with every change (what `If-Match` and `expectedVersion` compare).
    pub version: i64,
}

impl Subscription {
    /// Whether it hears events of type `kind`.
    pub fn hears(&self, kind: &str) -> bool {
        hears(&self.events, kind)
    }
}

pub(crate) fn hears(events: &[String], kind: &str) -> bool {
    events.iter().any(|e| e == "*" || e == kind)
}

/// A new subscription as asked for.
#[derive(Debug, Clone, Default)]
pub struct NewSubscription {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// A change: each field left out, cleared (description only) or set.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    pub url: Patch<String>,
    pub events: Patch<Vec<String>>,
    pub description: Patch<String>,
    pub active: Patch<bool>,
}

const COLUMNS: &str = "id, url, events, description, active, disabled_reason, created_at, updated_at, version";

fn subscription_of(row: &QueryResult) -> Result<Subscription, DbErr> {
    let events: String = row.try_get("", "events")?;
    Ok(Subscription {
        id: row.try_get("", "id")?,
        url: row.try_get("", "url")?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        description: row.try_get("", "description")?,
        active: row.try_get("", "active")?,
        disabled_reason: row.try_get("", "disabled_reason")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
        version: row.try_get("", "version")?,
    })
}

fn check_events(errors: &mut ValidationErrors, events: &[String]) -> Vec<String> {
    if events.is_empty() {
        errors.add("events", "required", "name at least one event type, or \"*\"");
    }
    let mut kept: Vec<String> = Vec::new();
    for (i, kind) in events.iter().enumerate() {
        if kind != "*" && !EVENT_TYPES.contains(&kind.as_str()) {
            errors.add(format!("events[{i}]"), "unknown_event_type", "must be an event type API.md lists, or \"*\"");
        } else if !kept.contains(kind) {
            kept.push(kind.clone());
        }
    }
    if kept.iter().any(|k| k == "*") {
        kept = vec!["*".to_owned()];
    }
    kept
}

fn check_description(errors: &mut ValidationErrors, text: &str) -> Option<String> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION || text.chars().any(|c| c.is_control() && c != '\n') {
        errors.add("description", "invalid", "must be at most 500 characters, without control characters");
    }
    (!text.is_empty()).then(|| text.to_owned())
}

/// A new subscription's fields, checked: its URL, event types and description.
pub fn check_new(
    input: &NewSubscription,
    allow_private: bool,
) -> Result<(url::Url, Vec<String>, Option<String>), WebhookError> {
    let mut errors = ValidationErrors::new();
    let url = crate::check_url(&mut errors, "url", &input.url, allow_private);
    let events = check_events(&mut errors, &input.events);
    let description = input.description.as_deref().and_then(|d| check_description(&mut errors, d));
    errors.finish(())?;
    let url = url.ok_or_else(|| ValidationErrors::single("url", "invalid", "must be an absolute URL"))?;
    Ok((url, events, description))
}

/// Creates a subscription; it and its secret, shown this once. The caller checked the
/// addresses the URL's host resolves to.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    keyring: &Keyring,
    input: &NewSubscription,
    allow_private: bool,
    now: DateTime<Utc>,
) -> Result<(Subscription, String), WebhookError> {
    let (url, events, description) = check_new(input, allow_private)?;
    let url = String::from(url);
    let backend = db.get_database_backend();
    let count = db
        .query_one_raw(statement(backend, "SELECT COUNT(*) AS n FROM webhook_subscriptions", []))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if count as usize >= MAX_SUBSCRIPTIONS {
        return Err(ValidationErrors::single("url", "too_many", "a shop holds at most 50 subscriptions").into());
    }
    let id = id::new_id("whk");
    let nonce = new_nonce();
    let row = db
        .query_one_raw(statement(
            backend,
            &format!(
                "INSERT INTO webhook_subscriptions (id, url, events, description, active, secret_nonce, created_at, updated_at, version) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING {COLUMNS}"
            ),
            [
                id.clone().into(),
                url.into(),
                serde_json::to_string(&events).unwrap_or_default().into(),
                description.into(),
                input.active.unwrap_or(true).into(),
                nonce.clone().into(),
                now.into(),
                now.into(),
            ],
        ))
        .await?
        .ok_or(WebhookError::NotFound("subscription"))?;
    Ok((subscription_of(&row)?, keyring.secret(&id, &nonce)))
}

/// Every subscription, oldest first.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<Subscription>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id"),
            [],
        ))
        .await?;
    rows.iter().map(subscription_of).collect()
}

/// One subscription.
pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Subscription, WebhookError> {
    read(db, id, "").await
}

/// One subscription, locked for a change until the transaction ends (on SQLite the write
/// transaction holds the database already).
async fn lock<C: ConnectionTrait>(db: &C, id: &str) -> Result<Subscription, WebhookError> {
    let suffix = if db.get_database_backend() == sea_orm::DbBackend::Postgres { " FOR UPDATE" } else { "" };
    read(db, id, suffix).await
}

async fn read<C: ConnectionTrait>(db: &C, id: &str, suffix: &str) -> Result<Subscription, WebhookError> {
    if !emporium_core::db::lookupable(id) {
        return Err(WebhookError::NotFound("subscription"));
    }
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM webhook_subscriptions WHERE id = ?{suffix}"),
            [id.into()],
        ))
        .await?;
    row.as_ref().map(subscription_of).transpose()?.ok_or(WebhookError::NotFound("subscription"))
}

/// Changes a subscription. Turning it on again clears why it was turned off and what it was
/// failing. `expected`: the version the caller last read, if it names one (`Stale`, nothing
/// changed, when it is no longer the current one).
pub async fn update<C: ConnectionTrait>(
    db: &C,
    id: &str,
    patch: SubscriptionPatch,
    allow_private: bool,
    expected: &Expected,
    now: DateTime<Utc>,
) -> Result<Subscription, WebhookError> {
    let current = lock(db, id).await?;
    if !expected.admits(current.version) {
        return Err(WebhookError::Stale { current: current.version });
    }
    let mut errors = ValidationErrors::new();
    let mut next = current.clone();
    match patch.url {
        Patch::Missing => {}
        Patch::Null => errors.add("url", "required", "must not be null"),
        Patch::Value(url) => {
            if let Some(url) = crate::check_url(&mut errors, "url", &url, allow_private) {
                next.url = url.into();
            }
        }
    }
    match patch.events {
        Patch::Missing => {}
        Patch::Null => errors.add("events", "required", "must not be null"),
        Patch::Value(events) => next.events = check_events(&mut errors, &events),
    }
    match patch.description {
        Patch::Missing => {}
        Patch::Null => next.description = None,
        Patch::Value(text) => next.description = check_description(&mut errors, &text),
    }
    match patch.active {
        Patch::Missing => {}
        Patch::Null => errors.add("active", "required", "must not be null"),
        Patch::Value(active) => next.active = active,
    }
    errors.finish(())?;
    let reactivated = next.active && !current.active;
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE webhook_subscriptions SET url = ?, events = ?, description = ?, active = ?, \
                 disabled_reason = CASE WHEN ? THEN NULL ELSE disabled_reason END, \
                 failing_since = CASE WHEN ? THEN NULL ELSE failing_since END, \
                 updated_at = ?, version = version + 1 WHERE id = ? RETURNING {COLUMNS}"
            ),
            [
                next.url.into(),
                serde_json::to_string(&next.events).unwrap_or_default().into(),
                next.description.into(),
                next.active.into(),
                reactivated.into(),
                reactivated.into(),
                now.into(),
                id.into(),
            ],
        ))
        .await?;
    row.as_ref().map(subscription_of).transpose()?.ok_or(WebhookError::NotFound("subscription"))
}

/// Deletes a subscription and its deliveries (`Stale` when `expected` names another version).
pub async fn delete<C: ConnectionTrait>(db: &C, id: &str, expected: &Expected) -> Result<(), WebhookError> {
    let current = lock(db, id).await?;
    if !expected.admits(current.version) {
        return Err(WebhookError::Stale { current: current.version });
    }
    let backend = db.get_database_backend();
    db.execute_raw(statement(backend, "DELETE FROM webhook_deliveries WHERE subscription_id = ?", [id.into()])).await?;
    db.execute_raw(statement(backend, "DELETE FROM webhook_subscriptions WHERE id = ?", [id.into()])).await?;
    Ok(())
}

/// Gives a subscription a new secret (returned, shown this once); the previous one keeps
/// signing for 24 hours beside it.
pub async fn rotate_secret<C: ConnectionTrait>(
    db: &C,
    keyring: &Keyring,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(Subscription, String), WebhookError> {
    lock(db, id).await?;
    let nonce = new_nonce();
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE webhook_subscriptions SET previous_nonce = secret_nonce, previous_until = ?, secret_nonce = ?, \
                 updated_at = ?, version = version + 1 WHERE id = ? RETURNING {COLUMNS}"
            ),
            [(now + Duration::hours(ROTATION_OVERLAP_HOURS)).into(), nonce.clone().into(), now.into(), id.into()],
        ))
        .await?
        .ok_or(WebhookError::NotFound("subscription"))?;
    Ok((subscription_of(&row)?, keyring.secret(id, &nonce)))
}

/// The secrets that sign a delivery at `now`: the current one, and the previous one within
/// its overlap.
pub fn secrets_of(
    keyring: &Keyring,
    subscription_id: &str,
    nonce: &str,
    previous: Option<(&str, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut secrets = vec![keyring.secret(subscription_id, nonce)];
    if let Some((previous, _)) = previous.filter(|(_, until)| *until > now) {
        secrets.push(keyring.secret(subscription_id, previous));
    }
    secrets
}

/// Turns off the subscriptions whose deliveries have all failed since `now - window`; their ids.
pub async fn disable_failing<C: ConnectionTrait>(
    db: &C,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "UPDATE webhook_subscriptions SET active = ?, disabled_reason = ?, updated_at = ?, version = version + 1 \
             WHERE active = ? AND failing_since IS NOT NULL AND failing_since <= ? RETURNING id",
            [
                false.into(),
                "every delivery failed for the whole retry schedule".into(),
                now.into(),
                true.into(),
                (now - window).into(),
            ],
        ))
        .await?;
    rows.iter().map(|row| row.try_get::<String>("", "id")).collect()
}
