//! Recommendations: what is bought together with a product (anyone), and what a signed-in
//! customer may like next.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Principal, SignedInCustomer};
use crate::dto::ProductDto;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::rest::products::json_response;
use crate::state::AppState;
use crate::usecases::recommendations::{self, Reason};

/// `limit` of a recommendation list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecommendationParams {
    /// How many (default 4). Read as text, so a bad value is a 422 naming it.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 20)]
    pub limit: Option<String>,
}

impl RecommendationParams {
    fn limit(&self) -> Result<u64, ApiError> {
        let given = self.limit.as_deref().filter(|l| !l.is_empty());
        // Not a number: out of range, reported with the range.
        recommendations::limit(given.map(|l| l.parse::<i64>().unwrap_or(0)))
    }
}

/// A product bought together with another.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoughtTogetherDto {
    pub product: ProductDto,
    /// Paid orders (not cancelled) that held both.
    pub orders_together: i64,
}

/// Products bought together with a product.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoughtTogetherList {
    pub data: Vec<BoughtTogetherDto>,
}

/// A product recommended to the signed-in customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationDto {
    pub product: ProductDto,
    pub reason: Reason,
}

/// The signed-in customer's recommendations.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationList {
    pub data: Vec<RecommendationDto>,
}

/// The published, in-stock products most often bought in the same orders as this one.
#[utoipa::path(
    get, path = "/v1/products/{id}/frequently-bought-together", tag = "recommendations",
    operation_id = "frequently_bought_together",
    params(("id" = String, Path, description = "Product id or slug"), RecommendationParams),
    responses(
        (status = 200, description = "Most orders together first; follows new orders within a minute", body = BoughtTogetherList),
        (status = 404, description = "No such product (or a draft)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a limit out of 1 to 20", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn frequently_bought_together(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<RecommendationParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit()?;
    let found = recommendations::bought_together(&state, &principal, &id, limit).await?;
    Ok(json_response(StatusCode::OK, recommendations::together_body(&found)))
}

/// What the signed-in customer may like next: products often bought with what they bought,
/// then best sellers of the categories they bought in; never what they bought, a draft or a
/// product out of stock.
#[utoipa::path(
    get, path = "/v1/customers/me/recommendations", tag = "recommendations", operation_id = "my_recommendations",
    params(RecommendationParams),
    responses(
        (status = 200, description = "Best first; empty before a first order", body = RecommendationList),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a limit out of 1 to 20", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn my_recommendations(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    ApiQuery(params): ApiQuery<RecommendationParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit()?;
    let found = recommendations::for_customer(&state, &customer, limit).await?;
    Ok(json_response(StatusCode::OK, recommendations::customer_body(&found)))
}
