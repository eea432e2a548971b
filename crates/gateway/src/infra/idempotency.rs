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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{Duration, Utc};
use emporium_core::ErrorKind;
use emporium_core::db::statement;
use emporium_core::uow::{AnswerError, BoxFuture, StoredAnswer};
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use sha2::Sha256;

use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::extract::payload_too_large;
use crate::state::AppState;

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

/// The middleware, mounted on the REST routes. Only a `POST` outside `/v1/auth/` that carries
/// the header takes the keyed path (and its boxed future); every other request goes straight
/// to the route, at no cost.
#[derive(Clone)]
pub struct IdempotencyLayer(pub AppState);

impl<S> tower::Layer<S> for IdempotencyLayer {
    type Service = IdempotencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdempotencyService { inner, state: self.0.clone() }
    }
}

/// See [`IdempotencyLayer`].
#[derive(Clone)]
pub struct IdempotencyService<S> {
    inner: S,
    state: AppState,
}

impl<S> tower::Service<Request> for IdempotencyService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        futures::future::Either<S::Future, futures::future::BoxFuture<'static, Result<Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let keyed = request.method() == Method::POST
            && !request.uri().path().starts_with("/v1/auth/")
            && request.headers().contains_key(HEADER);
        if !keyed {
            return futures::future::Either::Left(self.inner.call(request));
        }
        // The service that was made ready runs the request; a fresh clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        futures::future::Either::Right(Box::pin(async move {
            let next = move |request: Request| {
                let mut inner = inner;
                async move { inner.call(request).await.unwrap_or_else(|never| match never {}) }
            };
            Ok(keyed_request(state, request, next).await)
        }))
    }
}

/// A keyed mutating request: claim, run, record or release.
async fn keyed_request<F, Fut>(state: AppState, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let key = request.headers().get(HEADER).and_then(|v| v.to_str().ok());
    let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 255).map(str::to_owned) else {
        return invalid_key("must be 1 to 255 visible ASCII characters").into_response();
    };
    let resolved = match request.extensions().get::<auth::Resolved>() {
        Some(auth::Resolved(resolved)) => resolved.clone(),
        None => auth::resolve(&state, request.headers()).await,
    };
    let Ok(principal) = resolved else {
        return next(request).await;
    };
    let scope = match scope_of(&principal, &key) {
        Ok(scope) => scope,
        Err(refusal) => {
            let mut request = request;
            request.extensions_mut().insert(RefusedKey(refusal));
            return next(request).await;
        }
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, state.config.body_limit).await else {
        return payload_too_large().into_response();
    };
    let (claim, guard) = match take(&state, scope, key, false, &[parts.uri.path().as_bytes(), &bytes]).await {
        Ok(Taken::Mine(claim, guard)) => (claim, guard),
        Ok(Taken::Replay(response)) => return response,
        Err(refusal) => return refusal.into_response(),
    };
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(Idempotency(Some(Arc::clone(&claim))));
    let response = next(request).await;
    guard.defuse();
    if claim.recorded.load(Ordering::SeqCst) {
        // Stored with the write itself, unless its commit failed after the record: then the
        // row is still `running` under this claim, and only then does the release match it.
        if response.status().is_server_error() {
            let _ = release(&state.db, &claim).await;
        }
        return response;
    }
    let status = response.status();
    if status.is_success() {
        // Every mutating handler records in its transaction; one that did not is a bug, and its
        // answer is stored here as the next best thing.
        tracing::error!(scope = %claim.scope, "a keyed write answered without recording its outcome");
    } else if forgettable(status) {
        // Nothing was done, and a retry may succeed: the key is free again.
        if let Err(err) = release(&state.db, &claim).await {
            tracing::warn!(error = %err, "releasing an idempotency key failed");
        }
        return response;
    }
    // A refusal (422, 409...) changed nothing and is replayed as it was.
    let (parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, MAX_STORED_BODY * 4).await else {
        let _ = release(&state.db, &claim).await;
        return ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, "internal", "The answer could not be read.")
            .into_response();
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(known_media);
    if let Err(err) = finish(&state.db, &claim, status, content_type, &body).await {
        tracing::error!(error = %err, "storing an idempotent answer failed");
    }
    Response::from_parts(parts, Body::from(body))
}

