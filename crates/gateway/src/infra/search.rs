//! The search index each instance holds, and how it stays current.
//!
//! On start the index is built from the database (every live product, drafts too, with each
//! variant's availability). It is kept current from the change log that every catalog and
//! stock write records in its transaction ([`emporium_core::changes`]): a poller reads the log
//! every [`POLL`], loads again the products it names and the availability of the variants it
//! names, and applies them. So every instance converges within a poll of a write, whichever
//! instance wrote it; the writing instance waits for its own index to take its write before it
//! answers ([`Search::caught_up`]), so its caller reads what it wrote.
//!
//! A log row written as [`REINDEX`] (by `emporium search reindex`) makes every instance build
//! its index again from scratch, as does a poller that could not read the log for longer than
//! the log keeps rows (they may have been purged unread).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use emporium_core::changes::{self, Position};

use emporium_catalog as catalog;
use emporium_search::{Document, Index, Variant};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::sync::{Notify, watch};

use crate::infra::background::Shutdown;
use crate::infra::cache::{CATALOG, STOCK_PREFIX};

/// How often an instance reads the log for its index.
pub const POLL: Duration = Duration::from_millis(200);
/// The log key that makes every instance rebuild its index.
pub const REINDEX: &str = emporium_core::uow::Key::REINDEX;
/// Products loaded per batch.
const CHUNK: usize = 500;
/// Most log rows read per poll; a longer stretch (a bulk import) is cheaper to rebuild from.
const BATCH: u64 = 5_000;
/// How long the poller may go without reading the log before it rebuilds (rows are purged
/// after the cache TTL and a minute, and the TTL is at least a few seconds).
const STALE_AFTER: Duration = Duration::from_secs(45);
/// Longest a writer waits for its own index to take its write.
const CATCH_UP: Duration = Duration::from_secs(2);

/// An instance's index and how far into the log it is.
pub struct Search {
    index: RwLock<Index>,
    /// The last write of the log the index reflects.
    applied: watch::Sender<Position>,
    /// Wakes the poller before its next tick (a write on this instance).
    wake: Notify,
    /// Held from loading what changed to writing it into the index, by the poller, a rebuild
    /// and a writer taking its own write: the last to write has loaded last, so a slower
    /// load never overwrites a newer one.
    applying: tokio::sync::Mutex<()>,
    /// Writes of this instance that [`Search::take_own`] applied: the poller passes over them
    /// when it reaches them (what was loaded after their commit already holds them).
    own: std::sync::Mutex<BTreeSet<Position>>,
}

/// Most own writes remembered between two polls; past it the poller applies them again.
const OWN_MAX: usize = 10_000;

impl Search {
    /// Builds the index from the database. `progress` hears the products loaded so far and
    /// how many there are.
    pub async fn load(db: &DatabaseConnection, progress: impl Fn(u64, u64)) -> Result<Self, DbErr> {
        let search = Self {
            index: RwLock::new(Index::new()),
            applied: watch::Sender::new(Position::default()),
            wake: Notify::new(),
            applying: tokio::sync::Mutex::new(()),
            own: std::sync::Mutex::new(BTreeSet::new()),
        };
        search.rebuild(db, progress).await?;
        Ok(search)
    }

