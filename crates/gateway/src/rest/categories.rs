//! `/v1/categories`: the category tree, as a flat list with parent ids.

use axum::Json;
use axum::extract::{Path, State};
use emporium_catalog as catalog;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Can, Principal, caps};
use crate::dto::{CategoryDto, CategoryPage, NewCategoryDto};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::products;

/// Query parameters of `GET /v1/categories`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryListParams {
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// List categories, oldest first.
#[utoipa::path(
    get, path = "/v1/categories", tag = "catalog", operation_id = "list_categories",
    params(CategoryListParams),
    responses(
        (status = 200, description = "A page of categories", body = CategoryPage),
        (status = 422, description = "A bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn list_categories(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(params): ApiQuery<CategoryListParams>,
) -> Result<Json<CategoryPage>, ApiError> {
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let (rows, next_cursor) = products::list_categories(&state, limit, "limit", cursor.as_deref()).await?;
    Ok(Json(CategoryPage { data: rows.into_iter().map(|(c, _)| c.into()).collect(), next_cursor }))
}

/// Read a category by id or slug.
#[utoipa::path(
    get, path = "/v1/categories/{id}", tag = "catalog", operation_id = "get_category",
    params(("id" = String, Path, description = "Category id or slug")),
    responses(
        (status = 200, description = "The category", body = CategoryDto,
            headers(("ETag" = String, description = "Its version"))),
        (status = 404, description = "No such category", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn get_category(
    State(state): State<AppState>,
    _principal: Principal,
    Path(id): Path<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    if !emporium_core::db::lookupable(&id) {
        return Err(ApiError::not_found("category"));
    }
    let category = catalog::get_category(&state.db, &id).await?.ok_or_else(|| ApiError::not_found("category"))?;
    Ok((crate::extract::etag(category.version), Json(CategoryDto::from(category))))
}

/// Create a category.
#[utoipa::path(
    post, path = "/v1/categories", tag = "catalog", operation_id = "create_category",
    params(IdempotencyKey),
    request_body = NewCategoryDto,
    responses(
        (status = 201, description = "Created", body = CategoryDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slug_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_category(
    State(state): State<AppState>,
    _: Can<caps::CatalogWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewCategoryDto>,
) -> Result<Answer, ApiError> {
    Ok(crate::usecases::catalog::create_category(&state, &idempotency, body.into()).await?.1)
}
