//! Prometheus metrics at `GET /metrics`: requests by matched route, method and status, their
//! latency, product-cache hits and misses, and the database pool.
//!
//! The request layer is a plain tower service (no boxed future, no state clone per request),
//! and label lookups borrow the route and status strings, so a request pays a few atomic adds.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::error::ApiError;
use crate::state::AppState;

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    /// Product-cache lookups.
    pub cache: CacheCounters,
    /// Webhook attempts made by this instance, by how they left the delivery.
    webhook_attempts: IntCounterVec,
    /// Webhook deliveries in the database, by status (shared by every instance).
    webhook_deliveries: IntGaugeVec,
    /// Seconds since the oldest pending webhook delivery was queued.
    webhook_oldest_pending: prometheus::Gauge,
}

/// Hit and miss counters of the product cache, resolved once.
#[derive(Clone)]
pub struct CacheCounters {
    pub product_hit: IntCounter,
    pub product_miss: IntCounter,
    pub shared_hit: IntCounter,
    pub shared_miss: IntCounter,
    pub stock_hit: IntCounter,
    pub stock_miss: IntCounter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("emporium".to_owned()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by matched route, method and status"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer, by matched route and method")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["route", "method"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections: open, idle and the maximum"),
            &["state"],
        )?;
        let lookups = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Cache lookups: product documents and catalog-wide entries"),
            &["entry", "result"],
        )?;
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "webhook_attempts_total",
                "Webhook delivery attempts by this instance, by the delivery's status after them",
            ),
            &["outcome"],
        )?;
        let webhook_deliveries =
            IntGaugeVec::new(Opts::new("webhook_deliveries", "Webhook deliveries by status"), &["status"])?;
        let webhook_oldest_pending = prometheus::Gauge::new(
            "webhook_oldest_pending_seconds",
            "Seconds since the oldest pending webhook delivery was queued",
        )?;
        registry.register(Box::new(webhook_attempts.clone()))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(webhook_oldest_pending.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(lookups.clone()))?;
        let cache = CacheCounters {
            product_hit: lookups.with_label_values(&["product", "hit"]),
            product_miss: lookups.with_label_values(&["product", "miss"]),
            shared_hit: lookups.with_label_values(&["shared", "hit"]),
            shared_miss: lookups.with_label_values(&["shared", "miss"]),
            stock_hit: lookups.with_label_values(&["stock", "hit"]),
            stock_miss: lookups.with_label_values(&["stock", "miss"]),
        };
        Ok(Self {
            registry,
            requests,
            latency,
            pool,
            cache,
            webhook_attempts,
            webhook_deliveries,
            webhook_oldest_pending,
        })
    }

    /// Counts an attempt that left its delivery `delivered`, `pending` (to be tried again) or
    /// `failed`.
    pub fn webhook_outcome(&self, status: &str) {
        self.webhook_attempts.with_label_values(&[status]).inc();
    }

    /// Sets the queue's figures.
    pub fn webhook_queue(&self, queue: &emporium_webhooks::Queue) {
        self.webhook_deliveries.with_label_values(&["pending"]).set(queue.pending);
        self.webhook_deliveries.with_label_values(&["delivered"]).set(queue.delivered);
        self.webhook_deliveries.with_label_values(&["failed"]).set(queue.failed);
        self.webhook_oldest_pending.set(queue.oldest_pending_seconds);
    }

    fn observe(&self, route: &str, method: &str, status: &str, started: Instant) {
        self.requests.with_label_values(&[route, method, status]).inc();
        self.latency.with_label_values(&[route, method]).observe(started.elapsed().as_secs_f64());
    }

    /// The text exposition format.
    fn render(&self, db: &sea_orm::DatabaseConnection, max_connections: u32) -> Result<Vec<u8>, prometheus::Error> {
        let (open, idle) = pool_sizes(db);
        self.pool.with_label_values(&["open"]).set(i64::from(open));
        self.pool.with_label_values(&["idle"]).set(idle as i64);
        self.pool.with_label_values(&["max"]).set(i64::from(max_connections));
        let mut body = Vec::with_capacity(8 * 1024);
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut body)?;
        Ok(body)
    }
}

fn pool_sizes(db: &sea_orm::DatabaseConnection) -> (u32, usize) {
    use sea_orm::DatabaseConnectionType as Kind;
    match &db.inner {
        Kind::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        Kind::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    }
}

/// Prometheus metrics.
#[utoipa::path(
    get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)),
    security(())
)]
pub async fn serve_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let queue = emporium_webhooks::queue_stats(&state.db, state.clock.now()).await?;
    state.metrics.webhook_queue(&queue);
    let body = state.metrics.render(&state.db, state.config.db_max_connections).map_err(|e| ApiError::internal(&e))?;
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(response)
}

/// Counts and times every request, labelled by the route it matched.
#[derive(Clone)]
pub struct MetricsLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService { inner, metrics: Arc::clone(&self.0) }
    }
}

/// See [`MetricsLayer`].
#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> tower::Service<Request<B>> for MetricsService<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        if let (Some(route), Some(facts)) =
            (&route, request.extensions().get::<crate::infra::access_log::RequestFacts>())
        {
            facts.route(route);
        }
        let method = request.method().clone();
        MetricsFuture {
            inner: self.inner.call(request),
            metrics: Arc::clone(&self.metrics),
            route,
            method,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`MetricsService`].
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        metrics: Arc<Metrics>,
        route: Option<MatchedPath>,
        method: axum::http::Method,
        started: Instant,
    }
}

impl<F, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            this.metrics.observe(route, this.method.as_str(), response.status().as_str(), *this.started);
        }
        Poll::Ready(result)
    }
}
