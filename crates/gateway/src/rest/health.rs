//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// What `/readyz` found.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `up` or `down`.
    pub database: &'static str,
    /// `up`, `down` or `off` (no Redis configured).
    pub redis: &'static str,
    /// The NATS relay: `up`, `down` (events wait in the outbox; only degrades) or `off`.
    pub nats: &'static str,
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses((status = 200, description = "Up")), security(()))]
pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// 200 when the database answers (Redis being down only degrades), else 503.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "The database does not answer", body = Readiness),
    ), security(()))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await;
    let database_up = matches!(database, Ok(Ok(())));
    let redis = match &state.redis {
        None => "off",
        Some(redis) if redis.ping().await => "up",
        Some(_) => "down",
    };
    let status = if database_up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let nats = state.nats.as_str();
    (status, Json(Readiness { database: if database_up { "up" } else { "down" }, redis, nats }))
}
