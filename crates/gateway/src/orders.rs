//! Carts, the selling setup, checkout and orders as the transports serve them: DTOs and thin
//! use cases over the orders crate, which holds every rule.

use std::sync::Mutex;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use emporium_core::ErrorKind;
use emporium_core::uow::{StoredAnswer, UnitOfWork};
use emporium_customers::{Address, AddressInput};
use emporium_orders::OrderError;
use emporium_orders::after_sale::{self, Actor};
use emporium_orders::carts::{self, Caller, CartChange, CartView};
use emporium_orders::checkout::{self, Answers, CheckoutInput, Outcome};
use emporium_orders::orders::{self as order_store, Order, OrderFilter, ReturnRecord};
use emporium_orders::setup::{
    self, AmountInput, Discount, DiscountValue, ShippingMethod, ShippingZone, TaxRate, ValueInput,
};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::dto::{AmountDto, MoneyDto};
use crate::error::ApiError;
use crate::idempotency::{Answer, Idempotency};
use crate::state::AppState;

/// A postal address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Address)]
#[serde(deny_unknown_fields)]
pub struct AddressDto {
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "FR", min_length = 2, max_length = 2)]
    pub country: String,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
}

impl From<&Address> for AddressDto {
    fn from(a: &Address) -> Self {
        Self {
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.as_str().to_owned(),
            phone: a.phone.clone(),
        }
    }
}

impl From<AddressDto> for AddressInput {
    fn from(a: AddressDto) -> Self {
        Self {
            first_name: a.first_name,
            last_name: a.last_name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
        }
    }
}

/// A way to ship.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ShippingMethod)]
pub struct ShippingMethodDto {
    pub id: String,
    pub name: String,
    pub price: AmountDto,
    /// Free when the subtotal after discounts reaches this.
    pub free_over: Option<AmountDto>,
}

impl From<&ShippingMethod> for ShippingMethodDto {
    fn from(m: &ShippingMethod) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone(),
            price: m.price.into(),
            free_over: m.free_over.map(AmountDto::from),
        }
    }
}

/// One line of a cart, priced from the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CartItem)]
pub struct CartItemDto {
    pub id: String,
    pub sku: String,
    pub product_id: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: AmountDto,
    pub line_total: AmountDto,
    /// Present and true when the line would take the cart's total past what an amount can
    /// hold (a price rose): it counts for nothing until its quantity is lowered, and checkout
    /// is refused (422 `cart_over_limit`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub over_limit: bool,
}

/// A cart with its totals. `total = subtotal − discount_total + shipping_total + tax_total`
/// (with tax-inclusive prices the tax is contained: `total = subtotal − discount_total +
/// shipping_total`). Tax is computed per line after its share of the discount, and on
/// shipping, rounded half to even in minor units: `net × rate_bp / 10000`, or contained
/// `gross × rate_bp / (10000 + rate_bp)`. Discounts are spread over lines by largest remainder.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Cart)]
pub struct CartDto {
    pub id: String,
    #[schema(example = "EUR")]
    pub currency: String,
    pub email: Option<String>,
    pub shipping_address: Option<AddressDto>,
    pub billing_address: Option<AddressDto>,
    /// The chosen method, while it ships to the address.
    pub shipping_method: Option<ShippingMethodDto>,
    /// Every code on the cart (a code that does not apply now adds nothing).
    pub discount_codes: Vec<String>,
    pub items: Vec<CartItemDto>,
    pub subtotal: AmountDto,
    pub discount_total: AmountDto,
    pub shipping_total: AmountDto,
    pub tax_total: AmountDto,
    pub total: AmountDto,
    pub prices_include_tax: bool,
    /// `open`, `checking_out`, `ordered` or `merged`.
    pub status: String,
    /// The order this cart became.
    pub order_id: Option<String>,
}

