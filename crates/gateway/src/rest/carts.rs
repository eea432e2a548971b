//! `/v1/carts`: guest and customer carts, their lines, addresses, shipping method and
//! discount codes, and checkout.

use axum::Json;
use axum::extract::{Path, State};
use emporium_core::Patch;
use emporium_orders::carts::{CartChange, Quantity};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Principal, SignedInCustomer};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::orders::{self, AddressDto, CartDto, CartOp, OrderDto, ShippingMethodDto, caller_of};

/// `POST /v1/carts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCartDto {
    #[schema(value_type = crate::dto::CurrencyCode, example = "EUR")]
    pub currency: String,
}

/// `POST /v1/carts/{cart_id}/items`: prices come from the catalog, never from the request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItemDto {
    #[schema(example = "TEE-ORG-M", min_length = 1, max_length = 64)]
    pub sku: String,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// `PATCH /v1/carts/{cart_id}/items/{item_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatchDto {
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// `PUT /v1/carts/{cart_id}`: fields left out stay, `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartUpdateDto {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "email", max_length = 254)]
    pub email: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<AddressDto>)]
    pub shipping_address: Patch<AddressDto>,
    #[serde(default)]
    #[schema(value_type = Option<AddressDto>)]
    pub billing_address: Patch<AddressDto>,
    /// An id from `GET /v1/carts/{cart_id}/shipping-methods`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub shipping_method: Patch<String>,
}

/// `POST /v1/carts/{cart_id}/discounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountCodeDto {
    #[schema(example = "WELCOME10", min_length = 1, max_length = 50)]
    pub code: String,
}

/// A payment provider and its token: never a card number or CVV.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentDto {
    #[schema(example = "test")]
    pub provider: String,
    /// The provider's token (`tok_ok`, `tok_declined`, `tok_error`, and `tok_timeout` which pays but answers as a provider failure, for `test`).
    #[schema(example = "tok_ok", min_length = 1, max_length = 255)]
    pub token: String,
}

/// `POST /v1/carts/{cart_id}/checkout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutDto {
    pub payment: PaymentDto,
}

/// The methods that ship to a cart.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingMethodList {
    pub data: Vec<ShippingMethodDto>,
}

/// Open a cart: the signed-in customer's, or a guest's (reachable only by its id).
#[utoipa::path(
    post, path = "/v1/carts", tag = "carts", operation_id = "create_cart",
    params(IdempotencyKey),
    request_body = NewCartDto,
    responses((status = 201, description = "The cart", body = CartDto)),
    security((), ("bearer" = []))
)]
pub async fn create_cart(
    State(state): State<AppState>,
    principal: Principal,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewCartDto>,
) -> Result<Answer, ApiError> {
    orders::create_cart(&state, &idempotency, &caller_of(&principal), &body.currency).await.map(|d| d.answer)
}

