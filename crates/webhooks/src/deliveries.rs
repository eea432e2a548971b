//! Deliveries: one per event and subscription, `pending` until the receiver answers 2xx
//! (`delivered`) or the retry schedule runs out (`failed`). Made from the outbox by one
//! dispatcher at a time (it keeps its position in `outbox_positions`); claimed by workers for a
//! while (a claim that runs out, because its worker died, is claimed again: nothing is lost),
//! a few at a time per subscription so one slow receiver cannot hold up the others.

use chrono::{DateTime, Utc};
use emporium_core::db::statement;
use emporium_core::{ValidationErrors, id};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Value};

use crate::subscriptions::hears;
use crate::{MAX_REPLAY_DAYS, Schedule, WebhookError};

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// A delivery as its log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, subscription_id, event_id, event_type, status, attempts, last_status_code, last_error, \
                       next_attempt_at, delivered_at, created_at";

fn delivery_of(row: &QueryResult) -> Result<Delivery, DbErr> {
    let status: String = row.try_get("", "status")?;
    let status =
        DeliveryStatus::parse(&status).ok_or_else(|| DbErr::Type(format!("unknown delivery status {status}")))?;
    Ok(Delivery {
        id: row.try_get("", "id")?,
        subscription_id: row.try_get("", "subscription_id")?,
        event_id: row.try_get("", "event_id")?,
        event_type: row.try_get("", "event_type")?,
        next_attempt_at: if status == DeliveryStatus::Pending { row.try_get("", "next_attempt_at")? } else { None },
        status,
        attempts: row.try_get("", "attempts")?,
        last_status_code: row.try_get("", "last_status_code")?,
        last_error: row.try_get("", "last_error")?,
        delivered_at: row.try_get("", "delivered_at")?,
        created_at: row.try_get("", "created_at")?,
    })
}

/// Rows per multi-row insert (nine values each).
const INSERT_CHUNK: usize = 300;

/// Inserts pending deliveries of `(subscription, event id, sequence, type)`, due at `now`;
/// one that exists already is left alone, or (`again`) queued again from scratch.
async fn insert_deliveries<C: ConnectionTrait>(
    db: &C,
    rows: &[(String, String, i64, String)],
    now: DateTime<Utc>,
    again: bool,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let conflict = if again {
        " ON CONFLICT (subscription_id, event_id) DO UPDATE SET status = 'pending', attempts = 0, \
         next_attempt_at = excluded.next_attempt_at, claimed_until = NULL, first_attempt_at = NULL, last_error = NULL, \
         last_status_code = NULL, delivered_at = NULL"
    } else {
        " ON CONFLICT (subscription_id, event_id) DO NOTHING"
    };
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_sequence, event_type, status, attempts, \
             next_attempt_at, created_at) VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 7);
        for (i, (subscription, event, sequence, kind)) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
            });
            values.extend([
                id::new_id("dlv").into(),
                subscription.clone().into(),
                event.clone().into(),
                (*sequence).into(),
                kind.clone().into(),
                now.into(),
                now.into(),
            ]);
        }
        sql.push_str(conflict);
        db.execute_raw(statement(backend, &sql, values)).await?;
    }
    Ok(())
}

/// The `sequence` of the last event the dispatcher turned into deliveries.
async fn dispatched_up_to<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT position FROM outbox_positions WHERE name = 'webhooks'",
            [],
        ))
        .await?;
    Ok(row.map(|row| row.try_get("", "position")).transpose()?.unwrap_or(0))
}

/// Turns up to `batch` numbered events past the dispatcher's position into deliveries for
/// the active subscriptions that hear them, and moves the position past them; how many
/// events it passed. Run it in a write transaction: the position row is locked first, so one
/// dispatcher runs at a time.
pub async fn dispatch<C: ConnectionTrait>(db: &C, batch: u64, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(backend, "UPDATE outbox_positions SET position = position WHERE name = 'webhooks'", []))
        .await?;
    let position = dispatched_up_to(db).await?;
    let events = db
        .query_all_raw(statement(
            backend,
            "SELECT id, sequence, kind FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?",
            [position.into(), (batch as i64).into()],
        ))
        .await?;
    let Some(last) = events.last() else { return Ok(0) };
    let last: i64 = last.try_get("", "sequence")?;
    let subscriptions = db
        .query_all_raw(statement(
            backend,
            "SELECT id, events FROM webhook_subscriptions WHERE active = ?",
            [true.into()],
        ))
        .await?;
    let subscriptions: Vec<(String, Vec<String>)> = subscriptions
        .iter()
        .map(|row| {
            let events: String = row.try_get("", "events")?;
            Ok((row.try_get("", "id")?, serde_json::from_str(&events).unwrap_or_default()))
        })
        .collect::<Result<_, DbErr>>()?;
    let mut rows = Vec::new();
    for event in &events {
        let kind: String = event.try_get("", "kind")?;
        for (subscription, heard) in &subscriptions {
            if hears(heard, &kind) {
                rows.push((
                    subscription.clone(),
                    event.try_get("", "id")?,
                    event.try_get("", "sequence")?,
                    kind.clone(),
                ));
            }
        }
    }
    insert_deliveries(db, &rows, now, false).await?;
    db.execute_raw(statement(
        backend,
        "UPDATE outbox_positions SET position = ? WHERE name = 'webhooks' AND position < ?",
        [last.into(), last.into()],
    ))
    .await?;
    Ok(events.len() as u64)
}

