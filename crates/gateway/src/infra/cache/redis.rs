//! The Redis cache, shared by every instance that shares the database.
//!
//! Keys: `{prefix}g:{key}` (the key's generation: a number from the `{prefix}clock` counter,
//! never below Redis's clock in microseconds, so numbers never come again even if the counter
//! is evicted; taken when a write touching the key was applied), `{prefix}d2:{key}` (a document ([`DOCUMENT`]): `generation \n id \n slug \n published \n etag
//! \n template`), `{prefix}a:{key}` (a variant's availability, `generation \n figure`, for
//! `stock:` keys) and `{prefix}s:{key}` (a catalog-wide entry: `generation \n bytes`, under the
//! `catalog` key's generation). A read fetches generation and entry in one `MGET` and trusts the entry only
//! if it was stored under the current generation. Generations only move forward.
//!
//! `{prefix}w:{txn}:{seq}` marks a write of the change log as applied, so the writer and every
//! instance's poll apply it once between them. A missing generation (expired, or evicted under
//! memory pressure) is never read as valid: the reader sets it to a fresh number from the clock
//! before storing anything under it, so an entry stored under an older generation stays dead.
//!
//! This instance uses Redis only while its last complete pass over the change log
//! (`sync.rs`) is recent, and not for a second after a failed call. An invalidation its writer
//! could not deliver (Redis cut off, a timeout, a crash after the commit) is thus applied by
//! every other instance's next poll, and an instance that cannot apply it stops trusting
//! Redis: no instance serves the old entry for more than about a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use emporium_core::changes::Position;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{CATALOG, Doc, Lookup, STOCK_PREFIX, SharedLookup, StockLookup, Template, Token};
use crate::infra::redis::SharedRedis;

/// How old this instance's last complete sync may be for Redis to be trusted.
const TRUST_WINDOW: Duration = Duration::from_millis(750);

/// Applies one write of the change log once: gives each key it touched a fresh generation and
/// drops its entry. KEYS: the write's mark, the clock, then generation and entry key pairs;
/// ARGV: the generation TTL, the mark's TTL.
const ADVANCE: &str = r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  return 0
end
local v = redis.call('INCR', KEYS[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if v < now then
  redis.call('SET', KEYS[2], now)
  v = now
end
for i = 3, #KEYS, 2 do
  redis.call('SET', KEYS[i], v, 'EX', ARGV[1])
  redis.call('DEL', KEYS[i + 1])
end
return 1
";

/// Sets missing generations to one fresh number from the clock. KEYS: the clock, then the
/// generation keys; ARGV: the generation TTL. Returns the number and, per key, 1 if this call
/// set it (0 if another reader did first).
const INITIALISE: &str = r"
local v = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if v < now then
  redis.call('SET', KEYS[1], now)
  v = now
end
local set = {v}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], v, 'NX', 'EX', ARGV[1]) then
    set[i] = 1
  else
    set[i] = 0
  end
end
return set
";

/// A product cache in Redis.
pub struct RedisCache {
    redis: Arc<SharedRedis>,
    prefix: String,
    ttl: Duration,
    /// `redis.now_ms()` of the last complete sync (0: none yet).
    synced_at_ms: AtomicU64,
}

impl RedisCache {
    /// A cache in `redis` under `prefix`.
    pub fn new(redis: Arc<SharedRedis>, prefix: String, ttl: Duration) -> Self {
        Self { redis, prefix, ttl, synced_at_ms: AtomicU64::new(0) }
    }

    /// Runs one bounded Redis call.
    async fn bounded<T>(&self, what: &str, call: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        self.redis.call(what, call).await
    }

    /// A connection, whether or not reads may trust Redis now (writes and syncs always try).
    fn connection(&self) -> Option<ConnectionManager> {
        self.redis.connection()
    }

    /// A connection for reading entries: only while this instance's sync is recent.
    fn trusted(&self) -> Option<ConnectionManager> {
        let synced = self.synced_at_ms.load(Ordering::SeqCst);
        if synced == 0 || self.redis.now_ms().saturating_sub(synced) > TRUST_WINDOW.as_millis() as u64 {
            return None;
        }
        self.connection()
    }

    /// How long a generation lives: longer than every entry stored under it.
    fn generation_ttl(&self) -> u64 {
        self.ttl.as_secs() * 2 + 60
    }