    /// Reads the index.
    pub fn read<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(&self.index.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn write<R>(&self, f: impl FnOnce(&mut Index) -> R) -> R {
        f(&mut self.index.write().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Builds a new index from the database and swaps it in. The log's tail is read first,
    /// so a write that commits while the catalog is read is applied again by the next poll.
    async fn rebuild(&self, db: &DatabaseConnection, progress: impl Fn(u64, u64)) -> Result<(), DbErr> {
        let _applying = self.applying.lock().await;
        let tail = changes::tail(db).await?;
        let ids = catalog::live_product_ids(db).await?;
        let mut index = Index::new();
        index.set_categories(categories(db).await?);
        let total = ids.len() as u64;
        progress(0, total);
        let mut done = 0u64;
        for chunk in ids.chunks(CHUNK) {
            for doc in documents(db, chunk).await? {
                index.upsert(doc);
            }
            done += chunk.len() as u64;
            progress(done, total);
        }
        self.write(|held| *held = index);
        self.applied.send_replace(tail);
        Ok(())
    }

    /// Waits (a bounded time) until this instance's index reflects the write at `position`.
    pub async fn caught_up(&self, position: Position) {
        let mut applied = self.applied.subscribe();
        self.wake.notify_one();
        let reached = tokio::time::timeout(CATCH_UP, applied.wait_for(|at| *at >= position)).await;
        if reached.is_err() {
            tracing::warn!(?position, "the search index did not take a write in time; it will at a later poll");
        }
    }

    /// Takes a write this instance just committed, which touched `keys`, without waiting for
    /// the poller: the poller can read a write only once every older transaction has ended,
    /// and under load that wait would be every writer's. What it loads is read after the
    /// commit, so it is at least as new as the write; the poller applies the write again when
    /// it reaches it, so a newer write another instance applied meanwhile is never lost. A
    /// rebuild is left to the poller (and waited for).
    pub async fn take_own(&self, db: &DatabaseConnection, position: Position, keys: &[String]) {
        let changes = Changes::of(keys);
        if changes.rebuild {
            return self.caught_up(position).await;
        }
        // Bounded: behind a rebuild, the poller takes the write in its turn.
        match tokio::time::timeout(CATCH_UP, apply(db, self, changes)).await {
            Ok(Ok(())) => {
                let mut own = self.own.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if own.len() < OWN_MAX && position > self.applied() {
                    own.insert(position);
                }
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "applying a write to this instance's index failed; the poller will")
            }
            Err(_) => tracing::debug!("this instance's index was busy; the poller applies the write"),
        }
    }

    /// The last write of the log the index reflects.
    pub fn applied(&self) -> Position {
        *self.applied.borrow()
    }
}

/// Records [`REINDEX`] in the log: every running instance rebuilds its index at its next poll.
pub async fn request_rebuild(writer: &emporium_core::uow::Writer) -> Result<Option<Position>, DbErr> {
    let mut work = writer.begin().await?;
    work.touch(REINDEX);
    Ok(work.commit().await?.position)
}

/// Polls the log and applies it to the index, until shutdown.
pub async fn run(db: DatabaseConnection, search: Arc<Search>, mut shutdown: Shutdown) {
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut read_at = Instant::now();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = search.wake.notified() => {}
            () = shutdown.requested() => return,
        }
        match sync_once(&db, &search, read_at.elapsed() > STALE_AFTER).await {
            Ok(()) => read_at = Instant::now(),
            Err(err) => tracing::debug!(error = %err, "bringing the search index up to date failed"),
        }
    }
}

/// What a stretch of the log asks of the index.
#[derive(Default)]
struct Changes {
    products: BTreeSet<String>,
    variants: BTreeSet<String>,
    categories: bool,
    rebuild: bool,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.products.is_empty() && self.variants.is_empty() && !self.categories && !self.rebuild
    }

    /// What writes that touched `keys` ask of the index.
    fn of<'a>(keys: impl IntoIterator<Item = &'a String>) -> Self {
        let mut changes = Self::default();
        for key in keys {
            if let Some(variant) = key.strip_prefix(STOCK_PREFIX) {
                changes.variants.insert(variant.to_owned());
            } else if emporium_core::id::is_id(catalog::PRODUCT_ID_PREFIX, key) {
                changes.products.insert(key.clone());
            } else if key == CATALOG {
                changes.categories = true;
            } else if key == REINDEX {
                changes.rebuild = true;
            }
        }
        changes
    }
}