impl From<CartView> for CartDto {
    fn from(v: CartView) -> Self {
        let t = &v.totals;
        Self {
            id: v.cart.id.clone(),
            currency: v.cart.currency.code().to_owned(),
            email: v.cart.email.clone(),
            shipping_address: v.cart.shipping_address.as_ref().map(AddressDto::from),
            billing_address: v.cart.billing_address.as_ref().map(AddressDto::from),
            shipping_method: v.shipping_method.as_ref().map(ShippingMethodDto::from),
            discount_codes: v.discount_codes.clone(),
            items: v
                .items
                .iter()
                .map(|i| CartItemDto {
                    id: i.id.clone(),
                    sku: i.sku.clone(),
                    product_id: i.product_id.clone(),
                    title: i.title.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price.into(),
                    line_total: i.line_total.into(),
                    over_limit: i.over_limit,
                })
                .collect(),
            subtotal: t.subtotal.into(),
            discount_total: t.discount_total.into(),
            shipping_total: t.shipping_total.into(),
            tax_total: t.tax_total.into(),
            total: t.total.into(),
            prices_include_tax: v.prices_include_tax,
            status: v.cart.status.clone(),
            order_id: v.cart.order_id.clone(),
        }
    }
}

/// One line of an order, as bought.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrderLine)]
pub struct OrderLineDto {
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: AmountDto,
    pub line_total: AmountDto,
    /// The line's share of the order's discount.
    pub discount: AmountDto,
    pub tax: AmountDto,
    pub fulfilled_quantity: i64,
    /// Units returned and received.
    pub returned_quantity: i64,
}

/// The shipping method as chosen, at the price charged.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrderShippingMethod)]
pub struct OrderShippingDto {
    pub id: String,
    pub name: String,
    pub price: AmountDto,
}

/// One entry of an order's history: a status move or an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OrderHistoryEntry)]
pub struct HistoryDto {
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Who did it (a staff member's, API key's or customer's id); null for the shopper at checkout.
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A shipment of some of an order's units.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Fulfillment)]
pub struct FulfillmentDto {
    pub id: String,
    pub items: Vec<SkuQuantityDto>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was delivered, once marked.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Units of a SKU.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = SkuQuantity)]
#[serde(deny_unknown_fields)]
pub struct SkuQuantityDto {
    #[schema(min_length = 1, max_length = 64)]
    pub sku: String,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// A return of some of an order's units.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Return)]
pub struct ReturnDto {
    pub id: String,
    pub order_id: String,
    /// `requested`, `received` or `refunded`.
    pub status: String,
    pub items: Vec<SkuQuantityDto>,
    pub reason: Option<String>,
    /// What was refunded for it, once refunded.
    pub refunded: Option<AmountDto>,
}

impl From<ReturnRecord> for ReturnDto {
    fn from(r: ReturnRecord) -> Self {
        Self {
            id: r.id,
            order_id: r.order_id,
            status: r.status,
            items: r.items.into_iter().map(|(sku, quantity)| SkuQuantityDto { sku, quantity }).collect(),
            reason: r.reason,
            refunded: r.refunded.map(AmountDto::from),
        }
    }
}

/// An order: a copy of what was bought and at which price.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderDto {
    pub id: String,
    /// Human-readable and increasing: 1001, 1002, ...
    #[schema(example = 1001)]
    pub number: i64,
    /// `paid`, `partially_fulfilled`, `fulfilled`, `delivered`, `cancelled`,
    /// `partially_refunded` or `refunded`.
    pub status: String,
    pub currency: String,
    pub email: String,
    pub customer_id: Option<String>,
    pub lines: Vec<OrderLineDto>,
    pub shipping_address: Option<AddressDto>,
    pub billing_address: Option<AddressDto>,
    pub shipping_method: Option<OrderShippingDto>,
    pub discount_codes: Vec<String>,
    pub subtotal: AmountDto,
    pub discount_total: AmountDto,
    pub shipping_total: AmountDto,
    pub tax_total: AmountDto,
    pub total: AmountDto,
    pub prices_include_tax: bool,
    pub captured: AmountDto,
    pub refunded: AmountDto,
    pub fulfillments: Vec<FulfillmentDto>,
    pub returns: Vec<ReturnDto>,
    pub history: Vec<HistoryDto>,
    pub created_at: DateTime<Utc>,
}

impl From<Order> for OrderDto {
    fn from(o: Order) -> Self {
        Self {
            id: o.id,
            number: o.number,
            status: o.status,
            currency: o.currency.code().to_owned(),
            email: o.email,
            customer_id: o.customer_id,
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLineDto {
                    sku: l.sku,
                    title: l.title,
                    quantity: l.quantity,
                    unit_price: l.unit_price.into(),
                    line_total: l.line_total.into(),
                    discount: l.discount.into(),
                    tax: l.tax.into(),
                    fulfilled_quantity: l.fulfilled_quantity,
                    returned_quantity: l.returned_quantity,
                })
                .collect(),
            shipping_address: o.shipping_address.as_ref().map(AddressDto::from),
            billing_address: o.billing_address.as_ref().map(AddressDto::from),
            shipping_method: o.shipping_method.map(|m| OrderShippingDto {
                id: m.id,
                name: m.name,
                price: m.price.into(),
            }),
            discount_codes: o.discount_codes,
            subtotal: o.subtotal.into(),
            discount_total: o.discount_total.into(),
            shipping_total: o.shipping_total.into(),
            tax_total: o.tax_total.into(),
            total: o.total.into(),
            prices_include_tax: o.prices_include_tax,
            captured: o.captured.into(),
            refunded: o.refunded.into(),
            fulfillments: o
                .fulfillments
                .into_iter()
                .map(|f| FulfillmentDto {
                    id: f.id,
                    items: f.items.into_iter().map(|(sku, quantity)| SkuQuantityDto { sku, quantity }).collect(),
                    carrier: f.carrier,
                    tracking_number: f.tracking_number,
                    created_at: f.created_at,
                    delivered_at: f.delivered_at,
                })
                .collect(),
            returns: o.returns.into_iter().map(ReturnDto::from).collect(),
            history: o
                .history
                .into_iter()
                .map(|h| HistoryDto { at: h.at, status: h.status, event: h.event, actor: h.actor, note: h.note })
                .collect(),
            created_at: o.created_at,
        }
    }
}

