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
    /// No or bad credentials (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Forbidden,
    /// A dependency (the database) cannot be reached (503).
    Unavailable,
    /// A bug or an unexpected failure (500).
    Internal,
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

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<&str> = self.0.iter().map(|e| e.field.as_str()).collect();
        write!(f, "invalid fields: {}", fields.join(", "))
    }
}

impl std::error::Error for ValidationErrors {}
