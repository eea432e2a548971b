//! The product document cache: in process by default, in Redis when `EMPORIUM_REDIS_URL` is set.
//!
//! Each key (a product id or slug) has a generation. A reader notes the generation before it
//! reads the database and stores its document under that generation; a write changes the
//! generation of every key it touched once it has committed. A reader that raced a write
//! therefore stores a document that is already dead, and the next read goes to the database.
//! Entries also expire after the TTL, as a backstop.

mod memory;
mod redis;

use std::sync::Arc;

use bytes::Bytes;

pub use self::memory::MemoryCache;
pub use self::redis::RedisCache;

/// A product's serialized read document and what a request needs to know without parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub id: String,
    pub slug: String,
    pub published: bool,
    /// A strong validator of `body`, quoted (`"..."`).
    pub etag: String,
    pub body: Bytes,
}

/// What the cache had for one key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A live document.
    Hit(Arc<Doc>),
    /// Nothing live; store a fresh document with this token (or not at all if `None`).
    Miss(Option<Token>),
}

/// The generation a reader saw before it went to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(String);

/// The configured cache.
pub enum ProductCache {
    /// Moka, in this process.
    Memory(MemoryCache),
    /// Redis, shared by every instance.
    Redis(RedisCache),
}

impl ProductCache {
    /// Looks up several keys at once (one Redis round trip).
    pub async fn get_many(&self, keys: &[&str]) -> Vec<Lookup> {
        match self {
            Self::Memory(cache) => keys.iter().map(|key| cache.get(key)).collect(),
            Self::Redis(cache) => cache.get_many(keys).await,
        }
    }

    /// Looks up one key.
    pub async fn get(&self, key: &str) -> Lookup {
        self.get_many(&[key]).await.pop().unwrap_or(Lookup::Miss(None))
    }

    /// Stores a document read after `token` was taken.
    pub async fn put(&self, key: &str, token: Option<Token>, doc: Arc<Doc>) {
        let Some(token) = token else { return };
        match self {
            Self::Memory(cache) => cache.put(key, token, doc),
            Self::Redis(cache) => cache.put(key, token, &doc).await,
        }
    }

    /// Kills every cached document under `keys`. Call after the write committed and before
    /// answering it.
    pub async fn invalidate(&self, keys: &[&str]) {
        match self {
            Self::Memory(cache) => cache.invalidate(keys),
            Self::Redis(cache) => cache.invalidate(keys).await,
        }
    }

    /// `off` (in process), `up` or `down`, for `/readyz`.
    pub async fn redis_status(&self) -> &'static str {
        match self {
            Self::Memory(_) => "off",
            Self::Redis(cache) => {
                if cache.ping().await {
                    "up"
                } else {
                    "down"
                }
            }
        }
    }
}