/// Countries shipped to alike, and their methods.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ShippingZone)]
pub struct ZoneDto {
    pub id: String,
    pub name: String,
    pub countries: Vec<String>,
    pub methods: Vec<ShippingMethodDto>,
    pub created_at: DateTime<Utc>,
}

impl From<ShippingZone> for ZoneDto {
    fn from(z: ShippingZone) -> Self {
        Self {
            methods: z.methods.iter().map(ShippingMethodDto::from).collect(),
            id: z.id,
            name: z.name,
            countries: z.countries,
            created_at: z.created_at,
        }
    }
}

/// A tax rate: for a country, or for one region of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TaxRate)]
pub struct TaxRateDto {
    pub id: String,
    #[schema(example = "FR")]
    pub country: String,
    pub region: Option<String>,
    pub name: String,
    /// Basis points: 2000 is 20%.
    #[schema(example = 2000)]
    pub rate_bp: i64,
    pub created_at: DateTime<Utc>,
}

impl From<TaxRate> for TaxRateDto {
    fn from(r: TaxRate) -> Self {
        Self {
            id: r.id,
            country: r.country,
            region: r.region,
            name: r.name,
            rate_bp: r.rate_bp,
            created_at: r.created_at,
        }
    }
}

/// A discount's value: basis points for a percentage (1000 = 10%), an amount for a fixed one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = DiscountValue)]
pub enum DiscountValueDto {
    BasisPoints(i64),
    Amount(MoneyDto),
}

impl From<DiscountValueDto> for ValueInput {
    fn from(v: DiscountValueDto) -> Self {
        match v {
            DiscountValueDto::BasisPoints(bp) => Self::BasisPoints(bp),
            DiscountValueDto::Amount(m) => Self::Amount(amount(m)),
        }
    }
}

/// The amount as the orders crate takes it.
pub fn amount(m: MoneyDto) -> AmountInput {
    AmountInput { amount: m.amount, currency: m.currency }
}

/// An amount that may be zero, as the orders crate takes it.
pub fn amount_or_zero(m: AmountDto) -> AmountInput {
    AmountInput { amount: m.amount, currency: m.currency }
}

/// A discount code.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Discount)]
pub struct DiscountDto {
    pub id: String,
    pub code: String,
    /// `percentage`, `fixed` or `free_shipping`.
    pub kind: String,
    pub value: Option<DiscountValueDto>,
    pub minimum_subtotal: Option<MoneyDto>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
    /// Orders placed with it.
    pub times_used: i64,
    pub created_at: DateTime<Utc>,
}

