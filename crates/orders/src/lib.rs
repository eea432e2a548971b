//! Orders: carts priced from the catalog, the shop's selling setup (tax per currency, shipping
//! zones and methods, tax rates, discount codes), checkout and the orders it places.
//!
//! Checkout ([`checkout::checkout`]) is owned here, not by the gateway: it reserves stock
//! through the inventory crate, calls the payment provider outside any database lock, and
//! places the order and commits the reservation in one transaction, undoing what it did when a
//! step fails. Every write is a unit of work (`emporium_core::uow`) that carries its events and
//! the availability it makes stale; the caller supplies [`checkout::Answers`] for the one thing
//! only it knows, the answer its request stores with the write.

pub mod after_sale;
pub mod carts;
pub mod checkout;
pub mod events;
pub mod orders;
pub mod pricing;
pub mod reports;
pub mod sales;
pub mod setup;

use emporium_core::{DomainError, ErrorCode, ErrorKind, FieldError, MoneyError, ProblemExtra, ValidationErrors};
use sea_orm::DbErr;

/// Why a discount code does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountRefusal {
    Unknown,
    Expired,
    NotStarted,
    MinimumNotMet,
    UsageLimitReached,
}

impl DiscountRefusal {
    /// The `reason` a problem body carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::NotStarted => "not_started",
            Self::MinimumNotMet => "minimum_not_met",
            Self::UsageLimitReached => "usage_limit_reached",
        }
    }
}

/// What a failed payment call left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// No money moved (or what moved was given back).
    None,
    /// The provider's answer was lost: money may have moved. A retry with the same
    /// `Idempotency-Key` completes on that same payment; without one it is given back.
    Unknown,
}

impl PaymentState {
    /// The `payment_state` a problem body carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Unknown => "unknown",
        }
    }

    fn detail(self) -> &'static str {
        match self {
            Self::None => "The payment provider failed; no money was taken and nothing was done.",
            Self::Unknown => {
                "The payment provider's answer was lost; retry with the same Idempotency-Key to complete \
                 without paying again (without a retry, any money taken is given back)."
            }
        }
    }
}

