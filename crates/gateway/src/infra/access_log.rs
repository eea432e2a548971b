//! The operator's request log, the outermost layer: every request gets an `X-Request-Id` (the
//! caller's own when it is 1 to 64 letters, digits, `.`, `_` or `-`, else one made here), every
//! log line written while it runs carries that id (a span), and it ends with one line:
//! `request_id`, method, matched route (never the raw path: a guest's cart id is a
//! capability), status, latency in milliseconds and the caller's kind. With the log turned off
//! (`EMPORIUM_ACCESS_LOG=false`) only answers of 500 and up are written. No secret, token,
//! password or body is ever logged.
//!
//! It also answers request lines and header sections over the server's own bounds (414 and
//! 431) with problem+json, below hyper's hard limits, whose automatic answers have no body.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use crate::auth::Principal;
use crate::error::ApiError;

/// Longest request target (path and query) answered; longer is 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest header section answered; larger is 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most header fields answered; more is 431.
pub const MAX_HEADERS: usize = 100;

/// What the access line says of a request that only inner layers learn: who called (noted by
/// whichever part resolves the caller first) and the route it matched (noted by the router's
/// metrics layer before the handler runs, so a request that times out or panics still has it).
#[derive(Clone, Default)]
pub struct RequestFacts(Arc<Facts>);

/// What [`RequestFacts`] holds, once per request (one allocation).
#[derive(Default)]
struct Facts {
    caller: OnceLock<&'static str>,
    route: OnceLock<MatchedPath>,
}

impl RequestFacts {
    /// Notes the caller (the first resolution counts). Credentials that were refused act as
    /// no one's: the line says `anonymous` (its status says 401).
    pub fn note(&self, resolved: &Result<Principal, ApiError>) {
        let kind = match resolved {
            Ok(Principal::Customer { .. }) => "customer",
            Ok(Principal::Staff { .. }) => "staff",
            Ok(Principal::ApiKey { .. }) => "api_key",
            Ok(Principal::Anonymous) | Err(_) => "anonymous",
        };
        let _ = self.0.caller.set(kind);
    }

    /// Notes the route the request matched.
    pub fn route(&self, route: &MatchedPath) {
        let _ = self.0.route.set(route.clone());
    }
}

/// Whether a caller's request id may be used as it is.
pub fn valid_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len()) && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// See the module documentation.
#[derive(Clone)]
pub struct AccessLogLayer {
    /// Lines for answers under 500 too.
    pub enabled: bool,
    ids: RequestIds,
}

impl AccessLogLayer {
    /// The layer; `enabled` writes a line for every answer, not only 5xx.
    pub fn new(enabled: bool) -> Self {
        Self { enabled, ids: RequestIds::new() }
    }
}

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner, enabled: self.enabled, ids: self.ids.clone() }
    }
}

/// See [`AccessLogLayer`].
#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    enabled: bool,
    ids: RequestIds,
}

impl<S, B> tower::Service<Request<B>> for AccessLog<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AccessFuture<tracing::instrument::Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let id = match request.headers().get("x-request-id") {
            Some(given) if valid_request_id(given.as_bytes()) => given.clone(),
            _ => self.ids.make(),
        };
        request.headers_mut().insert("x-request-id", id.clone());
        let facts = RequestFacts::default();
        request.extensions_mut().insert(facts.clone());
        let refusal = oversized(&request);
        let method = request.method().clone();
        // Without credentials nothing needs resolving: the caller is anonymous.
        let credentials = request.headers().contains_key("x-api-key")
            || request.headers().contains_key(axum::http::header::AUTHORIZATION);
        let span = tracing::info_span!(target: "emporium::access", "request", request_id = id.to_str().unwrap_or("-"));
        AccessFuture {
            inner: self.inner.call(request).instrument(span.clone()),
            refusal,
            span,
            id,
            facts,
            credentials,
            method,
            enabled: self.enabled,
            started,
        }
    }
}

/// Whether a path holds a percent-encoded control character: no id or slug does, so such a
/// path names nothing (and never reaches a query: PostgreSQL refuses a NUL in text).
fn control_in_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (char::from(w[1]).to_digit(16), char::from(w[2]).to_digit(16)),
                (Some(high), Some(low)) if { let b = high * 16 + low; b < 0x20 || b == 0x7f }
            )
    })
}

/// 414 or 431 for a request over the server's bounds; 404 for a path no resource can have.
fn oversized<B>(request: &Request<B>) -> Option<Response> {
    if control_in_path(request.uri().path()) {
        return Some(ApiError::with_status(StatusCode::NOT_FOUND, "not_found", "No such resource.").into_response());
    }
    let uri = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return Some(
            ApiError::with_status(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                format!("The request target is over {MAX_URI_BYTES} bytes."),
            )
            .into_response(),
        );
    }
    let headers = request.headers();
    let size: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if headers.len() > MAX_HEADERS || size > MAX_HEADER_BYTES {
        return Some(
            ApiError::with_status(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                format!("At most {MAX_HEADERS} header fields and {MAX_HEADER_BYTES} bytes of them are read."),
            )
            .into_response(),
        );
    }
    None
}

