//! Carts, the selling setup, checkout and orders as both transports serve them: thin use cases
//! over the orders crate, which holds every rule. By topic: `cart.rs`, `purchase.rs`
//! (checkout), `post_sale.rs` (fulfilment, cancellation, refunds, returns), `reads.rs`,
//! `selling.rs` (zones, tax rates, discounts, currencies) and `dto.rs`; here, what they share:
//! who asks, and the answer a write stores for its `Idempotency-Key`.

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
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;

mod cart;
mod dto;
mod post_sale;
mod purchase;
mod reads;
mod selling;

pub use self::cart::*;
pub use self::dto::*;
pub use self::post_sale::*;
pub use self::purchase::*;
pub use self::reads::*;
pub use self::selling::*;

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