impl From<Discount> for DiscountDto {
    fn from(d: Discount) -> Self {
        Self {
            kind: d.value.kind().to_owned(),
            value: match d.value {
                DiscountValue::Percentage(bp) => Some(DiscountValueDto::BasisPoints(bp)),
                DiscountValue::Fixed(m) => Some(DiscountValueDto::Amount(m.into())),
                DiscountValue::FreeShipping => None,
            },
            id: d.id,
            code: d.code,
            minimum_subtotal: d.minimum_subtotal.map(MoneyDto::from),
            starts_at: d.starts_at,
            ends_at: d.ends_at,
            usage_limit: d.usage_limit,
            usage_limit_per_customer: d.usage_limit_per_customer,
            times_used: d.times_used,
            created_at: d.created_at,
        }
    }
}

/// Whether catalog prices in a currency include tax.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CurrencySetting)]
pub struct CurrencySettingDto {
    pub currency: String,
    pub prices_include_tax: bool,
}

/// Who asks, as carts and orders see it. Staff reach every order only with `orders:read`.
pub fn caller_of(principal: &Principal) -> Caller {
    match principal {
        Principal::Customer { id } => Caller::Customer(id.clone()),
        Principal::Anonymous => Caller::Guest,
        staff if staff.can(emporium_customers::Permission::OrdersRead) => Caller::Staff,
        _ => Caller::Guest,
    }
}

/// Commits a write with its answer stored under the request's key.
async fn answer<T: Serialize>(
    mut txn: UnitOfWork,
    idempotency: &Idempotency,
    status: StatusCode,
    value: &T,
) -> Result<Answer, ApiError> {
    let answer = Answer::of(status, value)?;
    if let Some(stored) = idempotency.stored(&answer) {
        txn.answer(stored);
    }
    txn.commit().await?;
    Ok(answer)
}

/// A write's result and its answer: REST sends the answer, GraphQL the value.
pub struct Done<T> {
    pub value: T,
    pub answer: Answer,
}

async fn cart_answer(
    txn: UnitOfWork,
    idempotency: &Idempotency,
    status: StatusCode,
    cart_id: &str,
    caller: &Caller,
) -> Result<Done<CartDto>, ApiError> {
    let value = CartDto::from(carts::view(&txn, cart_id, caller).await?);
    let answer = answer(txn, idempotency, status, &value).await?;
    Ok(Done { value, answer })
}

/// Opens a cart (201).
pub async fn create_cart(
    state: &AppState,
    idempotency: &Idempotency,
    caller: &Caller,
    currency: &str,
) -> Result<Done<CartDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let cart = carts::create_cart(&txn, caller, currency).await?;
    let value = CartDto::from(carts::new_view(&txn, cart).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// A cart, priced now.
pub async fn cart(state: &AppState, cart_id: &str, caller: &Caller) -> Result<CartDto, ApiError> {
    let txn = state.db.begin().await?;
    let view = carts::view(&txn, cart_id, caller).await?;
    txn.commit().await?;
    Ok(view.into())
}

/// A change to a cart, answered with the cart.
pub enum CartOp {
    AddItem { sku: String, quantity: i64 },
    SetQuantity { item_id: String, quantity: i64 },
    RemoveItem { item_id: String },
    Update(Box<CartChange>),
    ApplyDiscount { code: String },
    RemoveDiscount { code: String },
}

/// Applies a change to a cart and answers the cart (200).
pub async fn change_cart(
    state: &AppState,
    idempotency: &Idempotency,
    cart_id: &str,
    caller: &Caller,
    op: CartOp,
) -> Result<Done<CartDto>, ApiError> {
    let txn = state.writer.begin().await?;
    // A shopper adding units never takes the cart past the money bound (only a price rise may).
    let adds_units = matches!(op, CartOp::AddItem { .. } | CartOp::SetQuantity { .. });
    let cart = match op {
        CartOp::AddItem { sku, quantity } => carts::add_item(&txn, cart_id, caller, &sku, quantity).await?,
        CartOp::SetQuantity { item_id, quantity } => {
            carts::set_quantity(&txn, cart_id, caller, &item_id, quantity).await?
        }
        CartOp::RemoveItem { item_id } => carts::remove_item(&txn, cart_id, caller, &item_id).await?,
        CartOp::Update(change) => carts::update_cart(&txn, cart_id, caller, &change).await?,
        CartOp::ApplyDiscount { code } => carts::apply_discount(&txn, cart_id, caller, &code).await?,
        CartOp::RemoveDiscount { code } => carts::remove_discount(&txn, cart_id, caller, &code).await?,
    };
    // Priced once, from the row the change locked (or wrote).
    let view = carts::view_of(&txn, cart).await?;
    if adds_units && view.items.iter().any(|i| i.over_limit) {
        return Err(ApiError::validation(emporium_core::ValidationErrors::single(
            "quantity",
            "out_of_range",
            "the cart's total would pass what an amount can hold",
        )));
    }
    let value = CartDto::from(view);
    let answer = answer(txn, idempotency, StatusCode::OK, &value).await?;
    Ok(Done { value, answer })
}

/// Makes a guest cart the customer's (merged into their open cart if they have one).
pub async fn claim_cart(
    state: &AppState,
    idempotency: &Idempotency,
    cart_id: &str,
    customer_id: &str,
) -> Result<Done<CartDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let target = carts::claim(&txn, cart_id, customer_id).await?;
    cart_answer(txn, idempotency, StatusCode::OK, &target, &Caller::Customer(customer_id.to_owned())).await
}

