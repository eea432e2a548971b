//! Product lists: the input as a caller asks for it and its checks, one page of ids and
//! documents, and the page as REST sends it, through the caches.

use std::sync::Arc;

use bytes::Bytes;
use emporium_catalog as catalog;
use emporium_core::{Currency, Limit, ValidationErrors};
use emporium_customers::Permission;

use crate::auth::Principal;
use crate::availability;
use crate::error::ApiError;
use crate::infra::cache::{Doc, Rendered, RenderedLookup, SharedLookup, Template, template};
use crate::state::AppState;

use super::read_many;

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
    let found = crate::infra::search::find(&state.search, &state.cursors, request)?;
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

/// The shared-cache prefix of rendered list pages, which hold whole product documents: its
/// number moves with the documents' shape (2: products with their `rating`), as the Redis
/// document namespace's does, so no build serves a page another build rendered.
const LIST_PAGE: &str = "list-page.2:";

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
    let key = format!("{LIST_PAGE}{}", request.cache_key());
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
        body.put_slice(
            &serde_json::to_vec(&crate::infra::search::facets_json(facets)).unwrap_or_else(|_| b"{}".to_vec()),
        );
    }
    if let Some(total) = page.total {
        body.put_slice(format!(",\"total\":{total}").as_bytes());
    }
    body.put_slice(b"}");
    body.finish()
}
