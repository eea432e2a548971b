//! The in-process cache (moka): for one instance, or when no Redis is configured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use emporium_core::changes::Position;

use super::{CATALOG, Doc, Lookup, RenderToken, Rendered, RenderedLookup, SharedLookup, StockLookup, Token};

/// How much longer than twice the TTL a write is remembered as applied (the log keeps rows
/// for the TTL and a minute).
const APPLIED_MARGIN: Duration = Duration::from_secs(120);

/// Bytes of catalog-wide entries (list pages, GraphQL responses) kept at most.
const SHARED_BYTES: u64 = 32 * 1024 * 1024;

/// Documents and generations in this process's memory. A key's generation is a number this
/// process has never given out before, taken when a write touching the key was applied (0 if
/// none has been since this process started): an entry lives while its key's generation is
/// the one it was stored under.
pub struct MemoryCache {
    entries: moka::sync::Cache<String, (u64, Arc<Doc>)>,
    /// Availability figures by stock key.
    stock: moka::sync::Cache<String, (u64, i64)>,
    /// Catalog-wide entries, weighed by their size.
    shared: moka::sync::Cache<String, (u64, Bytes)>,
    /// Answers rendered with availability, each with the epoch and catalog generation it was
    /// rendered under: current while no generation at all has moved since.
    rendered: moka::sync::Cache<String, (u64, u64, Arc<Rendered>)>,
    /// Moves whenever any generation moves, after it moved: a rendering that read the epoch
    /// before then is stored dead.
    epoch: AtomicU64,
    /// Where generations are taken from: never the same number twice.
    clock: AtomicU64,
    /// Never evicted: a forgotten generation would revive a stale entry. One small entry per
    /// key ever written, which is bounded by the catalog's size.
    generations: moka::sync::Cache<String, u64>,
    /// Writes already applied (by their writer here, or by an earlier poll), so the log's
    /// replay of them drops nothing again. Kept longer than the log keeps rows.
    applied: moka::sync::Cache<Position, ()>,
}

