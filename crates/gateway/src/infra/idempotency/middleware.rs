//! The middleware on the REST routes: a keyed mutating request is claimed, run, and its answer
//! recorded or its key released.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::store::{Taken, finish, release, take};
use super::{HEADER, Idempotency, MAX_STORED_BODY, RefusedKey, invalid_key, scope_of};
use crate::auth;
use crate::error::ApiError;
use crate::extract::payload_too_large;
use crate::state::AppState;

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