/// The methods that ship to a cart's address in its currency.
pub async fn cart_shipping_methods(
    state: &AppState,
    cart_id: &str,
    caller: &Caller,
) -> Result<Vec<ShippingMethodDto>, ApiError> {
    Ok(carts::shipping_methods(&state.db, cart_id, caller).await?.iter().map(ShippingMethodDto::from).collect())
}

/// The answer a checkout or an after-sale request stores with the write that completes it,
/// kept to answer with.
struct CheckoutEffects<'a> {
    idempotency: &'a Idempotency,
    /// The status of a changed order's answer (201 for a new fulfilment or refund, 200 else).
    order_status: StatusCode,
    answer: Mutex<Option<Answer>>,
}

impl Answers for CheckoutEffects<'_> {
    fn answer(&self, outcome: Outcome<'_>) -> Result<Option<Box<dyn StoredAnswer>>, OrderError> {
        let answer = match outcome {
            Outcome::Placed(order) => Answer::of(StatusCode::CREATED, &OrderDto::from(order.clone())),
            Outcome::Order(order) => Answer::of(self.order_status, &OrderDto::from(order.clone())),
            Outcome::Opened(r) => Answer::of(StatusCode::CREATED, &ReturnDto::from(r.clone())),
            Outcome::Return(r) => Answer::of(StatusCode::OK, &ReturnDto::from(r.clone())),
        }
        .map_err(effect)?;
        let stored = self.idempotency.stored(&answer);
        if let Ok(mut slot) = self.answer.lock() {
            *slot = Some(answer);
        }
        Ok(stored)
    }
}

