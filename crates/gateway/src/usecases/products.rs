//! Product use cases shared by REST and GraphQL: catalog writes in one transaction followed by
//! cache invalidation, and reads of serialized documents through the cache. Documents and list
//! pages are cached without availability; [`crate::availability`] fills it in per response.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use emporium_catalog as catalog;
use emporium_core::uow::UnitOfWork;
use emporium_core::{Currency, Limit, ValidationErrors};
use emporium_customers::Permission;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::availability::{self, Shown};
use crate::dto::ProductDto;
use crate::error::ApiError;
use crate::infra::cache::{self, CATALOG, Doc, Lookup, Rendered, RenderedLookup, SharedLookup, Template, template};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;

/// Builds the read documents of products by id, in the order given (missing ids left out).
pub async fn build_docs<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<Doc>, ApiError> {
    catalog::load_products(db, ids).await?.into_iter().map(to_doc).collect()
}

/// A product's read document: its JSON with a hole where each variant's availability goes.
fn to_doc(product: catalog::Product) -> Result<Doc, ApiError> {
    let dto = ProductDto::new(product);
    let json = serde_json::to_vec(&dto).map_err(|e| ApiError::internal(&e))?;
    let variant_ids = dto.variants.iter().map(|v| v.id.clone()).collect();
    let template = Template::cut(&json, variant_ids).ok_or_else(|| {
        ApiError::internal(&std::io::Error::other("a product document's availability marks do not match its variants"))
    })?;
    let digest = Sha256::digest(&template.body);
    let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
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
            let doc = Arc::new(to_doc(product)?);
            state.cache.put(id_or_slug, token, Arc::clone(&doc)).await;
            doc
        }
    };
    if !doc.published && !principal.can(Permission::CatalogRead) {
        return Err(ApiError::not_found("product"));
    }
    Ok(doc)
}

/// A product list as a caller asks for it, typed: REST parses its query string into one,
/// GraphQL its arguments. [`ListInput::check`] applies the rules both share.
#[derive(Debug, Default)]
pub struct ListInput {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub q: Option<String>,
    pub category: Option<String>,
    pub sort: Option<catalog::ProductSort>,
    pub currency: Option<String>,
    pub status: Option<catalog::StatusFilter>,
    pub in_stock: Option<bool>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    /// Option name and the values asked for, in the order given.
    pub options: Vec<(String, Vec<String>)>,
    /// The facets to count (with `total`).
    pub facets: Option<catalog::FacetSelection>,
}

/// What each transport calls the list's parameters, for error paths.
pub struct ListFields {
    pub limit: &'static str,
    pub q: &'static str,
    pub currency: &'static str,
    pub price_min: &'static str,
    pub price_max: &'static str,
    pub options: &'static str,
    pub facets: &'static str,
}

impl ListFields {
    /// `GET /v1/products`'s query parameters.
    pub const REST: Self = Self {
        limit: "limit",
        q: "q",
        currency: "currency",
        price_min: "price_min",
        price_max: "price_max",
        options: "option",
        facets: "facets",
    };
    /// The `products` field's arguments.
    pub const GRAPHQL: Self = Self {
        limit: "first",
        q: "query",
        currency: "currency",
        price_min: "priceMin",
        price_max: "priceMax",
        options: "options",
        facets: "facets",
    };
}

/// Longest option name or value a filter or facet may name.
pub const MAX_OPTION_TEXT: usize = 64;

/// Whether an option name or value can be asked for: 1 to 64 characters, no control
/// characters.
pub fn option_text(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= MAX_OPTION_TEXT && emporium_core::db::lookupable(text)
}

/// The facets asked for, checked (option names 1 to 64 characters, at most
/// [`catalog::MAX_OPTION_FACETS`]) and each option named once.
fn check_facets(
    mut selection: catalog::FacetSelection,
    field: &'static str,
    errors: &mut ValidationErrors,
) -> catalog::FacetSelection {
    if selection.options.len() > catalog::MAX_OPTION_FACETS {
        errors.add(field, "too_many", format!("at most {} option facets", catalog::MAX_OPTION_FACETS));
        return selection;
    }
    if !selection.options.iter().all(|name| option_text(name)) {
        errors.add(field, "invalid", "an option facet names an option of 1 to 64 characters");
    }
    let mut seen: Vec<String> = Vec::new();
    selection.options.retain(|name| {
        let folded = name.to_lowercase();
        let first = !seen.contains(&folded);
        seen.push(folded);
        first
    });
    selection
}

