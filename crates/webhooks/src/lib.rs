//! Webhooks: integrators' subscriptions to the event feed, and the deliveries that carry each
//! event to them. The rules live here (what a subscription may name, how secrets are kept and
//! payloads signed, when a failed delivery is tried again, which addresses a delivery may
//! reach); the gateway runs the worker that sends them over HTTP.
//!
//! Secrets are never stored: a subscription keeps a random nonce, and its secret is an HMAC of
//! its id and nonce under the server's key (`EMPORIUM_SECRET_KEY`, or a key file), so a dump of
//! the database alone cannot sign a payload.

mod deliveries;
mod schedule;
mod signing;
mod subscriptions;
mod target;

pub use deliveries::{
    Claimed, Delivery, DeliveryStatus, Outcome, Queue, claim_due, dispatch, list_deliveries, nothing_due, queue_stats,
    record_outcome, replay, retry_now,
};
pub use schedule::Schedule;
pub use signing::{Keyring, signature_header};
pub use subscriptions::{
    NewSubscription, Subscription, SubscriptionPatch, check_new, create, delete, disable_failing, find, list,
    rotate_secret, secrets_of, update,
};
pub use target::{TargetError, check_address, check_url};

use emporium_core::{DomainError, ErrorCode, ErrorKind, ValidationErrors};
use sea_orm::DbErr;

/// Every event type a subscription may name (`*` names them all).
pub const EVENT_TYPES: &[&str] = &[
    "order.placed",
    "order.paid",
    "order.fulfilled",
    "order.delivered",
    "order.cancelled",
    "order.refunded",
    "order.refund_failed",
    "return.requested",
    "return.received",
    "stock.low",
    "inventory.changed",
    "product.created",
    "product.updated",
    "product.deleted",
    "customer.created",
    "review.submitted",
];

/// The longest replay window.
pub const MAX_REPLAY_DAYS: i64 = 30;

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No subscription (or delivery of it) has this id.
    #[error("No {0} has this id.")]
    NotFound(&'static str),
    /// The caller's version is no longer the current one.
    #[error("The subscription changed since it was read (now version {current}); read it again.")]
    Stale { current: i64 },
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

/// Every code a webhook operation may answer.
pub const ERROR_CODES: &[ErrorCode] =
    &[ErrorCode { code: "not_found", kind: ErrorKind::NotFound, meaning: "No such subscription or delivery." }];

impl DomainError for WebhookError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Stale { .. } => "precondition_failed",
            Self::Invalid(_) => "validation_failed",
            Self::Database(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Stale { .. } => ErrorKind::PreconditionFailed,
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Database(e) => e.kind(),
        }
    }

    fn field_errors(&self) -> &[emporium_core::FieldError] {
        match self {
            Self::Invalid(errors) => errors.errors(),
            _ => &[],
        }
    }

    fn safe_detail(&self) -> String {
        match self {
            Self::Database(e) => e.safe_detail(),
            other => other.to_string(),
        }
    }
}