/// One poll: applies every readable write after the index's position; more than [`BATCH`]
/// of them (a bulk import), or a poller that has not read the log for long (rows it missed may
/// be purged), rebuild instead.
async fn sync_once(db: &DatabaseConnection, search: &Search, stale: bool) -> Result<(), DbErr> {
    let page = if stale { Vec::new() } else { changes::read_after(db, search.applied(), BATCH).await? };
    if !stale && page.is_empty() {
        return Ok(());
    }
    let last = page.last().map(|change| change.position).unwrap_or_default();
    // This instance's own writes were applied when they committed.
    let taken: BTreeSet<Position> = {
        let mut own = search.own.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rest = own.split_off(&Position { txn: last.txn, seq: last.seq.saturating_add(1) });
        std::mem::replace(&mut *own, rest)
    };
    let mut changes =
        Changes::of(page.iter().filter(|change| !taken.contains(&change.position)).flat_map(|change| &change.keys));
    changes.rebuild |= stale || page.len() as u64 >= BATCH;
    if changes.rebuild {
        let started = Instant::now();
        search.rebuild(db, |_, _| {}).await?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(products = search.read(Index::len), elapsed_ms, "search index rebuilt");
        return Ok(());
    }
    if !changes.is_empty() {
        apply(db, search, changes).await?;
    }
    search.applied.send_replace(last);
    Ok(())
}

/// Loads what changed and applies it under one short write lock (and under `applying` from
/// before the load).
async fn apply(db: &DatabaseConnection, search: &Search, changes: Changes) -> Result<(), DbErr> {
    let _applying = search.applying.lock().await;
    let categories = if changes.categories { Some(categories(db).await?) } else { None };
    let ids: Vec<String> = changes.products.into_iter().collect();
    let mut docs = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        docs.extend(documents(db, chunk).await?);
    }
    // Variants of products just loaded already have fresh figures.
    let reloaded: BTreeSet<&str> = docs.iter().flat_map(|d| d.variants.iter().map(|v| v.id.as_str())).collect();
    let variants: Vec<String> = changes.variants.into_iter().filter(|v| !reloaded.contains(v.as_str())).collect();
    let figures = availability(db, &variants).await?;
    search.write(|index| {
        if let Some(categories) = categories {
            index.set_categories(categories);
        }
        let found: BTreeSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        for gone in ids.iter().filter(|id| !found.contains(id.as_str())) {
            index.remove(gone);
        }
        for doc in docs {
            index.upsert(doc);
        }
        for (variant, units) in figures {
            index.set_available(&variant, units > 0);
        }
    });
    Ok(())
}

async fn categories<C: ConnectionTrait>(db: &C) -> Result<Vec<emporium_search::Category>, DbErr> {
    Ok(catalog::all_categories(db)
        .await?
        .into_iter()
        .map(|c| emporium_search::Category { id: c.id, slug: c.slug, name: c.name, parent_id: c.parent_id })
        .collect())
}

/// Units available now per variant, read [`CHUNK`] ids per statement.
async fn availability<C: ConnectionTrait>(db: &C, variant_ids: &[String]) -> Result<HashMap<String, i64>, DbErr> {
    let mut figures = HashMap::with_capacity(variant_ids.len());
    for chunk in variant_ids.chunks(CHUNK) {
        figures.extend(emporium_inventory::available(db, chunk).await?);
    }
    Ok(figures)
}

