//! Recommendations, once for both transports: the products bought together with a product,
//! and what a signed-in customer may like next.
//!
//! Both rank from the sales counters the orders keep in their own transactions
//! ([`emporium_orders::sales`]), so nothing rescans orders. The ranked candidates are cached
//! per instance for [`FRESH_FOR`]; every answer then takes them through the product cache and
//! the availability entries again, so a product unpublished or sold out a moment ago is never
//! shown, and a new order moves the ranking within [`FRESH_FOR`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use emporium_core::ValidationErrors;
use emporium_orders::sales;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::infra::cache::Doc;
use crate::state::AppState;
use crate::usecases::products;

/// How many products an answer holds when the caller does not say.
pub const DEFAULT_LIMIT: u64 = 4;
/// The most an answer holds.
pub const MAX_LIMIT: u64 = 20;
/// How long ranked candidates are reused before they are read again.
pub const FRESH_FOR: Duration = Duration::from_secs(30);
/// Candidates ranked per product or customer: room for [`MAX_LIMIT`] after drafts and sold-out
/// products are left out.
const CANDIDATES: u64 = 60;
/// A customer's most recent purchases that their recommendations start from.
const RECENT_PURCHASES: u64 = 50;
/// Most entries of each cache.
const CACHE_CAPACITY: u64 = 20_000;

/// Why a product is recommended to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Often bought together with something the customer bought.
    BoughtTogether,
    /// A best seller of a category the customer bought in.
    CategoryBestSeller,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::BoughtTogether => "bought_together",
            Self::CategoryBestSeller => "category_best_seller",
        }
    }
}

/// The ranked candidates of each instance.
pub struct RecommendationCache {
    together: moka::sync::Cache<String, Arc<[(String, i64)]>>,
    customers: moka::sync::Cache<String, Arc<[(String, Reason)]>>,
}

impl RecommendationCache {
    /// Caches that keep candidates for `fresh_for` ([`FRESH_FOR`] but in tests).
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            together: moka::sync::Cache::builder().max_capacity(CACHE_CAPACITY).time_to_live(fresh_for).build(),
            customers: moka::sync::Cache::builder().max_capacity(CACHE_CAPACITY).time_to_live(fresh_for).build(),
        }
    }
}

/// A recommended product as shown now, with what ranked it.
pub struct Recommended<T> {
    pub doc: Arc<Doc>,
    /// Its variants' availability, aligned with them.
    pub figures: Vec<i64>,
    pub why: T,
}

/// Checks a `limit` (1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when not given).
pub fn limit(given: Option<i64>) -> Result<u64, ApiError> {
    match given {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => Ok(n as u64),
        Some(_) => Err(ValidationErrors::single("limit", "out_of_range", format!("1 to {MAX_LIMIT}")).into()),
    }
}

/// The published, in-stock products most often bought in the same orders as `product` (id or
/// slug; drafts are not found for anyone but staff), most first, each with how many orders
/// held both.
pub async fn bought_together(
    state: &AppState,
    principal: &Principal,
    product: &str,
    limit: u64,
) -> Result<Vec<Recommended<i64>>, ApiError> {
    let doc = products::read(state, principal, product).await?;
    let candidates = match state.recommendations.together.get(&doc.id) {
        Some(candidates) => candidates,
        None => {
            let ranked: Arc<[(String, i64)]> = sales::bought_with(&state.db, &doc.id, CANDIDATES).await?.into();
            state.recommendations.together.insert(doc.id.clone(), Arc::clone(&ranked));
            ranked
        }
    };
    shown(state, &candidates, limit).await
}

/// What the signed-in customer may like next: products often bought with what they bought,
/// then the best sellers of the categories they bought in; never what they already bought,
/// a draft or a product out of stock.
pub async fn for_customer(
    state: &AppState,
    customer_id: &str,
    limit: u64,
) -> Result<Vec<Recommended<Reason>>, ApiError> {
    let candidates = match state.recommendations.customers.get(customer_id) {
        Some(candidates) => candidates,
        None => {
            let ranked: Arc<[(String, Reason)]> = rank_for(state, customer_id).await?.into();
            state.recommendations.customers.insert(customer_id.to_owned(), Arc::clone(&ranked));
            ranked
        }
    };
    // Asked on every answer, so an order placed since the candidates were ranked counts at once.
    let ids: Vec<String> = candidates.iter().map(|(id, _)| id.clone()).collect();
    let bought: HashSet<String> = sales::bought_among(&state.db, customer_id, &ids).await?.into_iter().collect();
    let left: Vec<(String, Reason)> = candidates.iter().filter(|(id, _)| !bought.contains(id)).cloned().collect();
    shown(state, &left, limit).await
}

