//! `/v1/products`: the catalog's products and their variants.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_catalog as catalog;
use emporium_core::ValidationErrors;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Can, Principal, caps};
use crate::availability;
use crate::dto::{NewProductDto, NewVariantDto, ProductDto, ProductPage, ProductPatchDto, VariantDto, VariantPatchDto};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, IfMatch};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases;
use crate::usecases::products;

/// Query parameters of `GET /v1/products`. Read as text, so a bad value is a 422 naming the
/// parameter rather than a bare rejection; the document gives their real types.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Words to search for, in any order: each matches a whole word (the last also the start
    /// of one) of a product's name, category names, option values, SKUs or description, with
    /// plurals and inflections folded and one typo forgiven in words of five letters or more.
    /// Best matches first unless `sort` says otherwise.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// A category id or slug; includes its sub-categories.
    pub category: Option<String>,
    /// The order (default `relevance` with `q`, `newest` without).
    #[param(value_type = Option<SortParam>)]
    pub sort: Option<String>,
    /// ISO 4217 code; required by the price sorts, the price filters and the price facet.
    #[param(value_type = Option<crate::dto::CurrencyCode>)]
    pub currency: Option<String>,
    /// Staff only (default `published`).
    #[param(value_type = Option<StatusParam>)]
    pub status: Option<String>,
    /// Only products with a variant that can be bought now.
    #[param(value_type = Option<bool>)]
    pub in_stock: Option<String>,
    /// Only products with a variant priced at least this in `currency` (minor units).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub price_min: Option<String>,
    /// Only products with a variant priced at most this in `currency` (minor units).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub price_max: Option<String>,
    /// Comma-separated facets to count, with `total`: `category`, `price` (bands in
    /// `currency`) and `option.<Name>`. Each counts the products matching every other filter.
    /// Filter by option values with `option.<Name>=<value>`, repeatable (any of the values).
    #[param(example = "category,option.Size,price")]
    pub facets: Option<String>,
}

/// What every option filter's parameter (and option facet) starts with.
const OPTION_PREFIX: &str = "option.";

/// `facets=category,option.Size,price` as a selection: 422 `unknown_facet` naming the first
/// name that is none of those (the list's own check bounds and checks the option names).
fn parse_facets(names: &str, errors: &mut ValidationErrors) -> catalog::FacetSelection {
    let mut selection = catalog::FacetSelection::default();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "category" => selection.category = true,
            "price" => selection.price = true,
            _ => match name.strip_prefix(OPTION_PREFIX).filter(|option| !option.trim().is_empty()) {
                // One more than allowed is enough for the check to refuse them.
                Some(_) if selection.options.len() > catalog::MAX_OPTION_FACETS => {}
                Some(option) => selection.options.push(option.to_owned()),
                None => {
                    let shown: String = name.chars().take(products::MAX_OPTION_TEXT).collect();
                    errors.add(
                        "facets",
                        "unknown_facet",
                        format!("unknown facet `{shown}`: facets are category, price and option.<Name>"),
                    );
                    break;
                }
            },
        }
    }
    selection
}

/// How a product list is ordered.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SortParam {
    Relevance,
    Newest,
    Name,
    PriceAsc,
    PriceDesc,
    Rating,
}

/// Which statuses a staff list includes.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum StatusParam {
    Draft,
    Published,
    All,
}