/// A key claimed for this request, or the stored answer of its first request.
enum Taken {
    /// This request does the work; the guard frees the claim if it is dropped unrecorded.
    Mine(Arc<Claim>, ReleaseOnDrop),
    Replay(Response),
}

/// Claims `key` in `scope` for a request whose fingerprint is made of `parts` (its path and
/// body): the same key with another request is 422 `idempotency_key_reused`, one still
/// running 409 `idempotency_in_progress`.
async fn take(state: &AppState, scope: String, key: String, graphql: bool, parts: &[&[u8]]) -> Result<Taken, ApiError> {
    // Keyed: bodies hold passwords (registration, a password change), and a plain hash of a
    // guessable body would let a database dump be brute-forced offline.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&state.fingerprint_key) else {
        return Err(ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "An unexpected error occurred.",
        ));
    };
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0]);
        }
        mac.update(part);
    }
    let request_hash = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let abandoned_after = Duration::from_std(state.config.request_timeout).unwrap_or_default() + Duration::seconds(30);
    let claim = Arc::new(Claim {
        scope,
        key,
        token: uuid::Uuid::new_v4().simple().to_string(),
        recorded: AtomicBool::new(false),
        graphql,
    });
    // From here on, if the request's future is dropped (the client went away, a timeout, a
    // panic) the claim is freed: whatever the handler did rolled back unless it recorded.
    let guard = ReleaseOnDrop(Some((state.db.clone(), Arc::clone(&claim))));
    match try_claim(&state.db, &claim, &request_hash, abandoned_after).await {
        Ok(Claimed::Mine) => Ok(Taken::Mine(claim, guard)),
        Ok(Claimed::Replay(response)) => {
            guard.defuse();
            Ok(Taken::Replay(response))
        }
        Ok(Claimed::Refused(error)) => {
            guard.defuse();
            Err(error)
        }
        Err(err) => Err(ApiError::database(&err)),
    }
}

/// Frees a claim when the request is abandoned mid-flight.
struct ReleaseOnDrop(Option<(DatabaseConnection, Arc<Claim>)>);

impl ReleaseOnDrop {
    fn defuse(mut self) {
        self.0 = None;
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some((db, claim)) = self.0.take() else { return };
        if claim.recorded.load(Ordering::SeqCst) {
            return;
        }
        // A `done` row is never deleted, so this is safe even if the write's commit is still
        // in flight: the delete waits for it and then matches nothing.
        // The claim's own insert may still be in flight on the connection the dropped future
        // used (its statement sent, its answer never awaited): it can land after a first
        // delete, so the delete is repeated a moment later. The token is this request's alone.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for wait in [0, 250, 2_000] {
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                    if let Err(err) = release(&db, &claim).await {
                        tracing::warn!(error = %err, "releasing an abandoned idempotency key failed");
                    }
                }
            });
        }
    }
}

/// Answers after which the key is forgotten: server failures, credentials, throttling, a
/// missing resource (which may exist on a retry) and timeouts.
fn forgettable(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 408 | 429)
}

/// The media types answers carry, as static strings.
fn known_media(media: &str) -> Option<&'static str> {
    match media {
        "application/json" => Some("application/json"),
        "application/problem+json" => Some(crate::error::PROBLEM_JSON),
        _ => None,
    }
}

enum Claimed {
    /// This request holds the key and does the work.
    Mine,
    /// The first answer, again.
    Replay(Response),
    /// Another body, or the first request still running.
    Refused(ApiError),
}

