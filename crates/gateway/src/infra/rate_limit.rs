//! The layer in front of every route that resolves the caller once, spends their allowance,
//! and answers 429 `rate_limited` with `Retry-After` past it. Answers to a limited caller carry
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, FromRef};
use axum::http::{HeaderMap, HeaderValue, Request};
use axum::response::{IntoResponse, Response};

use crate::auth::{self, Resolved};
use crate::error::ApiError;
use crate::infra::limits::{Bucket, Decision, client_network};
use crate::state::AppState;

/// The caller's bucket, kept in the request for handlers that spend more than one request's
/// worth (a GraphQL document with several root fields).
#[derive(Debug, Clone)]
pub struct CallerBucket(pub Option<Bucket>);

/// See the module documentation.
#[derive(Clone)]
pub struct RateLimitLayer(pub AppState);

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService { inner, state: self.0.clone() }
    }
}

/// See [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    state: AppState,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<Request<B>> for RateLimitService<S>
where
    S: tower::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures::future::Either<S::Future, BoxFuture<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Off entirely (load tests), or an operator's route: straight through, untouched.
        if !self.state.limits.any() || matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics") {
            return futures::future::Either::Left(self.inner.call(request));
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        futures::future::Either::Right(Box::pin(async move {
            let mut request = request;
            let address = client_address(&state, &request);
            // An API key this instance has not looked up costs a database query: the lookup
            // is charged to the address's key-lookup allowance first, so a flood of made-up
            // keys is refused before it reaches the database. That allowance is apart from the
            // address's requests: a valid key sent from an address busy with shoppers is looked
            // up and charged to the key alone, while an unknown or revoked key then spends the
            // address's allowance too (its bucket below).
            let unknown_key = request
                .headers()
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|key| !state.accounts.knows_key(key));
            if unknown_key
                && let Some(decision) = state.limits.check(&Bucket::KeyLookup(client_network(address)), 1).await
                && decision.retry_after.is_some()
            {
                return Ok(refused(decision));
            }
            let resolved = auth::resolve(&state, request.headers()).await;
            if let Some(kind) = request.extensions().get::<crate::infra::access_log::RequestFacts>() {
                kind.note(&resolved);
            }
            let bucket = Bucket::of(resolved.as_ref().ok(), address);
            let decision = match &bucket {
                Some(bucket) => state.limits.check(bucket, 1).await,
                None => None,
            };
            if let Some(decision) = decision
                && decision.retry_after.is_some()
            {
                return Ok(refused(decision));
            }
            request.extensions_mut().insert(Resolved(resolved));
            request.extensions_mut().insert(CallerBucket(bucket));
            let mut response = inner.call(request).await?;
            if let Some(decision) = decision {
                // A handler that spent more (GraphQL) reported its own, lower figures.
                if !response.headers().contains_key("ratelimit-remaining") {
                    set_headers(response.headers_mut(), decision);
                }
            }
            Ok(response)
        }))
    }
}

/// The client's address: the right-most entry of the configured proxy header (over all its
/// lines), else the peer.
pub fn client_address<B>(state: &AppState, request: &Request<B>) -> IpAddr {
    address_of(state, request.headers(), request.extensions())
}

fn address_of(state: &AppState, headers: &HeaderMap, extensions: &axum::http::Extensions) -> IpAddr {
    // A proxy appends the address it saw, to the last line of the header (or as a new line):
    // only the right-most entry of all lines is the proxy's; whatever stands before it is the
    // client's to choose.
    if let Some(name) = &state.config.client_ip_header
        && let Some(value) = headers.get_all(name).iter().next_back().and_then(|v| v.to_str().ok())
        && let Some(ip) = value.rsplit(',').next().and_then(|last| last.trim().parse::<IpAddr>().ok())
    {
        return ip;
    }
    extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(peer)| peer.ip())
}

/// The client's address, as an extractor (sign-in throttling is per address).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(address_of(&AppState::from_ref(state), &parts.headers, &parts.extensions)))
    }
}

/// Writes the `RateLimit-*` headers of a decision.
pub fn set_headers(headers: &mut HeaderMap, decision: Decision) {
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(decision.reset));
}

/// 429 `rate_limited` with `Retry-After` and the `RateLimit-*` headers.
pub fn refused(decision: Decision) -> Response {
    let retry = decision.retry_after.unwrap_or(1);
    let mut response =
        ApiError::rate_limited(retry, "Too many requests; retry after the number of seconds in Retry-After.")
            .into_response();
    set_headers(response.headers_mut(), decision);
    response
}

/// Requests' worth of allowance a password hash costs (a registration, a password change, a
/// new staff account): hashing takes 19 MiB and a core for tens of milliseconds, so a caller
/// cannot spend the shared bound on hashing at the price of plain requests.
pub const HASHING_COST: u32 = 20;

/// Spends `cost` more of the caller's allowance: 429 `rate_limited` past it.
pub async fn spend(state: &AppState, bucket: Option<&CallerBucket>, cost: u32) -> Result<(), crate::error::ApiError> {
    let Some(CallerBucket(Some(bucket))) = bucket else { return Ok(()) };
    match state.limits.check(bucket, cost).await {
        Some(Decision { retry_after: Some(seconds), .. }) => Err(crate::error::ApiError::rate_limited(
            seconds,
            "Too many requests; retry after the number of seconds in Retry-After.",
        )),
        _ => Ok(()),
    }
}
