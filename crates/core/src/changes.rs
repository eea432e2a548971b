//! The change log: one row per committed write, naming the cache keys it touched. Every
//! instance reads it to drop what its caches hold and to bring its search index up to date,
//! whichever instance wrote.
//!
//! Order without a shared row: as in the event feed ([`crate::events`]), a row records its
//! transaction's id on PostgreSQL and a reader only reads rows of transactions older than the
//! oldest one still running (the snapshot's `xmin`), ordered by (transaction, sequence). Those
//! have all ended and every transaction still to commit has a larger id, so a reader that has
//! read up to a [`Position`] never finds a row before it later. Writers take nothing but a
//! sequence number, so concurrent writes commit in parallel. On SQLite the one writer commits
//! in sequence order.
//!
//! Only the unit of work ([`crate::uow`]) records rows.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use crate::db::statement;

/// Where a write sits in the log: after every position a reader has passed once it is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The writing transaction's id on PostgreSQL; 0 on SQLite.
    pub txn: i64,
    /// The row's number within the order above.
    pub seq: i64,
}

/// One committed write as read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub position: Position,
    /// The cache keys the write touched.
    pub keys: Vec<String>,
}

/// The clause that keeps a reader below the oldest running transaction (PostgreSQL).
pub(crate) fn horizon(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => " AND txn < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        _ => "",
    }
}

/// Records a write touching `keys` in its own transaction; its position in the log.
pub(crate) async fn record<C: ConnectionTrait>(txn: &C, keys: &[&str]) -> Result<Position, DbErr> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO changes (txn, cache_keys, created_at) VALUES \
             (pg_current_xact_id()::text::bigint, ?, ?) RETURNING txn, seq"
        }
        _ => "INSERT INTO changes (cache_keys, created_at) VALUES (?, ?) RETURNING txn, seq",
    };
    let row = txn
        .query_one_raw(statement(backend, sql, [keys.join("\n").into(), crate::db::now().into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    Ok(Position { txn: row.try_get("", "txn")?, seq: row.try_get("", "seq")? })
}

/// Up to `limit` readable writes after `after`, oldest first.
pub async fn read_after<C: ConnectionTrait>(db: &C, after: Position, limit: u64) -> Result<Vec<Change>, DbErr> {
    read(db, after, limit, horizon(db.get_database_backend())).await
}

/// Up to `limit` committed writes after `after` that are not readable yet: on PostgreSQL, those
/// of transactions younger than one still running. A reader may act on them early (applying a
/// write twice is harmless to it) but must not move its position past them.
pub async fn committed_beyond<C: ConnectionTrait>(db: &C, after: Position, limit: u64) -> Result<Vec<Change>, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            read(db, after, limit, " AND txn >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint").await
        }
        _ => Ok(Vec::new()),
    }
}

async fn read<C: ConnectionTrait>(db: &C, after: Position, limit: u64, clause: &str) -> Result<Vec<Change>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT txn, seq, cache_keys FROM changes WHERE (txn > ? OR (txn = ? AND seq > ?)){clause} \
                 ORDER BY txn, seq LIMIT ?"
            ),
            [after.txn.into(), after.txn.into(), after.seq.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let keys: String = row.try_get("", "cache_keys")?;
            Ok(Change {
                position: Position { txn: row.try_get("", "txn")?, seq: row.try_get("", "seq")? },
                keys: keys.split('\n').filter(|k| !k.is_empty()).map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// The position of the last readable write: every write not yet readable will sit after it.
/// A reader that starts from what the database holds now (a cache, an index built afresh)
/// takes this first and reads the log after it.
pub async fn tail<C: ConnectionTrait>(db: &C) -> Result<Position, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            &format!(
                "SELECT txn, seq FROM changes WHERE 1 = 1{} ORDER BY txn DESC, seq DESC LIMIT 1",
                horizon(backend)
            ),
            [],
        ))
        .await?;
    match row {
        Some(row) => Ok(Position { txn: row.try_get("", "txn")?, seq: row.try_get("", "seq")? }),
        None => Ok(Position::default()),
    }
}

/// Forgets readable writes recorded before `cutoff`; how many. A write not yet readable (a
/// transaction older than it still runs) is kept whatever its age: no reader has seen it.
pub async fn purge<C: ConnectionTrait>(db: &C, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    Ok(db
        .execute_raw(statement(
            backend,
            &format!("DELETE FROM changes WHERE created_at < ?{}", horizon(backend)),
            [cutoff.into()],
        ))
        .await?
        .rows_affected())
}
