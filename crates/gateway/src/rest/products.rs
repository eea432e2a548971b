//! `/v1/products`: the catalog's products and their variants.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_catalog as catalog;
use emporium_core::{Currency, Limit, ValidationErrors};
use emporium_customers::Permission;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Can, Principal, caps};
use crate::cache::Doc;
use crate::dto::{NewProductDto, NewVariantDto, ProductDto, ProductPage, ProductPatchDto, VariantDto, VariantPatchDto};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::{Answer, Idempotency};
use crate::products;
use crate::rest::IdempotencyKey;
use crate::state::AppState;

/// Query parameters of `GET /v1/products`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Searches names, descriptions and SKUs, ignoring case; at most 200 characters.
    pub q: Option<String>,
    /// A category id or slug; includes its sub-categories.
    pub category: Option<String>,
    /// `newest` (default), `name`, `price_asc` or `price_desc`.
    pub sort: Option<String>,
    /// ISO 4217 code; required by the price sorts.
    pub currency: Option<String>,
    /// Staff only: `draft`, `published` (default) or `all`.
    pub status: Option<String>,
}

impl ListParams {
    /// Checks every parameter, reporting all problems at once.
    pub fn parse(self, principal: &Principal) -> Result<catalog::ListProducts, ApiError> {
        let mut errors = ValidationErrors::new();
        let limit = match self.limit.as_deref().map(str::parse::<i64>) {
            None => Some(Limit::default()),
            Some(Ok(n)) => Limit::parse(Some(n)),
            Some(Err(_)) => None,
        };
        if limit.is_none() {
            errors.add("limit", "out_of_range", "must be a whole number from 1 to 100");
        }
        let sort = match self.sort.as_deref() {
            None | Some("newest") => catalog::ProductSort::Newest,
            Some("name") => catalog::ProductSort::Name,
            Some("price_asc") => catalog::ProductSort::PriceAsc,
            Some("price_desc") => catalog::ProductSort::PriceDesc,
            Some(_) => {
                errors.add("sort", "invalid_value", "must be newest, name, price_asc or price_desc");
                catalog::ProductSort::Newest
            }
        };
        let currency = match self.currency.as_deref() {
            None => None,
            Some(code) => match Currency::parse(code) {
                Ok(currency) => Some(currency),
                Err(_) => {
                    errors.add("currency", "invalid_currency", "must be an upper-case ISO 4217 code such as EUR");
                    None
                }
            },
        };
        if matches!(sort, catalog::ProductSort::PriceAsc | catalog::ProductSort::PriceDesc) && self.currency.is_none() {
            errors.add("currency", "required", "price sorts need a currency");
        }
        if self.q.as_deref().is_some_and(|q| q.chars().count() > catalog::MAX_QUERY_CHARS) {
            errors.add("q", "too_long", format!("must be at most {} characters", catalog::MAX_QUERY_CHARS));
        }
        let status = match self.status.as_deref() {
            None | Some("published") => catalog::StatusFilter::Published,
            Some("draft") => catalog::StatusFilter::Draft,
            Some("all") => catalog::StatusFilter::All,
            Some(_) => {
                errors.add("status", "invalid_value", "must be draft, published or all");
                catalog::StatusFilter::Published
            }
        };
        if status != catalog::StatusFilter::Published {
            principal.require(Permission::CatalogRead)?;
        }
        let limit = errors.finish(limit).map_err(ApiError::validation)?.unwrap_or_default();
        Ok(catalog::ListProducts {
            limit,
            cursor: self.cursor,
            q: self.q,
            category: self.category,
            sort,
            currency,
            status,
        })
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
    security((), ("bearer" = []))
)]
pub async fn list_products(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let request = params.parse(&principal)?;
    let (docs, next) = products::list(&state, &request).await?;
    Ok(json_response(StatusCode::OK, products::page_body(&docs, next.as_deref())))
}

/// Read a product by id or slug.
#[utoipa::path(
    get, path = "/v1/products/{id}", tag = "catalog", operation_id = "get_product",
    params(("id" = String, Path, description = "Product id or slug")),
    responses(
        (status = 200, description = "The product", body = ProductDto, headers(("etag" = String))),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 404, description = "No such product (or a draft)", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn get_product(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let doc = products::read(&state, &principal, &id).await?;
    if if_none_match(&headers, &doc.etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_etag(&mut response, &doc);
        return Ok(response);
    }
    Ok(products::doc_answer(StatusCode::OK, &doc).into_response())
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
    security(("bearer" = []))
)]
pub async fn create_product(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewProductDto>,
) -> Result<Answer, ApiError> {
    let mut write = products::Write::begin(&state).await?;
    let change = catalog::create_product(write.txn(), body.into()).await?;
    write.touch(&change);
    let doc = write.doc(&change.id).await?;
    write.commit_answering(&idempotency, products::doc_answer(StatusCode::CREATED, &doc)).await
}