/// Takes the key for `claim`, or says why not.
async fn try_claim(
    db: &DatabaseConnection,
    claim: &Claim,
    request_hash: &str,
    abandoned_after: Duration,
) -> Result<Claimed, DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let (scope, key, token) = (claim.scope.as_str(), claim.key.as_str(), claim.token.as_str());
    let inserted = db
        .execute_raw(statement(
            backend,
            "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, claim_token, created_at) \
             VALUES (?, ?, ?, 'running', ?, ?) ON CONFLICT (scope, idempotency_key) DO NOTHING",
            [scope.into(), key.into(), request_hash.into(), token.into(), now.into()],
        ))
        .await?
        .rows_affected();
    if inserted == 1 {
        return Ok(Claimed::Mine);
    }
    let Some(row) = db
        .query_one_raw(statement(
            backend,
            "SELECT request_hash, state, response_status, response_content_type, response_body, created_at \
             FROM idempotency_keys WHERE scope = ? AND idempotency_key = ?",
            [scope.into(), key.into()],
        ))
        .await?
    else {
        // Released between our insert and select: a retry may claim it.
        return Ok(Claimed::Refused(in_progress()));
    };
    let stored_hash: String = row.try_get("", "request_hash")?;
    if stored_hash != request_hash {
        return Ok(Claimed::Refused(ApiError::new(
            ErrorKind::Invalid,
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request.",
        )));
    }
    let state: String = row.try_get("", "state")?;
    if state == "running" {
        // Nothing of a running row has committed (see the module's doc): one left by a crash
        // may be taken over, and the new claim token locks the old holder out.
        let created_at: chrono::DateTime<Utc> = row.try_get("", "created_at")?;
        if created_at < now - abandoned_after {
            let taken = db
                .execute_raw(statement(
                    backend,
                    "UPDATE idempotency_keys SET created_at = ?, claim_token = ? WHERE scope = ? \
                     AND idempotency_key = ? AND state = 'running' AND created_at = ?",
                    [now.into(), token.into(), scope.into(), key.into(), created_at.into()],
                ))
                .await?
                .rows_affected();
            if taken == 1 {
                return Ok(Claimed::Mine);
            }
        }
        return Ok(Claimed::Refused(in_progress()));
    }
    let status: i32 = row.try_get::<Option<i32>>("", "response_status")?.unwrap_or(200);
    let content_type: Option<String> = row.try_get("", "response_content_type")?;
    let body: String = row.try_get::<Option<String>>("", "response_body")?.unwrap_or_default();
    if content_type.as_deref() == Some(GRAPHQL_PENDING) {
        // Committed, its whole answer not stored yet: the first request is most likely still
        // finishing. Only once it has had all its time is the answer taken as lost.
        let created_at: chrono::DateTime<Utc> = row.try_get("", "created_at")?;
        if created_at >= now - abandoned_after {
            return Ok(Claimed::Refused(in_progress()));
        }
        return Ok(Claimed::Replay(answer_unavailable(&body)));
    }
    let mut response = (StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK), body).into_response();
    match content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        Some(value) => response.headers_mut().insert(header::CONTENT_TYPE, value),
        None => response.headers_mut().remove(header::CONTENT_TYPE),
    };
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Claimed::Replay(response))
}

/// The replay of a GraphQL write that committed while its whole answer was never stored (the
/// process stopped between the two): the work is not done again; the write's own answer, as
/// REST would have given it, is in `extensions.result`.
fn answer_unavailable(recorded: &str) -> Response {
    use async_graphql::ErrorExtensions as _;
    let result = serde_json::from_str::<serde_json::Value>(recorded).unwrap_or(serde_json::Value::Null);
    let result = async_graphql::Value::from_json(result).unwrap_or(async_graphql::Value::Null);
    let error = async_graphql::Error::new(
        "The mutation of this Idempotency-Key was done once, but its answer was not kept; it is not done again. \
         Read its result with a query.",
    )
    .extend_with(|_, ext| {
        ext.set("code", "idempotent_answer_unavailable");
        ext.set("result", result.clone());
    });
    let response = async_graphql::Response::from_errors(vec![error.into_server_error(async_graphql::Pos::default())]);
    let mut answer =
        Answer::json(StatusCode::OK, Bytes::from(serde_json::to_vec(&response).unwrap_or_default())).into_response();
    answer.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    answer
}

/// What [`graphql_keyed`] learns of the document it ran.
pub struct GraphqlRun {
    /// The serialized answer.
    pub body: Bytes,
    /// What a retry receives, when it must differ from `body` (a secret shown once is not
    /// kept: a new API key's).
    pub stored: Option<Bytes>,
    /// Whether nothing was done and a retry may do better (an error a REST answer would
    /// forget: unauthenticated, forbidden, not found, throttled, a server or provider failure,
    /// or a document that did not run at all).
    pub forgettable: bool,
}

