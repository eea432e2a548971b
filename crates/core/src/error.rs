//! Error kinds shared by every domain, and field-level validation errors.

use serde::Serialize;

/// What kind of failure an error is; the gateway maps each kind to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Well-formed but invalid input (422).
    Invalid,
    /// The resource does not exist, or the caller may not know that it does (404).
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The caller's `If-Match` (or GraphQL `expectedVersion`) names a version that is no
    /// longer the current one (412): someone else changed it meanwhile.
    PreconditionFailed,
    /// No or bad credentials (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Forbidden,
    /// A dependency (the database) cannot be reached (503).
    Unavailable,
    /// A payment was declined (402): another payment method may succeed.
    PaymentDeclined,
    /// A third party the request needed (a payment provider) failed (502); nothing changed.
    Upstream,
    /// A bug or an unexpected failure (500).
    Internal,
}

impl ErrorKind {
    /// The kind's name in the published table of codes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
            Self::PaymentDeclined => "payment_declined",
            Self::Upstream => "upstream",
            Self::Internal => "internal",
        }
    }
}

/// The contract every domain error keeps, so the gateway answers any of them through one
/// mapping (to an HTTP status and to GraphQL's `extensions.code`) without knowing the domain.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    /// A stable snake_case code, listed in the domain's [`ErrorCode`] table.
    fn code(&self) -> &'static str;

    /// The kind, which decides the status.
    fn kind(&self) -> ErrorKind;

    /// Field-level problems (for `validation_failed`).
    fn field_errors(&self) -> &[FieldError] {
        &[]
    }

    /// Members the problem body carries beside the standard ones (a discount refusal's
    /// `reason`, the `skus` that are out of stock).
    fn extra(&self) -> ProblemExtra {
        ProblemExtra::default()
    }

    /// What the caller may be told. Internal and unavailability errors never say more than a
    /// generic sentence (their cause is logged instead); others say what `Display` says.
    fn safe_detail(&self) -> String {
        match self.kind() {
            ErrorKind::Internal => "An unexpected error occurred.".to_owned(),
            ErrorKind::Unavailable => "A service the request needs cannot be reached; nothing was changed.".to_owned(),
            _ => self.to_string(),
        }
    }
}

/// Members a problem body may carry beside the standard ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemExtra {
    /// Why a discount code was refused: `unknown`, `expired`, `not_started`,
    /// `minimum_not_met`, `usage_limit_reached`.
    pub reason: Option<&'static str>,
    /// The SKUs a request could not get enough of.
    pub skus: Vec<String>,
    /// A failed payment call: `none` when no money was taken (or it was given back), `unknown`
    /// when the provider's answer was lost (retry with the same `Idempotency-Key`).
    pub payment_state: Option<&'static str>,
}

/// One entry of a published table of error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// The code, as answers carry it.
    pub code: &'static str,
    /// Its kind (and so its status).
    pub kind: ErrorKind,
    /// When it is answered.
    pub meaning: &'static str,
}

/// The codes every domain may answer: validation and the database.
pub const COMMON_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: "validation_failed",
        kind: ErrorKind::Invalid,
        meaning: "The input broke rules; `errors` lists each field.",
    },
    ErrorCode {
        code: "service_unavailable",
        kind: ErrorKind::Unavailable,
        meaning: "The database (or another dependency) cannot be reached; nothing changed. Retry after `Retry-After`.",
    },
    ErrorCode {
        code: "precondition_failed",
        kind: ErrorKind::PreconditionFailed,
        meaning: "`If-Match` (or `expectedVersion`) names a version that is no longer current: read it again; nothing changed.",
    },
    ErrorCode {
        code: "internal",
        kind: ErrorKind::Internal,
        meaning: "An unexpected failure; quote the `x-request-id` header when reporting it.",
    },
];

impl DomainError for ValidationErrors {
    fn code(&self) -> &'static str {
        "validation_failed"
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }

    fn field_errors(&self) -> &[FieldError] {
        &self.0
    }
}

impl DomainError for sea_orm::DbErr {
    fn code(&self) -> &'static str {
        if crate::db::is_unavailable(self) { "service_unavailable" } else { "internal" }
    }

    fn kind(&self) -> ErrorKind {
        if crate::db::is_unavailable(self) { ErrorKind::Unavailable } else { ErrorKind::Internal }
    }
}

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A path into the request body (`variants[0].prices[1].amount`) or a query parameter's name.
    pub field: String,
    /// A stable machine-readable code such as `required` or `must_be_positive`.
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

/// Every problem found in one request, collected so a client can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Records a problem with `field`.
    pub fn add(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), code, message: message.into() });
    }

    /// A single-problem set.
    pub fn single(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, code, message);
        errors
    }

    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: ValidationErrors) {
        self.0.extend(other.0);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else the collected errors.
    pub fn finish<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }

    /// The recorded problems, in the order found.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

impl From<Vec<FieldError>> for ValidationErrors {
    fn from(errors: Vec<FieldError>) -> Self {
        Self(errors)
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<&str> = self.0.iter().map(|e| e.field.as_str()).collect();
        write!(f, "invalid fields: {}", fields.join(", "))
    }
}

impl std::error::Error for ValidationErrors {}
