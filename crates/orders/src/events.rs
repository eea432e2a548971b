//! The events of orders and returns (the payloads of API.md's event feed).

use chrono::{DateTime, Utc};

/// What happened to an order or one of its returns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OrderEvent {
    #[serde(rename = "order.placed")]
    Placed { order_id: String },
    /// Its payment was captured (`amount` in minor units of `currency`).
    #[serde(rename = "order.paid")]
    Paid { order_id: String, amount: i64, currency: String },
    /// Units shipped; `complete` once every unit is.
    #[serde(rename = "order.fulfilled")]
    Fulfilled { order_id: String, fulfillment_id: String, complete: bool },
    #[serde(rename = "order.delivered")]
    Delivered { order_id: String, delivered_at: DateTime<Utc> },
    #[serde(rename = "order.cancelled")]
    Cancelled { order_id: String },
    /// A refund settled with the provider (`amount` in minor units of the order's currency).
    #[serde(rename = "order.refunded")]
    Refunded { order_id: String, refund_id: String, amount: i64 },
    /// A refund the provider kept refusing was given up: settle it by hand.
    #[serde(rename = "order.refund_failed")]
    RefundFailed { order_id: String, refund_id: String, amount: i64 },
    #[serde(rename = "return.requested")]
    ReturnRequested { order_id: String, return_id: String },
    #[serde(rename = "return.received")]
    ReturnReceived { order_id: String, return_id: String, restocked: bool },
}

impl emporium_core::events::DomainEvent for OrderEvent {}
