//! API errors as RFC 9457 `application/problem+json`, and the one place where an error kind
//! becomes an HTTP status (GraphQL reads the same `code`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_core::{ErrorKind, FieldError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, stable code and human-readable detail.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[schema(example = "https://emporium.dev/problems/validation_failed")]
    pub r#type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// A stable machine-readable code such as `validation_failed` or `not_found`.
    pub code: String,
    /// For `validation_failed`: one entry per problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One invalid field of a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    /// A path into the request body, or a query parameter's name.
    #[schema(example = "variants[0].prices[0].amount")]
    pub field: String,
    /// A stable code such as `required` or `must_be_positive`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

/// The HTTP status of an error kind. The only mapping from kinds to statuses.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// An error of `kind` with a code and detail.
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        let status = status_of(kind);
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: (kind == ErrorKind::Unavailable).then_some(1),
        }
    }

    /// An error with an explicit status, for transport-level problems (400, 405, 413, 415).
    pub fn with_status(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    /// 422 `validation_failed` listing each problem.
    pub fn validation(errors: ValidationErrors) -> Self {
        let detail = if errors.errors().len() == 1 {
            "One field is invalid.".to_owned()
        } else {
            format!("{} fields are invalid.", errors.errors().len())
        };
        Self { errors: errors.errors().to_vec(), ..Self::new(ErrorKind::Invalid, "validation_failed", detail) }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, "unauthorized", detail)
    }

    /// 403 `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, "forbidden", detail)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::NotFound, "not_found", format!("No {what} has this id."))
    }

    /// A failure the client cannot fix: logged with its whole cause chain, answered generically.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "request failed");
        Self::new(
            ErrorKind::Internal,
            "internal",
            "An unexpected error occurred. Quote the x-request-id header when reporting it.",
        )
    }

    /// 503 when the database cannot be reached, else 500.
    pub fn database(err: &sea_orm::DbErr) -> Self {
        if emporium_core::db::is_unavailable(err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::new(
                ErrorKind::Unavailable,
                "service_unavailable",
                "The database cannot be reached; nothing was changed.",
            )
        } else {
            Self::internal(err)
        }
    }

    /// A short title per status.
    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    /// The body as it is sent.
    pub fn problem(&self) -> Problem {
        Problem {
            r#type: format!("https://emporium.dev/problems/{}", self.code),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            errors: self
                .errors
                .iter()
                .map(|e| ProblemField { field: e.field.clone(), code: e.code.to_owned(), message: e.message.clone() })
                .collect(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<emporium_catalog::CatalogError> for ApiError {
    fn from(err: emporium_catalog::CatalogError) -> Self {
        use emporium_catalog::CatalogError as E;
        match err {
            E::Invalid(errors) => Self::validation(errors),
            E::Database(e) => Self::database(&e),
            E::ProductNotFound => Self::not_found("product"),
            E::VariantNotFound => Self::not_found("variant"),
            E::CategoryNotFound => Self::not_found("category"),
            other => Self::new(other.kind(), other.code(), other.to_string()),
        }
    }
}

impl From<emporium_customers::AccountError> for ApiError {
    fn from(err: emporium_customers::AccountError) -> Self {
        use emporium_customers::AccountError as E;
        match err {
            E::Invalid(errors) => Self::validation(errors),
            E::Database(e) => Self::database(&e),
            E::InvalidCredentials => Self::unauthorized("Wrong email, password or token."),
            E::Hashing => Self::internal(&err),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::database(&err)
    }
}