/// Whether a worker's round would find nothing to do at `now`: every event numbered and
/// dispatched, no delivery due, no subscription failing for the whole `window`. One read.
pub async fn nothing_due<C: ConnectionTrait>(
    db: &C,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT EXISTS (SELECT 1 FROM events WHERE sequence IS NULL) AS unnumbered, \
             (SELECT COALESCE(MAX(sequence), 0) FROM events) AS last, \
             (SELECT position FROM outbox_positions WHERE name = 'webhooks') AS position, \
             EXISTS (SELECT 1 FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
               WHERE s.active = ? AND d.status = 'pending' AND d.next_attempt_at <= ?) AS due, \
             EXISTS (SELECT 1 FROM webhook_subscriptions WHERE active = ? AND failing_since <= ?) AS failing",
            [true.into(), now.into(), true.into(), (now - window).into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(false) };
    let flag = |column: &str| -> Result<bool, DbErr> {
        // EXISTS is a boolean on PostgreSQL and an integer on SQLite.
        row.try_get::<bool>("", column).or_else(|_| row.try_get::<i64>("", column).map(|n| n != 0))
    };
    let last: i64 = row.try_get("", "last")?;
    let position: Option<i64> = row.try_get("", "position")?;
    Ok(!flag("unnumbered")? && position.is_some_and(|p| p >= last) && !flag("due")? && !flag("failing")?)
}

/// A delivery a worker has claimed, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: String,
    pub subscription_id: String,
    pub url: String,
    pub nonce: String,
    pub previous: Option<(String, DateTime<Utc>)>,
    /// Attempts made, this one included (the log counts it once its outcome is recorded).
    pub attempts: i32,
    /// Until when this worker holds it: an outcome is recorded only while the claim is its.
    pub claimed_until: DateTime<Utc>,
    /// When it was first tried (this attempt, the first time).
    pub first_attempt_at: DateTime<Utc>,
    /// The body to send: `{"id","type","sequence","created_at","data"}`.
    pub body: String,
}

/// Claims up to `per_subscription` due deliveries of each active subscription (less those it
/// has in flight, by any worker), in event order, until `claim_until`. Run it in a write
/// transaction; on PostgreSQL rows another worker is claiming are skipped, not waited for.
pub async fn claim_due<C: ConnectionTrait>(
    db: &C,
    per_subscription: i64,
    now: DateTime<Utc>,
    claim_until: DateTime<Utc>,
) -> Result<Vec<Claimed>, DbErr> {
    let backend = db.get_database_backend();
    let skip_locked = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let due = db
        .query_all_raw(statement(
            backend,
            "SELECT s.id, s.url, s.secret_nonce, s.previous_nonce, s.previous_until, \
             (SELECT COUNT(*) FROM webhook_deliveries f WHERE f.subscription_id = s.id AND f.status = 'pending' \
              AND f.claimed_until >= ?) AS in_flight \
             FROM webhook_subscriptions s WHERE s.active = ? AND EXISTS (SELECT 1 FROM webhook_deliveries d \
             WHERE d.subscription_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= ? \
             AND (d.claimed_until IS NULL OR d.claimed_until < ?))",
            [now.into(), true.into(), now.into(), now.into()],
        ))
        .await?;
    let mut claimed = Vec::new();
    for subscription in &due {
        let room = per_subscription - subscription.try_get::<i64>("", "in_flight")?;
        if room <= 0 {
            continue;
        }
        let id: String = subscription.try_get("", "id")?;
        let rows = db
            .query_all_raw(statement(
                backend,
                &format!(
                    "UPDATE webhook_deliveries SET claimed_until = ?, \
                     first_attempt_at = COALESCE(first_attempt_at, ?) WHERE id IN (SELECT id FROM webhook_deliveries \
                     WHERE subscription_id = ? AND status = 'pending' AND next_attempt_at <= ? \
                     AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt_at, event_sequence LIMIT ?{skip_locked}) \
                     RETURNING id, event_id, attempts, first_attempt_at"
                ),
                [claim_until.into(), now.into(), id.clone().into(), now.into(), now.into(), room.into()],
            ))
            .await?;
        if rows.is_empty() {
            continue;
        }
        let event_ids: Vec<String> = rows.iter().map(|r| r.try_get("", "event_id")).collect::<Result<_, _>>()?;
        let bodies = bodies(db, &event_ids).await?;
        let previous_nonce: Option<String> = subscription.try_get("", "previous_nonce")?;
        let previous_until: Option<DateTime<Utc>> = subscription.try_get("", "previous_until")?;
        for row in &rows {
            let event_id: String = row.try_get("", "event_id")?;
            let Some((event_type, body)) =
                bodies.iter().find(|(id, _, _)| *id == event_id).map(|(_, kind, body)| (kind.clone(), body.clone()))
            else {
                continue;
            };
            claimed.push(Claimed {
                delivery_id: row.try_get("", "id")?,
                event_id,
                event_type,
                subscription_id: id.clone(),
                url: subscription.try_get("", "url")?,
                nonce: subscription.try_get("", "secret_nonce")?,
                previous: previous_nonce.clone().zip(previous_until),
                attempts: row.try_get::<i32>("", "attempts")? + 1,
                claimed_until: claim_until,
                first_attempt_at: row.try_get("", "first_attempt_at")?,
                body,
            });
        }
    }
    Ok(claimed)
}