    /// Tokens for keys whose generation is missing: each is set to a fresh number, unless
    /// someone set it first (then nothing is stored this time).
    async fn initialise(&self, connection: &mut ConnectionManager, keys: &[&str]) -> Vec<Option<Token>> {
        let mut call = redis::cmd("EVAL");
        call.arg(INITIALISE).arg(keys.len() + 1).arg(format!("{}clock", self.prefix));
        for key in keys {
            call.arg(format!("{}g:{key}", self.prefix));
        }
        call.arg(self.generation_ttl());
        let Some(replies) = self.bounded::<Vec<i64>>("write", call.query_async(connection)).await else {
            return keys.iter().map(|_| None).collect();
        };
        let generation = replies.first().copied().unwrap_or_default();
        (0..keys.len()).map(|i| (replies.get(i + 1) == Some(&1)).then(|| Token(generation.to_string()))).collect()
    }

    /// Reads the entries of `keys` in namespace `entry` with their generations, in one `MGET`:
    /// each decoded entry stored under the current generation, or else the token to store a
    /// fresh one under (`None`: Redis is not trusted now, or another reader set the missing
    /// generation first).
    async fn lookup<K: AsRef<str>, T>(
        &self,
        keys: &[K],
        entry: &str,
        decode: impl Fn(&[u8], &str) -> Option<T>,
    ) -> Vec<Result<T, Option<Token>>> {
        // `MGET` with no key is an error, which would put Redis in its backoff for nothing.
        if keys.is_empty() {
            return Vec::new();
        }
        let misses = || keys.iter().map(|_| Err(None)).collect();
        let Some(mut connection) = self.trusted() else { return misses() };
        let mut names = Vec::with_capacity(2 * keys.len());
        for key in keys {
            names.push(format!("{}g:{}", self.prefix, key.as_ref()));
            names.push(format!("{}{entry}:{}", self.prefix, key.as_ref()));
        }
        let Some(values) = self.bounded::<Vec<Option<Vec<u8>>>>("read", connection.mget(&names)).await else {
            return misses();
        };
        let mut lookups = Vec::with_capacity(keys.len());
        let mut uninitialised = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match values.get(2 * i).and_then(|v| v.as_deref()) {
                None => {
                    uninitialised.push((i, key.as_ref()));
                    lookups.push(Err(None));
                }
                Some(generation) => {
                    let token = String::from_utf8_lossy(generation).into_owned();
                    let found = values.get(2 * i + 1).and_then(|v| v.as_deref()).and_then(|raw| decode(raw, &token));
                    lookups.push(found.ok_or(Some(Token(token))));
                }
            }
        }
        if !uninitialised.is_empty() {
            let names: Vec<&str> = uninitialised.iter().map(|(_, key)| *key).collect();
            let tokens = self.initialise(&mut connection, &names).await;
            for ((i, _), token) in uninitialised.into_iter().zip(tokens) {
                lookups[i] = Err(token);
            }
        }
        lookups
    }

    pub(super) async fn get_many(&self, keys: &[&str]) -> Vec<Lookup> {
        let found = self.lookup(keys, DOCUMENT, decode).await;
        found.into_iter().map(|f| f.map_or_else(Lookup::Miss, |doc| Lookup::Hit(Arc::new(doc)))).collect()
    }

    pub(super) async fn get_stock(&self, keys: &[String]) -> Vec<StockLookup> {
        let figure = |raw: &[u8], token: &str| {
            let rest = raw.strip_prefix(token.as_bytes())?.strip_prefix(b"\n")?;
            std::str::from_utf8(rest).ok()?.parse::<i64>().ok()
        };
        let found = self.lookup(keys, "a", figure).await;
        found.into_iter().map(|f| f.map_or_else(StockLookup::Miss, StockLookup::Hit)).collect()
    }

    pub(super) async fn put_stock(&self, entries: &[(String, Token, i64)]) {
        let Some(mut connection) = self.trusted() else { return };
        let mut pipe = redis::pipe();
        for (key, token, figure) in entries {
            pipe.cmd("SET")
                .arg(format!("{}a:{key}", self.prefix))
                .arg(format!("{}\n{figure}", token.0))
                .arg("EX")
                .arg(self.ttl.as_secs())
                .ignore();
        }
        self.bounded::<()>("write", pipe.query_async(&mut connection)).await;
    }

    pub(super) async fn get_shared(&self, key: &str) -> SharedLookup {
        let Some(mut connection) = self.trusted() else { return SharedLookup::Miss(None) };
        let names = [format!("{}g:{CATALOG}", self.prefix), format!("{}s:{key}", self.prefix)];
        let Some(values) = self.bounded::<Vec<Option<Vec<u8>>>>("read", connection.mget(&names)).await else {
            return SharedLookup::Miss(None);
        };
        let Some(generation) = values.first().and_then(|v| v.as_deref()) else {
            let token = self.initialise(&mut connection, &[CATALOG]).await.pop().flatten();
            return SharedLookup::Miss(token);
        };
        let token = String::from_utf8_lossy(generation).into_owned();
        let value = values.get(1).and_then(|v| v.as_deref()).and_then(|raw| {
            let rest = raw.strip_prefix(token.as_bytes())?.strip_prefix(b"\n")?;
            Some(Bytes::copy_from_slice(rest))
        });
        match value {
            Some(value) => SharedLookup::Hit(value),
            None => SharedLookup::Miss(Some(Token(token))),
        }
    }

    pub(super) async fn put_shared(&self, key: &str, token: Token, value: &[u8]) {
        let Some(mut connection) = self.trusted() else { return };
        let mut entry = token.0.into_bytes();
        entry.push(b'\n');
        entry.extend_from_slice(value);
        let name = format!("{}s:{key}", self.prefix);
        self.bounded::<()>("write", connection.set_ex(name, entry, self.ttl.as_secs())).await;
    }

    pub(super) async fn put(&self, key: &str, token: Token, doc: &Doc) {
        let Some(mut connection) = self.trusted() else { return };
        let mut value = Vec::with_capacity(doc.template.body.len() + 128);
        for part in [token.0.as_str(), &doc.id, &doc.slug, if doc.published { "1" } else { "0" }, &doc.etag] {
            value.extend_from_slice(part.as_bytes());
            value.push(b'\n');
        }
        value.extend_from_slice(&doc.template.encode());
        let name = format!("{}{DOCUMENT}:{key}", self.prefix);
        self.bounded::<()>("write", connection.set_ex(name, value, self.ttl.as_secs())).await;
    }

    /// Applies the write at `position`, which touched `keys`, unless some instance already
    /// has. False if Redis did not take it.
    pub(super) async fn advance(&self, position: Position, keys: &[&str]) -> bool {
        if keys.is_empty() {
            return true;
        }
        let Some(mut connection) = self.connection() else { return false };
        let mut call = redis::cmd("EVAL");
        call.arg(ADVANCE)
            .arg(2 + 2 * keys.len())
            .arg(format!("{}w:{}:{}", self.prefix, position.txn, position.seq))
            .arg(format!("{}clock", self.prefix));
        for key in keys {
            let entry = if key.starts_with(STOCK_PREFIX) { "a" } else { DOCUMENT };
            call.arg(format!("{}g:{key}", self.prefix)).arg(format!("{}{entry}:{key}", self.prefix));
        }
        // The mark outlives the log's rows (kept for the TTL and a minute).
        call.arg(self.generation_ttl()).arg(self.generation_ttl());
        self.bounded::<i64>("invalidation", call.query_async(&mut connection)).await.is_some()
    }

    /// Notes a complete pass over the change log.
    pub(super) fn synced(&self) {
        self.synced_at_ms.store(self.redis.now_ms(), Ordering::SeqCst);
    }
}

/// The namespace of product documents. Its number moves whenever the document's shape does
/// (2: products read with their `rating`), so no build reads an entry that another build,
/// running beside it against the same Redis, stored in another shape.
const DOCUMENT: &str = "d2";

/// Parses an entry, if it was stored under `token` (the current generation).
fn decode(raw: &[u8], token: &str) -> Option<Doc> {
    let mut rest = raw;
    let mut next = || {
        let end = rest.iter().position(|b| *b == b'\n')?;
        let part = std::str::from_utf8(&rest[..end]).ok()?.to_owned();
        rest = &rest[end + 1..];
        Some(part)
    };
    if next()? != token {
        return None;
    }
    let id = next()?;
    let slug = next()?;
    let published = next()? == "1";
    let etag = next()?;
    // A document cached before tags carried the product's version is a miss: read it again.
    emporium_core::version::version_of(&etag)?;
    Some(Doc::new(id, slug, published, etag, Template::decode(&Bytes::copy_from_slice(rest))?))
}