impl ListParams {
    /// Parses the text of each parameter, then checks the list's rules, reporting every
    /// problem at once.
    /// `raw` is the whole query string, for the `option.<Name>` filters.
    pub fn parse(self, principal: &Principal, raw: Option<&str>) -> Result<catalog::ListProducts, ApiError> {
        // An empty parameter (`?cursor=`, as forms send) means the parameter is not given.
        let given = |value: Option<String>| value.filter(|v| !v.is_empty());
        let Self { limit, cursor, q, category, sort, currency, status, in_stock, price_min, price_max, facets } = self;
        let (limit, cursor, q, category) = (given(limit), given(cursor), given(q), given(category));
        let (sort, currency, status) = (given(sort), given(currency), given(status));
        let mut errors = ValidationErrors::new();
        let limit = match limit.as_deref().map(str::parse::<i64>) {
            None => None,
            Some(Ok(n)) => Some(n),
            // Out of range, so `check` reports it with the range.
            Some(Err(_)) => Some(0),
        };
        let sort = match sort.as_deref() {
            None => None,
            Some("relevance") => Some(catalog::ProductSort::Relevance),
            Some("newest") => Some(catalog::ProductSort::Newest),
            Some("name") => Some(catalog::ProductSort::Name),
            Some("price_asc") => Some(catalog::ProductSort::PriceAsc),
            Some("price_desc") => Some(catalog::ProductSort::PriceDesc),
            Some("rating") => Some(catalog::ProductSort::Rating),
            Some(_) => {
                errors.add("sort", "invalid_value", "must be relevance, newest, name, price_asc, price_desc or rating");
                None
            }
        };
        let status = match status.as_deref() {
            None => None,
            Some("published") => Some(catalog::StatusFilter::Published),
            Some("draft") => Some(catalog::StatusFilter::Draft),
            Some("all") => Some(catalog::StatusFilter::All),
            Some(_) => {
                errors.add("status", "invalid_value", "must be draft, published or all");
                None
            }
        };
        let in_stock = match given(in_stock).as_deref() {
            None | Some("false") => None,
            Some("true") => Some(true),
            Some(_) => {
                errors.add("in_stock", "invalid_value", "must be true or false");
                None
            }
        };
        let mut amount = |value: Option<String>, field: &'static str| match value.as_deref().map(str::parse::<i64>) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                errors.add(field, "invalid", "must be a whole number of minor units");
                None
            }
        };
        let (price_min, price_max) = (amount(given(price_min), "price_min"), amount(given(price_max), "price_max"));
        let mut options: Vec<(String, Vec<String>)> = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let Some(name) = key.strip_prefix(OPTION_PREFIX) else { continue };
            if value.is_empty() {
                continue;
            }
            // One more than allowed is enough for the check to refuse them.
            if options.len() > catalog::MAX_OPTION_FILTERS {
                break;
            }
            match options.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, values)) => values.push(value.into_owned()),
                None => options.push((name.to_owned(), vec![value.into_owned()])),
            }
        }
        let facets = given(facets).map(|names| parse_facets(&names, &mut errors));
        let input = products::ListInput {
            limit,
            cursor,
            q,
            category,
            sort,
            currency,
            status,
            in_stock,
            price_min,
            price_max,
            options,
            facets,
        };
        input.check(principal, &products::ListFields::REST, errors)
    }
}

/// List products.
#[utoipa::path(
    get, path = "/v1/products", tag = "catalog", operation_id = "list_products",
    params(ListParams),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 422, description = "A bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn list_products(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let request = params.parse(&principal, raw.as_deref())?;
    Ok(json_response(StatusCode::OK, products::list_body(&state, &request).await?))
}

/// Read a product by id or slug.
#[utoipa::path(
    get, path = "/v1/products/{id}", tag = "catalog", operation_id = "get_product",
    params(("id" = String, Path, description = "Product id or slug")),
    responses(
        (status = 200, description = "The product", body = ProductDto,
            headers(("etag" = String, description = "Its version and a digest of what it reads as: for `If-None-Match`, and for `If-Match` on its changes (which compares the version)"))),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 404, description = "No such product (or a draft)", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn get_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let doc = products::read(&state, &principal, &id).await?;
    let shown = availability::shown(&state, &doc).await?;
    if if_none_match.matches(&shown.etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_etag(&mut response, &shown.etag);
        return Ok(response);
    }
    Ok(products::doc_answer(StatusCode::OK, shown).into_response())
}

