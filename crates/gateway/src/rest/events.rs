//! The event feed: `GET /v1/events?after=&limit=` (staff, `events:read`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use emporium_core::ValidationErrors;
use emporium_core::events::{self, FeedError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// One event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventDto {
    pub id: String,
    /// `stock.low`, `product.updated`, `order.placed`, ...
    #[serde(rename = "type")]
    #[schema(example = "stock.low")]
    pub kind: String,
    /// Its place in commit order: integrators order by it (ids are not ordered).
    #[schema(example = 42)]
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    /// What the event concerns: `{"sku": ...}`, `{"product_id": ...}`, `{"order_id": ...}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventDto>,
    /// The last event's id when the page is full (more may follow); poll with it as `after`.
    pub next_cursor: Option<String>,
}

/// Query parameters of the feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// The id of the last event already read; left out, the feed starts at its beginning.
    pub after: Option<String>,
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// Events oldest first, after the one given: no event of a committed change is ever missing,
/// and a later event is never readable before an earlier one.
#[utoipa::path(
    get, path = "/v1/events", tag = "events", operation_id = "list_events",
    params(EventParams),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 422, description = "A bad limit, or `after` names no event", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_events(
    State(state): State<AppState>,
    _: Can<caps::EventsRead>,
    ApiQuery(params): ApiQuery<EventParams>,
) -> Result<Json<EventPage>, ApiError> {
    // The feed is read by programs, not forms: an empty `limit=` is not a page size (the
    // catalog's lists, which forms fill, read it as left out).
    let limit = params.limit.as_deref().map(|l| l.parse::<i64>().unwrap_or(0));
    let limit = crate::usecases::products::page_size(limit, "limit")?;
    let after = params.after.filter(|a| !a.is_empty());
    if after.as_deref().is_some_and(|a| !emporium_core::db::lookupable(a)) {
        return Err(unknown_event());
    }
    let found = match events::read_after(&state.db, after.as_deref(), limit.get()).await {
        Ok(found) => found,
        Err(FeedError::UnknownEvent) => return Err(unknown_event()),
        Err(FeedError::Database(e)) => return Err(e.into()),
    };
    let next_cursor = if found.len() as u64 == limit.get() { found.last().map(|e| e.id.clone()) } else { None };
    let data = found
        .into_iter()
        .map(|e| EventDto { id: e.id, kind: e.kind, sequence: e.sequence, created_at: e.created_at, data: e.data })
        .collect();
    Ok(Json(EventPage { data, next_cursor }))
}

fn unknown_event() -> ApiError {
    ApiError::validation(ValidationErrors::single("after", "unknown_event", "must be the id of an event"))
}
