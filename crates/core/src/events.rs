//! The event feed: every change of an order, of stock or of a product appends an event in the
//! transaction that makes the change (through the unit of work, [`crate::uow`]), so no
//! committed change lacks its event and no event outlives a rolled-back change. It is the
//! outbox webhooks and a broker relay will read. Events are typed ([`DomainEvent`]).
//!
//! Order: a reader must never see a later event before an earlier one is readable. A
//! sequence alone does not give that on PostgreSQL: the writer of 10 may commit after the
//! writer of 11, and a reader that saw 11 and moved past it would never see 10. So each event
//! also records its transaction id (`pg_current_xact_id()`), the feed is ordered by
//! (transaction, sequence), and a reader only reads events of transactions older than the
//! oldest one still running (`pg_snapshot_xmin`): those have all ended, and every transaction
//! still to commit has a larger id, so nothing can ever appear before what was read. On SQLite
//! one writer at a time holds the database, so commit order is sequence order.
//!
//! Cost of the rule: a transaction left open for long holds back the feed (not the writes) until
//! it ends; PostgreSQL's `idle_in_transaction_session_timeout` bounds that.
//!
//! Integrators order by one number, `sequence`, that increases in commit order. On SQLite it
//! is `seq`, given as the event is written. On PostgreSQL events are numbered after commit by
//! [`sequence_pending`], in `seq` order (each writer takes its `seq` at its commit), once every
//! smaller `seq` is final: a change that waited for another is numbered after it.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

use crate::db::statement;

/// A domain's events: a serde enum, adjacently tagged, whose variants serialize as
/// `{"type": "order.placed", "data": {...}}`; `data` is the public payload of API.md.
///
/// ```
/// #[derive(serde::Serialize)]
/// #[serde(tag = "type", content = "data")]
/// enum ShelfEvent {
///     #[serde(rename = "shelf.dusted")]
///     Dusted { shelf_id: String },
/// }
/// impl emporium_core::events::DomainEvent for ShelfEvent {}
/// ```
pub trait DomainEvent: serde::Serialize {
    /// The version of the payloads' shape: it moves when a payload changes incompatibly.
    const VERSION: i32 = 1;
}

/// One event as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    /// `order.placed`, `stock.low`, `product.updated`, ...
    pub kind: String,
    /// Its place in commit order (see the module's documentation).
    pub sequence: i64,
    /// The version of `data`'s shape.
    pub version: i32,
    /// What it is about, as JSON (`{"order_id": ...}`, `{"sku": ...}`).
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// An event serialized, waiting for its unit of work to commit.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    kind: String,
    version: i32,
    data: String,
}

/// Serializes an event for the outbox.
pub(crate) fn pending<E: DomainEvent>(event: &E) -> Pending {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    let kind = value.get("type").and_then(serde_json::Value::as_str).unwrap_or("unknown").to_owned();
    let data = value.get_mut("data").map(serde_json::Value::take).unwrap_or_else(|| serde_json::json!({}));
    Pending { kind, version: E::VERSION, data: data.to_string() }
}

/// Appends events in the caller's transaction, in one statement on PostgreSQL (two on
/// SQLite); their ids. Only the unit of work calls it.
pub(crate) async fn append_all<C: ConnectionTrait>(db: &C, events: &[Pending]) -> Result<Vec<String>, DbErr> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    // SQLite: one writer at a time, so the next numbers are taken under the write lock.
    let base: i64 = match backend {
        DbBackend::Postgres => 0,
        _ => db
            .query_one_raw(statement(backend, "SELECT COALESCE(MAX(seq), 0) AS seq FROM events", []))
            .await?
            .map(|row| row.try_get::<i64>("", "seq"))
            .transpose()?
            .unwrap_or_default(),
    };
    let now = crate::db::now();
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(events.len() * 5);
    let mut ids = Vec::with_capacity(events.len());
    let mut rows = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let id = crate::id::new_id("evt");
        values.extend([
            id.clone().into(),
            event.kind.clone().into(),
            event.version.into(),
            event.data.clone().into(),
            now.into(),
        ]);
        ids.push(id);
        rows.push(match backend {
            DbBackend::Postgres => "(?, ?, ?, ?, ?)".to_owned(),
            _ => format!("(?, {seq}, {seq}, 0, ?, ?, ?, ?)", seq = base + 1 + i as i64),
        });
    }
    let sql = match backend {
        // The shared lock, taken before the numbers and held until commit, is what the
        // numberer waits on (see `committed_below`): an event's number (`seq`) is taken with
        // it, so a number is final once the lock could be had exclusively.
        DbBackend::Postgres => format!(
            "INSERT INTO events (id, seq, sequence, txn, kind, version, data, created_at) \
             SELECT v.id, nextval('events_seq'), NULL, pg_current_xact_id()::text::bigint, v.kind, v.version, v.data, v.at \
             FROM (SELECT pg_advisory_xact_lock_shared({ORDER_LOCK})) AS locked, (VALUES {}) AS v(id, kind, version, data, at)",
            rows.join(", ")
        ),
        _ => format!(
            "INSERT INTO events (id, seq, sequence, txn, kind, version, data, created_at) VALUES {}",
            rows.join(", ")
        ),
    };
    db.execute_raw(statement(backend, &sql, values)).await?;
    Ok(ids)
}

/// Why a page of the feed could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// `after` names no event.
    #[error("No event has this id.")]
    UnknownEvent,
    #[error("database error")]
    Database(#[from] DbErr),
}

/// The most events one call of [`sequence_pending`] numbers.
pub const SEQUENCE_BATCH: u64 = 1_000;