pin_project_lite::pin_project! {
    /// The response future of [`AccessLog`].
    pub struct AccessFuture<F> {
        #[pin]
        inner: F,
        refusal: Option<Response>,
        span: tracing::Span,
        id: HeaderValue,
        facts: RequestFacts,
        credentials: bool,
        method: axum::http::Method,
        enabled: bool,
        started: Instant,
    }
}

impl<F, E> Future for AccessFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = match this.refusal.take() {
            Some(refusal) => Ok(refusal),
            None => std::task::ready!(this.inner.poll(cx)),
        };
        if let Ok(response) = &mut result {
            response.headers_mut().insert("x-request-id", this.id.clone());
            let status = response.status().as_u16();
            if *this.enabled || status >= 500 {
                let route = this.facts.0.route.get().map_or("unmatched", MatchedPath::as_str);
                // A route that never looked at the caller's credentials (health, metrics):
                // the line says which kind they name, unchecked.
                let unresolved = if *this.credentials { "unchecked" } else { "anonymous" };
                let caller = this.facts.0.caller.get().copied().unwrap_or(unresolved);
                let latency_ms = this.started.elapsed().as_micros() as f64 / 1000.0;
                let method = this.method.as_str();
                let _entered = this.span.enter();
                if status >= 500 {
                    tracing::error!(target: "emporium::access", method, route, status, latency_ms, caller, "request");
                } else {
                    tracing::info!(target: "emporium::access", method, route, status, latency_ms, caller, "request");
                }
            }
        }
        Poll::Ready(result)
    }
}

/// Request ids: a random per-process prefix and a counter. Unique across instances without a
/// random-number syscall per request.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let prefix = uuid::Uuid::new_v4().simple().to_string();
        Self { prefix: Arc::from(&prefix[..12]), counter: Arc::new(std::sync::atomic::AtomicU64::new(1)) }
    }

    fn make(&self) -> HeaderValue {
        use std::fmt::Write as _;
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut id = String::with_capacity(self.prefix.len() + 17);
        id.push_str(&self.prefix);
        let _ = write!(id, "-{n:x}");
        // From the string's own buffer, without the copy `from_str` makes.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(id)).unwrap_or(HeaderValue::from_static("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(valid_request_id(b"abc-123_x.y"));
        assert!(!valid_request_id(b""));
        assert!(!valid_request_id(&[b'a'; 65]));
        assert!(!valid_request_id(b"a b"));
        assert!(!valid_request_id(b"a}:\"x"));
        let ids = RequestIds::new();
        assert!(valid_request_id(ids.make().as_bytes()));
    }

    #[test]
    fn encoded_control_characters_in_a_path_are_found() {
        assert!(control_in_path("/v1/products/a%00b"));
        assert!(control_in_path("/v1/products/a%1fb"));
        assert!(control_in_path("/v1/products/%7F"));
        assert!(!control_in_path("/v1/products/caf%C3%A9"));
        assert!(!control_in_path("/v1/products/100%25"));
    }
}

/// Where log lines go: standard output through one buffer, so a line per request costs a copy
/// rather than a write system call each. Warnings and errors (a 5xx's line among them) are
/// written through at once; the rest within [`FLUSH_EVERY`], and when [`LogSink::flush`] is
/// called on the way out.
#[derive(Clone)]
pub struct LogSink(Arc<std::sync::Mutex<std::io::BufWriter<std::io::Stdout>>>);

/// How long an `info` line may wait in the buffer.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl LogSink {
    /// A sink on standard output, with a thread that flushes it every [`FLUSH_EVERY`].
    pub fn stdout() -> Self {
        let sink =
            Self(Arc::new(std::sync::Mutex::new(std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()))));
        let flusher = sink.clone();
        let _ = std::thread::Builder::new().name("log-flush".into()).spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flusher.flush();
            }
        });
        sink
    }

    /// Writes out what the buffer holds.
    pub fn flush(&self) {
        if let Ok(mut buffer) = self.0.lock() {
            let _ = std::io::Write::flush(&mut *buffer);
        }
    }
}

/// One line being written to a [`LogSink`].
pub struct SinkLine {
    sink: LogSink,
    through: bool,
}

impl std::io::Write for SinkLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.sink.0.lock() {
            Ok(mut buffer) => buffer.write(bytes),
            Err(_) => Ok(bytes.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SinkLine {
    fn drop(&mut self) {
        if self.through {
            self.sink.flush();
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = SinkLine;

    fn make_writer(&'a self) -> Self::Writer {
        SinkLine { sink: self.clone(), through: false }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        SinkLine { sink: self.clone(), through: *meta.level() <= tracing::Level::WARN }
    }
}
