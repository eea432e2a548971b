//! The catalog's events (the payloads of API.md's event feed).

/// What happened to a product.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProductEvent {
    /// The product, one of its variants, prices or categories changed (or it was created or
    /// deleted).
    #[serde(rename = "product.updated")]
    Updated { product_id: String },
}

impl emporium_core::events::DomainEvent for ProductEvent {}