/// The advisory lock writers of events hold shared from taking their numbers to their commit
/// ("emporium.events.order" folded into 63 bits).
const ORDER_LOCK: i64 = 6_118_423_504_981_771_407;
/// The advisory lock of the one numberer ("emporium.events.sequence" folded into 63 bits).
const NUMBER_LOCK: i64 = 7_290_185_563_491_187_013;

/// The highest `seq` below which every event is final (committed or gone): taken with the
/// order lock held exclusively, so no writer is between taking a number and its commit.
async fn committed_below(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    txn.execute_raw(statement(backend, &format!("SELECT pg_advisory_xact_lock({ORDER_LOCK})"), [])).await?;
    let row = txn
        .query_one_raw(statement(
            backend,
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last FROM events_seq",
            [],
        ))
        .await?;
    txn.commit().await?;
    row.map(|row| row.try_get::<i64>("", "last")).transpose().map(Option::unwrap_or_default)
}

/// Numbers the committed events not numbered yet (PostgreSQL; on SQLite events are numbered as
/// they are written), up to [`SEQUENCE_BATCH`]; how many it numbered. One numberer at a time.
///
/// Order: by `seq`, the number each writer takes at its commit, under the order lock held
/// shared until the commit ends. A writer that waited for another's row (two sales of one
/// SKU) takes its number after the other committed, so changes that depend on each other are
/// numbered in the order they committed. Only numbers below [`committed_below`] are used: a
/// writer between its number and its commit could otherwise be overtaken.
pub async fn sequence_pending(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(0);
    }
    let below = committed_below(db).await?;
    let txn = db.begin().await?;
    txn.execute_raw(statement(backend, &format!("SELECT pg_advisory_xact_lock({NUMBER_LOCK})"), [])).await?;
    let numbered = txn
        .execute_raw(statement(
            backend,
            &format!(
                "WITH last AS (SELECT COALESCE(MAX(sequence), 0) AS n FROM events), \
                 pending AS (SELECT id, ROW_NUMBER() OVER (ORDER BY seq) AS n FROM events \
                   WHERE sequence IS NULL AND seq <= ? ORDER BY seq LIMIT {SEQUENCE_BATCH}) \
                 UPDATE events SET sequence = last.n + pending.n FROM pending, last WHERE events.id = pending.id"
            ),
            [below.into()],
        ))
        .await?
        .rows_affected();
    txn.commit().await?;
    Ok(numbered)
}

/// Up to `limit` events after the event `after` (from the start without), in `sequence`
/// order. Numbers what committed first (see [`sequence_pending`]), so an event whose write
/// has committed and whose predecessors have all ended is read.
pub async fn read_after(db: &DatabaseConnection, after: Option<&str>, limit: u64) -> Result<Vec<Event>, FeedError> {
    sequence_pending(db).await?;
    let backend = db.get_database_backend();
    let after = match after {
        None => 0,
        Some(id) => db
            .query_one_raw(statement(
                backend,
                "SELECT sequence FROM events WHERE id = ? AND sequence IS NOT NULL",
                [id.into()],
            ))
            .await?
            .ok_or(FeedError::UnknownEvent)?
            .try_get::<i64>("", "sequence")?,
    };
    read_from(db, after, limit).await.map_err(FeedError::from)
}

/// Up to `limit` numbered events whose `sequence` is over `after`, in order.
pub async fn read_from<C: ConnectionTrait>(db: &C, after: i64, limit: u64) -> Result<Vec<Event>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT id, sequence, kind, version, data, created_at FROM events WHERE sequence > ? \
             ORDER BY sequence LIMIT ?",
            [after.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let data: String = row.try_get("", "data")?;
            Ok(Event {
                id: row.try_get("", "id")?,
                sequence: row.try_get("", "sequence")?,
                kind: row.try_get("", "kind")?,
                version: row.try_get("", "version")?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                created_at: row.try_get("", "created_at")?,
            })
        })
        .collect()
}

/// Makes the position row of the outbox reader `name`, at the last numbered event, unless it
/// exists: a reader relays what follows its first start, even while its target is down.
pub async fn ensure_reader<C: ConnectionTrait>(db: &C, name: &str) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO outbox_positions (name, position) SELECT ?, COALESCE(MAX(sequence), 0) FROM events WHERE 1 = 1 \
         ON CONFLICT (name) DO NOTHING",
        [name.into()],
    ))
    .await?;
    Ok(())
}

/// Takes (or renews) the lease of the outbox reader `name` for `holder` until `until`, when it
/// is free, expired or already `holder`'s; its position if taken. The reader made its row once
/// at start ([`ensure_reader`]).
pub async fn lease_reader<C: ConnectionTrait>(
    db: &C,
    name: &str,
    holder: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            "UPDATE outbox_positions SET leased_by = ?, leased_until = ? \
             WHERE name = ? AND (leased_by IS NULL OR leased_by = ? OR leased_until < ?) RETURNING position",
            [holder.into(), until.into(), name.into(), holder.into(), now.into()],
        ))
        .await?;
    row.map(|row| row.try_get::<i64>("", "position")).transpose()
}

/// Moves the reader `name` to `position`, if `holder` still holds its lease; whether it did.
pub async fn advance_reader<C: ConnectionTrait>(
    db: &C,
    name: &str,
    holder: &str,
    position: i64,
) -> Result<bool, DbErr> {
    let moved = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE outbox_positions SET position = ? WHERE name = ? AND leased_by = ? AND position < ?",
            [position.into(), name.into(), holder.into(), position.into()],
        ))
        .await?;
    Ok(moved.rows_affected() == 1)
}

impl Event {
    /// The event as integrators receive it: `{"id","type","sequence","created_at","data"}`.
    pub fn public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "type": self.kind,
            "sequence": self.sequence,
            "created_at": self.created_at,
            "data": self.data,
        })
    }
}
