//! The accounts' events (the payloads of API.md's event feed).

/// What happened to a customer account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CustomerEvent {
    /// A customer registered.
    #[serde(rename = "customer.created")]
    Created { customer_id: String, email: String },
}

impl emporium_core::events::DomainEvent for CustomerEvent {}
