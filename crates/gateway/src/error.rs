//! API errors as RFC 9457 `application/problem+json`, and the one place where an error kind
//! becomes an HTTP status (GraphQL reads the same `code`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emporium_core::{DomainError, ErrorKind, FieldError, ProblemExtra, ValidationErrors};
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
    /// Members beside the standard ones (`reason`, `skus`), boxed: most errors have none.
    pub extra: Option<Box<ProblemExtra>>,
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
    /// `discount_invalid`: why the code was refused (`unknown`, `expired`, `not_started`,
    /// `minimum_not_met`, `usage_limit_reached`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `out_of_stock`: the SKUs that cannot be filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skus: Option<Vec<String>>,
    /// `payment_provider_error`: `none` when no money was taken (or it was given back),
    /// `unknown` when the provider's answer was lost: retry with the same `Idempotency-Key`
    /// to complete on that same payment, never pay again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "unknown")]
    pub payment_state: Option<&'static str>,
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
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::PaymentDeclined => StatusCode::PAYMENT_REQUIRED,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
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
            extra: None,
        }
    }

    /// An error with an explicit status, for transport-level problems (400, 405, 413, 415).
    pub fn with_status(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new(), retry_after: None, extra: None }
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

    /// 429 `rate_limited`, retry after `seconds`.
    pub fn rate_limited(seconds: u64, detail: impl Into<String>) -> Self {
        Self { retry_after: Some(seconds), ..Self::with_status(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail) }
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
            reason: self.extra.as_ref().and_then(|e| e.reason).map(str::to_owned),
            skus: self.extra.as_ref().filter(|e| !e.skus.is_empty()).map(|e| e.skus.clone()),
            payment_state: self.extra.as_ref().and_then(|e| e.payment_state),
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

/// Every domain error becomes an answer the same way: its kind decides the status, its code
/// and safe detail are sent, its field errors listed. Internal failures are logged with their
/// cause chain and answered generically; unavailability is 503 with `Retry-After`.
impl<E: DomainError> From<E> for ApiError {
    fn from(err: E) -> Self {
        match err.kind() {
            ErrorKind::Internal => Self::internal(&err),
            ErrorKind::Unavailable => {
                tracing::warn!(error = %err, "a dependency is unavailable");
                Self::new(ErrorKind::Unavailable, "service_unavailable", err.safe_detail())
            }
            ErrorKind::Invalid if !err.field_errors().is_empty() => {
                Self { code: err.code(), ..Self::validation(ValidationErrors::from(err.field_errors().to_vec())) }
            }
            kind => {
                let extra = err.extra();
                let extra = (extra != ProblemExtra::default()).then(|| Box::new(extra));
                Self { extra, ..Self::new(kind, err.code(), err.safe_detail()) }
            }
        }
    }
}

/// Codes the gateway itself answers: transport problems, credentials, idempotency, GraphQL.
pub const GATEWAY_CODES: &[(&str, u16, &str)] = &[
    ("not_found", 404, "No such route (or resource)."),
    ("method_not_allowed", 405, "The route does not take this method; `Allow` lists those it takes."),
    ("malformed_body", 400, "The body is not valid JSON."),
    ("unsupported_media_type", 415, "The body was not sent as `application/json`."),
    ("payload_too_large", 413, "The body is larger than the limit (1 MiB by default)."),
    ("uri_too_long", 414, "The request target (path and query) is over 8 KiB."),
    ("headers_too_large", 431, "More than 100 header fields, or more than 32 KiB of them."),
    ("bad_request", 400, "The request was refused at the HTTP level."),
    ("unauthorized", 401, "No or bad credentials."),
    ("forbidden", 403, "Authenticated, but without the permission the route needs."),
    ("rate_limited", 429, "Too many requests, or too many failed sign-ins; retry after `Retry-After` seconds."),
    ("validation_failed", 422, "A parameter or header broke a rule; `errors` lists each one."),
    ("invalid_cursor", 422, "The cursor is unknown or altered."),
    ("idempotency_key_reused", 422, "This `Idempotency-Key` was used with another request."),
    ("idempotency_in_progress", 409, "A request with this `Idempotency-Key` is still running; retry shortly."),
    ("service_unavailable", 503, "The database cannot be reached, or the request took too long; nothing changed."),
    ("internal", 500, "An unexpected failure; quote `x-request-id`."),
    ("invalid_query", 200, "GraphQL: the document does not parse or validate against the schema."),
    ("query_too_large", 200, "GraphQL: the query text is over 32 KiB."),
    ("query_too_deep", 200, "GraphQL: the query nests deeper than the limit."),
    ("query_too_complex", 200, "GraphQL: the query costs more than the limit (lists cost `first` times their items)."),
    ("too_many_fragments", 200, "GraphQL: more than 64 fragments."),
    ("fragment_cycle", 200, "GraphQL: a fragment spreads itself."),
    ("response_too_large", 200, "GraphQL: the answer would be over 4 MiB."),
    (
        "idempotent_answer_unavailable",
        200,
        "GraphQL: this `Idempotency-Key`'s mutation was done once but its whole answer was not kept (the server \
         stopped in between); it is not done again, and `extensions.result` holds the write's own answer.",
    ),
];

/// The published table of every code, as `docs/error-codes.md` holds it.
pub fn error_code_table() -> String {
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut add = |code: &str, status: String, meaning: &str, source: &str| {
        if let Some(row) = rows.iter_mut().find(|r| r.0 == code) {
            if !row.3.split(", ").any(|s| s == source) {
                row.3.push_str(", ");
                row.3.push_str(source);
            }
        } else {
            rows.push((code.to_owned(), status, meaning.to_owned(), source.to_owned()));
        }
    };
    for (code, status, meaning) in GATEWAY_CODES {
        let status = if *status == 200 { "200 (GraphQL `extensions.code`)".to_owned() } else { status.to_string() };
        add(code, status, meaning, "gateway");
    }
    let domains: [(&str, &[emporium_core::ErrorCode]); 7] = [
        ("every domain", emporium_core::COMMON_CODES),
        ("catalog", emporium_catalog::ERROR_CODES),
        ("inventory", emporium_inventory::ERROR_CODES),
        ("customers", emporium_customers::ERROR_CODES),
        ("orders", emporium_orders::ERROR_CODES),
        ("webhooks", emporium_webhooks::ERROR_CODES),
        ("reviews", emporium_reviews::ERROR_CODES),
    ];
    for (source, codes) in domains {
        for entry in codes {
            add(entry.code, status_of(entry.kind).as_u16().to_string(), entry.meaning, source);
        }
    }
    rows.sort();
    let mut table = String::from(
        "# Error codes\n\nGenerated by `emporium export error-codes` (`make error-codes`); a test fails when it \
         differs from the code.\nEvery error answer is `application/problem+json` with one of these `code`s; \
         GraphQL errors carry the same code in `extensions.code`.\n\n| code | status | meaning | answered by |\n|---|---|---|---|\n",
    );
    for (code, status, meaning, source) in rows {
        table.push_str(&format!("| `{code}` | {status} | {meaning} | {source} |\n"));
    }
    table
}
