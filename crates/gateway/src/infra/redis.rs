//! The one Redis connection of a server, shared by everything that uses Redis (the product
//! cache now; rate limits and the event relay next), with its health logic in one place:
//! it connects in the background (a server starts, and serves from the database, while Redis
//! is down), every call is bounded by a short timeout, and after a failure Redis is left alone
//! for a second so requests do not queue on a dead connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Secret;

/// How long Redis is left alone after a failure before it is tried again.
pub const BACKOFF: Duration = Duration::from_secs(1);

/// A shared, health-checked Redis connection.
pub struct SharedRedis {
    connection: Arc<OnceLock<ConnectionManager>>,
    timeout: Duration,
    /// Milliseconds since `started` until which Redis is not tried.
    skip_until_ms: AtomicU64,
    started: Instant,
}

impl SharedRedis {
    /// Starts connecting to `url` in the background.
    pub fn connect(url: &Secret, timeout: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url.expose())?;
        let connection = Arc::new(OnceLock::new());
        let slot = Arc::clone(&connection);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                    Ok(manager) => {
                        let _ = slot.set(manager);
                        tracing::info!("connected to Redis");
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "Redis unreachable; serving from the database");
                        tokio::time::sleep(BACKOFF).await;
                    }
                }
            }
        });
        Ok(Self { connection, timeout, skip_until_ms: AtomicU64::new(0), started: Instant::now() })
    }

    /// Milliseconds since this component started (never 0).
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// A connection, unless Redis is not connected yet or is being left alone after a failure.
    pub fn connection(&self) -> Option<ConnectionManager> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::SeqCst) {
            return None;
        }
        self.connection.get().cloned()
    }

    /// Runs one call, bounded by the timeout. A failure or a timeout is recorded (Redis is then
    /// left alone for [`BACKOFF`]) and gives `None`.
    pub async fn call<T>(&self, what: &str, call: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.fail(what, &err);
                None
            }
            Err(elapsed) => {
                self.fail(what, &elapsed);
                None
            }
        }
    }

    fn fail(&self, what: &str, err: &dyn std::fmt::Display) {
        let until = self.now_ms() + BACKOFF.as_millis() as u64;
        if self.skip_until_ms.swap(until, Ordering::SeqCst) < self.now_ms() {
            tracing::warn!(error = %err, "Redis {what} failed; serving from the database");
        }
    }

    /// Whether Redis answers a `PING` now.
    pub async fn ping(&self) -> bool {
        let Some(mut connection) = self.connection() else { return false };
        self.call::<String>("ping", redis::cmd("PING").query_async(&mut connection)).await.is_some()
    }
}
