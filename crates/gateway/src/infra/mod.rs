//! Infrastructure the use cases and transports stand on: the product cache and its sync with
//! the change log (cache/), the search index and its sync (search.rs), idempotent requests,
//! rate limits and sign-in throttling, the access log, metrics, the shared Redis connection,
//! the background tasks, the webhook worker (webhooks/) with the clock it goes by, and the
//! NATS relay (nats.rs).

pub mod access_log;
pub mod background;
pub mod cache;
pub mod clock;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod nats;
pub mod rate_limit;
pub mod redis;
pub mod search;
pub mod webhooks;
