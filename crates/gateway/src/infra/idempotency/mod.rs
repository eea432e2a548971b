//! `Idempotency-Key` on mutating POSTs (IETF Idempotency-Key draft): the same key with the same
//! body returns the first answer again and does the work once; another body is 422
//! `idempotency_key_reused`; while the first request runs, 409 `idempotency_in_progress`.
//!
//! How "once" holds: the middleware claims the key (a `running` row with a fresh claim token)
//! and hands the claim to the handler as [`Idempotency`]. A handler that writes records its
//! answer with [`Idempotency::record`] inside its own transaction, conditional on still holding
//! the claim, so the write and its stored answer commit together or not at all. Once that has
//! committed nothing releases or takes over the key: a failure afterwards, a crash, a dropped
//! connection all leave a `done` row whose answer a retry receives. A `running` row therefore
//! always means nothing committed, and one abandoned by a crash may be taken over safely (the
//! old holder, if it still runs, then fails its conditional record and rolls back).
//!
//! Keys belong to their caller. Staff and customers are scoped by account; an anonymous caller
//! has no account, so its key must be a random UUID and is its own scope (a guest cannot guess
//! another guest's key, and a cart id is a capability, so neither may its answer leak).
//!
//! Only routes mounted with the middleware (the REST router's mutating POSTs outside
//! `/v1/auth/`) take keys this way; reads and unknown routes never store an answer.
//!
//! `POST /graphql` takes the same keys for a document whose operation is a mutation
//! ([`graphql_keyed`]): the claim reaches the resolvers, whose use cases record in their own
//! transaction exactly as REST handlers do, and once the document has run, its whole answer
//! replaces what was recorded. A keyed document holds one mutation field, so one write stands
//! behind one key.
//!
//! By topic: `middleware.rs` (the REST layer), `graphql.rs` (keyed GraphQL documents) and
//! `store.rs` (claims and answers in the database, purging); here, the claim a handler
//! receives, the answer it records and whose keys a caller may use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use emporium_core::ErrorKind;
use emporium_core::uow::{AnswerError, BoxFuture, StoredAnswer};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use sha2::Sha256;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

mod graphql;
mod middleware;
mod store;

pub use graphql::{GraphqlRun, graphql_keyed};
pub use middleware::{IdempotencyLayer, IdempotencyService};
use store::finish;
pub use store::purge_expired;

const HEADER: &str = "idempotency-key";
/// How long answers are kept.
const RETENTION_HOURS: i64 = 48;
/// Longest answer body kept for replay; a larger answer is replayed as its status alone.
pub const MAX_STORED_BODY: usize = 256 * 1024;

/// What a request must not carry.
fn invalid_key(message: &str) -> ApiError {
    ApiError::validation(emporium_core::ValidationErrors::single("Idempotency-Key", "invalid", message))
}

fn in_progress() -> ApiError {
    ApiError::new(
        ErrorKind::Conflict,
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still running; retry shortly.",
    )
}

/// A held key: the row this request owns while it runs.
#[derive(Debug)]
struct Claim {
    scope: String,
    key: String,
    token: String,
    /// Set once the handler recorded its answer in its transaction.
    recorded: AtomicBool,
    /// Held by a GraphQL document: what the write records is a placeholder that the whole
    /// answer replaces once the document has run.
    graphql: bool,
}

/// The media type of a GraphQL write's recorded answer until the document's whole answer
/// replaces it: the use case's own answer, kept for the moment between the two.
const GRAPHQL_PENDING: &str = "application/vnd.emporium.graphql-pending+json";

/// The idempotency claim of a request, for its handler: absent without a key. A handler that
/// commits a write calls [`Idempotency::record`] in that write's transaction.
#[derive(Debug, Clone, Default)]
pub struct Idempotency(Option<Arc<Claim>>);

/// An answer, kept whole so it can be stored before it is sent.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
    pub etag: Option<String>,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: StatusCode, body: Bytes) -> Self {
        Self { status, content_type: Some("application/json"), body, etag: None }
    }

    /// An answer without a body (204).
    pub fn empty(status: StatusCode) -> Self {
        Self { status, content_type: None, body: Bytes::new(), etag: None }
    }

    /// A value serialized as a JSON answer.
    pub fn of<T: serde::Serialize>(status: StatusCode, value: &T) -> Result<Self, ApiError> {
        Ok(Self::json(status, Bytes::from(serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?)))
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        match self.content_type {
            Some(media) => headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media)),
            None => headers.remove(header::CONTENT_TYPE),
        };
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            headers.insert(header::ETAG, etag);
        }
        response
    }
}

