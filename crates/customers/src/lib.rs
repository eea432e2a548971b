//! Accounts and sessions: staff accounts with Argon2id passwords and rotating refresh tokens.
//!
//! Customer accounts, addresses and integrator API keys are not built yet; the tables and
//! `AccountKind` leave room for them.

mod password;
mod sessions;
mod staff;

pub use password::{hash_password, verify_password};
pub use sessions::{RefreshOutcome, Session, issue_session, refresh_session, revoke_session};
pub use staff::{Permission, StaffAccount, create_staff, find_staff_by_email, staff_permissions};

use emporium_core::ErrorKind;
use sea_orm::DbErr;

/// Which kind of account a session or token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// A shop employee.
    Staff,
    /// A shopper.
    Customer,
}

impl AccountKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Customer => "customer",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "staff" => Some(Self::Staff),
            "customer" => Some(Self::Customer),
            _ => None,
        }
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Wrong email or password, or an unknown, spent or revoked refresh token.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(emporium_core::ValidationErrors),
    /// Hashing failed (never with valid parameters).
    #[error("password hashing failed")]
    Hashing,
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

impl AccountError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "unauthorized",
            Self::Invalid(_) => "validation_failed",
            Self::Database(e) if emporium_core::db::is_unavailable(e) => "service_unavailable",
            Self::Hashing | Self::Database(_) => "internal",
        }
    }

    /// The kind, which decides the HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidCredentials => ErrorKind::Unauthenticated,
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Database(e) if emporium_core::db::is_unavailable(e) => ErrorKind::Unavailable,
            Self::Hashing | Self::Database(_) => ErrorKind::Internal,
        }
    }
}