/// Change a product's own fields (JSON merge patch).
#[utoipa::path(
    patch, path = "/v1/products/{id}", tag = "catalog", operation_id = "update_product",
    params(("id" = String, Path, description = "Product id or slug")),
    request_body(content = ProductPatchDto, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated product", body = ProductDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slug_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_product(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProductPatchDto>,
) -> Result<Answer, ApiError> {
    let mut write = products::Write::begin(&state).await?;
    let change = catalog::patch_product(write.txn(), &id, body.into()).await?;
    write.touch(&change);
    let doc = write.doc(&change.id).await?;
    write.commit().await?;
    Ok(products::doc_answer(StatusCode::OK, &doc))
}

/// Delete a product. It reads as 404 afterwards; its slug and SKUs become free.
#[utoipa::path(
    delete, path = "/v1/products/{id}", tag = "catalog", operation_id = "delete_product",
    params(("id" = String, Path, description = "Product id or slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_product(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut write = products::Write::begin(&state).await?;
    let change = catalog::delete_product(write.txn(), &id).await?;
    write.touch(&change);
    write.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a variant to a product.
#[utoipa::path(
    post, path = "/v1/products/{id}/variants", tag = "catalog", operation_id = "add_variant",
    params(("id" = String, Path, description = "Product id or slug"), IdempotencyKey),
    request_body = NewVariantDto,
    responses(
        (status = 201, description = "The new variant", body = VariantDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`sku_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn add_variant(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    idempotency: Idempotency,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewVariantDto>,
) -> Result<Answer, ApiError> {
    let mut write = products::Write::begin(&state).await?;
    let (change, variant_id) = catalog::add_variant(write.txn(), &id, body.into()).await?;
    write.touch(&change);
    let answer = variant_answer(StatusCode::CREATED, &write.doc(&change.id).await?, &variant_id)?;
    write.commit_answering(&idempotency, answer).await
}

/// Change a variant (JSON merge patch; `prices` replaces the list).
#[utoipa::path(
    patch, path = "/v1/products/{id}/variants/{variant_id}", tag = "catalog", operation_id = "update_variant",
    params(("id" = String, Path, description = "Product id or slug"), ("variant_id" = String, Path, description = "Variant id")),
    request_body(content = VariantPatchDto, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated variant", body = VariantDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product or variant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`sku_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_variant(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path((id, variant_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<VariantPatchDto>,
) -> Result<Answer, ApiError> {
    let mut write = products::Write::begin(&state).await?;
    let change = catalog::patch_variant(write.txn(), &id, &variant_id, body.into()).await?;
    write.touch(&change);
    let answer = variant_answer(StatusCode::OK, &write.doc(&change.id).await?, &variant_id)?;
    write.commit().await?;
    Ok(answer)
}

/// Delete a variant; a product keeps at least one (409 `last_variant`).
#[utoipa::path(
    delete, path = "/v1/products/{id}/variants/{variant_id}", tag = "catalog", operation_id = "delete_variant",
    params(("id" = String, Path, description = "Product id or slug"), ("variant_id" = String, Path, description = "Variant id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product or variant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_variant`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_variant(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    Path((id, variant_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let mut write = products::Write::begin(&state).await?;
    let change = catalog::delete_variant(write.txn(), &id, &variant_id).await?;
    write.touch(&change);
    write.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn variant_answer(status: StatusCode, doc: &Doc, variant_id: &str) -> Result<Answer, ApiError> {
    let product = doc.product().map_err(|e| ApiError::internal(&e))?;
    let variant = product.variants.iter().find(|v| v.id == variant_id).ok_or_else(|| ApiError::not_found("variant"))?;
    let body = serde_json::to_vec(variant).map_err(|e| ApiError::internal(&e))?;
    Ok(Answer::json(status, body.into()))
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as RFC 9110 asks for GET).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag))
}

fn set_etag(response: &mut Response, doc: &Doc) {
    if let Ok(value) = HeaderValue::from_str(&doc.etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
}

/// A JSON body that is already serialized.
pub fn json_response(status: StatusCode, body: bytes::Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