/// A customer's candidates, best first, without their recent purchases (older ones are left
/// out by [`for_customer`] on every answer).
async fn rank_for(state: &AppState, customer_id: &str) -> Result<Vec<(String, Reason)>, ApiError> {
    let recent = sales::bought_by(&state.db, customer_id, RECENT_PURCHASES).await?;
    if recent.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen: HashSet<String> = recent.iter().cloned().collect();
    let mut ranked = Vec::new();
    for (id, _) in sales::bought_with_any(&state.db, &recent, CANDIDATES).await? {
        if seen.insert(id.clone()) {
            ranked.push((id, Reason::BoughtTogether));
        }
    }
    let mut categories: Vec<String> = Vec::new();
    for doc in products::read_many(state, &recent).await?.into_iter().flatten() {
        let product = doc.product().map_err(|e| ApiError::internal(&e))?;
        for category in &product.category_ids {
            if !categories.contains(category) {
                categories.push(category.clone());
            }
        }
    }
    for id in sales::best_sellers_in(&state.db, &categories, CANDIDATES).await? {
        if seen.insert(id.clone()) {
            ranked.push((id, Reason::CategoryBestSeller));
        }
    }
    Ok(ranked)
}

/// The first `limit` candidates that are published and have a variant in stock now, with
/// their availability. Candidates are looked at a few at a time (twice what is still wanted,
/// documents and figures each in one batch), so an answer of 4 reads about 8 products, not
/// every ranked candidate.
async fn shown<T: Copy>(
    state: &AppState,
    candidates: &[(String, T)],
    limit: u64,
) -> Result<Vec<Recommended<T>>, ApiError> {
    let limit = limit as usize;
    let mut shown = Vec::new();
    let mut rest = candidates;
    while shown.len() < limit && !rest.is_empty() {
        let (chunk, after) = rest.split_at(((limit - shown.len()) * 2).min(rest.len()));
        rest = after;
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let published: Vec<(Arc<Doc>, T)> = products::read_many(state, &ids)
            .await?
            .into_iter()
            .zip(chunk)
            .filter_map(|(doc, (_, why))| doc.filter(|d| d.published).map(|d| (d, *why)))
            .collect();
        let variant_ids: Vec<String> =
            published.iter().flat_map(|(doc, _)| doc.template.variant_ids.iter().cloned()).collect();
        let mut figures = crate::availability::figures(state, &variant_ids).await?.into_iter();
        for (doc, why) in published {
            let own: Vec<i64> = figures.by_ref().take(doc.template.variant_ids.len()).collect();
            if shown.len() < limit && own.iter().any(|units| *units > 0) {
                shown.push(Recommended { doc, figures: own, why });
            }
        }
    }
    Ok(shown)
}

/// The REST body of products bought together: `{"data": [{"product", "orders_together"}]}`.
pub fn together_body(found: &[Recommended<i64>]) -> bytes::Bytes {
    body(found, |n| format!(",\"orders_together\":{n}}}"))
}

/// The REST body of a customer's recommendations: `{"data": [{"product", "reason"}]}`.
pub fn customer_body(found: &[Recommended<Reason>]) -> bytes::Bytes {
    body(found, |reason| format!(",\"reason\":\"{}\"}}", reason.as_str()))
}

fn body<T: Copy>(found: &[Recommended<T>], tail: impl Fn(T) -> String) -> bytes::Bytes {
    let mut out =
        bytes::BytesMut::with_capacity(found.iter().map(|r| r.doc.template.body.len() + 64).sum::<usize>() + 16);
    out.extend_from_slice(b"{\"data\":[");
    for (i, item) in found.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(b"{\"product\":");
        item.doc.template.render_into(&item.figures, &mut out);
        out.extend_from_slice(tail(item.why).as_bytes());
    }
    out.extend_from_slice(b"]}");
    out.freeze()
}