/// A page size as asked for (default 20, 1 to 100), or `None` when out of range.
fn page_limit(limit: Option<i64>) -> Option<Limit> {
    match limit {
        None => Some(Limit::default()),
        Some(n) => Limit::parse(Some(n)),
    }
}

const LIMIT_RULE: &str = "must be a whole number from 1 to 100";

/// A list's page size (default 20, 1 to 100): 422 naming `field` otherwise. Every list of
/// every transport checks its size here.
pub fn page_size(limit: Option<i64>, field: &'static str) -> Result<Limit, ApiError> {
    page_limit(limit).ok_or_else(|| ApiError::validation(ValidationErrors::single(field, "out_of_range", LIMIT_RULE)))
}

/// The id a signed `(kind, id)` cursor continues after: 422 `invalid_cursor` for a cursor that
/// is altered or belongs to another kind of list.
pub fn cursor_id(state: &AppState, kind: &str, cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = cursor else { return Ok(None) };
    state.cursors.decode::<(String, String)>(text).filter(|(k, _)| k == kind).map(|(_, id)| Some(id)).ok_or_else(|| {
        ApiError::new(emporium_core::ErrorKind::Invalid, "invalid_cursor", "The cursor is unknown or altered.")
    })
}

impl ListInput {
    /// Checks every rule, adding to `errors` (which may already hold the transport's own
    /// parse errors), and reports them all at once. A status other than published needs staff.
    pub fn check(
        self,
        principal: &Principal,
        fields: &ListFields,
        mut errors: ValidationErrors,
    ) -> Result<catalog::ListProducts, ApiError> {
        let limit = page_limit(self.limit);
        if limit.is_none() {
            errors.add(fields.limit, "out_of_range", LIMIT_RULE);
        }
        if self.q.as_deref().is_some_and(|q| q.chars().count() > catalog::MAX_QUERY_CHARS) {
            errors.add(fields.q, "too_long", format!("must be at most {} characters", catalog::MAX_QUERY_CHARS));
        } else if self.q.as_deref().is_some_and(|q| !emporium_core::db::lookupable(q)) {
            errors.add(fields.q, "invalid", "must not contain control characters");
        }
        let currency = match self.currency.as_deref().map(Currency::parse) {
            None => None,
            Some(Ok(currency)) => Some(currency),
            Some(Err(_)) => {
                errors.add(fields.currency, "invalid_currency", "must be an upper-case ISO 4217 code such as EUR");
                None
            }
        };
        let sort = self.sort.unwrap_or_default();
        if matches!(sort, catalog::ProductSort::PriceAsc | catalog::ProductSort::PriceDesc) && self.currency.is_none() {
            errors.add(fields.currency, "required", "price sorts need a currency");
        }
        let status = self.status.unwrap_or_default();
        if status != catalog::StatusFilter::Published {
            principal.require(Permission::CatalogRead)?;
        }
        for (value, field) in [(self.price_min, fields.price_min), (self.price_max, fields.price_max)] {
            if value.is_some_and(|v| !(0..=emporium_core::money::MAX_SAFE_AMOUNT).contains(&v)) {
                errors.add(field, "out_of_range", "must be a whole number of minor units from 0 to 2^53 − 1");
            }
        }
        if let (Some(min), Some(max)) = (self.price_min, self.price_max)
            && min > max
        {
            errors.add(fields.price_min, "invalid_range", format!("must not be above {}", fields.price_max));
        }
        if (self.price_min.is_some() || self.price_max.is_some()) && self.currency.is_none() {
            errors.add(fields.currency, "required", "price filters need a currency");
        }
        if self.options.len() > catalog::MAX_OPTION_FILTERS {
            errors.add(fields.options, "too_many", format!("at most {} option filters", catalog::MAX_OPTION_FILTERS));
        }
        for (name, values) in &self.options {
            if !option_text(name) {
                errors.add(fields.options, "invalid", "an option name is 1 to 64 characters");
            } else if values.is_empty() || values.len() > catalog::MAX_OPTION_VALUES {
                errors.add(
                    fields.options,
                    "invalid",
                    format!("option {name} needs 1 to {} values", catalog::MAX_OPTION_VALUES),
                );
            } else if !values.iter().all(|v| option_text(v)) {
                errors.add(fields.options, "invalid", format!("a value of option {name} is 1 to 64 characters"));
            }
        }
        let facets = self.facets.map(|selection| check_facets(selection, fields.facets, &mut errors));
        if facets.as_ref().is_some_and(|f| f.price) && self.currency.is_none() {
            errors.add(fields.currency, "required", "the price facet needs a currency");
        }
        // With words to match, the best matches come first unless another order is asked for.
        let searching = self.q.as_deref().is_some_and(|q| !q.trim().is_empty());
        let sort = match self.sort {
            None if searching => catalog::ProductSort::Relevance,
            _ => sort,
        };
        let limit = errors.finish(limit).map_err(ApiError::validation)?.unwrap_or_default();
        Ok(catalog::ListProducts {
            limit,
            cursor: self.cursor,
            q: self.q,
            category: self.category,
            sort,
            currency,
            status,
            in_stock: self.in_stock.unwrap_or(false),
            price_min: self.price_min,
            price_max: self.price_max,
            options: self.options,
            facets,
        })
    }
}