/// The types and bodies of these events, by id.
async fn bodies<C: ConnectionTrait>(db: &C, event_ids: &[String]) -> Result<Vec<(String, String, String)>, DbErr> {
    let sql = format!(
        "SELECT id, kind, sequence, data, created_at FROM events WHERE id IN ({})",
        vec!["?"; event_ids.len()].join(", ")
    );
    let values: Vec<Value> = event_ids.iter().map(|id| id.clone().into()).collect();
    let rows = db.query_all_raw(statement(db.get_database_backend(), &sql, values)).await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("", "id")?;
            let data: String = row.try_get("", "data")?;
            let kind: String = row.try_get("", "kind")?;
            let body = serde_json::json!({
                "id": id,
                "type": kind,
                "sequence": row.try_get::<Option<i64>>("", "sequence")?,
                "created_at": row.try_get::<DateTime<Utc>>("", "created_at")?,
                "data": serde_json::from_str::<serde_json::Value>(&data).unwrap_or(serde_json::Value::Null),
            });
            Ok((id, kind, body.to_string()))
        })
        .collect()
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer within the timeout.
    Delivered { status: u16 },
    /// Another status, a timeout, a refused connection, a redirect, a refused address.
    Failed { status: Option<u16>, error: String },
}

/// Records how an attempt of a claimed delivery ended: delivered; or due again after the
/// schedule's next gap (`jitter` in 0..1); or, past the schedule's window since its first
/// attempt, failed. A subscription that delivers is no longer failing; one that fails is
/// failing since its first failure after its last success. Nothing is recorded (none) when
/// the claim is no longer this worker's: it ran out and another took the delivery, or a
/// retry or replay queued it again meanwhile.
pub async fn record_outcome<C: ConnectionTrait>(
    db: &C,
    claimed: &Claimed,
    outcome: &Outcome,
    schedule: &Schedule,
    jitter: f64,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryStatus>, DbErr> {
    let backend = db.get_database_backend();
    let (status, code, error, next) = match outcome {
        Outcome::Delivered { status } => (DeliveryStatus::Delivered, Some(i32::from(*status)), None, None),
        Outcome::Failed { status, error } => {
            let next = now + schedule.gap(claimed.attempts.max(1) as u32, jitter);
            let expired = next - claimed.first_attempt_at > schedule.window();
            let state = if expired { DeliveryStatus::Failed } else { DeliveryStatus::Pending };
            (state, status.map(i32::from), Some(error.chars().take(500).collect::<String>()), Some(next))
        }
    };
    let recorded = db
        .execute_raw(statement(
            backend,
            "UPDATE webhook_deliveries SET status = ?, last_status_code = ?, last_error = ?, claimed_until = NULL, \
             attempts = attempts + 1, next_attempt_at = COALESCE(?, next_attempt_at), delivered_at = ? \
             WHERE id = ? AND claimed_until = ?",
            [
                status.as_str().into(),
                code.into(),
                error.into(),
                next.into(),
                (status == DeliveryStatus::Delivered).then_some(now).into(),
                claimed.delivery_id.clone().into(),
                claimed.claimed_until.into(),
            ],
        ))
        .await?;
    if recorded.rows_affected() == 0 {
        return Ok(None);
    }
    if status == DeliveryStatus::Delivered {
        db.execute_raw(statement(
            backend,
            "UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL",
            [claimed.subscription_id.clone().into()],
        ))
        .await?;
    } else {
        db.execute_raw(statement(
            backend,
            "UPDATE webhook_subscriptions SET failing_since = ? WHERE id = ? AND failing_since IS NULL",
            [claimed.first_attempt_at.min(now).into(), claimed.subscription_id.clone().into()],
        ))
        .await?;
    }
    Ok(Some(status))
}

/// A subscription's deliveries, newest event first, after the delivery `before` (a cursor).
pub async fn list_deliveries<C: ConnectionTrait>(
    db: &C,
    subscription_id: &str,
    status: Option<DeliveryStatus>,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<Delivery>, WebhookError> {
    let backend = db.get_database_backend();
    let mut sql = format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE subscription_id = ?");
    let mut values: Vec<Value> = vec![subscription_id.into()];
    if let Some(status) = status {
        sql.push_str(" AND status = ?");
        values.push(status.as_str().into());
    }
    if let Some(before) = before {
        sql.push_str(" AND event_sequence < (SELECT event_sequence FROM webhook_deliveries WHERE id = ?)");
        values.push(before.into());
    }
    sql.push_str(" ORDER BY event_sequence DESC LIMIT ?");
    values.push((limit as i64).into());
    let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
    Ok(rows.iter().map(delivery_of).collect::<Result<_, _>>()?)
}

/// Sends a delivery again now (it keeps its attempts and starts a new schedule).
pub async fn retry_now<C: ConnectionTrait>(
    db: &C,
    subscription_id: &str,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, WebhookError> {
    if !emporium_core::db::lookupable(delivery_id) {
        return Err(WebhookError::NotFound("delivery"));
    }
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, claimed_until = NULL, \
                 first_attempt_at = NULL, delivered_at = NULL WHERE id = ? AND subscription_id = ? RETURNING {COLUMNS}"
            ),
            [now.into(), delivery_id.into(), subscription_id.into()],
        ))
        .await?;
    row.as_ref().map(delivery_of).transpose()?.ok_or(WebhookError::NotFound("delivery"))
}