/// The live products among `ids` as the index takes them, with their variants' availability.
async fn documents<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<Document>, DbErr> {
    let products = catalog::load_products(db, ids).await?;
    let variant_ids: Vec<String> = products.iter().flat_map(|p| p.variants.iter().map(|v| v.id.clone())).collect();
    let figures = availability(db, &variant_ids).await?;
    let ids: Vec<String> = products.iter().map(|p| p.id.clone()).collect();
    let ratings = emporium_reviews::ratings(db, &ids).await?;
    Ok(products
        .into_iter()
        .zip(ratings)
        .map(|(p, rating)| Document {
            rating: rating.rank(),
            published: p.status == catalog::ProductStatus::Published,
            slug: p.slug,
            name: p.name,
            description: p.description.unwrap_or_default(),
            category_ids: p.category_ids,
            variants: p
                .variants
                .into_iter()
                .map(|v| Variant {
                    available: figures.get(&v.id).is_some_and(|units| *units > 0),
                    id: v.id,
                    sku: v.sku,
                    options: v.options,
                    prices: v.prices.iter().map(|m| (m.currency(), m.amount())).collect(),
                })
                .collect(),
            id: p.id,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Queries

/// Where a search page stopped, bound to the query that made it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SearchCursor {
    /// The query's filters and sort, so a cursor cannot be replayed on another one.
    q: String,
    k: CursorKey,
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum CursorKey {
    N,
    S(u32),
    T(String),
    A(i64),
}

impl From<&emporium_search::SortKey> for CursorKey {
    fn from(key: &emporium_search::SortKey) -> Self {
        match key {
            emporium_search::SortKey::None => Self::N,
            emporium_search::SortKey::Score(score) => Self::S(*score),
            emporium_search::SortKey::Text(text) => Self::T(text.clone()),
            emporium_search::SortKey::Amount(amount) => Self::A(*amount),
        }
    }
}

impl From<CursorKey> for emporium_search::SortKey {
    fn from(key: CursorKey) -> Self {
        match key {
            CursorKey::N => Self::None,
            CursorKey::S(score) => Self::Score(score),
            CursorKey::T(text) => Self::Text(text),
            CursorKey::A(amount) => Self::Amount(amount),
        }
    }
}

/// One page of a searched list: product ids with their cursors, and the counts asked for.
pub struct Found {
    pub ids: Vec<String>,
    pub cursors: Vec<String>,
    pub next_cursor: Option<String>,
    /// With facets: every product matching the query and its filters.
    pub total: Option<usize>,
    pub facets: Option<emporium_search::Facets>,
}

/// The index's query for a list request.
fn query_of(request: &catalog::ListProducts) -> emporium_search::Query {
    let facets = request.facets.clone().unwrap_or_default();
    emporium_search::Query {
        text: request.q.clone(),
        visibility: match request.status {
            catalog::StatusFilter::Published => emporium_search::Visibility::Published,
            catalog::StatusFilter::Draft => emporium_search::Visibility::Drafts,
            catalog::StatusFilter::All => emporium_search::Visibility::All,
        },
        category: request.category.clone(),
        in_stock: request.in_stock,
        currency: request.currency,
        price_min: request.price_min,
        price_max: request.price_max,
        options: request.options.clone(),
        sort: match request.sort {
            catalog::ProductSort::Relevance => emporium_search::Sort::Relevance,
            catalog::ProductSort::Newest => emporium_search::Sort::Newest,
            catalog::ProductSort::Name => emporium_search::Sort::Name,
            catalog::ProductSort::PriceAsc => emporium_search::Sort::PriceAsc,
            catalog::ProductSort::PriceDesc => emporium_search::Sort::PriceDesc,
            catalog::ProductSort::Rating => emporium_search::Sort::Rating,
        },
        facets: emporium_search::FacetRequest {
            category: facets.category,
            options: facets.options,
            price: facets.price,
        },
    }
}

/// What a cursor binds to: the catalog list's filters and sort, and the search filters.
fn fingerprint(request: &catalog::ListProducts) -> String {
    let options: Vec<String> = request
        .options
        .iter()
        .map(|(name, values)| format!("{}={}", name.to_lowercase(), values.join(",").to_lowercase()))
        .collect();
    format!(
        "{}|{}|{:?}|{:?}|{}",
        catalog::fingerprint(request),
        request.in_stock,
        request.price_min,
        request.price_max,
        options.join("&"),
    )
}

/// One page of a list the index serves.
pub fn find(
    search: &Search,
    codec: &emporium_core::CursorCodec,
    request: &catalog::ListProducts,
) -> Result<Found, catalog::CatalogError> {
    let fingerprint = fingerprint(request);
    let after = match &request.cursor {
        None => None,
        Some(text) => {
            let cursor: SearchCursor = codec.decode(text).ok_or(catalog::CatalogError::InvalidCursor)?;
            if cursor.q != fingerprint {
                return Err(catalog::CatalogError::InvalidCursor);
            }
            Some(emporium_search::Position { key: cursor.k.into(), id: cursor.id })
        }
    };
    let query = query_of(request);
    let limit = request.limit.get() as usize;
    let page = search.read(|index| {
        let page = index.search(&query, after.as_ref(), limit);
        // An empty page may mean an unknown category: only then is it looked up.
        let unknown = page.total == 0 && request.category.as_deref().is_some_and(|c| !index.knows_category(c));
        (!unknown).then_some(page)
    });
    let Some(page) = page else {
        return Err(catalog::CatalogError::Invalid(emporium_core::ValidationErrors::single(
            "category",
            "unknown_category",
            "no category has this id or slug",
        )));
    };
    let cursors: Vec<String> = page
        .hits
        .iter()
        .map(|hit| codec.encode(&SearchCursor { q: fingerprint.clone(), k: (&hit.key).into(), id: hit.id.clone() }))
        .collect();
    let next_cursor = if page.more { cursors.last().cloned() } else { None };
    let asked = request.facets.is_some();
    Ok(Found {
        ids: page.hits.into_iter().map(|hit| hit.id).collect(),
        cursors,
        next_cursor,
        total: asked.then_some(page.total),
        facets: asked.then_some(page.facets),
    })
}

/// Facet counts as REST sends them: an object with a key per facet asked for.
pub fn facets_json(facets: &emporium_search::Facets) -> crate::dto::FacetsDto {
    use crate::dto::{FacetCountDto, PriceBandDto};
    let counts = |list: &[emporium_search::FacetCount]| -> Vec<FacetCountDto> {
        list.iter().map(|c| FacetCountDto { value: c.value.clone(), count: c.count as u64 }).collect()
    };
    crate::dto::FacetsDto {
        category: facets.category.as_deref().map(counts),
        price: facets.price.as_ref().map(|bands| {
            bands.iter().map(|b| PriceBandDto { min: b.min, max: b.max, count: b.count as u64 }).collect()
        }),
        options: facets.options.iter().map(|(name, values)| (format!("option.{name}"), counts(values))).collect(),
    }
}

/// Most completions one call returns.
pub const MAX_SUGGESTIONS: usize = 8;

/// The completions of `q` (default and most [`MAX_SUGGESTIONS`]), checked: 422 naming
/// `fields.0` (the text) or `fields.1` (the count) for bad input.
pub fn suggestions(
    state: &crate::state::AppState,
    q: Option<&str>,
    limit: Option<i64>,
    fields: (&'static str, &'static str),
) -> Result<Vec<emporium_search::Suggestion>, crate::error::ApiError> {
    let mut errors = emporium_core::ValidationErrors::new();
    let q = q.unwrap_or_default();
    if q.chars().count() > catalog::MAX_QUERY_CHARS {
        errors.add(fields.0, "too_long", format!("must be at most {} characters", catalog::MAX_QUERY_CHARS));
    } else if !emporium_core::db::lookupable(q) {
        errors.add(fields.0, "invalid", "must not contain control characters");
    }
    let limit = match limit {
        None => MAX_SUGGESTIONS,
        Some(n) if (1..=MAX_SUGGESTIONS as i64).contains(&n) => n as usize,
        Some(_) => {
            errors.add(fields.1, "out_of_range", format!("must be a whole number from 1 to {MAX_SUGGESTIONS}"));
            MAX_SUGGESTIONS
        }
    };
    errors.finish(()).map_err(crate::error::ApiError::validation)?;
    Ok(state.search.read(|index| index.suggest(q, limit)))
}