fn effect(err: ApiError) -> OrderError {
    let kind = match err.status {
        StatusCode::CONFLICT => ErrorKind::Conflict,
        StatusCode::SERVICE_UNAVAILABLE => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    OrderError::Effect { code: err.code, kind, detail: err.detail }
}

/// Checks a cart out (201 with the order).
pub async fn checkout_cart(
    state: &AppState,
    idempotency: &Idempotency,
    cart_id: &str,
    caller: Caller,
    provider: String,
    token: String,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let input = CheckoutInput {
        cart_id: cart_id.to_owned(),
        caller,
        provider,
        token,
        attempt: attempt(idempotency, cart_id),
        retryable: idempotency.attempt().is_some(),
        hold: state.config.reservation_ttl,
    };
    let order = checkout::checkout(&state.writer, &state.payments, &effects, input).await?;
    effects.done(StatusCode::CREATED, OrderDto::from(order))
}

impl<'a> CheckoutEffects<'a> {
    fn new(idempotency: &'a Idempotency, order_status: StatusCode) -> Self {
        Self { idempotency, order_status, answer: Mutex::new(None) }
    }

    /// The value with the answer stored with the change (one built now if none was).
    fn done<T: Serialize>(&self, status: StatusCode, value: T) -> Result<Done<T>, ApiError> {
        let answer = match self.answer.lock().ok().and_then(|mut a| a.take()) {
            Some(answer) => answer,
            None => Answer::of(status, &value)?,
        };
        Ok(Done { value, answer })
    }
}

/// The request's name for the work it passes on to a provider (its idempotency key), for one
/// subject (a cart, an order): the same for every retry with its `Idempotency-Key`, fresh
/// without one. The subject is part of it, so a key used again on another cart or order (once
/// the first use was purged) never names the earlier work.
fn attempt(idempotency: &Idempotency, subject: &str) -> String {
    use sha2::Digest as _;
    match idempotency.attempt() {
        Some(key) => {
            let digest = sha2::Sha256::new().chain_update(key.as_bytes()).chain_update(subject.as_bytes()).finalize();
            digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
        }
        None => uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// Ships units of an order (201 with the order).
pub async fn fulfil(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    order_id: &str,
    items: Vec<SkuQuantityDto>,
    carrier: Option<&str>,
    tracking_number: Option<&str>,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let items: Vec<(String, i64)> = items.into_iter().map(|i| (i.sku, i.quantity)).collect();
    let actor = Actor(actor.map(str::to_owned));
    let order = after_sale::fulfil(&state.writer, &effects, order_id, &items, carrier, tracking_number, &actor).await?;
    effects.done(StatusCode::CREATED, OrderDto::from(order))
}

/// Marks a fulfilment delivered (200 with the order).
pub async fn deliver(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    order_id: &str,
    fulfillment_id: &str,
    delivered_at: Option<DateTime<Utc>>,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(actor.map(str::to_owned));
    let order = after_sale::deliver(&state.writer, &effects, order_id, fulfillment_id, delivered_at, &actor).await?;
    effects.done(StatusCode::OK, OrderDto::from(order))
}

/// Cancels an order (200 with it). A customer may cancel only their own (404 otherwise).
pub async fn cancel(
    state: &AppState,
    idempotency: &Idempotency,
    principal: &Principal,
    order_id: &str,
    reason: Option<&str>,
) -> Result<Done<OrderDto>, ApiError> {
    match principal {
        // Only their own: a guest's order (reachable by its id) is not theirs to cancel.
        Principal::Customer { id } => {
            let order = order_store::get(&state.db, order_id, &Caller::Customer(id.clone())).await?;
            if order.customer_id.as_deref() != Some(id.as_str()) {
                return Err(OrderError::NotFound("order").into());
            }
        }
        staff => staff.require(emporium_customers::Permission::OrdersWrite)?,
    }
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(principal.actor_id().map(str::to_owned));
    let attempt = attempt(idempotency, order_id);
    let order =
        after_sale::cancel(&state.writer, &state.payments, &effects, order_id, reason, &actor, &attempt).await?;
    effects.done(StatusCode::OK, OrderDto::from(order))
}

/// Refunds part of an order (201 with the order).
pub async fn refund(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    order_id: &str,
    amount: MoneyDto,
    reason: Option<&str>,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let actor = Actor(actor.map(str::to_owned));
    let attempt = attempt(idempotency, order_id);
    let amount = crate::orders::amount(amount);
    let order =
        after_sale::refund(&state.writer, &state.payments, &effects, order_id, &amount, reason, &actor, &attempt)
            .await?;
    effects.done(StatusCode::CREATED, OrderDto::from(order))
}

/// Opens a return (201): the order's owner (a customer, or the guest holding its id) or staff.
pub async fn request_return(
    state: &AppState,
    idempotency: &Idempotency,
    principal: &Principal,
    order_id: &str,
    items: Vec<SkuQuantityDto>,
    reason: Option<&str>,
) -> Result<Done<ReturnDto>, ApiError> {
    let caller = match principal {
        staff if staff.can(emporium_customers::Permission::OrdersWrite) => Caller::Staff,
        other => caller_of(other),
    };
    order_store::get(&state.db, order_id, &caller).await?;
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let items: Vec<(String, i64)> = items.into_iter().map(|i| (i.sku, i.quantity)).collect();
    let actor = Actor(principal.actor_id().map(str::to_owned));
    let opened = after_sale::request_return(&state.writer, &effects, order_id, &items, reason, &actor).await?;
    effects.done(StatusCode::CREATED, ReturnDto::from(opened))
}

/// Marks a return received, restocking its units if asked (200).
pub async fn receive_return(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    return_id: &str,
    restock: bool,
) -> Result<Done<ReturnDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(actor.map(str::to_owned));
    let changed = after_sale::receive_return(&state.writer, &effects, return_id, restock, &actor).await?;
    effects.done(StatusCode::OK, ReturnDto::from(changed))
}

/// Refunds a received return's share, tax included (200).
pub async fn refund_return(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    return_id: &str,
) -> Result<Done<ReturnDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(actor.map(str::to_owned));
    let changed = after_sale::refund_return(&state.writer, &state.payments, &effects, return_id, &actor).await?;
    effects.done(StatusCode::OK, ReturnDto::from(changed))
}

/// Every minute (or every reservation TTL, when that is shorter), on every instance: ask the
/// provider again for refunds left pending, and give back payments no order came of, so an
/// abandoned payment goes back within the TTL plus a minute.
pub async fn run_refund_retries(state: AppState, mut shutdown: crate::background::Shutdown) {
    let hold = state.config.reservation_ttl;
    let mut tick = tokio::time::interval(hold.min(std::time::Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.requested() => return,
        }
        match after_sale::retry_pending_refunds(&state.writer, &state.payments).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(refunds = n, "pending refunds settled"),
            Err(err) => tracing::warn!(error = %err, "retrying pending refunds failed"),
        }
        match checkout::sweep_abandoned(&state.writer, &state.payments, hold).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(payments = n, "payments of abandoned checkouts given back"),
            Err(err) => tracing::warn!(error = %err, "giving back abandoned payments failed"),
        }
    }
}

