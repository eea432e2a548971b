//! The product document cache: in process by default, in Redis when `EMPORIUM_REDIS_URL` is set.
//!
//! Each key (a product id or slug) has a generation. A reader notes the generation before it
//! reads the database and stores its document under that generation; a write changes the
//! generation of every key it touched once it has committed. A reader that raced a write
//! therefore stores a document that is already dead, and the next read goes to the database.
//! Entries also expire after the TTL, as a backstop.
//!
//! Documents and list pages are cached without availability (see [`template`]); each variant's
//! availability is its own small entry under [`stock_key`], invalidated by the stock writes
//! that change it through the same generations and log, and filled in per response.

mod memory;
mod redis;
pub mod sync;
pub mod template;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use emporium_core::changes::Position;
use emporium_core::uow::Key;

pub use self::memory::MemoryCache;
pub use self::redis::RedisCache;
pub use self::template::Template;
use crate::dto::ProductDto;
use crate::infra::metrics::CacheCounters;

/// A product's serialized read document, without its variants' availability, and what a
/// request needs to know without parsing it.
#[derive(Debug, Clone)]
pub struct Doc {
    pub id: String,
    pub slug: String,
    pub published: bool,
    /// A strong validator of `template`, quoted: the product's version and a digest
    /// (`"7-..."`).
    pub etag: String,
    pub template: Template,
    /// The document parsed, on first use (GraphQL resolves fields from it); kept with the
    /// entry. Its variants' `available` is [`template::MARK`]: availability is looked up apart.
    pub parsed: OnceLock<Arc<ProductDto>>,
}

impl Doc {
    /// A document with its serialized template.
    pub fn new(id: String, slug: String, published: bool, etag: String, template: Template) -> Self {
        Self { id, slug, published, etag, template, parsed: OnceLock::new() }
    }

    /// The document as a value, parsed once per cached entry.
    pub fn product(&self) -> Result<Arc<ProductDto>, serde_json::Error> {
        if let Some(parsed) = self.parsed.get() {
            return Ok(Arc::clone(parsed));
        }
        let figures = vec![template::MARK; self.template.holes.len()];
        let mut parsed = serde_json::from_slice::<ProductDto>(&self.template.render(&figures))?;
        // The version is not in the JSON; the tag carries it.
        parsed.version = emporium_core::version::version_of(&self.etag).unwrap_or_default();
        let parsed = Arc::new(parsed);
        Ok(Arc::clone(self.parsed.get_or_init(|| parsed)))
    }
}

/// An answer rendered from a template and the figures it was filled with.
#[derive(Debug)]
pub struct Rendered {
    pub template: Arc<Template>,
    pub figures: Vec<i64>,
    pub body: Bytes,
    /// The answer's validator (a product document's; empty for a list page).
    pub etag: String,
}

/// When a rendered answer was stored: the in-process invalidation epoch and catalog generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderToken {
    epoch: u64,
    catalog: u64,
}

/// What the cache had for a rendered answer.
#[derive(Debug, Clone)]
pub enum RenderedLookup {
    /// Nothing was invalidated since it was rendered: send it.
    Current(Arc<Rendered>),
    /// Something was: render again and store under the token (if any). The previous
    /// rendering is given when the catalog has not changed since, so its template holds.
    Stale(Option<RenderToken>, Option<Arc<Rendered>>),
}

/// `keys` with the catalog-wide key moved after every other (generations move in that
/// order). A reader that takes the catalog-wide token before a write moves it, and then reads
/// a product the write has not moved yet, stores a page that the catalog move kills; moved
/// first, the page would be stored under the new token with the old product, and live on.
fn catalog_last<T>(mut keys: Vec<T>, key: impl Fn(&T) -> &str) -> Vec<T> {
    keys.sort_by_key(|k| key(k) == CATALOG);
    keys
}

/// The cache key of a variant's availability.
pub fn stock_key(variant_id: &str) -> String {
    Key::stock(variant_id)
}

/// What every availability key starts with.
pub const STOCK_PREFIX: &str = Key::STOCK_PREFIX;

/// What the cache had for one variant's availability.
#[derive(Debug, Clone)]
pub enum StockLookup {
    /// The live figure.
    Hit(i64),
    /// Nothing live; store a fresh figure with this token (or not at all if `None`).
    Miss(Option<Token>),
}

/// What the cache had for one key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A live document.
    Hit(Arc<Doc>),
    /// Nothing live; store a fresh document with this token (or not at all if `None`).
    Miss(Option<Token>),
}

/// What the cache had for a catalog-wide entry (a list page, a GraphQL response).
#[derive(Debug, Clone)]
pub enum SharedLookup {
    /// Live bytes.
    Hit(Bytes),
    /// Nothing live; store fresh bytes with this token (or not at all if `None`).
    Miss(Option<Token>),
}

/// The key whose generation every catalog-wide entry shares. Any write that changes what a
/// catalog read can return (a product, its variants, prices or availability, a category)
/// moves it, because such an entry may have read anything.
pub const CATALOG: &str = Key::CATALOG;

/// The generation a reader saw before it went to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(String);

/// Where entries live.
pub enum CacheStore {
    /// Moka, in this process.
    Memory(Box<MemoryCache>),
    /// Redis, shared by every instance.
    Redis(RedisCache),
}

