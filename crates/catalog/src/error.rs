//! The catalog's errors, each with a stable code and a kind.

use emporium_core::{DomainError, ErrorCode, ErrorKind, ValidationErrors};
use sea_orm::DbErr;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// No such product, or it is deleted, or a draft the caller may not see.
    #[error("No product has this id or slug.")]
    ProductNotFound,
    /// No such variant on that product.
    #[error("The product has no variant with this id.")]
    VariantNotFound,
    /// No such category.
    #[error("No category has this id or slug.")]
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
    /// The product changed since the version the caller expected (`If-Match`).
    #[error("The product changed since the version given in If-Match (or expectedVersion); nothing was changed.")]
    Stale,
    /// The cursor was not made by this server for this query.
    #[error("the cursor is unknown, altered or belongs to another query")]
    InvalidCursor,
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

/// Every code a catalog operation may answer.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: "not_found",
        kind: ErrorKind::NotFound,
        meaning: "No such product, variant or category (or a draft the caller may not see).",
    },
    ErrorCode {
        code: "slug_taken",
        kind: ErrorKind::Conflict,
        meaning: "The slug belongs to another product or category.",
    },
    ErrorCode { code: "sku_taken", kind: ErrorKind::Conflict, meaning: "The SKU belongs to another variant." },
    ErrorCode { code: "last_variant", kind: ErrorKind::Conflict, meaning: "A product keeps at least one variant." },
    ErrorCode {
        code: "invalid_cursor",
        kind: ErrorKind::Invalid,
        meaning: "The cursor is unknown, altered or belongs to another query.",
    },
];

impl DomainError for CatalogError {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::ProductNotFound | Self::VariantNotFound | Self::CategoryNotFound => "not_found",
            Self::SlugTaken { .. } => "slug_taken",
            Self::SkuTaken { .. } => "sku_taken",
            Self::LastVariant => "last_variant",
            Self::InvalidCursor => "invalid_cursor",
            Self::Stale => "precondition_failed",
            Self::Database(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) | Self::InvalidCursor => ErrorKind::Invalid,
            Self::ProductNotFound | Self::VariantNotFound | Self::CategoryNotFound => ErrorKind::NotFound,
            Self::SlugTaken { .. } | Self::SkuTaken { .. } | Self::LastVariant => ErrorKind::Conflict,
            Self::Stale => ErrorKind::PreconditionFailed,
            Self::Database(e) => e.kind(),
        }
    }

    fn field_errors(&self) -> &[emporium_core::FieldError] {
        match self {
            Self::Invalid(errors) => errors.errors(),
            _ => &[],
        }
    }
}

impl From<ValidationErrors> for CatalogError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Invalid(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_published_table() {
        let errors = [
            CatalogError::Invalid(ValidationErrors::single("name", "required", "is required")),
            CatalogError::ProductNotFound,
            CatalogError::VariantNotFound,
            CatalogError::CategoryNotFound,
            CatalogError::SlugTaken { slug: "tee".into() },
            CatalogError::SkuTaken { sku: "TEE".into() },
            CatalogError::LastVariant,
            CatalogError::InvalidCursor,
            CatalogError::Stale,
            CatalogError::Database(DbErr::Custom("x".into())),
        ];
        for error in errors {
            let entry = ERROR_CODES.iter().chain(emporium_core::COMMON_CODES).find(|c| c.code == error.code());
            assert_eq!(entry.map(|c| c.kind), Some(error.kind()), "{} is not in the table with its kind", error.code());
        }
    }
}