/// A cart with its totals, priced now.
#[utoipa::path(
    get, path = "/v1/carts/{cart_id}", tag = "carts", operation_id = "get_cart",
    params(("cart_id" = String, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = CartDto),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn get_cart(
    State(state): State<AppState>,
    principal: Principal,
    Path(cart_id): Path<String>,
) -> Result<Json<CartDto>, ApiError> {
    Ok(Json(orders::cart(&state, &cart_id, &caller_of(&principal)).await?))
}

/// Set a cart's email, addresses or shipping method.
#[utoipa::path(
    put, path = "/v1/carts/{cart_id}", tag = "carts", operation_id = "update_cart",
    params(("cart_id" = String, Path, description = "Cart id")),
    request_body = CartUpdateDto,
    responses(
        (status = 200, description = "The cart", body = CartDto),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_already_checked_out`, `checkout_in_progress`", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn update_cart(
    State(state): State<AppState>,
    principal: Principal,
    Path(cart_id): Path<String>,
    ApiJson(body): ApiJson<CartUpdateDto>,
) -> Result<Answer, ApiError> {
    let change = CartChange {
        email: body.email,
        shipping_address: body.shipping_address.map(Into::into),
        billing_address: body.billing_address.map(Into::into),
        shipping_method: body.shipping_method,
    };
    let op = CartOp::Update(Box::new(change));
    orders::change_cart(&state, &Idempotency::default(), &cart_id, &caller_of(&principal), op).await.map(|d| d.answer)
}

/// Add units of a SKU (to its line, if the cart has one).
#[utoipa::path(
    post, path = "/v1/carts/{cart_id}/items", tag = "carts", operation_id = "add_cart_item",
    params(("cart_id" = String, Path, description = "Cart id"), IdempotencyKey),
    request_body = NewItemDto,
    responses(
        (status = 200, description = "The cart", body = CartDto),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_already_checked_out`, `checkout_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_sku`, `not_purchasable`, `no_price`, `validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn add_cart_item(
    State(state): State<AppState>,
    principal: Principal,
    idempotency: Idempotency,
    Path(cart_id): Path<String>,
    ApiJson(body): ApiJson<NewItemDto>,
) -> Result<Answer, ApiError> {
    let quantity = Quantity::parse(body.quantity).map_err(ApiError::validation)?;
    let op = CartOp::AddItem { sku: body.sku, quantity };
    orders::change_cart(&state, &idempotency, &cart_id, &caller_of(&principal), op).await.map(|d| d.answer)
}

/// Change a line's quantity.
#[utoipa::path(
    patch, path = "/v1/carts/{cart_id}/items/{item_id}", tag = "carts", operation_id = "update_cart_item",
    params(("cart_id" = String, Path, description = "Cart id"), ("item_id" = String, Path, description = "Line id")),
    request_body = ItemPatchDto,
    responses(
        (status = 200, description = "The cart", body = CartDto),
        (status = 404, description = "No such cart or line", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_already_checked_out`, `checkout_in_progress`", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn update_cart_item(
    State(state): State<AppState>,
    principal: Principal,
    Path((cart_id, item_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ItemPatchDto>,
) -> Result<Answer, ApiError> {
    let quantity = Quantity::parse(body.quantity).map_err(ApiError::validation)?;
    let op = CartOp::SetQuantity { item_id, quantity };
    orders::change_cart(&state, &Idempotency::default(), &cart_id, &caller_of(&principal), op).await.map(|d| d.answer)
}

/// Remove a line.
#[utoipa::path(
    delete, path = "/v1/carts/{cart_id}/items/{item_id}", tag = "carts", operation_id = "remove_cart_item",
    params(("cart_id" = String, Path, description = "Cart id"), ("item_id" = String, Path, description = "Line id")),
    responses(
        (status = 200, description = "The cart", body = CartDto),
        (status = 404, description = "No such cart or line", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_already_checked_out`, `checkout_in_progress`", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn remove_cart_item(
    State(state): State<AppState>,
    principal: Principal,
    Path((cart_id, item_id)): Path<(String, String)>,
) -> Result<Answer, ApiError> {
    let op = CartOp::RemoveItem { item_id };
    orders::change_cart(&state, &Idempotency::default(), &cart_id, &caller_of(&principal), op).await.map(|d| d.answer)
}

/// Apply a discount code.
#[utoipa::path(
    post, path = "/v1/carts/{cart_id}/discounts", tag = "carts", operation_id = "apply_discount",
    params(("cart_id" = String, Path, description = "Cart id"), IdempotencyKey),
    request_body = DiscountCodeDto,
    responses(
        (status = 200, description = "The cart", body = CartDto),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_already_checked_out`, `checkout_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`discount_invalid` with `reason`", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn apply_discount(
    State(state): State<AppState>,
    principal: Principal,
    idempotency: Idempotency,
    Path(cart_id): Path<String>,
    ApiJson(body): ApiJson<DiscountCodeDto>,
) -> Result<Answer, ApiError> {
    let op = CartOp::ApplyDiscount { code: body.code };
    orders::change_cart(&state, &idempotency, &cart_id, &caller_of(&principal), op).await.map(|d| d.answer)
}

/// Remove a discount code.
#[utoipa::path(
    delete, path = "/v1/carts/{cart_id}/discounts/{discount_code}", tag = "carts", operation_id = "remove_discount",
    params(("cart_id" = String, Path, description = "Cart id"), ("discount_code" = String, Path, description = "The code")),
    responses(
        (status = 200, description = "The cart", body = CartDto),
        (status = 404, description = "No such cart, or the cart does not hold the code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_already_checked_out`, `checkout_in_progress`", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn remove_discount(
    State(state): State<AppState>,
    principal: Principal,
    Path((cart_id, code)): Path<(String, String)>,
) -> Result<Answer, ApiError> {
    let op = CartOp::RemoveDiscount { code };
    orders::change_cart(&state, &Idempotency::default(), &cart_id, &caller_of(&principal), op).await.map(|d| d.answer)
}

/// The shipping methods for a cart's address and currency.
#[utoipa::path(
    get, path = "/v1/carts/{cart_id}/shipping-methods", tag = "carts", operation_id = "list_cart_shipping_methods",
    params(("cart_id" = String, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The methods, cheapest first (none without an address)", body = ShippingMethodList),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn list_cart_shipping_methods(
    State(state): State<AppState>,
    principal: Principal,
    Path(cart_id): Path<String>,
) -> Result<Json<ShippingMethodList>, ApiError> {
    Ok(Json(ShippingMethodList {
        data: orders::cart_shipping_methods(&state, &cart_id, &caller_of(&principal)).await?,
    }))
}

/// Make a guest cart the signed-in customer's, merging it into their open cart.
#[utoipa::path(
    post, path = "/v1/carts/{cart_id}/claim", tag = "carts", operation_id = "claim_cart",
    params(("cart_id" = String, Path, description = "Cart id"), IdempotencyKey),
    responses(
        (status = 200, description = "The customer's cart", body = CartDto),
        (status = 404, description = "No such cart, or another customer's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_already_checked_out`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn claim_cart(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    idempotency: Idempotency,
    Path(cart_id): Path<String>,
) -> Result<Answer, ApiError> {
    orders::claim_cart(&state, &idempotency, &cart_id, &customer).await.map(|d| d.answer)
}

/// Place the order: reserve the stock, take the payment, then place it, all or nothing.
#[utoipa::path(
    post, path = "/v1/carts/{cart_id}/checkout", tag = "carts", operation_id = "checkout_cart",
    params(("cart_id" = String, Path, description = "Cart id"), IdempotencyKey),
    request_body = CheckoutDto,
    responses(
        (status = 201, description = "The order", body = OrderDto),
        (status = 402, description = "`payment_declined`: no order", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`out_of_stock` (with `skus`), `cart_already_checked_out`, `checkout_in_progress`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cart_empty`, `email_required`, `shipping_address_required`, `shipping_method_required`, `discount_invalid`, `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`payment_provider_error`: no order, nothing charged", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn checkout_cart(
    State(state): State<AppState>,
    principal: Principal,
    idempotency: Idempotency,
    Path(cart_id): Path<String>,
    ApiJson(body): ApiJson<CheckoutDto>,
) -> Result<Answer, ApiError> {
    let caller = caller_of(&principal);
    orders::checkout_cart(&state, &idempotency, &cart_id, caller, body.payment.provider, body.payment.token)
        .await
        .map(|d| d.answer)
}
