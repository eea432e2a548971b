//! Product use cases shared by REST and GraphQL: catalog writes in one transaction followed by
//! cache invalidation, and reads of serialized documents through the cache. Documents and list
//! pages are cached without availability; [`crate::availability`] fills it in per response.
//! By topic: `list.rs` (list inputs and their checks, pages and their templates) and `write.rs`
//! (the [`Write`] over a unit of work); here, the documents and their reads.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use emporium_catalog as catalog;
use emporium_customers::Permission;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::availability::Shown;
use crate::dto::ProductDto;
use crate::error::ApiError;
use crate::infra::cache::{Doc, Lookup, Template};
use crate::infra::idempotency::Answer;
use crate::state::AppState;

mod list;
mod write;

pub use list::{
    ListFields, ListInput, ListPage, MAX_OPTION_TEXT, cursor_id, list, list_body, list_categories, option_text,
    page_size, page_template,
};
pub use write::Write;

/// Builds the read documents of products by id, in the order given (missing ids left out).
pub async fn build_docs<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<Doc>, ApiError> {
    let products = catalog::load_products(db, ids).await?;
    let found: Vec<String> = products.iter().map(|p| p.id.clone()).collect();
    let ratings = emporium_reviews::ratings(db, &found).await?;
    products.into_iter().zip(ratings).map(|(product, rating)| to_doc(product, rating)).collect()
}

/// A product's read document: its JSON with a hole where each variant's availability goes.
/// The rating is part of it: a moderation touches the product, so the document follows.
fn to_doc(product: catalog::Product, rating: emporium_reviews::Rating) -> Result<Doc, ApiError> {
    let dto = ProductDto::new(product, rating);
    let json = serde_json::to_vec(&dto).map_err(|e| ApiError::internal(&e))?;
    let variant_ids = dto.variants.iter().map(|v| v.id.clone()).collect();
    let template = Template::cut(&json, variant_ids).ok_or_else(|| {
        ApiError::internal(&std::io::Error::other("a product document's availability marks do not match its variants"))
    })?;
    let digest = Sha256::digest(&template.body);
    // The version first, for `If-Match`; the digest tells apart what else a reader sees
    // (a category's new slug, say), for `If-None-Match`.
    let etag = format!("\"{}-{}\"", dto.version, URL_SAFE_NO_PAD.encode(&digest[..16]));
    let published = dto.status == catalog::ProductStatus::Published;
    let (id, slug) = (dto.id.clone(), dto.slug.clone());
    let doc = Doc::new(id, slug, published, etag, template);
    // The value is at hand: keep it, so GraphQL need not parse what was just serialized.
    let _ = doc.parsed.set(Arc::new(dto));
    Ok(doc)
}

/// The document of one product by id or slug, through the cache. Drafts are not found for
/// anyone but staff.
pub async fn read(state: &AppState, principal: &Principal, id_or_slug: &str) -> Result<Arc<Doc>, ApiError> {
    if !emporium_core::db::lookupable(id_or_slug) {
        return Err(ApiError::not_found("product"));
    }
    let doc = match state.cache.get(id_or_slug).await {
        Lookup::Hit(doc) => doc,
        Lookup::Miss(token) => {
            let product =
                catalog::get_product(&state.db, id_or_slug).await?.ok_or_else(|| ApiError::not_found("product"))?;
            // Loaded once: the document is built from this product, not read again by id.
            let rating = emporium_reviews::ratings(&state.db, std::slice::from_ref(&product.id)).await?;
            let doc = Arc::new(to_doc(product, rating.into_iter().next().unwrap_or_default())?);
            state.cache.put(id_or_slug, token, Arc::clone(&doc)).await;
            doc
        }
    };
    if !doc.published && !principal.can(Permission::CatalogRead) {
        return Err(ApiError::not_found("product"));
    }
    Ok(doc)
}

/// Documents of products by id, through the cache, aligned with `ids` (`None` where a product
/// no longer exists); misses are loaded in one batch.
pub async fn read_many(state: &AppState, ids: &[String]) -> Result<Vec<Option<Arc<Doc>>>, ApiError> {
    let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
    let lookups = state.cache.get_many(&keys).await;
    let mut docs: Vec<Option<Arc<Doc>>> = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    let mut tokens = HashMap::new();
    for (id, lookup) in ids.iter().zip(lookups) {
        match lookup {
            Lookup::Hit(doc) => docs.push(Some(doc)),
            Lookup::Miss(token) => {
                docs.push(None);
                missing.push(id.clone());
                tokens.insert(id.clone(), token);
            }
        }
    }
    if !missing.is_empty() {
        let mut loaded: HashMap<String, Arc<Doc>> = HashMap::new();
        for doc in build_docs(&state.db, &missing).await? {
            let doc = Arc::new(doc);
            state.cache.put(&doc.id, tokens.remove(&doc.id).flatten(), Arc::clone(&doc)).await;
            loaded.insert(doc.id.clone(), doc);
        }
        for (slot, id) in docs.iter_mut().zip(ids) {
            if slot.is_none() {
                *slot = loaded.get(id).cloned();
            }
        }
    }
    Ok(docs)
}

/// One variant of a document with its availability (`figures` aligned with the variants).
pub fn variant_of(doc: &Doc, figures: &[i64], variant_id: &str) -> Result<crate::dto::VariantDto, ApiError> {
    let product = doc.product().map_err(|e| ApiError::internal(&e))?;
    let (variant, available) = product
        .variants
        .iter()
        .zip(figures)
        .find(|(v, _)| v.id == variant_id)
        .ok_or_else(|| ApiError::not_found("variant"))?;
    Ok(crate::dto::VariantDto { available: *available, ..variant.clone() })
}

/// A product document as an answer, with its ETag.
pub fn doc_answer(status: StatusCode, shown: Shown) -> Answer {
    Answer { etag: Some(shown.etag), ..Answer::json(status, shown.body) }
}