/// An order, for its owner or staff.
pub async fn order(state: &AppState, order_id: &str, caller: &Caller) -> Result<OrderDto, ApiError> {
    Ok(order_store::get(&state.db, order_id, caller).await?.into())
}

/// A page of orders, newest first: a signed-in customer's own, or (staff with `orders:read`)
/// any, optionally one customer's; `status` is one of the order statuses.
pub async fn list_orders(
    state: &AppState,
    principal: &Principal,
    status: Option<&str>,
    customer: Option<String>,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(Vec<OrderDto>, Option<String>), ApiError> {
    let customer_id = match principal {
        Principal::Customer { id } => Some(id.clone()),
        Principal::Anonymous => return Err(ApiError::unauthorized("Sign in to list orders.")),
        staff => {
            staff.require(emporium_customers::Permission::OrdersRead)?;
            let customer = customer.filter(|c| !c.is_empty());
            if customer.as_deref().is_some_and(|c| !emporium_core::db::lookupable(c)) {
                return Err(ApiError::validation(emporium_core::ValidationErrors::single(
                    "customer",
                    "invalid",
                    "must be a customer id",
                )));
            }
            customer
        }
    };
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(emporium_orders::orders::Status::parse(text).ok_or_else(|| {
            ApiError::validation(emporium_core::ValidationErrors::single(
                "status",
                "invalid_value",
                "must be paid, partially_fulfilled, fulfilled, delivered, cancelled, partially_refunded or refunded",
            ))
        })?),
    };
    let limit = crate::products::page_size(limit, "limit")?;
    let before = crate::products::cursor_id(state, "orders", cursor)?;
    let filter = OrderFilter { customer_id, status };
    let mut found = order_store::list(&state.db, &filter, before.as_deref(), limit.get() + 1).await?;
    let more = found.len() as u64 > limit.get();
    found.truncate(limit.get() as usize);
    let next = if more { found.last().map(|o| order_cursor(state, &o.id)) } else { None };
    Ok((found.into_iter().map(OrderDto::from).collect(), next))
}

/// The cursor that continues a list after this order.
pub fn order_cursor(state: &AppState, order_id: &str) -> String {
    state.cursors.encode(&("orders", order_id))
}

// -- selling setup ------------------------------------------------------------------------

