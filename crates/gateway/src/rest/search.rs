//! `/v1/search/suggest`: completions for a storefront's search box.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Query parameters of `GET /v1/search/suggest`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// What the shopper has typed so far; the last word may be cut short.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// How many completions (default and most 8).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 8)]
    pub limit: Option<String>,
}

/// What a completion names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Category,
    Product,
}

/// A completion: a category or a published product, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SuggestionDto {
    pub kind: SuggestionKind,
    /// The name to show and search for.
    #[schema(example = "Enamel Mug")]
    pub text: String,
    pub id: String,
    /// For a link: `/v1/products/{slug}` or the `category` filter.
    pub slug: String,
}

/// Completions, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionList {
    pub data: Vec<SuggestionDto>,
}

impl From<emporium_search::Suggestion> for SuggestionDto {
    fn from(suggestion: emporium_search::Suggestion) -> Self {
        match suggestion {
            emporium_search::Suggestion::Category { id, slug, name } => {
                Self { kind: SuggestionKind::Category, text: name, id, slug }
            }
            emporium_search::Suggestion::Product { id, slug, name } => {
                Self { kind: SuggestionKind::Product, text: name, id, slug }
            }
        }
    }
}

/// Complete what a shopper types: up to 8 category and product names for a prefix.
#[utoipa::path(
    get, path = "/v1/search/suggest", tag = "catalog", operation_id = "suggest",
    params(SuggestParams),
    responses(
        (status = 200, description = "Completions, categories first, then products, best first", body = SuggestionList),
        (status = 422, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn suggest(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(params): ApiQuery<SuggestParams>,
) -> Result<Json<SuggestionList>, ApiError> {
    let (limit, _) = crate::rest::page_params(params.limit.as_deref(), None);
    let found = crate::infra::search::suggestions(&state, params.q.as_deref(), limit, ("q", "limit"))?;
    Ok(Json(SuggestionList { data: found.into_iter().map(Into::into).collect() }))
}
