//! Availability, kept apart from the cached catalog.
//!
//! A product's documents and list pages change when staff edit the catalog; a variant's
//! `available` changes with every sale. So documents and pages are cached as templates with a
//! hole per variant ([`crate::infra::cache::template`]), and each variant's figure is its own entry
//! ([`crate::infra::cache::stock_key`]) with its own generation. A stock write (adjustment,
//! reservation, commit, release, expiry, backorder setting, location switched on or off)
//! records the stock keys of the variants it changed in its transaction and invalidates only
//! those: no document or list page is recomputed, and every instance sees the new figure at
//! once (Redis) or at its next poll of the change log (in-process cache).
//!
//! A response looks up the figures of its variants in one batch (one Redis round trip), reads
//! the missing ones in one indexed query and fills the holes.

use bytes::Bytes;
use emporium_inventory as inventory;
use sea_orm::ConnectionTrait;

use crate::error::ApiError;
use std::sync::Arc;

use crate::infra::cache::{Doc, Rendered, RenderedLookup, StockLookup, Template, stock_key};
use crate::state::AppState;

/// Most variant ids read from the database in one statement.
const CHUNK: usize = 500;

/// The availability of `variant_ids`, aligned with them, through the cache.
pub async fn figures(state: &AppState, variant_ids: &[String]) -> Result<Vec<i64>, ApiError> {
    if variant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = variant_ids.iter().map(|id| stock_key(id)).collect();
    let lookups = state.cache.get_stock(&keys).await;
    let mut figures = vec![0i64; variant_ids.len()];
    let mut missing = Vec::new();
    for (i, lookup) in lookups.into_iter().enumerate() {
        match lookup {
            StockLookup::Hit(figure) => figures[i] = figure,
            StockLookup::Miss(token) => missing.push((i, token)),
        }
    }
    if missing.is_empty() {
        return Ok(figures);
    }
    let ids: Vec<String> = missing.iter().map(|(i, _)| variant_ids[*i].clone()).collect();
    let found = read(&state.db, &ids).await?;
    let mut fresh = Vec::with_capacity(missing.len());
    for ((i, token), figure) in missing.into_iter().zip(found) {
        figures[i] = figure;
        if let Some(token) = token {
            fresh.push((keys[i].clone(), token, figure));
        }
    }
    state.cache.put_stock(fresh).await;
    Ok(figures)
}

/// The availability of `variant_ids`, aligned with them, from the database (in a write's
/// transaction, to answer with what it wrote).
pub async fn read<C: ConnectionTrait>(db: &C, variant_ids: &[String]) -> Result<Vec<i64>, ApiError> {
    let mut figures = Vec::with_capacity(variant_ids.len());
    for chunk in variant_ids.chunks(CHUNK) {
        let found = inventory::available(db, chunk).await?;
        figures.extend(chunk.iter().map(|id| found.get(id).copied().unwrap_or(0)));
    }
    Ok(figures)
}

/// A product document as it is sent: the template with its figures, and its validator.
pub struct Shown {
    pub body: Bytes,
    pub etag: String,
}

/// Fills a document's holes with `figures` (aligned with its variants).
pub fn show(doc: &Doc, figures: &[i64]) -> Shown {
    Shown { body: doc.template.render(figures), etag: Template::etag(&doc.etag, figures) }
}

/// A document with its live availability. In process, the answer as last rendered while
/// nothing was written since, or as long as its figures are the same: no figure is looked
/// up, and nothing rendered or hashed, for a product read between writes.
pub async fn shown(state: &AppState, doc: &Doc) -> Result<Shown, ApiError> {
    let key = format!("doc:{}", doc.id);
    // A rendering of this very document (a strong validator of it starts its own).
    let same_doc = |rendered: &Rendered| rendered.etag.starts_with(doc.etag.trim_end_matches('"'));
    let (token, previous) = match state.cache.get_rendered(&key) {
        RenderedLookup::Current(rendered) if same_doc(&rendered) => {
            return Ok(Shown { body: rendered.body.clone(), etag: rendered.etag.clone() });
        }
        RenderedLookup::Current(_) => (None, None),
        RenderedLookup::Stale(token, previous) => (token, previous.filter(|p| same_doc(p))),
    };
    let figures = figures(state, &doc.template.variant_ids).await?;
    if let Some(previous) = previous.filter(|p| p.figures == figures) {
        return Ok(Shown { body: previous.body.clone(), etag: previous.etag.clone() });
    }
    let shown = show(doc, &figures);
    let rendered = Rendered { template: no_template(), figures, body: shown.body.clone(), etag: shown.etag.clone() };
    state.cache.put_rendered(&key, token, Arc::new(rendered));
    Ok(shown)
}

/// The template a document's rendering keeps: none (the document is at hand each time).
fn no_template() -> Arc<Template> {
    static EMPTY: std::sync::OnceLock<Arc<Template>> = std::sync::OnceLock::new();
    Arc::clone(EMPTY.get_or_init(|| Arc::new(Template::default())))
}

/// A template (a list page) with its live availability.
pub async fn render(state: &AppState, template: &Template) -> Result<Bytes, ApiError> {
    Ok(template.render(&figures(state, &template.variant_ids).await?))
}