/// Creates a shipping zone (201).
pub async fn create_zone(
    state: &AppState,
    idempotency: &Idempotency,
    input: &setup::ZoneInput,
) -> Result<Done<ZoneDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let value = ZoneDto::from(setup::create_zone(&txn, input).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// Replaces a zone's name, countries and methods.
pub async fn replace_zone(state: &AppState, zone_id: &str, input: &setup::ZoneInput) -> Result<ZoneDto, ApiError> {
    let txn = state.writer.begin().await?;
    let zone = ZoneDto::from(setup::replace_zone(&txn, zone_id, input).await?);
    txn.commit().await?;
    Ok(zone)
}

/// Every zone.
pub async fn zones(state: &AppState) -> Result<Vec<ZoneDto>, ApiError> {
    Ok(setup::list_zones(&state.db).await?.into_iter().map(ZoneDto::from).collect())
}

/// One zone.
pub async fn zone(state: &AppState, zone_id: &str) -> Result<ZoneDto, ApiError> {
    Ok(setup::get_zone(&state.db, zone_id).await?.ok_or(OrderError::NotFound("shipping zone"))?.into())
}

/// Deletes a zone.
pub async fn delete_zone(state: &AppState, zone_id: &str) -> Result<(), ApiError> {
    let txn = state.writer.begin().await?;
    if !setup::delete_zone(&txn, zone_id).await? {
        return Err(OrderError::NotFound("shipping zone").into());
    }
    txn.commit().await?;
    Ok(())
}

/// Creates a tax rate (201).
pub async fn create_rate(
    state: &AppState,
    idempotency: &Idempotency,
    country: &str,
    region: Option<&str>,
    name: &str,
    rate_bp: i64,
) -> Result<Done<TaxRateDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let value = TaxRateDto::from(setup::create_rate(&txn, country, region, name, rate_bp).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// Every rate.
pub async fn rates(state: &AppState) -> Result<Vec<TaxRateDto>, ApiError> {
    Ok(setup::list_rates(&state.db).await?.into_iter().map(TaxRateDto::from).collect())
}

/// One rate.
pub async fn rate(state: &AppState, rate_id: &str) -> Result<TaxRateDto, ApiError> {
    Ok(setup::get_rate(&state.db, rate_id).await?.ok_or(OrderError::NotFound("tax rate"))?.into())
}

/// Changes a rate's name or basis points.
pub async fn change_rate(
    state: &AppState,
    rate_id: &str,
    name: Option<&str>,
    rate_bp: Option<i64>,
) -> Result<TaxRateDto, ApiError> {
    let txn = state.writer.begin().await?;
    let rate = TaxRateDto::from(setup::change_rate(&txn, rate_id, name, rate_bp).await?);
    txn.commit().await?;
    Ok(rate)
}

/// Deletes a rate.
pub async fn delete_rate(state: &AppState, rate_id: &str) -> Result<(), ApiError> {
    let txn = state.writer.begin().await?;
    if !setup::delete_rate(&txn, rate_id).await? {
        return Err(OrderError::NotFound("tax rate").into());
    }
    txn.commit().await?;
    Ok(())
}

/// Creates a discount (201).
pub async fn create_discount(
    state: &AppState,
    idempotency: &Idempotency,
    input: &setup::DiscountInput,
) -> Result<Done<DiscountDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let value = DiscountDto::from(setup::create_discount(&txn, input).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// Every discount.
pub async fn discounts(state: &AppState) -> Result<Vec<DiscountDto>, ApiError> {
    Ok(setup::list_discounts(&state.db).await?.into_iter().map(DiscountDto::from).collect())
}

/// One discount.
pub async fn discount(state: &AppState, discount_id: &str) -> Result<DiscountDto, ApiError> {
    Ok(setup::get_discount(&state.db, discount_id).await?.ok_or(OrderError::NotFound("discount"))?.into())
}

/// Changes a discount.
pub async fn change_discount(
    state: &AppState,
    discount_id: &str,
    change: &setup::DiscountChange,
) -> Result<DiscountDto, ApiError> {
    let txn = state.writer.begin().await?;
    let discount = DiscountDto::from(setup::change_discount(&txn, discount_id, change).await?);
    txn.commit().await?;
    Ok(discount)
}

/// Deletes a discount.
pub async fn delete_discount(state: &AppState, discount_id: &str) -> Result<(), ApiError> {
    let txn = state.writer.begin().await?;
    if !setup::delete_discount(&txn, discount_id).await? {
        return Err(OrderError::NotFound("discount").into());
    }
    txn.commit().await?;
    Ok(())
}

/// Sets whether prices in a currency include tax.
pub async fn set_currency(state: &AppState, code: &str, include: bool) -> Result<CurrencySettingDto, ApiError> {
    let currency = emporium_core::Currency::parse(code).map_err(|_| OrderError::NotFound("currency"))?;
    let txn = state.writer.begin().await?;
    setup::set_prices_include_tax(&txn, currency, include).await?;
    txn.commit().await?;
    Ok(CurrencySettingDto { currency: currency.code().to_owned(), prices_include_tax: include })
}

/// Whether prices in a currency include tax.
pub async fn currency_setting(state: &AppState, code: &str) -> Result<CurrencySettingDto, ApiError> {
    let currency = emporium_core::Currency::parse(code).map_err(|_| OrderError::NotFound("currency"))?;
    let include = setup::prices_include_tax(&state.db, currency).await?;
    Ok(CurrencySettingDto { currency: currency.code().to_owned(), prices_include_tax: include })
}
