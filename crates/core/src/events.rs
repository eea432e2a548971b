//! The event feed: every change of an order, of stock or of a product appends an event in the
//! transaction that makes the change, so no committed change lacks its event and no event
//! outlives a rolled-back change. It is the outbox webhooks and a broker relay will read.
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

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use crate::db::statement;

/// One event as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    /// `order.placed`, `stock.low`, `product.updated`, ...
    pub kind: String,
    /// What it is about, as JSON (`{"order_id": ...}`, `{"sku": ...}`).
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Appends an event in the caller's transaction.
pub async fn append<C: ConnectionTrait>(db: &C, kind: &str, data: &serde_json::Value) -> Result<String, DbErr> {
    let backend = db.get_database_backend();
    let id = crate::id::new_id("evt");
    let (seq, txn) = match backend {
        DbBackend::Postgres => ("nextval('events_seq')", "pg_current_xact_id()::text::bigint"),
        // One writer at a time: the next number is taken under the write lock.
        _ => ("(SELECT COALESCE(MAX(seq), 0) + 1 FROM events)", "0"),
    };
    db.execute_raw(statement(
        backend,
        &format!("INSERT INTO events (id, seq, txn, kind, data, created_at) VALUES (?, {seq}, {txn}, ?, ?, ?)"),
        [id.clone().into(), kind.into(), data.to_string().into(), crate::db::now().into()],
    ))
    .await?;
    Ok(id)
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

/// Up to `limit` readable events after the event `after` (from the start without), oldest first.
pub async fn read_after<C: ConnectionTrait>(db: &C, after: Option<&str>, limit: u64) -> Result<Vec<Event>, FeedError> {
    let backend = db.get_database_backend();
    let (txn, seq) = match after {
        None => (-1i64, -1i64),
        Some(id) => {
            let row = db
                .query_one_raw(statement(backend, "SELECT txn, seq FROM events WHERE id = ?", [id.into()]))
                .await?
                .ok_or(FeedError::UnknownEvent)?;
            (row.try_get_by_index(0)?, row.try_get_by_index(1)?)
        }
    };
    let horizon = match backend {
        DbBackend::Postgres => " AND txn < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        _ => "",
    };
    let rows = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT id, kind, data, created_at FROM events WHERE (txn > ? OR (txn = ? AND seq > ?)){horizon} \
                 ORDER BY txn, seq LIMIT ?"
            ),
            [txn.into(), txn.into(), seq.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let data: String = row.try_get_by_index(2)?;
            Ok(Event {
                id: row.try_get_by_index(0)?,
                kind: row.try_get_by_index(1)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                created_at: row.try_get_by_index(3)?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(FeedError::from)
}
