//! What every handler shares.

use std::sync::Arc;

use emporium_core::CursorCodec;
use sea_orm::DatabaseConnection;

use crate::auth::{AccountCache, Tokens};
use crate::config::Config;
use crate::infra::cache::ProductCache;
use crate::infra::limits::Limits;
use crate::infra::metrics::Metrics;
use crate::infra::redis::SharedRedis;

/// Shared application state: one `Arc`, so the clone every extractor and layer makes per
/// request is one atomic increment (it was one per field, and showed in profiles).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
pub struct Shared {
    pub db: DatabaseConnection,
    /// Begins the unit of work every write goes through; once one commits, this instance's
    /// cache and search index take it before the caller is answered.
    pub writer: emporium_core::uow::Writer,
    pub cache: Arc<ProductCache>,
    /// This instance's search index.
    pub search: Arc<crate::infra::search::Search>,
    pub metrics: Arc<Metrics>,
    /// The shared Redis connection, when `EMPORIUM_REDIS_URL` is set.
    pub redis: Option<Arc<SharedRedis>>,
    pub tokens: Tokens,
    /// Staff accounts and API keys as the resolver last looked them up.
    pub accounts: AccountCache,
    /// Rate limits, login throttling and the bound on password hashing.
    pub limits: Limits,
    pub cursors: CursorCodec,
    /// Key of the HMAC that fingerprints keyed requests: a stored fingerprint of a body that
    /// holds a password cannot be brute-forced offline without the server's secret.
    pub fingerprint_key: Vec<u8>,
    pub config: Config,
    /// The payment providers checkout may name.
    pub payments: emporium_payments::Providers,
    /// The built-in `test` provider (also among `payments`), for tests that check its calls.
    pub test_payments: Arc<emporium_payments::TestProvider>,
    /// The key webhook secrets derive from.
    pub keyring: emporium_webhooks::Keyring,
    /// The time the webhook worker goes by (tests move it forward).
    pub clock: crate::infra::clock::Clock,
    /// Wakes the webhook worker when this instance commits a write.
    pub webhooks_wake: Arc<tokio::sync::Notify>,
    /// How the NATS relay goes (`off` without `EMPORIUM_NATS_URL`).
    pub nats: Arc<crate::infra::nats::NatsStatus>,
    /// Ranked recommendation candidates, reused for a short while.
    pub recommendations: crate::usecases::recommendations::RecommendationCache,
}

impl AppState {
    /// Wraps the shared fields.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
