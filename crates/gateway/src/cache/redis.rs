//! The Redis cache, shared by every instance that shares the database.
//!
//! Keys: `{prefix}epoch`, `{prefix}g:{key}` (the key's generation) and `{prefix}p:{key}`
//! (`epoch \n generation \n id \n slug \n published \n etag \n body`). A read fetches all
//! three in one `MGET` and trusts an entry only if both its epoch and its generation are
//! current. When Redis fails, this instance stops using it for a second at a time and, before
//! it trusts Redis again, moves every instance to a new epoch: an invalidation lost during
//! the outage can then never serve a stale entry.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{CATALOG, Doc, Lookup, SharedLookup, Token};
use crate::config::Secret;

/// How long Redis is left alone after a failure before it is tried again.
const BACKOFF: Duration = Duration::from_secs(1);

/// A product cache in Redis.
pub struct RedisCache {
    connection: Arc<OnceLock<ConnectionManager>>,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
    /// Set when a call failed: the epoch must move before Redis is trusted again.
    dirty: AtomicBool,
    /// Milliseconds since `started` until which Redis is not tried.
    skip_until_ms: AtomicU64,
    started: Instant,
}

impl RedisCache {
    /// Connects in the background, so a server starts (and serves from the database) even
    /// while Redis is down.
    pub fn new(url: &Secret, prefix: String, ttl: Duration, timeout: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url.expose())?;
        let connection = Arc::new(OnceLock::new());
        let slot = Arc::clone(&connection);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                    Ok(manager) => {
                        let _ = slot.set(manager);
                        tracing::info!("connected to Redis");
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "Redis unreachable; serving from the database");
                        tokio::time::sleep(BACKOFF).await;
                    }
                }
            }
        });
        Ok(Self {
            connection,
            prefix,
            ttl,
            timeout,
            // A fresh instance cannot know what was missed before it started: move the epoch once.
            dirty: AtomicBool::new(true),
            skip_until_ms: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn fail(&self, what: &str, err: &dyn std::fmt::Display) {
        if !self.dirty.swap(true, Ordering::SeqCst) {
            tracing::warn!(error = %err, "Redis {what} failed; serving from the database");
        }
        self.skip_until_ms.store(self.now_ms() + BACKOFF.as_millis() as u64, Ordering::SeqCst);
    }

    /// Runs one Redis call, bounded by the timeout. A failure or a timeout is recorded (Redis is
    /// then skipped for a while and the epoch moves before it is trusted again) and gives `None`.
    async fn bounded<T>(&self, what: &str, call: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.fail(what, &err);
                None
            }
            Err(elapsed) => {
                self.fail(what, &elapsed);
                None
            }
        }
    }

    /// A connection if Redis may be used now, moving the epoch first after a failure.
    async fn usable(&self) -> Option<ConnectionManager> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::SeqCst) {
            return None;
        }
        let mut connection = self.connection.get()?.clone();
        if self.dirty.load(Ordering::SeqCst) {
            let epoch_key = format!("{}epoch", self.prefix);
            self.bounded("epoch change", connection.incr::<_, _, i64>(&epoch_key, 1)).await?;
            self.dirty.store(false, Ordering::SeqCst);
            tracing::info!("Redis answers again; cache moved to a new epoch");
        }
        Some(connection)
    }

    pub(super) async fn get_many(&self, keys: &[&str]) -> Vec<Lookup> {
        let misses = || keys.iter().map(|_| Lookup::Miss(None)).collect();
        let Some(mut connection) = self.usable().await else { return misses() };
        let mut names = Vec::with_capacity(1 + 2 * keys.len());
        names.push(format!("{}epoch", self.prefix));
        for key in keys {
            names.push(format!("{}g:{key}", self.prefix));
            names.push(format!("{}p:{key}", self.prefix));
        }
        let Some(values) = self.bounded::<Vec<Option<Vec<u8>>>>("read", connection.mget(&names)).await else {
            return misses();
        };
        let epoch = text(values.first());
        keys.iter()
            .enumerate()
            .map(|(i, _)| {
                let generation = text(values.get(1 + 2 * i));
                let token = format!("{epoch}\n{generation}");
                match values[2 + 2 * i].as_deref().and_then(|raw| decode(raw, &token)) {
                    Some(doc) => Lookup::Hit(Arc::new(doc)),
                    None => Lookup::Miss(Some(Token(token))),
                }
            })
            .collect()
    }

    pub(super) async fn get_shared(&self, key: &str) -> SharedLookup {
        let Some(mut connection) = self.usable().await else { return SharedLookup::Miss(None) };
        let names =
            [format!("{}epoch", self.prefix), format!("{}g:{CATALOG}", self.prefix), format!("{}s:{key}", self.prefix)];
        let Some(values) = self.bounded::<Vec<Option<Vec<u8>>>>("read", connection.mget(&names)).await else {
            return SharedLookup::Miss(None);
        };
        let token = format!("{}\n{}", text(values.first()), text(values.get(1)));
        let value = values.get(2).and_then(|v| v.as_deref()).and_then(|raw| {
            let rest = raw.strip_prefix(token.as_bytes())?.strip_prefix(b"\n")?;
            Some(Bytes::copy_from_slice(rest))
        });
        match value {
            Some(value) => SharedLookup::Hit(value),
            None => SharedLookup::Miss(Some(Token(token))),
        }
    }

    pub(super) async fn put_shared(&self, key: &str, token: Token, value: &[u8]) {
        let Some(mut connection) = self.usable().await else { return };
        let mut entry = token.0.into_bytes();
        entry.push(b'\n');
        entry.extend_from_slice(value);
        let name = format!("{}s:{key}", self.prefix);
        self.bounded::<()>("write", connection.set_ex(name, entry, self.ttl.as_secs())).await;
    }

    pub(super) async fn put(&self, key: &str, token: Token, doc: &Doc) {
        let Some(mut connection) = self.usable().await else { return };
        let mut value = Vec::with_capacity(doc.body.len() + 128);
        for part in [token.0.as_str(), &doc.id, &doc.slug, if doc.published { "1" } else { "0" }, &doc.etag] {
            value.extend_from_slice(part.as_bytes());
            value.push(b'\n');
        }
        value.extend_from_slice(&doc.body);
        let name = format!("{}p:{key}", self.prefix);
        self.bounded::<()>("write", connection.set_ex(name, value, self.ttl.as_secs())).await;
    }

    pub(super) async fn invalidate(&self, keys: &[&str]) {
        // Even when Redis is skipped, mark the cache dirty: this write's invalidation is lost,
        // so the epoch must move before any instance trusts Redis again.
        let Some(mut connection) = self.usable().await else {
            self.dirty.store(true, Ordering::SeqCst);
            return;
        };
        // A generation outlives every entry stored under the previous one.
        let generation_ttl = self.ttl.as_secs() * 2 + 60;
        let mut pipe = redis::pipe();
        for key in keys {
            let fresh = format!("{:016x}", rand::random::<u64>());
            pipe.set_ex(format!("{}g:{key}", self.prefix), fresh, generation_ttl).ignore();
            pipe.del(format!("{}p:{key}", self.prefix)).ignore();
        }
        self.bounded::<()>("invalidation", pipe.query_async(&mut connection)).await;
    }

    pub(super) async fn ping(&self) -> bool {
        let Some(mut connection) = self.usable().await else { return false };
        self.bounded::<String>("ping", redis::cmd("PING").query_async(&mut connection)).await.is_some()
    }
}

/// One `MGET` value as text (absent: empty).
fn text(value: Option<&Option<Vec<u8>>>) -> String {
    value.and_then(|v| v.as_deref()).map(String::from_utf8_lossy).unwrap_or_default().into_owned()
}

/// Parses an entry, if it was stored under `token` (the current epoch and generation).
fn decode(raw: &[u8], token: &str) -> Option<Doc> {
    let mut rest = raw;
    let mut next = || {
        let end = rest.iter().position(|b| *b == b'\n')?;
        let part = std::str::from_utf8(&rest[..end]).ok()?.to_owned();
        rest = &rest[end + 1..];
        Some(part)
    };
    let stored_token = format!("{}\n{}", next()?, next()?);
    if stored_token != token {
        return None;
    }
    let id = next()?;
    let slug = next()?;
    let published = next()? == "1";
    let etag = next()?;
    Some(Doc::new(id, slug, published, etag, Bytes::copy_from_slice(rest)))
}
