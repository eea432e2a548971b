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

use emporium_core::{DomainError, ErrorCode, ErrorKind};
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

/// Every code an account operation may answer.
pub const ERROR_CODES: &[ErrorCode] = &[ErrorCode {
    code: "unauthorized",
    kind: ErrorKind::Unauthenticated,
    meaning: "No or bad credentials: a wrong email or password, an unknown, spent or revoked token.",
}];

impl DomainError for AccountError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "unauthorized",
            Self::Invalid(_) => "validation_failed",
            Self::Database(e) => e.code(),
            Self::Hashing => "internal",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidCredentials => ErrorKind::Unauthenticated,
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Database(e) => e.kind(),
            Self::Hashing => ErrorKind::Internal,
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
            Self::InvalidCredentials => "Wrong email, password or token.".to_owned(),
            Self::Invalid(errors) => errors.to_string(),
            _ => "An unexpected error occurred.".to_owned(),
        }
    }
}
