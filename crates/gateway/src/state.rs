//! What every handler shares.

use std::sync::Arc;

use emporium_core::CursorCodec;
use sea_orm::DatabaseConnection;

use crate::auth::Tokens;
use crate::cache::ProductCache;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::redis::SharedRedis;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub cache: Arc<ProductCache>,
    pub metrics: Arc<Metrics>,
    /// The shared Redis connection, when `EMPORIUM_REDIS_URL` is set.
    pub redis: Option<Arc<SharedRedis>>,
    pub tokens: Arc<Tokens>,
    pub cursors: Arc<CursorCodec>,
    pub config: Arc<Config>,
}