/// One page of products: each document with the cursor that continues after it, and, when
/// facets were asked for, the counts and the total.
pub struct ListPage {
    pub items: Vec<(Arc<Doc>, String)>,
    pub next_cursor: Option<String>,
    pub total: Option<usize>,
    pub facets: Option<emporium_search::Facets>,
}

impl ListPage {
    /// The documents, in order.
    pub fn docs(&self) -> impl Iterator<Item = &Arc<Doc>> {
        self.items.iter().map(|(doc, _)| doc)
    }
}

/// One page of a product list: ids from the page cache (or the database), documents from
/// the document cache.
pub async fn list(state: &AppState, request: &catalog::ListProducts) -> Result<ListPage, ApiError> {
    if request.searches() {
        return search_list(state, request).await;
    }
    let key = format!("list:{}", request.cache_key());
    // An entry that does not parse (written by another version) is recomputed, not trusted
    // and not overwritten.
    let (cached, token) = match state.cache.get_shared(&key).await {
        SharedLookup::Hit(bytes) => (serde_json::from_slice::<catalog::IdPage>(&bytes).ok(), None),
        SharedLookup::Miss(token) => (None, token),
    };
    let page = match cached {
        Some(page) => page,
        None => {
            let page = catalog::list_products(&state.db, &state.cursors, request).await?;
            state.cache.put_shared(&key, token, Bytes::from(serde_json::to_vec(&page).unwrap_or_default())).await;
            page
        }
    };
    let items = documents(state, request, &page.ids, page.cursors).await?;
    Ok(ListPage { items, next_cursor: page.next_cursor, total: None, facets: None })
}

/// A page the search index finds: ids from the index, documents from the document cache.
/// Not cached as a page: the index answers in memory, and its stock filter and counts follow
/// every sale.
async fn search_list(state: &AppState, request: &catalog::ListProducts) -> Result<ListPage, ApiError> {
    let found = crate::search::find(&state.search, &state.cursors, request)?;
    let items = documents(state, request, &found.ids, found.cursors).await?;
    Ok(ListPage { items, next_cursor: found.next_cursor, total: found.total, facets: found.facets })
}

