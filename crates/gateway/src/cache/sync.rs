//! Invalidations recorded with the write, and replayed by every instance.
//!
//! A catalog write moves one counter (`cache_version`) and records the cache keys it touched
//! under the new version (`cache_invalidations`), in its own transaction. The counter's row
//! lock orders the writers, so versions become visible in commit order. Once committed, the
//! writer moves each key's generation in the cache to that version, but that may fail (Redis
//! unreachable, a timeout, a crash right after the commit). So every instance also polls the
//! log every [`POLL`] and applies what it has not applied yet; generations only ever move
//! forward, so applying twice is harmless. An instance trusts Redis only while its last
//! complete sync is recent (see `RedisCache`), so an invalidation its writer could not deliver
//! stops the old entry being served everywhere within about a second.
//!
//! Rows are kept a little longer than the cache TTL: an entry stored before an older write has
//! expired by then anyway.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use emporium_core::db::statement;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use super::ProductCache;
use crate::background::Shutdown;

/// How often an instance reads the invalidation log.
pub const POLL: Duration = Duration::from_millis(200);
/// Most log rows applied per poll.
const BATCH: i64 = 5_000;

/// Records that `keys` change in this transaction; returns the write's cache version.
pub async fn record<C: ConnectionTrait>(txn: &C, keys: &[&str]) -> Result<i64, DbErr> {
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(backend, "UPDATE cache_version SET version = version + 1 WHERE id = 1", [])).await?;
    let row = txn
        .query_one_raw(statement(backend, "SELECT version FROM cache_version WHERE id = 1", []))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("cache_version".to_owned()))?;
    let version: i64 = row.try_get_by_index(0)?;
    let now = Utc::now();
    for key in keys.iter().collect::<BTreeSet<_>>() {
        txn.execute_raw(statement(
            backend,
            "INSERT INTO cache_invalidations (version, cache_key, created_at) VALUES (?, ?, ?)",
            [version.into(), (*key).into(), now.into()],
        ))
        .await?;
    }
    Ok(version)
}

/// The latest version recorded in the log (0 before any write).
pub async fn version<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    Ok(db
        .query_one_raw(statement(db.get_database_backend(), "SELECT version FROM cache_version WHERE id = 1", []))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or_default())
}

/// Polls the log and applies it to `cache`, until shutdown.
pub async fn run(db: DatabaseConnection, cache: Arc<ProductCache>, retention: Duration, mut shutdown: Shutdown) {
    {
        let mut applied = 0i64;
        let mut every = tokio::time::interval(POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut polls = 0u64;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.requested() => return,
            }
            match sync_once(&db, &cache, applied).await {
                Ok(Some(version)) => applied = version,
                Ok(None) => {}
                Err(err) => tracing::debug!(error = %err, "reading the cache invalidation log failed"),
            }
            polls += 1;
            // About once a minute, forget what no cache entry can still depend on.
            if polls % 300 == 0
                && let Err(err) = purge(&db, retention).await
            {
                tracing::warn!(error = %err, "purging the cache invalidation log failed");
            }
        }
    }
}

/// One poll: applies every row after `applied` up to the current version. Returns the version
/// now applied, or `None` if the cache could not take it (the next poll starts over then).
async fn sync_once(db: &DatabaseConnection, cache: &ProductCache, applied: i64) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let current = version(db).await?;
    // Pages in (version, key) order; one version may touch many keys (a bulk import).
    let mut after: Option<(i64, String)> = None;
    if current <= applied {
        cache.synced(current);
        return Ok(Some(current));
    }
    loop {
        let page = match &after {
            None => statement(
                backend,
                "SELECT version, cache_key FROM cache_invalidations WHERE version > ? AND version <= ? \
                 ORDER BY version, cache_key LIMIT ?",
                [applied.into(), current.into(), BATCH.into()],
            ),
            Some((version, key)) => statement(
                backend,
                "SELECT version, cache_key FROM cache_invalidations WHERE (version, cache_key) > (?, ?) \
                 AND version <= ? ORDER BY version, cache_key LIMIT ?",
                [(*version).into(), key.clone().into(), current.into(), BATCH.into()],
            ),
        };
        let mut batch: Vec<(i64, String)> = Vec::new();
        for row in db.query_all_raw(page).await? {
            batch.push((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
        }
        if !cache.apply(&batch).await {
            return Ok(None);
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
        after = batch.pop();
    }
    cache.synced(current);
    Ok(Some(current))
}

async fn purge(db: &DatabaseConnection, retention: Duration) -> Result<u64, DbErr> {
    let cutoff = Utc::now() - chrono::Duration::from_std(retention).unwrap_or_else(|_| chrono::Duration::hours(1));
    Ok(db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM cache_invalidations WHERE created_at < ?",
            [cutoff.into()],
        ))
        .await?
        .rows_affected())
}