/// The configured cache, counting its hits and misses.
pub struct ProductCache {
    store: CacheStore,
    counters: CacheCounters,
}

impl ProductCache {
    /// A cache over `store`.
    pub fn new(store: CacheStore, counters: CacheCounters) -> Self {
        Self { store, counters }
    }

    /// Looks up several keys at once (one Redis round trip).
    pub async fn get_many(&self, keys: &[&str]) -> Vec<Lookup> {
        let lookups: Vec<Lookup> = match &self.store {
            CacheStore::Memory(cache) => keys.iter().map(|key| cache.get(key)).collect(),
            CacheStore::Redis(cache) => cache.get_many(keys).await,
        };
        let hits = lookups.iter().filter(|l| matches!(l, Lookup::Hit(_))).count() as u64;
        self.counters.product_hit.inc_by(hits);
        self.counters.product_miss.inc_by(lookups.len() as u64 - hits);
        lookups
    }

    /// Looks up one key.
    pub async fn get(&self, key: &str) -> Lookup {
        self.get_many(&[key]).await.pop().unwrap_or(Lookup::Miss(None))
    }

    /// Stores a document read after `token` was taken.
    pub async fn put(&self, key: &str, token: Option<Token>, doc: Arc<Doc>) {
        let Some(token) = token else { return };
        match &self.store {
            CacheStore::Memory(cache) => cache.put(key, token, doc),
            CacheStore::Redis(cache) => cache.put(key, token, &doc).await,
        }
    }

    /// Looks up availability entries by [`stock_key`] (one Redis round trip).
    pub async fn get_stock(&self, keys: &[String]) -> Vec<StockLookup> {
        let lookups: Vec<StockLookup> = match &self.store {
            CacheStore::Memory(cache) => keys.iter().map(|key| cache.get_stock(key)).collect(),
            CacheStore::Redis(cache) => cache.get_stock(keys).await,
        };
        let hits = lookups.iter().filter(|l| matches!(l, StockLookup::Hit(_))).count() as u64;
        self.counters.stock_hit.inc_by(hits);
        self.counters.stock_miss.inc_by(lookups.len() as u64 - hits);
        lookups
    }

    /// Stores availability figures read after their tokens were taken (one Redis round trip).
    pub async fn put_stock(&self, entries: Vec<(String, Token, i64)>) {
        if entries.is_empty() {
            return;
        }
        match &self.store {
            CacheStore::Memory(cache) => {
                entries.into_iter().for_each(|(key, token, figure)| cache.put_stock(key, token, figure))
            }
            CacheStore::Redis(cache) => cache.put_stock(&entries).await,
        }
    }

    /// An answer rendered with availability (in-process cache only: with Redis, other
    /// instances' writes are not seen here at once, so every answer is rendered afresh).
    pub fn get_rendered(&self, key: &str) -> RenderedLookup {
        match &self.store {
            CacheStore::Memory(cache) => cache.get_rendered(key),
            CacheStore::Redis(_) => RenderedLookup::Stale(None, None),
        }
    }

    /// Stores an answer rendered after `token` was taken.
    pub fn put_rendered(&self, key: &str, token: Option<RenderToken>, value: Arc<Rendered>) {
        if let (CacheStore::Memory(cache), Some(token)) = (&self.store, token) {
            cache.put_rendered(key, token, value);
        }
    }

    /// Looks up a catalog-wide entry; its generation is the shared [`CATALOG`] one.
    pub async fn get_shared(&self, key: &str) -> SharedLookup {
        let lookup = match &self.store {
            CacheStore::Memory(cache) => cache.get_shared(key),
            CacheStore::Redis(cache) => cache.get_shared(key).await,
        };
        match lookup {
            SharedLookup::Hit(_) => self.counters.shared_hit.inc(),
            SharedLookup::Miss(_) => self.counters.shared_miss.inc(),
        }
        lookup
    }

    /// Stores a catalog-wide entry computed after `token` was taken.
    pub async fn put_shared(&self, key: &str, token: Option<Token>, value: Bytes) {
        let Some(token) = token else { return };
        match &self.store {
            CacheStore::Memory(cache) => cache.put_shared(key, token, value),
            CacheStore::Redis(cache) => cache.put_shared(key, token, &value).await,
        }
    }

    /// Kills every cached entry under `keys`, the keys a committed write touched (its
    /// position in the change log names it). The writer calls it once it has committed and
    /// before it answers; every instance's poll of the log calls it again, which changes
    /// nothing for a write already applied. False if the cache could not take it (Redis
    /// unreachable): the next poll tries again.
    pub async fn apply(&self, position: Position, keys: &[String]) -> bool {
        let keys = catalog_last(keys.iter().map(String::as_str).collect(), |key| key);
        match &self.store {
            CacheStore::Memory(cache) => {
                cache.apply(position, &keys);
                true
            }
            CacheStore::Redis(cache) => cache.advance(position, &keys).await,
        }
    }

    /// Notes a complete pass over the log.
    pub(crate) fn synced(&self) {
        if let CacheStore::Redis(cache) = &self.store {
            cache.synced();
        }
    }
}
