//! Accounts: staff with roles, customers with address books, integrator API keys, and the
//! refresh-token sessions they sign in with. Passwords are Argon2id hashes; secrets never
//! print through `Debug`.

mod addresses;
mod api_keys;
mod country;
mod customers;
mod email;
mod events;
mod password;
mod roles;
mod sessions;
mod staff;

pub use addresses::{
    Address, AddressChange, AddressInput, MAX_ADDRESSES, SavedAddress, add_address, change_address, delete_address,
    get_address, list_addresses,
};
pub use api_keys::{
    ApiKey, IssuedKey, KEY_PREFIX, NewApiKey, create_api_key, find_api_key, hash_secret, list_api_keys, record_key_use,
    revoke_api_key,
};
pub use country::Country;
pub use customers::{
    Customer, CustomerChange, Name, NewCustomer, change_customer, customer_password_hash, find_customer_login,
    get_customer, register_customer, search_customers, set_customer_password,
};
pub use email::Email;
pub use events::CustomerEvent;
pub use password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, Password, hash_password, verify_password};
pub use roles::{Permission, Permissions, Role};
pub use sessions::{
    RefreshOutcome, Session, SessionLifetimes, issue_session, purge_expired_sessions, refresh_session,
    revoke_account_sessions, revoke_session,
};
pub use staff::{
    StaffAccess, StaffChange, StaffLogin, StaffMember, change_staff, create_staff, ensure_staff, find_staff_login,
    get_staff, list_staff, staff_access,
};

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
    /// The email already has an account of this kind.
    #[error("An account with this email already exists.")]
    EmailTaken,
    /// The only enabled admin would lose admin rights.
    #[error("This is the last enabled admin; make another admin first.")]
    LastAdmin,
    /// A customer's address book is full.
    #[error("The address book is full ({MAX_ADDRESSES} addresses); remove one first.")]
    AddressBookFull,
    /// No such resource (or not the caller's).
    #[error("No such {0}.")]
    NotFound(&'static str),
    /// The resource changed since the version the caller expected (`If-Match`).
    #[error("The {0} changed since the version given in If-Match (or expectedVersion); nothing was changed.")]
    Stale(&'static str),
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(#[from] emporium_core::ValidationErrors),
    /// A stored value no longer parses (never written by this code).
    #[error("stored {0} is corrupt")]
    Corrupt(&'static str),
    /// Hashing failed (never with valid parameters).
    #[error("password hashing failed")]
    Hashing,
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

/// Every code an account operation may answer.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: "unauthorized",
        kind: ErrorKind::Unauthenticated,
        meaning: "No or bad credentials: a wrong email or password, an unknown, spent or revoked token or API key.",
    },
    ErrorCode { code: "email_taken", kind: ErrorKind::Conflict, meaning: "An account with this email already exists." },
    ErrorCode {
        code: "last_admin",
        kind: ErrorKind::Conflict,
        meaning: "The change would leave the shop without an enabled admin.",
    },
    ErrorCode {
        code: "address_book_full",
        kind: ErrorKind::Conflict,
        meaning: "The customer already keeps the most addresses allowed.",
    },
];

impl DomainError for AccountError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "unauthorized",
            Self::EmailTaken => "email_taken",
            Self::LastAdmin => "last_admin",
            Self::AddressBookFull => "address_book_full",
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "validation_failed",
            Self::Stale(_) => "precondition_failed",
            Self::Database(e) => e.code(),
            Self::Corrupt(_) | Self::Hashing => "internal",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidCredentials => ErrorKind::Unauthenticated,
            Self::EmailTaken | Self::LastAdmin | Self::AddressBookFull => ErrorKind::Conflict,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Stale(_) => ErrorKind::PreconditionFailed,
            Self::Database(e) => e.kind(),
            Self::Corrupt(_) | Self::Hashing => ErrorKind::Internal,
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
            Self::Database(e) => e.safe_detail(),
            Self::Corrupt(_) | Self::Hashing => "An unexpected error occurred.".to_owned(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let login = StaffLogin { id: "stf_1".into(), password_hash: "$argon2id$secret-hash".into(), role: Role::Admin };
        assert!(!format!("{login:?}").contains("secret-hash"));
        let session = Session {
            refresh_token: "the-refresh-token".into(),
            account_kind: AccountKind::Staff,
            account_id: "stf_1".into(),
            expires_at: chrono::Utc::now(),
        };
        assert!(!format!("{session:?}").contains("the-refresh-token"));
    }
}
