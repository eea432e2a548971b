//! The NATS JetStream relay (`EMPORIUM_NATS_URL`): every event of the outbox published to
//! stream `EMPORIUM` (made when missing) under `emporium.<type>`, with `Nats-Msg-Id` set to the
//! event id so JetStream drops a repeat. One instance relays at a time (it holds the reader's
//! lease in `outbox_positions`, renewed each round); its position moves only past events the
//! server acknowledged, so while NATS is down events wait, and none is lost or skipped.
//! JetStream's duplicate window (two minutes) is not relied on: a batch whose acks were lost
//! is published again only from the stored position.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use emporium_core::events;

use crate::infra::background::Shutdown;
use crate::state::AppState;

/// Events published per round.
const BATCH: u64 = 500;
/// How long a relay's lease lasts without renewal.
const LEASE: chrono::Duration = chrono::Duration::seconds(15);
/// The pause between rounds with nothing to publish.
const IDLE: Duration = Duration::from_millis(200);
/// The longest wait before connecting again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The relay's state, for `/readyz`.
#[derive(Debug, Default)]
pub struct NatsStatus(AtomicU8);

impl NatsStatus {
    // 0 (the default): off.
    const UP: u8 = 1;
    const DOWN: u8 = 2;

    /// `off` (no `EMPORIUM_NATS_URL`), `up` or `down`.
    pub fn as_str(&self) -> &'static str {
        match self.0.load(Ordering::Relaxed) {
            Self::UP => "up",
            Self::DOWN => "down",
            _ => "off",
        }
    }

    fn set(&self, up: bool) {
        self.0.store(if up { Self::UP } else { Self::DOWN }, Ordering::Relaxed);
    }
}

/// Where the relay publishes.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    /// The stream (`EMPORIUM`).
    pub stream: String,
    /// The subjects' first token (`emporium`).
    pub prefix: String,
}

/// Relays until shutdown; `status` says how it goes.
pub async fn run(state: AppState, target: Target, status: Arc<NatsStatus>, mut shutdown: Shutdown) {
    let holder = emporium_core::id::new_id("relay");
    status.set(false);
    // The relay's place is kept from its first start, before NATS answers: nothing committed
    // while it is down is skipped.
    while let Err(err) = events::ensure_reader(&state.db, "nats").await {
        tracing::warn!(error = %err, "recording the NATS relay's position failed; trying again");
        tokio::select! {
            () = tokio::time::sleep(MAX_BACKOFF) => {}
            () = shutdown.requested() => return,
        }
    }
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = tokio::select! {
            connected = connect(&target) => connected,
            () = shutdown.requested() => return,
        };
        let context = match connected {
            Ok(context) => context,
            Err(err) => {
                status.set(false);
                tracing::warn!(error = %err, "NATS is not reachable; events wait in the outbox");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.requested() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        status.set(true);
        backoff = Duration::from_millis(200);
        loop {
            let round = tokio::select! {
                round = relay_round(&state, &context, &target, &holder) => round,
                () = shutdown.requested() => return,
            };
            match round {
                Ok(published) => {
                    let connected = context.client().connection_state() == async_nats::connection::State::Connected;
                    status.set(connected);
                    if published == 0 {
                        tokio::select! {
                            () = tokio::time::sleep(IDLE) => {}
                            () = shutdown.requested() => return,
                        }
                    }
                }
                Err(err) => {
                    status.set(false);
                    tracing::warn!(error = %err, "relaying to NATS failed; events wait in the outbox");
                    break;
                }
            }
        }
    }
}

async fn connect(target: &Target) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(target.url.as_str())
        .await?;
    let mut context = jetstream::new(client);
    // A publish not acknowledged in this time fails the round; the batch waits.
    context.set_timeout(Duration::from_secs(2));
    tokio::time::timeout(
        Duration::from_secs(5),
        context.get_or_create_stream(jetstream::stream::Config {
            name: target.stream.clone(),
            subjects: vec![format!("{}.>", target.prefix)],
            ..Default::default()
        }),
    )
    .await
    .map_err(|_| anyhow::anyhow!("creating the stream timed out"))??;
    Ok(context)
}

/// Publishes the next batch, if this instance holds the lease; how many events it relayed.
async fn relay_round(
    state: &AppState,
    context: &jetstream::Context,
    target: &Target,
    holder: &str,
) -> anyhow::Result<usize> {
    events::sequence_pending(&state.db).await?;
    let now = emporium_core::db::now();
    let Some(position) = events::lease_reader(&state.db, "nats", holder, now + LEASE, now).await? else {
        return Ok(0);
    };
    let batch = events::read_from(&state.db, position, BATCH).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let mut acks = Vec::with_capacity(batch.len());
    for event in &batch {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.as_str());
        let body = bytes::Bytes::from(event.public_json().to_string());
        let subject = format!("{}.{}", target.prefix, event.kind);
        acks.push(context.publish_with_headers(subject, headers, body).await?);
    }
    let mut relayed = position;
    let mut failure = None;
    for (event, ack) in batch.iter().zip(acks) {
        match tokio::time::timeout(Duration::from_secs(5), ack).await {
            Ok(Ok(_)) => relayed = event.sequence,
            Ok(Err(err)) => {
                failure = Some(anyhow::anyhow!("NATS did not store event {}: {err}", event.id));
                break;
            }
            Err(_) => {
                failure = Some(anyhow::anyhow!("NATS did not acknowledge event {} in time", event.id));
                break;
            }
        }
    }
    if relayed > position {
        events::advance_reader(&state.db, "nats", holder, relayed).await?;
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(batch.len()),
    }
}
