//! Assembling the server: state, REST, GraphQL, docs and the middleware around them. The same
//! `build` serves production, the tests and the document exporters.

use std::sync::Arc;

use crate::infra::access_log::AccessLogLayer;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use emporium_core::CursorCodec;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{AccountCache, Tokens, signing_key};
use crate::config::Config;
use crate::error::ApiError;
use crate::extract::payload_too_large;
use crate::graphql;
use crate::infra::background::{Background, Shutdown};
use crate::infra::cache::{CacheStore, MemoryCache, ProductCache, RedisCache};
use crate::infra::idempotency;
use crate::infra::limits::Limits;
use crate::infra::metrics::{Metrics, MetricsLayer};
use crate::infra::rate_limit::RateLimitLayer;
use crate::infra::redis::SharedRedis;
use crate::state::{AppState, Shared};
use crate::{db, ide, rest};

/// A built application, ready to serve.
pub struct App {
    pub router: Router,
    pub state: AppState,
    /// Its background tasks; [`serve`] stops them once the last request is answered.
    pub background: Background,
}

/// Connects, migrates, and assembles the application.
pub async fn build(config: Config) -> anyhow::Result<App> {
    db::migrate(&config).await?;
    let database = db::connect(&config).await?;
    let key = signing_key(&database, config.jwt_secret.as_ref()).await?;
    let redis = match &config.redis_url {
        Some(url) => Some(Arc::new(SharedRedis::connect(url, config.redis_timeout)?)),
        None => None,
    };
    let store = match &redis {
        Some(redis) => {
            CacheStore::Redis(RedisCache::new(Arc::clone(redis), config.cache_prefix.clone(), config.cache_ttl))
        }
        None => CacheStore::Memory(Box::new(MemoryCache::new(config.cache_ttl, 100_000))),
    };
    let started = std::time::Instant::now();
    let search = Arc::new(crate::infra::search::Search::load(&database, |_, _| {}).await?);
    let products = search.read(emporium_search::Index::len);
    tracing::info!(products, elapsed_ms = started.elapsed().as_millis() as u64, "search index built");
    let metrics = Arc::new(Metrics::new()?);
    let limits = Limits::new(config.rate_limits, redis.clone(), config.cache_prefix.clone());
    let test_payments = Arc::new(emporium_payments::TestProvider::default());
    let payments = emporium_payments::Providers::builtin(Arc::clone(&test_payments));
    let cache = Arc::new(ProductCache::new(store, metrics.cache.clone()));
    let webhooks_wake = Arc::new(tokio::sync::Notify::new());
    let keyring = crate::infra::webhooks::keyring(&config)?;
    let applied = crate::infra::cache::sync::ApplyHere {
        db: database.clone(),
        cache: Arc::clone(&cache),
        search: Arc::clone(&search),
        webhooks: Arc::clone(&webhooks_wake),
    };
    let recommendations = crate::usecases::recommendations::RecommendationCache::new(config.recommendations_fresh_for);
    let state = AppState::new(Shared {
        writer: emporium_core::uow::Writer::new(database.clone(), Arc::new(applied)),
        db: database,
        cache,
        search,
        redis,
        metrics,
        tokens: Tokens::new(&key, config.access_token_ttl),
        accounts: AccountCache::default(),
        limits,
        cursors: CursorCodec::new(&derive_key(&key, b"cursor")),
        fingerprint_key: derive_key(&key, b"idempotency"),
        config,
        payments,
        test_payments,
        keyring,
        clock: crate::infra::clock::Clock::default(),
        webhooks_wake,
        nats: Arc::default(),
        recommendations,
    });
    let mut background = Background::new();
    let housekeeping = state.clone();
    background.spawn("housekeeping", |shutdown| housekeep(housekeeping, shutdown));
    let expiry = state.clone();
    background.spawn("reservation expiry", |shutdown| crate::usecases::inventory::run_expiry(expiry, shutdown));
    let refunds = state.clone();
    background.spawn("refund retries", |shutdown| crate::usecases::orders::run_refund_retries(refunds, shutdown));
    // Change log rows outlive every entry that could depend on them.
    let (db, cache) = (state.db.clone(), Arc::clone(&state.cache));
    let retention = state.config.cache_ttl + std::time::Duration::from_secs(60);
    background.spawn("cache sync", move |shutdown| crate::infra::cache::sync::run(db, cache, retention, shutdown));
    let (db, search) = (state.db.clone(), Arc::clone(&state.search));
    background.spawn("search sync", move |shutdown| crate::infra::search::run(db, search, shutdown));
    let webhooks = state.clone();
    background.spawn("webhooks", |shutdown| crate::infra::webhooks::run(webhooks, shutdown));
    if let Some(url) = &state.config.nats_url {
        let target = crate::infra::nats::Target {
            url: url.expose().to_owned(),
            stream: state.config.nats_stream.clone(),
            prefix: state.config.nats_subject_prefix.clone(),
        };
        let (relay, status) = (state.clone(), Arc::clone(&state.nats));
        background.spawn("nats relay", move |shutdown| crate::infra::nats::run(relay, target, status, shutdown));
    }
    Ok(App { router: with_cors(router(state.clone()), &state.config.cors_origins), state, background })
}

