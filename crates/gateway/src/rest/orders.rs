//! `/v1/orders`: an order for its owner or staff, and lists of orders.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, Principal, caps};
use crate::dto::MoneyDto;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::orders::{self, OrderDto, ReturnDto, SkuQuantityDto, caller_of};

/// `POST /v1/orders/{order_id}/fulfillments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFulfillmentDto {
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<SkuQuantityDto>,
    #[schema(example = "UPS", min_length = 1, max_length = 100)]
    pub carrier: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub tracking_number: Option<String>,
}

/// `POST /v1/orders/{order_id}/fulfillments/{fulfillment_id}/delivered`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveredDto {
    /// When the carrier delivered it (RFC 3339); left out, now.
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /v1/orders/{order_id}/cancel`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelDto {
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// `POST /v1/orders/{order_id}/refunds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefundDto {
    /// In the order's currency; never more than captured less refunded.
    pub amount: MoneyDto,
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// `POST /v1/orders/{order_id}/returns`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReturnDto {
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<SkuQuantityDto>,
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// `POST /v1/returns/{return_id}/receive`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveDto {
    /// Put the units back in stock (through the ledger, reason `return`).
    pub restock: bool,
}

/// `POST /v1/returns/{return_id}/refund`: no fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRefundDto {}

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
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let (data, next_cursor) =
        orders::list_orders(&state, &principal, params.status.as_deref(), params.customer, limit, cursor.as_deref())
            .await?;
    Ok(Json(OrderPage { data, next_cursor }))
}