/// Runs a keyed GraphQL mutation document once per key: `run` gets the claim to hand its
/// resolvers. The same key and document again get the stored answer; another document is 422
/// `idempotency_key_reused`, and while the first runs the answer is 409
/// `idempotency_in_progress` (both as GraphQL errors, as every refusal of this route is).
pub async fn graphql_keyed<F, Fut>(
    state: &AppState,
    principal: &Principal,
    key: &HeaderValue,
    document: &[&[u8]],
    run: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Idempotency) -> Fut,
    Fut: Future<Output = Result<GraphqlRun, ApiError>>,
{
    let Some(key) = key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255).map(str::to_owned) else {
        return Err(invalid_key("must be 1 to 255 visible ASCII characters"));
    };
    let scope = scope_of(principal, &key)?;
    let mut parts: Vec<&[u8]> = vec![b"/graphql"];
    parts.extend_from_slice(document);
    let (claim, guard) = match take(state, scope, key, true, &parts).await? {
        Taken::Mine(claim, guard) => (claim, guard),
        Taken::Replay(response) => return Ok(response),
    };
    let ran = run(Idempotency(Some(Arc::clone(&claim)))).await;
    guard.defuse();
    let ran = match ran {
        Ok(ran) => ran,
        Err(err) => {
            if !claim.recorded.load(Ordering::SeqCst) {
                let _ = release(&state.db, &claim).await;
            }
            return Err(err);
        }
    };
    let answer = Answer::json(StatusCode::OK, ran.body);
    let stored = ran.stored.as_ref().unwrap_or(&answer.body);
    if claim.recorded.load(Ordering::SeqCst) {
        // The write committed with a placeholder: the whole answer takes its place. (Had its
        // commit failed after the record, the row would still be `running`: freed here.)
        if ran.forgettable {
            let _ = release(&state.db, &claim).await;
        }
        if let Err(err) = replace_answer(&state.db, &claim, stored).await {
            tracing::error!(error = %err, "storing a GraphQL write's whole answer failed; its replay says so");
        }
    } else if ran.forgettable {
        if let Err(err) = release(&state.db, &claim).await {
            tracing::warn!(error = %err, "releasing an idempotency key failed");
        }
    } else if let Err(err) = finish(&state.db, &claim, StatusCode::OK, answer.content_type, stored).await {
        // A refusal, or a write with nothing of its own to record (a change that is the same
        // when repeated): stored after the fact.
        tracing::error!(error = %err, "storing an idempotent GraphQL answer failed");
    }
    Ok(answer.into_response())
}

/// Replaces a GraphQL write's placeholder with the document's whole answer.
async fn replace_answer(db: &DatabaseConnection, claim: &Claim, body: &[u8]) -> Result<(), DbErr> {
    let (content_type, body) = if body.len() <= MAX_STORED_BODY {
        (Some("application/json"), Some(String::from_utf8_lossy(body).into_owned()))
    } else {
        (None, None)
    };
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE idempotency_keys SET response_status = 200, response_content_type = ?, response_body = ? \
         WHERE scope = ? AND idempotency_key = ? AND claim_token = ? AND state = 'done'",
        [
            content_type.into(),
            body.into(),
            claim.scope.clone().into(),
            claim.key.clone().into(),
            claim.token.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks the claim done with its answer, if the claim is still held. A body over
/// [`MAX_STORED_BODY`] is not kept (the replay then carries the status alone).
async fn finish<C: ConnectionTrait>(
    db: &C,
    claim: &Claim,
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<bool, DbErr> {
    let (content_type, body) = if body.len() <= MAX_STORED_BODY {
        (content_type.map(str::to_owned), Some(String::from_utf8_lossy(body).into_owned()))
    } else {
        (None, None)
    };
    let updated = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_content_type = ?, \
             response_body = ? WHERE scope = ? AND idempotency_key = ? AND claim_token = ? AND state = 'running'",
            [
                i32::from(status.as_u16()).into(),
                content_type.into(),
                body.into(),
                claim.scope.clone().into(),
                claim.key.clone().into(),
                claim.token.clone().into(),
            ],
        ))
        .await?
        .rows_affected();
    Ok(updated == 1)
}

/// Frees a claim nothing was recorded for. A `done` row is never touched.
async fn release(db: &DatabaseConnection, claim: &Claim) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? AND claim_token = ? AND state = 'running'",
        [claim.scope.clone().into(), claim.key.clone().into(), claim.token.clone().into()],
    ))
    .await?;
    Ok(())
}

/// Deletes answers older than the retention period; run periodically.
pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let cutoff = Utc::now() - Duration::hours(RETENTION_HOURS);
    Ok(db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            [cutoff.into()],
        ))
        .await?
        .rows_affected())
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