impl Idempotency {
    /// A stable 32-hex-digit name of this request's key within its caller's scope (the same for
    /// every retry), for work that passes idempotency on to a third party (a payment
    /// provider's key); absent without a key.
    pub fn attempt(&self) -> Option<String> {
        use sha2::Digest as _;
        let claim = self.0.as_ref()?;
        let digest = Sha256::new()
            .chain_update(claim.scope.as_bytes())
            .chain_update([0])
            .chain_update(claim.key.as_bytes())
            .finalize();
        Some(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
    }

    /// Stores `answer` as this key's outcome, in `txn`, the write's own transaction. Fails with
    /// 409 `idempotency_in_progress` if the claim was lost (taken over as abandoned), which
    /// rolls the write back, since another request now does it.
    pub async fn record<C: ConnectionTrait>(&self, txn: &C, answer: &Answer) -> Result<(), ApiError> {
        match self.keep(txn, answer).await {
            Ok(()) => Ok(()),
            Err(AnswerError::Lost) => Err(in_progress()),
            Err(AnswerError::Database(err)) => Err(err.into()),
        }
    }

    async fn keep<C: ConnectionTrait>(&self, txn: &C, answer: &Answer) -> Result<(), AnswerError> {
        let Some(claim) = &self.0 else { return Ok(()) };
        let content_type = if claim.graphql { Some(GRAPHQL_PENDING) } else { answer.content_type };
        if !finish(txn, claim, answer.status, content_type, &answer.body).await? {
            return Err(AnswerError::Lost);
        }
        claim.recorded.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// `answer` as what a unit of work stores for this key (nothing without a key).
    pub fn stored(&self, answer: &Answer) -> Option<Box<dyn StoredAnswer>> {
        self.0.as_ref()?;
        Some(Box::new(Keep { idempotency: self.clone(), answer: answer.clone() }))
    }
}

/// An answer a unit of work stores with its write ([`Idempotency::stored`]).
struct Keep {
    idempotency: Idempotency,
    answer: Answer,
}

impl StoredAnswer for Keep {
    fn store<'a>(&'a self, txn: &'a DatabaseTransaction) -> BoxFuture<'a, Result<(), AnswerError>> {
        Box::pin(self.idempotency.keep(txn, &self.answer))
    }
}

impl FromRequestParts<AppState> for Idempotency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(RefusedKey(refusal)) = parts.extensions.get::<RefusedKey>() {
            return Err(refusal.clone());
        }
        Ok(parts.extensions.get::<Idempotency>().cloned().unwrap_or_default())
    }
}

/// A key this caller may not use, refused by the [`Idempotency`] extractor: handlers take it
/// after their credential check, so an anonymous caller on a staff route still hears 401.
#[derive(Clone)]
struct RefusedKey(ApiError);

/// The scope of a caller's keys, or why the key cannot be used by this caller.
fn scope_of(principal: &Principal, key: &str) -> Result<String, ApiError> {
    match principal {
        Principal::Staff { id, .. } => Ok(format!("staff:{id}")),
        Principal::Customer { id } => Ok(format!("customer:{id}")),
        Principal::ApiKey { id, .. } => Ok(format!("key:{id}")),
        // Only a random (version 4) UUID: a time-based or made-up one can be guessed, and
        // whoever holds a guest's key receives its answer.
        Principal::Anonymous => match uuid::Uuid::parse_str(key) {
            Ok(uuid)
                if uuid.get_version() == Some(uuid::Version::Random)
                    && uuid.get_variant() == uuid::Variant::RFC4122 =>
            {
                Ok(format!("anonymous:{}", uuid.hyphenated()))
            }
            _ => Err(invalid_key("without credentials, the key must be a random (version 4) UUID")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_keys_must_be_random_uuids_and_are_their_own_scope() {
        let key = "9b2f6a4e-3c1d-4e8f-a7b6-5d4c3b2a1f0e";
        assert_eq!(scope_of(&Principal::Anonymous, key).ok().as_deref(), Some(format!("anonymous:{key}").as_str()));
        assert!(scope_of(&Principal::Anonymous, "1").is_err());
        assert!(scope_of(&Principal::Anonymous, "00000000-0000-0000-0000-000000000000").is_err());
        assert!(scope_of(&Principal::Anonymous, "6ba7b810-9dad-11d1-80b4-00c04fd430c8").is_err(), "version 1");
        assert!(scope_of(&Principal::Anonymous, "9b2f6a4e-3c1d-7e8f-a7b6-5d4c3b2a1f0e").is_err(), "version 7");
        let staff = Principal::Staff { id: "stf_1".into(), role: emporium_customers::Role::Support };
        assert_eq!(scope_of(&staff, "1").ok().as_deref(), Some("staff:stf_1"));
    }
}