/// The documents of a page's ids, each with its cursor.
async fn documents(
    state: &AppState,
    request: &catalog::ListProducts,
    ids: &[String],
    cursors: Vec<String>,
) -> Result<Vec<(Arc<Doc>, String)>, ApiError> {
    let docs = read_many(state, ids).await?;
    Ok(docs
        .into_iter()
        .zip(cursors)
        // Gone since the page was read (deleted), or no longer of the status the list asks
        // for (unpublished meanwhile): left out, never shown as it now is.
        .filter_map(|(doc, cursor)| doc.filter(|d| request.status.admits(d.published)).map(|d| (d, cursor)))
        .collect())
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

/// A page of categories, oldest first, each with the cursor that continues after it.
/// `limit_field` names the page size in the caller's transport, for its error.
pub async fn list_categories(
    state: &AppState,
    limit: Option<i64>,
    limit_field: &'static str,
    cursor: Option<&str>,
) -> Result<(Vec<(catalog::Category, String)>, Option<String>), ApiError> {
    let limit = page_size(limit, limit_field)?;
    let after = cursor_id(state, "categories", cursor)?;
    let mut rows = catalog::list_categories(&state.db, after.as_deref(), limit.get() + 1).await?;
    let more = rows.len() as u64 > limit.get();
    rows.truncate(limit.get() as usize);
    let page: Vec<(catalog::Category, String)> = rows
        .into_iter()
        .map(|c| {
            let cursor = state.cursors.encode(&("categories", c.id.as_str()));
            (c, cursor)
        })
        .collect();
    let next = if more { page.last().map(|(_, cursor)| cursor.clone()) } else { None };
    Ok((page, next))
}

/// A product list page as REST sends it. The page is cached whole, without availability,
/// under the catalog-wide generation: every catalog write that could change a document on it
/// moves that generation too, so the page is exactly as fresh as its parts, and a hit costs
/// one lookup plus one batch of availability figures. Stock changes leave it alone.
pub async fn list_body(state: &AppState, request: &catalog::ListProducts) -> Result<Bytes, ApiError> {
    if request.searches() {
        let template = page_template(&list(state, request).await?);
        let figures = availability::figures(state, &template.variant_ids).await?;
        return Ok(template.render(&figures));
    }
    let key = format!("list-page:{}", request.cache_key());
    // In process: the page as last rendered, if nothing was written since; if only stock was,
    // its template with fresh figures (the same body again when they did not change).
    let (render_token, previous) = match state.cache.get_rendered(&key) {
        RenderedLookup::Current(rendered) => return Ok(rendered.body.clone()),
        RenderedLookup::Stale(token, previous) => (token, previous),
    };
    let template = match &previous {
        Some(previous) => Arc::clone(&previous.template),
        None => Arc::new(page_template_cached(state, request, &key).await?),
    };
    let figures = availability::figures(state, &template.variant_ids).await?;
    let body = match previous {
        Some(previous) if previous.figures == figures => previous.body.clone(),
        _ => template.render(&figures),
    };
    state.cache.put_rendered(
        &key,
        render_token,
        Arc::new(Rendered { template, figures, body: body.clone(), etag: String::new() }),
    );
    Ok(body)
}

/// A list page's template through the catalog-wide cache.
async fn page_template_cached(
    state: &AppState,
    request: &catalog::ListProducts,
    key: &str,
) -> Result<Template, ApiError> {
    let (cached, token) = match state.cache.get_shared(key).await {
        SharedLookup::Hit(raw) => (Template::decode(&raw), None),
        SharedLookup::Miss(token) => (None, token),
    };
    if let Some(template) = cached {
        return Ok(template);
    }
    let template = page_template(&list(state, request).await?);
    state.cache.put_shared(key, token, Bytes::from(template.encode())).await;
    Ok(template)
}

/// A list page as JSON with holes, assembled from the cached documents without
/// re-serializing them.
pub fn page_template(page: &ListPage) -> Template {
    let size: usize = page.docs().map(|d| d.template.body.len() + 1).sum::<usize>() + 64;
    let mut body = template::Builder::with_capacity(size);
    body.put_slice(b"{\"data\":[");
    for (i, doc) in page.docs().enumerate() {
        if i > 0 {
            body.put_slice(b",");
        }
        body.put_template(&doc.template);
    }
    body.put_slice(b"],\"next_cursor\":");
    body.put_slice(&serde_json::to_vec(&page.next_cursor).unwrap_or_else(|_| b"null".to_vec()));
    if let Some(facets) = &page.facets {
        body.put_slice(b",\"facets\":");
        body.put_slice(&serde_json::to_vec(&crate::search::facets_json(facets)).unwrap_or_else(|_| b"{}".to_vec()));
    }
    if let Some(total) = page.total {
        body.put_slice(format!(",\"total\":{total}").as_bytes());
    }
    body.put_slice(b"}");
    body.finish()
}

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
    /// Products changed, each given a `product.updated` event.
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
    /// one `product.updated` event.
    pub fn touch(&mut self, change: &catalog::ProductChange) {
        self.work.touch_all(change.keys());
        if !self.products.contains(&change.id) {
            self.products.push(change.id.clone());
            self.work.emit(catalog::ProductEvent::Updated { product_id: change.id.clone() });
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