/// Create a product with its variants, all or nothing.
#[utoipa::path(
    post, path = "/v1/products", tag = "catalog", operation_id = "create_product",
    params(IdempotencyKey),
    request_body = NewProductDto,
    responses(
        (status = 201, description = "Created", body = ProductDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing catalog:write", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slug_taken` or `sku_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_product(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewProductDto>,
) -> Result<Answer, ApiError> {
    Ok(usecases::catalog::create_product(&state, &idempotency, body.into()).await?.answer)
}

/// Change a product's own fields (JSON merge patch). With `If-Match`, only while it is at
/// that version.
#[utoipa::path(
    patch, path = "/v1/products/{id}", tag = "catalog", operation_id = "update_product",
    params(("id" = String, Path, description = "Product id or slug"), ("If-Match" = Option<String>, Header, description = "The product's `ETag` last read: 412 if it changed since")),
    request_body(content = ProductPatchDto, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated product", body = ProductDto, headers(("etag" = String))),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slug_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: the product changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_product(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<ProductPatchDto>,
) -> Result<Answer, ApiError> {
    Ok(usecases::catalog::update_product(&state, &Idempotency::default(), &id, body.into(), &expected).await?.answer)
}

/// Delete a product. It reads as 404 afterwards; its slug and SKUs become free. With
/// `If-Match`, only while it is at that version.
#[utoipa::path(
    delete, path = "/v1/products/{id}", tag = "catalog", operation_id = "delete_product",
    params(("id" = String, Path, description = "Product id or slug"), ("If-Match" = Option<String>, Header, description = "The product's `ETag` last read: 412 if it changed since")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: the product changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_product(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
) -> Result<StatusCode, ApiError> {
    usecases::catalog::delete_product(&state, &Idempotency::default(), &id, &expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a variant to a product.
#[utoipa::path(
    post, path = "/v1/products/{id}/variants", tag = "catalog", operation_id = "add_variant",
    params(("id" = String, Path, description = "Product id or slug"), IdempotencyKey, ("If-Match" = Option<String>, Header, description = "The product's `ETag` last read: 412 if it changed since")),
    request_body = NewVariantDto,
    responses(
        (status = 201, description = "The new variant", body = VariantDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`sku_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: the product changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn add_variant(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    idempotency: Idempotency,
    Path(id): Path<String>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<NewVariantDto>,
) -> Result<Answer, ApiError> {
    Ok(usecases::catalog::add_variant(&state, &idempotency, &id, body.into(), &expected).await?.answer)
}

/// Change a variant (JSON merge patch; `prices` replaces the list).
#[utoipa::path(
    patch, path = "/v1/products/{id}/variants/{variant_id}", tag = "catalog", operation_id = "update_variant",
    params(
        ("id" = String, Path, description = "Product id or slug"),
        ("variant_id" = String, Path, description = "Variant id"),
        ("If-Match" = Option<String>, Header, description = "The product's `ETag` last read: 412 if it changed since"),
    ),
    request_body(content = VariantPatchDto, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated variant", body = VariantDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product or variant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`sku_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: the product changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_variant(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path((id, variant_id)): Path<(String, String)>,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<VariantPatchDto>,
) -> Result<Answer, ApiError> {
    let idempotency = Idempotency::default();
    let written = usecases::catalog::update_variant(&state, &idempotency, &id, &variant_id, body.into(), &expected);
    Ok(written.await?.answer)
}

/// Delete a variant; a product keeps at least one (409 `last_variant`).
#[utoipa::path(
    delete, path = "/v1/products/{id}/variants/{variant_id}", tag = "catalog", operation_id = "delete_variant",
    params(
        ("id" = String, Path, description = "Product id or slug"),
        ("variant_id" = String, Path, description = "Variant id"),
        ("If-Match" = Option<String>, Header, description = "The product's `ETag` last read: 412 if it changed since"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product or variant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_variant`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: the product changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_variant(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path((id, variant_id)): Path<(String, String)>,
    IfMatch(expected): IfMatch,
) -> Result<StatusCode, ApiError> {
    usecases::catalog::delete_variant(&state, &Idempotency::default(), &id, &variant_id, &expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `If-None-Match` values of a request, taken alone (a `HeaderMap` extractor would copy
/// every header of every read).
pub struct IfNoneMatch(Vec<HeaderValue>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get_all(header::IF_NONE_MATCH).iter().cloned().collect()))
    }
}

impl IfNoneMatch {
    /// Whether it lists `etag` (weak comparison, as RFC 9110 asks for GET).
    fn matches(&self, etag: &str) -> bool {
        self.0
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|value| value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag))
    }
}

fn set_etag(response: &mut Response, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
}

/// A JSON body that is already serialized.
pub fn json_response(status: StatusCode, body: bytes::Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
