//! The catalog's errors, each with a stable code and a kind.

use emporium_core::{ErrorKind, ValidationErrors};
use sea_orm::DbErr;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// No such product, or it is deleted, or a draft the caller may not see.
    #[error("product not found")]
    ProductNotFound,
    /// No such variant on that product.
    #[error("variant not found")]
    VariantNotFound,
    /// No such category.
    #[error("category not found")]
    CategoryNotFound,
    /// The slug belongs to another product or category.
    #[error("slug '{slug}' is already taken")]
    SlugTaken { slug: String },
    /// The SKU belongs to another variant.
    #[error("SKU '{sku}' is already taken")]
    SkuTaken { sku: String },
    /// A product keeps at least one variant.
    #[error("a product must keep at least one variant")]
    LastVariant,
    /// The cursor was not made by this server for this query.
    #[error("the cursor is unknown, altered or belongs to another query")]
    InvalidCursor,
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

impl CatalogError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::ProductNotFound | Self::VariantNotFound | Self::CategoryNotFound => "not_found",
            Self::SlugTaken { .. } => "slug_taken",
            Self::SkuTaken { .. } => "sku_taken",
            Self::LastVariant => "last_variant",
            Self::InvalidCursor => "invalid_cursor",
            Self::Database(e) if emporium_core::db::is_unavailable(e) => "service_unavailable",
            Self::Database(_) => "internal",
        }
    }

    /// The kind, which decides the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) | Self::InvalidCursor => ErrorKind::Invalid,
            Self::ProductNotFound | Self::VariantNotFound | Self::CategoryNotFound => ErrorKind::NotFound,
            Self::SlugTaken { .. } | Self::SkuTaken { .. } | Self::LastVariant => ErrorKind::Conflict,
            Self::Database(e) if emporium_core::db::is_unavailable(e) => ErrorKind::Unavailable,
            Self::Database(_) => ErrorKind::Internal,
        }
    }

    /// Field-level problems, for `validation_failed`.
    pub fn field_errors(&self) -> Option<&ValidationErrors> {
        match self {
            Self::Invalid(errors) => Some(errors),
            _ => None,
        }
    }
}

impl From<ValidationErrors> for CatalogError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}
