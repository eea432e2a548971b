//! The webhook worker, on every instance: it numbers committed events, turns them into
//! deliveries (one dispatcher at a time, through the database), claims due deliveries (a few
//! per subscription, shared between instances by the database: `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL) and sends them ([`sender`]). A claim lasts a minute: the deliveries of a worker
//! that dies are claimed again once it runs out, so a crash loses none.

pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use emporium_core::events;
use emporium_webhooks as webhooks;
use rand::Rng;

use crate::infra::background::Shutdown;
use crate::state::AppState;

/// Events turned into deliveries per round.
const DISPATCH_BATCH: u64 = 500;
/// Deliveries of one subscription in flight at once, across instances.
pub const PER_SUBSCRIPTION: i64 = 8;
/// How long a claim holds a delivery: longer than an attempt can take.
const CLAIM: chrono::Duration = chrono::Duration::seconds(60);
/// The longest pause between rounds when there is nothing to do.
const IDLE: Duration = Duration::from_millis(250);
/// The shortest: a busy shop's commits wake the worker far more often than that.
const SETTLE: Duration = Duration::from_millis(20);

/// The key webhook secrets derive from: `EMPORIUM_SECRET_KEY`, else the key file (made, readable
/// by its owner only, when missing).
pub fn keyring(config: &crate::Config) -> anyhow::Result<webhooks::Keyring> {
    if let Some(key) = &config.secret_key {
        return Ok(webhooks::Keyring::new(key.expose().as_bytes()));
    }
    let path = &config.secret_key_file;
    match std::fs::read(path) {
        Ok(key) if key.len() >= 32 => return Ok(webhooks::Keyring::new(&key)),
        Ok(_) => anyhow::bail!("{}: the key file holds fewer than 32 bytes", path.display()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => anyhow::bail!("{}: {err}", path.display()),
    }
    let mut key = [0u8; 32];
    rand::thread_rng().fill(&mut key);
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => std::io::Write::write_all(&mut file, text.as_bytes())?,
        // Another instance made it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => anyhow::bail!("{}: {err}", path.display()),
    }
    tracing::info!(file = %path.display(), "webhook secret key made (set EMPORIUM_SECRET_KEY to share one between instances)");
    Ok(webhooks::Keyring::new(&std::fs::read(path)?))
}

/// Runs rounds until shutdown: right away again while there is work, else after a pause
/// (cut short when this instance commits a write).
pub async fn run(state: AppState, mut shutdown: Shutdown) {
    let sender = Arc::new(sender::Sender::new(state.config.webhook_allow_private, state.config.webhook_timeout));
    loop {
        let busy = match round(&state, &sender).await {
            Ok(busy) => busy,
            Err(err) => {
                tracing::warn!(error = %err, "webhook round failed");
                false
            }
        };
        if busy {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(IDLE) => {}
            () = state.webhooks_wake.notified() => tokio::time::sleep(SETTLE).await,
            () = shutdown.requested() => return,
        }
    }
}

/// One round: number, dispatch, claim, turn off subscriptions failing for the whole schedule
/// (after the claim: what it claimed still gets its last attempt), send. Whether it did
/// anything.
pub async fn round(state: &AppState, sender: &sender::Sender) -> anyhow::Result<bool> {
    let now = state.clock.now();
    let schedule = webhooks::Schedule::new(state.config.webhook_retry_base);
    if webhooks::nothing_due(&state.db, schedule.window(), now).await? {
        return Ok(false);
    }
    events::sequence_pending(&state.db).await?;
    let work = state.writer.begin().await?;
    let dispatched = webhooks::dispatch(&work, DISPATCH_BATCH, now).await?;
    let claimed = webhooks::claim_due(&work, PER_SUBSCRIPTION, now, now + CLAIM).await?;
    let disabled = webhooks::disable_failing(&work, schedule.window(), now).await?;
    work.commit().await?;
    for id in &disabled {
        tracing::warn!(subscription = %id, "webhook subscription turned off: every delivery failed for the whole schedule");
    }
    if claimed.is_empty() {
        return Ok(dispatched > 0);
    }
    let sent = futures::future::join_all(claimed.iter().map(|c| sender.send(state, c))).await;
    let now = state.clock.now();
    let work = state.writer.begin().await?;
    for (claimed, outcome) in claimed.iter().zip(&sent) {
        let jitter = rand::thread_rng().r#gen::<f64>();
        if let Some(status) = webhooks::record_outcome(&work, claimed, outcome, &schedule, jitter, now).await? {
            state.metrics.webhook_outcome(status.as_str());
        }
    }
    work.commit().await?;
    Ok(true)
}
