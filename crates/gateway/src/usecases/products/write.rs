//! The [`Write`] wrapper: a catalog or stock write over one unit of work.

use emporium_catalog as catalog;
use emporium_core::uow::UnitOfWork;

use crate::availability::{self, Shown};
use crate::error::ApiError;
use crate::infra::cache::{self, CATALOG, Doc};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;

use super::build_docs;

/// A catalog write: one unit of work. The answer is built from what its transaction reads and,
/// for a request with an `Idempotency-Key`, stored with it; once it has committed, every cached
/// copy of what it touched is dropped, before the caller answers.
///
/// ```text
/// let mut write = Write::begin(&state).await?;
/// let change = catalog::create_product(write.txn(), input).await?;
/// write.touch(&change);
/// let doc = write.doc(&change.id).await?;
/// write.commit_answering(&idempotency, answer).await
/// ```
pub struct Write {
    work: UnitOfWork,
    /// Products changed, each given one event.
    products: Vec<String>,
}

impl Write {
    /// Begins a catalog write: catalog-wide entries are always stale after one.
    pub async fn begin(state: &AppState) -> Result<Self, ApiError> {
        let mut work = state.writer.begin().await?;
        work.touch(CATALOG);
        Ok(Self { work, products: Vec::new() })
    }

    /// Begins a stock write: it invalidates only the availability of the variants it notes
    /// ([`Write::touch_stock`]), never a document or a list page.
    pub async fn stock(state: &AppState) -> Result<Self, ApiError> {
        Ok(Self { work: state.writer.begin().await?, products: Vec::new() })
    }

    /// Notes a variant whose availability changes.
    pub fn touch_stock(&mut self, variant_id: &str) {
        self.work.touch(cache::stock_key(variant_id));
    }

    /// The availability of a document's variants as this transaction sees it.
    pub async fn figures(&self, doc: &Doc) -> Result<Vec<i64>, ApiError> {
        availability::read(&self.work, &doc.template.variant_ids).await
    }

    /// A document as this transaction would send it.
    pub async fn shown(&self, doc: &Doc) -> Result<Shown, ApiError> {
        Ok(availability::show(doc, &self.figures(doc).await?))
    }

    /// The unit of work, for the catalog and inventory operations.
    pub fn txn(&self) -> &UnitOfWork {
        &self.work
    }

    /// The unit of work, to note events and stale keys on.
    pub fn work(&mut self) -> &mut UnitOfWork {
        &mut self.work
    }

    /// Notes a changed product: its id and slugs are invalidated once committed, and it gets
    /// one event (`product.created`, `product.updated` or `product.deleted`).
    pub fn touch(&mut self, change: &catalog::ProductChange) {
        self.work.touch_all(change.keys());
        if !self.products.contains(&change.id) {
            self.products.push(change.id.clone());
            self.work.emit(catalog::ProductEvent::of(change.kind, &change.id));
        }
    }

    /// A product's document as this transaction sees it.
    pub async fn doc(&self, id: &str) -> Result<Doc, ApiError> {
        build_docs(&self.work, &[id.to_owned()]).await?.pop().ok_or_else(|| ApiError::not_found("product"))
    }

    /// Commits; this instance's cache and search index take the write before it returns.
    pub async fn commit(self) -> Result<(), ApiError> {
        self.work.commit().await?;
        Ok(())
    }

    /// Stores `answer` as the request's idempotent outcome with the write and commits: the
    /// write and its stored answer are one fact.
    pub async fn commit_answering(mut self, idempotency: &Idempotency, answer: Answer) -> Result<Answer, ApiError> {
        if let Some(stored) = idempotency.stored(&answer) {
            self.work.answer(stored);
        }
        self.commit().await?;
        Ok(answer)
    }
}
