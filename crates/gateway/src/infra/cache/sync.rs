//! Every instance replays the change log into its cache.
//!
//! A write records the cache keys it touched in the change log in its own transaction
//! ([`emporium_core::uow`]); once committed, its instance drops them from the cache at once
//! ([`super::ProductCache::apply`]). That may fail (Redis unreachable, a timeout, a crash right
//! after the commit), and other instances' in-process caches never hear of it directly. So
//! every instance also polls the log every [`POLL`] and applies what it has not applied yet;
//! a write applied twice costs nothing (its application is remembered, see `apply`). An
//! instance trusts Redis only while its last complete sync is recent (see `RedisCache`), so an
//! invalidation its writer could not deliver stops the old entry being served everywhere
//! within about a second.
//!
//! Rows are kept a little longer than the cache TTL: an entry stored before an older write has
//! expired by then anyway.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use emporium_core::changes::{self, Position};
use emporium_core::uow::{AfterCommit, BoxFuture};
use sea_orm::{DatabaseConnection, DbErr};

use super::ProductCache;
use crate::infra::background::Shutdown;

/// How often an instance reads the change log.
pub const POLL: Duration = Duration::from_millis(200);
/// Most log rows read per page.
const BATCH: u64 = 2_000;
/// Most committed rows past the readable end applied per poll.
const BEYOND: u64 = 500;

/// What this instance does once one of its writes has committed: its cache drops what the
/// write touched and its search index takes the write, before the writer answers.
pub struct ApplyHere {
    pub db: DatabaseConnection,
    pub cache: Arc<ProductCache>,
    pub search: Arc<crate::infra::search::Search>,
    /// The webhook worker, woken for the write's events.
    pub webhooks: Arc<tokio::sync::Notify>,
}

impl AfterCommit for ApplyHere {
    fn committed<'a>(&'a self, position: Position, keys: &'a [String]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.cache.apply(position, keys).await;
            self.search.take_own(&self.db, position, keys).await;
            self.webhooks.notify_one();
        })
    }
}

/// Polls the log and applies it to `cache`, until shutdown.
pub async fn run(db: DatabaseConnection, cache: Arc<ProductCache>, retention: Duration, mut shutdown: Shutdown) {
    // From the start of what the log holds: a write whose instance could not apply it, before
    // this one started, is applied here too.
    let mut applied = Position::default();
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls = 0u64;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.requested() => return,
        }
        match sync_once(&db, &cache, applied).await {
            Ok(Some(position)) => applied = position,
            Ok(None) => {}
            Err(err) => tracing::debug!(error = %err, "reading the change log failed"),
        }
        polls += 1;
        // About once a minute, forget what no cache entry can still depend on.
        if polls % 300 == 0 {
            let cutoff =
                Utc::now() - chrono::Duration::from_std(retention).unwrap_or_else(|_| chrono::Duration::hours(1));
            if let Err(err) = changes::purge(&db, cutoff).await {
                tracing::warn!(error = %err, "purging the change log failed");
            }
        }
    }
}

/// One poll: applies every readable write after `applied`. Returns the position now applied
/// (short of the end if the cache could not take a write: the next poll goes on from there).
async fn sync_once(
    db: &DatabaseConnection,
    cache: &ProductCache,
    mut applied: Position,
) -> Result<Option<Position>, DbErr> {
    loop {
        let page = changes::read_after(db, applied, BATCH).await?;
        for change in &page {
            if !cache.apply(change.position, &change.keys).await {
                return Ok(Some(applied));
            }
            applied = change.position;
        }
        if (page.len() as u64) < BATCH {
            break;
        }
    }
    // Writes already committed but not readable yet (a transaction older than them still
    // runs): applied now all the same (a bounded number per poll), so an invalidation their
    // writer could not deliver waits for no one. The position stays put; when the forward pass
    // reaches them it finds them applied.
    for change in changes::committed_beyond(db, applied, BEYOND).await? {
        if !cache.apply(change.position, &change.keys).await {
            return Ok(Some(applied));
        }
    }
    cache.synced();
    Ok(Some(applied))
}