/// The most events one replay queues.
pub const MAX_REPLAY_EVENTS: i64 = 100_000;

/// Queues again every event since `since` that the subscription hears (the ones it was
/// already sent, and the ones from before it existed); how many. At most 30 days back.
pub async fn replay<C: ConnectionTrait>(
    db: &C,
    subscription: &crate::Subscription,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, WebhookError> {
    if since < now - chrono::Duration::days(MAX_REPLAY_DAYS) || since > now {
        return Err(ValidationErrors::single("since", "out_of_range", "must be within the last 30 days").into());
    }
    let backend = db.get_database_backend();
    let position = dispatched_up_to(db).await?;
    // Events past the position are the dispatcher's to queue.
    let rows = db
        .query_all_raw(statement(
            backend,
            "SELECT id, sequence, kind FROM events WHERE created_at >= ? AND sequence IS NOT NULL AND sequence <= ? \
             ORDER BY sequence LIMIT ?",
            [since.into(), position.into(), (MAX_REPLAY_EVENTS + 1).into()],
        ))
        .await?;
    if rows.len() as i64 > MAX_REPLAY_EVENTS {
        return Err(
            ValidationErrors::single("since", "too_many", "more than 100,000 events: replay a shorter window").into()
        );
    }
    let mut queued = Vec::new();
    for row in &rows {
        let kind: String = row.try_get("", "kind")?;
        if subscription.hears(&kind) {
            queued.push((subscription.id.clone(), row.try_get("", "id")?, row.try_get("", "sequence")?, kind));
        }
    }
    insert_deliveries(db, &queued, now, true).await?;
    Ok(queued.len() as u64)
}

/// The queue's figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Queue {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Seconds since the oldest pending delivery was queued.
    pub oldest_pending_seconds: f64,
}

/// The queue's figures.
pub async fn queue_stats<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<Queue, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(statement(
            backend,
            "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_deliveries GROUP BY status",
            [],
        ))
        .await?;
    let mut queue = Queue::default();
    for row in &rows {
        let n: i64 = row.try_get("", "n")?;
        match row.try_get::<String>("", "status")?.as_str() {
            "pending" => {
                queue.pending = n;
                let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest")?;
                queue.oldest_pending_seconds =
                    oldest.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
            }
            "delivered" => queue.delivered = n,
            _ => queue.failed = n,
        }
    }
    Ok(queue)
}