/// Ship units of an order, with carrier and tracking.
#[utoipa::path(
    post, path = "/v1/orders/{order_id}/fulfillments", tag = "orders", operation_id = "create_fulfillment",
    params(("order_id" = String, Path, description = "Order id"), IdempotencyKey),
    request_body = NewFulfillmentDto,
    responses(
        (status = 201, description = "The order", body = OrderDto),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`, `out_of_stock` (units owed on backorder)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: more than ordered and not yet shipped, a SKU not in the order", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_fulfillment(
    State(state): State<AppState>,
    staff: Can<caps::OrdersWrite>,
    idempotency: Idempotency,
    Path(order_id): Path<String>,
    ApiJson(body): ApiJson<NewFulfillmentDto>,
) -> Result<Answer, ApiError> {
    let (carrier, tracking) = (body.carrier.as_deref(), body.tracking_number.as_deref());
    orders::fulfil(&state, &idempotency, staff.0.actor_id(), &order_id, body.items, carrier, tracking)
        .await
        .map(|d| d.answer)
}

/// Mark one fulfilment delivered; once every unit is shipped and every fulfilment delivered,
/// the order is `delivered` (event `order.delivered`).
#[utoipa::path(
    post, path = "/v1/orders/{order_id}/fulfillments/{fulfillment_id}/delivered", tag = "orders",
    operation_id = "mark_fulfillment_delivered",
    params(
        ("order_id" = String, Path, description = "Order id"),
        ("fulfillment_id" = String, Path, description = "Fulfilment id"),
        IdempotencyKey,
    ),
    request_body = DeliveredDto,
    responses(
        (status = 200, description = "The order", body = OrderDto),
        (status = 404, description = "No such order or fulfilment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_delivered`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `delivered_at` in the future or before the shipment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn mark_fulfillment_delivered(
    State(state): State<AppState>,
    staff: Can<caps::OrdersWrite>,
    idempotency: Idempotency,
    Path((order_id, fulfillment_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DeliveredDto>,
) -> Result<Answer, ApiError> {
    orders::deliver(&state, &idempotency, staff.0.actor_id(), &order_id, &fulfillment_id, body.delivered_at)
        .await
        .map(|d| d.answer)
}

/// Cancel an order nothing of which shipped: its units go back to stock and its payment is refunded.
#[utoipa::path(
    post, path = "/v1/orders/{order_id}/cancel", tag = "orders", operation_id = "cancel_order",
    params(("order_id" = String, Path, description = "Order id"), IdempotencyKey),
    request_body = CancelDto,
    responses(
        (status = 200, description = "The order", body = OrderDto),
        (status = 404, description = "No such order, or another customer's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: shipped, cancelled or refunded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    principal: Principal,
    idempotency: Idempotency,
    Path(order_id): Path<String>,
    ApiJson(body): ApiJson<CancelDto>,
) -> Result<Answer, ApiError> {
    if matches!(principal, Principal::Anonymous) {
        return Err(ApiError::unauthorized("Sign in to cancel an order."));
    }
    orders::cancel(&state, &idempotency, &principal, &order_id, body.reason.as_deref()).await.map(|d| d.answer)
}

/// Refund part or all of an order's payment.
#[utoipa::path(
    post, path = "/v1/orders/{order_id}/refunds", tag = "orders", operation_id = "refund_order",
    params(("order_id" = String, Path, description = "Order id"), IdempotencyKey),
    request_body = NewRefundDto,
    responses(
        (status = 201, description = "The order", body = OrderDto),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`refund_exceeds_captured`, or another currency than the order's", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`payment_provider_error`: nothing refunded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn refund_order(
    State(state): State<AppState>,
    staff: Can<caps::OrdersWrite>,
    idempotency: Idempotency,
    Path(order_id): Path<String>,
    ApiJson(body): ApiJson<NewRefundDto>,
) -> Result<Answer, ApiError> {
    orders::refund(&state, &idempotency, staff.0.actor_id(), &order_id, body.amount, body.reason.as_deref())
        .await
        .map(|d| d.answer)
}

/// Open a return of shipped units: the order's owner or staff.
#[utoipa::path(
    post, path = "/v1/orders/{order_id}/returns", tag = "orders", operation_id = "request_return",
    params(("order_id" = String, Path, description = "Order id"), IdempotencyKey),
    request_body = NewReturnDto,
    responses(
        (status = 201, description = "The return, `requested`", body = ReturnDto),
        (status = 404, description = "No such order, or another customer's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: a cancelled order", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: more than shipped and not yet in a return", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []), ("api_key" = []))
)]
pub async fn request_return(
    State(state): State<AppState>,
    principal: Principal,
    idempotency: Idempotency,
    Path(order_id): Path<String>,
    ApiJson(body): ApiJson<NewReturnDto>,
) -> Result<Answer, ApiError> {
    orders::request_return(&state, &idempotency, &principal, &order_id, body.items, body.reason.as_deref())
        .await
        .map(|d| d.answer)
}

/// Mark a return received, restocking its units if asked.
#[utoipa::path(
    post, path = "/v1/returns/{return_id}/receive", tag = "orders", operation_id = "receive_return",
    params(("return_id" = String, Path, description = "Return id"), IdempotencyKey),
    request_body = ReceiveDto,
    responses(
        (status = 200, description = "The return, `received`", body = ReturnDto),
        (status = 404, description = "No such return", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: received already", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn receive_return(
    State(state): State<AppState>,
    staff: Can<caps::OrdersWrite>,
    idempotency: Idempotency,
    Path(return_id): Path<String>,
    ApiJson(body): ApiJson<ReceiveDto>,
) -> Result<Answer, ApiError> {
    orders::receive_return(&state, &idempotency, staff.0.actor_id(), &return_id, body.restock).await.map(|d| d.answer)
}

/// Refund a received return's share of what was paid, tax included (once).
#[utoipa::path(
    post, path = "/v1/returns/{return_id}/refund", tag = "orders", operation_id = "refund_return",
    params(("return_id" = String, Path, description = "Return id"), IdempotencyKey),
    request_body = ReturnRefundDto,
    responses(
        (status = 200, description = "The return, `refunded`", body = ReturnDto),
        (status = 404, description = "No such return", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_refunded`, `invalid_transition` (not received yet)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`payment_provider_error`: nothing refunded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn refund_return(
    State(state): State<AppState>,
    staff: Can<caps::OrdersWrite>,
    idempotency: Idempotency,
    Path(return_id): Path<String>,
    ApiJson(_): ApiJson<ReturnRefundDto>,
) -> Result<Answer, ApiError> {
    orders::refund_return(&state, &idempotency, staff.0.actor_id(), &return_id).await.map(|d| d.answer)
}
