//! `/v1/orders`: an order for its owner or staff, and lists of orders.

use axum::Json;
use axum::extract::{Path, State};
use emporium_orders::orders::{OrderFilter, Status};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::orders::{self, OrderDto, caller_of};
use crate::state::AppState;

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub data: Vec<OrderDto>,
    pub next_cursor: Option<String>,
}

/// Query parameters of the order list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListParams {
    /// Only orders in this status.
    pub status: Option<String>,
    /// Staff: only this customer's orders.
    pub customer: Option<String>,
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An order: its customer, the guest holding its id, or staff with `orders:read`.
#[utoipa::path(
    get, path = "/v1/orders/{order_id}", tag = "orders", operation_id = "get_order",
    params(("order_id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderDto),
        (status = 404, description = "No such order, or another customer's", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn get_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(order_id): Path<String>,
) -> Result<Json<OrderDto>, ApiError> {
    Ok(Json(orders::order(&state, &order_id, &caller_of(&principal)).await?))
}

/// Orders, newest first: a customer's own, or (staff with `orders:read`) any.
#[utoipa::path(
    get, path = "/v1/orders", tag = "orders", operation_id = "list_orders",
    params(OrderListParams),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 422, description = "An unknown `status`, a bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_orders(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<OrderListParams>,
) -> Result<Json<OrderPage>, ApiError> {
    let customer_id = match &principal {
        Principal::Customer { id } => Some(id.clone()),
        Principal::Anonymous => return Err(ApiError::unauthorized("Sign in to list orders.")),
        staff => {
            staff.require(emporium_customers::Permission::OrdersRead)?;
            params.customer.filter(|c| !c.is_empty())
        }
    };
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(Status::parse(text).ok_or_else(|| {
            ApiError::validation(emporium_core::ValidationErrors::single(
                "status",
                "invalid_value",
                "must be paid, partially_fulfilled, fulfilled, delivered, cancelled, partially_refunded or refunded",
            ))
        })?),
    };
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let (data, next_cursor) =
        orders::list_orders(&state, OrderFilter { customer_id, status }, limit, cursor.as_deref()).await?;
    Ok(Json(OrderPage { data, next_cursor }))
}