impl MemoryCache {
    /// A cache whose entries live at most `ttl`.
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder().max_capacity(max_entries).time_to_live(ttl).build(),
            stock: moka::sync::Cache::builder().max_capacity(max_entries * 4).time_to_live(ttl).build(),
            shared: moka::sync::Cache::builder()
                .weigher(|key: &String, (_, value): &(u64, Bytes)| {
                    u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(SHARED_BYTES)
                .time_to_live(ttl)
                .build(),
            rendered: moka::sync::Cache::builder()
                .weigher(|key: &String, (_, _, value): &(u64, u64, Arc<Rendered>)| {
                    u32::try_from(key.len() + 2 * value.body.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(SHARED_BYTES / 2)
                .time_to_live(ttl)
                .build(),
            epoch: AtomicU64::new(0),
            clock: AtomicU64::new(0),
            generations: moka::sync::Cache::builder().build(),
            applied: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ttl * 2 + APPLIED_MARGIN)
                .build(),
        }
    }

    fn generation(&self, key: &str) -> u64 {
        self.generations.get(key).unwrap_or(0)
    }

    pub(super) fn get(&self, key: &str) -> Lookup {
        let generation = self.generation(key);
        match self.entries.get(key) {
            Some((stored, doc)) if stored == generation => Lookup::Hit(doc),
            _ => Lookup::Miss(Some(Token(generation.to_string()))),
        }
    }

    pub(super) fn put(&self, key: &str, token: Token, doc: Arc<Doc>) {
        if let Ok(generation) = token.0.parse() {
            self.entries.insert(key.to_owned(), (generation, doc));
        }
    }

    pub(super) fn get_stock(&self, key: &str) -> StockLookup {
        let generation = self.generation(key);
        match self.stock.get(key) {
            Some((stored, figure)) if stored == generation => StockLookup::Hit(figure),
            _ => StockLookup::Miss(Some(Token(generation.to_string()))),
        }
    }

    pub(super) fn put_stock(&self, key: String, token: Token, figure: i64) {
        if let Ok(generation) = token.0.parse() {
            self.stock.insert(key, (generation, figure));
        }
    }

    /// A rendered answer: current if nothing was invalidated since it was rendered; else the
    /// token to store a fresh one under (read before the caller reads anything it renders
    /// from) and, if the catalog has not changed since, the previous rendering (its template
    /// still holds; only its figures may not).
    pub(super) fn get_rendered(&self, key: &str) -> RenderedLookup {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let catalog = self.generation(CATALOG);
        let token = RenderToken { epoch, catalog };
        match self.rendered.get(key) {
            Some((stored, _, value)) if stored == epoch => RenderedLookup::Current(value),
            Some((_, generation, value)) if generation == catalog => RenderedLookup::Stale(Some(token), Some(value)),
            _ => RenderedLookup::Stale(Some(token), None),
        }
    }

    pub(super) fn put_rendered(&self, key: &str, token: RenderToken, value: Arc<Rendered>) {
        self.rendered.insert(key.to_owned(), (token.epoch, token.catalog, value));
    }

    pub(super) fn get_shared(&self, key: &str) -> SharedLookup {
        let generation = self.generation(CATALOG);
        match self.shared.get(key) {
            Some((stored, value)) if stored == generation => SharedLookup::Hit(value),
            _ => SharedLookup::Miss(Some(Token(generation.to_string()))),
        }
    }

    pub(super) fn put_shared(&self, key: &str, token: Token, value: Bytes) {
        if let Ok(generation) = token.0.parse() {
            self.shared.insert(key.to_owned(), (generation, value));
        }
    }

    /// Applies a committed write that touched `keys`: each key takes a new generation, which
    /// kills every entry stored under the old one. A write applied before changes nothing.
    pub(super) fn apply(&self, position: Position, keys: &[&str]) {
        if self.applied.contains_key(&position) {
            return;
        }
        for key in keys {
            self.invalidate(key);
        }
        // Only now: a rendering that saw the old epoch may have read an entry the keys held
        // until just above, and must be stored dead.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.applied.insert(position, ());
    }

    /// Gives `key` a generation never given before.
    fn invalidate(&self, key: &str) {
        let generation = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.generations.insert(key.to_owned(), generation);
        self.entries.invalidate(key);
        self.stock.invalidate(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: i64) -> Position {
        Position { txn: 0, seq }
    }

    #[test]
    fn a_rendering_that_raced_an_invalidation_is_stored_dead() {
        // The epoch a rendering notes must move only after the keys' entries are gone: one
        // that read an entry before the write was applied is then never current.
        let cache = MemoryCache::new(Duration::from_secs(60), 100);
        let RenderedLookup::Stale(Some(token), None) = cache.get_rendered("page") else { unreachable!("empty") };
        let generation = cache.generation("stock:var_1");
        cache.invalidate("stock:var_1");
        assert_ne!(cache.generation("stock:var_1"), generation);
        assert_eq!(cache.epoch.load(Ordering::SeqCst), 0, "the epoch moves once the write is applied, not per key");
        cache.apply(at(9), &["stock:var_2"]);
        cache.put_rendered(
            "page",
            token,
            Arc::new(Rendered {
                template: Arc::new(super::super::Template::default()),
                figures: vec![1],
                body: bytes::Bytes::from_static(b"read mid-write"),
                etag: String::new(),
            }),
        );
        assert!(matches!(cache.get_rendered("page"), RenderedLookup::Stale(..)), "a rendering from before is dead");
    }

    #[test]
    fn a_write_that_commits_after_a_later_numbered_one_still_kills_what_was_read_before_it() {
        // PostgreSQL numbers writes by transaction id, not commit order: the write numbered
        // 5 may commit after the one numbered 9. Applied last, it must still kill the entry.
        let cache = MemoryCache::new(Duration::from_secs(60), 100);
        cache.apply(Position { txn: 9, seq: 1 }, &["tee"]);
        let Lookup::Miss(Some(token)) = cache.get("tee") else { unreachable!("must miss") };
        cache.put("tee", token, doc("read before the write numbered 5 committed"));
        cache.apply(Position { txn: 5, seq: 2 }, &["tee"]);
        assert!(matches!(cache.get("tee"), Lookup::Miss(Some(_))));
    }

    fn doc(body: &'static str) -> Arc<Doc> {
        Arc::new(Doc::new(
            "prod_1".into(),
            "tee".into(),
            true,
            "\"x\"".into(),
            super::super::Template { body: bytes::Bytes::from_static(body.as_bytes()), ..Default::default() },
        ))
    }

    #[test]
    fn a_document_read_before_a_write_is_dead_once_stored() {
        let cache = MemoryCache::new(Duration::from_secs(60), 100);
        // A reader misses and goes to the database...
        let Lookup::Miss(Some(token)) = cache.get("tee") else { unreachable!("empty cache must miss") };
        // ...a write commits and invalidates...
        cache.apply(at(1), &["tee"]);
        // ...and the reader stores what it read before the write.
        cache.put("tee", token, doc("old"));
        assert!(matches!(cache.get("tee"), Lookup::Miss(Some(_))));

        let Lookup::Miss(Some(token)) = cache.get("tee") else { unreachable!("must miss") };
        cache.put("tee", token, doc("new"));
        assert!(matches!(cache.get("tee"), Lookup::Hit(d) if d.template.body == "new"));

        // The same write applied again (the change log replayed) keeps the entry.
        cache.apply(at(1), &["tee"]);
        assert!(matches!(cache.get("tee"), Lookup::Hit(_)));
    }

    #[test]
    fn a_rendered_answer_lives_until_any_write_and_keeps_its_template_until_a_catalog_write() {
        let cache = MemoryCache::new(Duration::from_secs(60), 100);
        let rendered = |body: &'static str| {
            Arc::new(Rendered {
                template: Arc::new(super::super::Template::default()),
                figures: vec![1],
                body: bytes::Bytes::from_static(body.as_bytes()),
                etag: String::new(),
            })
        };
        let RenderedLookup::Stale(Some(token), None) = cache.get_rendered("page") else { unreachable!("empty") };
        // A sale lands while the page renders: what was rendered is stored dead.
        cache.apply(at(1), &["stock:var_1"]);
        cache.put_rendered("page", token, rendered("old"));
        let RenderedLookup::Stale(Some(token), Some(previous)) = cache.get_rendered("page") else {
            unreachable!("a stock write keeps the template")
        };
        assert_eq!(previous.body, "old");
        cache.put_rendered("page", token, rendered("new"));
        assert!(matches!(cache.get_rendered("page"), RenderedLookup::Current(r) if r.body == "new"));
        cache.apply(at(2), &["stock:var_2"]);
        assert!(matches!(cache.get_rendered("page"), RenderedLookup::Stale(Some(_), Some(_))));
        cache.apply(at(3), &[CATALOG]);
        assert!(matches!(cache.get_rendered("page"), RenderedLookup::Stale(Some(_), None)), "a catalog write drops it");
    }
}