/// Background upkeep: every 30 s write API keys' "last used" times; every minute forget full
/// rate-limit buckets; hourly purge idempotent answers and refresh tokens past their retention.
async fn housekeep(state: AppState, mut shutdown: Shutdown) {
    {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.requested() => {
                    // What API keys were used for since the last round is not lost.
                    if let Err(err) = state.accounts.flush_key_uses(&state.db).await {
                        tracing::warn!(error = ?err.code, "recording API key use failed");
                    }
                    return;
                }
            }
            ticks += 1;
            if let Err(err) = state.accounts.flush_key_uses(&state.db).await {
                tracing::warn!(error = ?err.code, "recording API key use failed");
            }
            if ticks % 2 == 0 {
                state.limits.housekeeping();
            }
            if ticks % 120 != 1 {
                continue;
            }
            match idempotency::purge_expired(&state.db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired idempotency keys removed"),
                Err(err) => tracing::warn!(error = %err, "purging idempotency keys failed"),
            }
            match emporium_customers::purge_expired_sessions(&state.db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired refresh tokens removed"),
                Err(err) => tracing::warn!(error = %err, "purging refresh tokens failed"),
            }
        }
    }
}

/// A key for another purpose, derived from the signing key, so one secret serves both.
fn derive_key(key: &[u8], purpose: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(purpose);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => key.to_vec(),
    }
}

/// CORS for the configured origins only: a request from one of them goes through tower-http's
/// CORS layer (preflights answered, the origin named in `Access-Control-Allow-Origin`); any
/// other request, including another origin's preflight, gets no CORS headers at all.
fn with_cors(router: Router, origins: &[String]) -> Router {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower::ServiceExt as _;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return router;
    }
    let allowed: Arc<std::collections::HashSet<HeaderValue>> = Arc::new(origins.iter().cloned().collect());
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            HeaderName::from_static("idempotent-replayed"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(std::time::Duration::from_secs(600));
    let with = router.clone().layer(cors);
    Router::new().fallback_service(tower::service_fn(move |request: Request<Body>| {
        let allowed = request.headers().get(header::ORIGIN).is_some_and(|origin| allowed.contains(origin));
        if allowed { with.clone() } else { router.clone() }.oneshot(request)
    }))
}

fn router(state: AppState) -> Router {
    let (rest, openapi) = rest::router().split_for_parts();
    let openapi = rest::complete(openapi);
    let schema = graphql::schema(Some(state.clone()));
    let body_limit = state.config.body_limit;
    let request_timeout = state.config.request_timeout;
    let metrics = Arc::clone(&state.metrics);
    // Keys apply to the REST routes only (route_layer: not to unknown routes, the fallback).
    let rest = rest.route_layer(idempotency::IdempotencyLayer(state.clone()));
    let routes = Router::new()
        .merge(rest.with_state(state.clone()))
        .route(
            "/graphql",
            get(ide::page).post(graphql::http::handler).with_state((
                state.clone(),
                schema,
                graphql::ParsedQueries::new(),
            )),
        )
        .route("/graphql/assets/{file}", get(ide::asset))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(|| async { ApiError::new(emporium_core::ErrorKind::NotFound, "not_found", "No such route.") })
        // Inside the router, where the matched route is known.
        .layer(MetricsLayer(metrics));
    // The rest wraps the router once, as one stack: each `Router::layer` boxes every route
    // again, and each box is cloned per request.
    let stack = tower::ServiceBuilder::new()
        // Outermost: the request id, the span every line of the request is written in, the
        // access log line, and problem+json answers for oversized request lines and headers.
        .layer(AccessLogLayer::new(state.config.access_log))
        // Outside the limit and the panic guard, so their plain-text answers are rewritten too.
        .layer(tower::util::MapResponseLayer::new(problem_for_bare_errors))
        .layer(axum::extract::DefaultBodyLimit::disable())
        // One limit in front of everything: async-graphql reads the raw body stream, so
        // axum's own limit would not guard /graphql.
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, "internal", "An unexpected error occurred.")
                .into_response()
        }))
        // A request still running past the timeout is dropped (its transaction rolls back)
        // and answered 503.
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, request_timeout))
        // In front of every route: resolves the caller once and spends their allowance.
        .layer(RateLimitLayer(state.clone()))
        .service(routes);
    Router::new().fallback_service(stack)
}

/// Rewrites error responses that axum or tower produced as plain text (unknown route, wrong
/// method, body too large, panics) into problem+json, so every error has one shape.
fn problem_for_bare_errors<B>(response: Response<B>) -> Response
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = response.map(Body::new);
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Only bare answers: no body type, or plain text. Problem+json and deliberate JSON bodies
    // (the readiness report's 503) stay as they are.
    let bare = response.headers().get(header::CONTENT_TYPE).is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !bare {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut rewritten = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::with_status(status, "method_not_allowed", "This route does not take this method.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        StatusCode::NOT_FOUND => ApiError::with_status(status, "not_found", "No such route."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::with_status(status, "unsupported_media_type", "Send the body as Content-Type: application/json.")
        }
        StatusCode::BAD_REQUEST => ApiError::with_status(status, "malformed_body", "The request could not be read."),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::new(
            emporium_core::ErrorKind::Unavailable,
            "service_unavailable",
            "The request took too long; retry.",
        ),
        s if s.is_server_error() => ApiError::with_status(s, "internal", "An unexpected error occurred."),
        s => ApiError::with_status(s, "bad_request", "The request was refused."),
    }
    .into_response();
    if let Some(allow) = allow {
        rewritten.headers_mut().insert(header::ALLOW, allow);
    }
    rewritten
}

/// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests and stops the background
/// tasks (each finishes the round it is in).
pub async fn serve(app: App) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(app.state.config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving; REST under /v1, docs at /docs, GraphQL at /graphql");
    let served =
        crate::serve::serve_on(listener, app.router, app.state.config.header_read_timeout, shutdown_signal()).await;
    let total = app.background.len();
    let ended = app.background.stop(std::time::Duration::from_secs(10)).await;
    tracing::info!(ended, total, "background tasks stopped");
    served?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
