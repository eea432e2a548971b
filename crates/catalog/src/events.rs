//! The catalog's events (the payloads of API.md's event feed).

/// What happened to a product.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProductEvent {
    #[serde(rename = "product.created")]
    Created { product_id: String },
    /// The product, one of its variants, prices or categories changed.
    #[serde(rename = "product.updated")]
    Updated { product_id: String },
    #[serde(rename = "product.deleted")]
    Deleted { product_id: String },
}

impl ProductEvent {
    /// What happened to `product_id`.
    pub fn of(kind: ChangeKind, product_id: &str) -> Self {
        let product_id = product_id.to_owned();
        match kind {
            ChangeKind::Created => Self::Created { product_id },
            ChangeKind::Updated => Self::Updated { product_id },
            ChangeKind::Deleted => Self::Deleted { product_id },
        }
    }
}

/// What a write did to a product as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl emporium_core::events::DomainEvent for ProductEvent {}