/// Why a cart, checkout or order operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No such cart, order, zone, rate or discount, or not the caller's.
    #[error("No {0} has this id.")]
    NotFound(&'static str),
    /// The SKU names no variant.
    #[error("No variant has the SKU {sku}.")]
    UnknownSku { sku: String },
    /// The SKU's product is a draft or deleted.
    #[error("The SKU {sku} cannot be bought.")]
    NotPurchasable { sku: String },
    /// The SKU has no price in the cart's currency.
    #[error("The SKU {sku} has no price in {currency}.")]
    NoPrice { sku: String, currency: String },
    /// A discount code was refused.
    #[error("The discount code cannot be used ({}).", .0.as_str())]
    DiscountInvalid(DiscountRefusal),
    /// The cart has no items.
    #[error("The cart is empty.")]
    CartEmpty,
    /// Checkout needs an email.
    #[error("The cart has no email address.")]
    EmailRequired,
    /// Checkout needs a shipping address.
    #[error("The cart has no shipping address.")]
    ShippingAddressRequired,
    /// The shop ships by zones, and the cart has no method that ships to its address.
    #[error("Choose a shipping method from the cart's shipping methods.")]
    ShippingMethodRequired,
    /// The cart became an order (or was merged into another cart).
    #[error("The cart was already checked out.")]
    CartAlreadyCheckedOut,
    /// Another checkout of this cart is running.
    #[error("A checkout of this cart is in progress; retry shortly.")]
    CheckoutInProgress,
    /// Lines take the cart's total past what money can hold.
    #[error("The total of {} would pass what an amount can hold; lower their quantities.", skus.join(", "))]
    CartOverLimit { skus: Vec<String> },
    /// Some lines cannot be filled.
    #[error("Not enough stock for {}.", skus.join(", "))]
    OutOfStock { skus: Vec<String> },
    /// The payment was declined.
    #[error("The payment was declined: {0}.")]
    PaymentDeclined(String),
    /// The payment provider failed: no order was placed (or no refund made), and the state
    /// says whether money may have moved.
    #[error("{}", .0.detail())]
    PaymentProvider(PaymentState),
    /// A code, rate or zone already exists.
    #[error("{0}")]
    Conflict(&'static str, &'static str),
    /// The caller's `If-Match` (or `expectedVersion`) is no longer the current version.
    #[error("The {0} changed since it was read; read it again.")]
    Stale(&'static str),
    /// A refund would pass what was captured less what was refunded.
    #[error("The refund is more than was captured less what was refunded.")]
    RefundExceedsCaptured,
    /// The return was refunded already.
    #[error("The return was already refunded.")]
    AlreadyRefunded,
    /// The fulfilment was marked delivered already.
    #[error("The fulfilment was already marked delivered.")]
    AlreadyDelivered,
    /// A move the order's status machine does not allow.
    #[error("The order cannot go from {from} to {to}.")]
    InvalidTransition { from: String, to: String },
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    /// A step the gateway adds (its stored answer, its cache) failed with its own code.
    #[error("{detail}")]
    Effect { code: &'static str, kind: ErrorKind, detail: String },
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

impl From<emporium_core::uow::CommitError> for OrderError {
    fn from(err: emporium_core::uow::CommitError) -> Self {
        use emporium_core::uow::{AnswerError, CommitError};
        match err {
            CommitError::Database(e) | CommitError::Answer(AnswerError::Database(e)) => Self::Database(e),
            // The unit of work's own code and words (`idempotency_in_progress`, 409).
            lost => Self::Effect { code: lost.code(), kind: lost.kind(), detail: lost.safe_detail() },
        }
    }
}

impl From<MoneyError> for OrderError {
    fn from(_: MoneyError) -> Self {
        Self::Invalid(ValidationErrors::single("quantity", "out_of_range", "the total is too large"))
    }
}

impl From<emporium_inventory::InventoryError> for OrderError {
    fn from(err: emporium_inventory::InventoryError) -> Self {
        use emporium_inventory::InventoryError as E;
        match err {
            E::Database(e) => Self::Database(e),
            E::Invalid(e) => Self::Invalid(e),
            // Callers turn variant ids into SKUs; anything else is a broken invariant.
            E::OutOfStock { variant_ids } => Self::OutOfStock { skus: variant_ids },
            other => Self::Effect { code: "internal", kind: ErrorKind::Internal, detail: other.to_string() },
        }
    }
}

/// Every code a cart, checkout or order operation may answer.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: "not_found",
        kind: ErrorKind::NotFound,
        meaning: "No such cart, order, zone, rate or discount (or not the caller's).",
    },
    ErrorCode { code: "unknown_sku", kind: ErrorKind::Invalid, meaning: "The SKU names no variant." },
    ErrorCode {
        code: "not_purchasable",
        kind: ErrorKind::Invalid,
        meaning: "The SKU's product is a draft or deleted.",
    },
    ErrorCode { code: "no_price", kind: ErrorKind::Invalid, meaning: "The SKU has no price in the cart's currency." },
    ErrorCode {
        code: "discount_invalid",
        kind: ErrorKind::Invalid,
        meaning: "The code cannot be used; `reason` says why (unknown, expired, not_started, minimum_not_met, usage_limit_reached).",
    },
    ErrorCode { code: "cart_empty", kind: ErrorKind::Invalid, meaning: "Checkout of a cart without items." },
    ErrorCode { code: "email_required", kind: ErrorKind::Invalid, meaning: "Checkout of a cart without an email." },
    ErrorCode {
        code: "shipping_address_required",
        kind: ErrorKind::Invalid,
        meaning: "Checkout of a cart without a shipping address.",
    },
    ErrorCode {
        code: "shipping_method_required",
        kind: ErrorKind::Invalid,
        meaning: "The shop ships by zones and the cart has no shipping method for its address.",
    },
    ErrorCode {
        code: "cart_already_checked_out",
        kind: ErrorKind::Conflict,
        meaning: "The cart became an order, or was merged.",
    },
    ErrorCode {
        code: "checkout_in_progress",
        kind: ErrorKind::Conflict,
        meaning: "Another checkout of the cart is running.",
    },
    ErrorCode {
        code: "out_of_stock",
        kind: ErrorKind::Conflict,
        meaning: "Some lines cannot be filled; `skus` names them.",
    },
    ErrorCode {
        code: "payment_declined",
        kind: ErrorKind::PaymentDeclined,
        meaning: "The payment was declined; no order was placed.",
    },
    ErrorCode {
        code: "payment_provider_error",
        kind: ErrorKind::Upstream,
        meaning: "The payment provider failed; `payment_state` says whether money may have moved (`none`, `unknown`: retry with the same Idempotency-Key).",
    },
    ErrorCode { code: "discount_code_taken", kind: ErrorKind::Conflict, meaning: "A discount already has this code." },
    ErrorCode {
        code: "tax_rate_exists",
        kind: ErrorKind::Conflict,
        meaning: "A rate for this country and region exists.",
    },
    ErrorCode {
        code: "invalid_transition",
        kind: ErrorKind::Conflict,
        meaning: "The order's status machine does not allow the move.",
    },
    ErrorCode {
        code: "refund_exceeds_captured",
        kind: ErrorKind::Invalid,
        meaning: "The refund is more than was captured less what was refunded (or is held for refunds in flight).",
    },
    ErrorCode { code: "already_refunded", kind: ErrorKind::Conflict, meaning: "The return was already refunded." },
    ErrorCode {
        code: "cart_over_limit",
        kind: ErrorKind::Invalid,
        meaning: "Lines (`skus`) take the cart's total past what an amount can hold; lower their quantities.",
    },
    ErrorCode {
        code: "already_delivered",
        kind: ErrorKind::Conflict,
        meaning: "The fulfilment was already marked delivered.",
    },
];

impl DomainError for OrderError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::UnknownSku { .. } => "unknown_sku",
            Self::NotPurchasable { .. } => "not_purchasable",
            Self::NoPrice { .. } => "no_price",
            Self::DiscountInvalid(_) => "discount_invalid",
            Self::CartEmpty => "cart_empty",
            Self::EmailRequired => "email_required",
            Self::ShippingAddressRequired => "shipping_address_required",
            Self::ShippingMethodRequired => "shipping_method_required",
            Self::CartAlreadyCheckedOut => "cart_already_checked_out",
            Self::CheckoutInProgress => "checkout_in_progress",
            Self::OutOfStock { .. } => "out_of_stock",
            Self::CartOverLimit { .. } => "cart_over_limit",
            Self::PaymentDeclined(_) => "payment_declined",
            Self::PaymentProvider(_) => "payment_provider_error",
            Self::Conflict(code, _) => code,
            Self::Stale(_) => "precondition_failed",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::RefundExceedsCaptured => "refund_exceeds_captured",
            Self::AlreadyRefunded => "already_refunded",
            Self::AlreadyDelivered => "already_delivered",
            Self::Invalid(_) => "validation_failed",
            Self::Effect { code, .. } => code,
            Self::Database(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::UnknownSku { .. }
            | Self::NotPurchasable { .. }
            | Self::NoPrice { .. }
            | Self::DiscountInvalid(_)
            | Self::CartEmpty
            | Self::EmailRequired
            | Self::ShippingAddressRequired
            | Self::ShippingMethodRequired
            | Self::RefundExceedsCaptured
            | Self::CartOverLimit { .. }
            | Self::Invalid(_) => ErrorKind::Invalid,
            Self::CartAlreadyCheckedOut
            | Self::CheckoutInProgress
            | Self::OutOfStock { .. }
            | Self::Conflict(..)
            | Self::AlreadyRefunded
            | Self::AlreadyDelivered
            | Self::InvalidTransition { .. } => ErrorKind::Conflict,
            Self::Stale(_) => ErrorKind::PreconditionFailed,
            Self::PaymentDeclined(_) => ErrorKind::PaymentDeclined,
            Self::PaymentProvider(_) => ErrorKind::Upstream,
            Self::Effect { kind, .. } => *kind,
            Self::Database(e) => e.kind(),
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid(errors) => errors.errors(),
            _ => &[],
        }
    }

    fn extra(&self) -> ProblemExtra {
        match self {
            Self::DiscountInvalid(reason) => ProblemExtra { reason: Some(reason.as_str()), ..ProblemExtra::default() },
            Self::OutOfStock { skus } | Self::CartOverLimit { skus } => {
                ProblemExtra { skus: skus.clone(), ..ProblemExtra::default() }
            }
            Self::PaymentProvider(state) => {
                ProblemExtra { payment_state: Some(state.as_str()), ..ProblemExtra::default() }
            }
            _ => ProblemExtra::default(),
        }
    }

    fn safe_detail(&self) -> String {
        match self {
            Self::Database(e) => e.safe_detail(),
            Self::Conflict(_, detail) => (*detail).to_owned(),
            other => other.to_string(),
        }
    }
}
