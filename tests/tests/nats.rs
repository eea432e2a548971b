//! The NATS JetStream relay: every event reaches the stream once, in `sequence` order, with
//! `Nats-Msg-Id` set to the event id; while NATS cannot be reached events wait in the outbox,
//! `/readyz` says `"nats": "down"` (and stays 200), and once it is back the waiting events
//! follow, with no gap and no duplicate. Marked ignored: it runs whenever `make test` includes
//! ignored tests (EMPORIUM_TEST_REDIS_URL or EMPORIUM_TEST_NATS_URL set, or CI), against
//! EMPORIUM_TEST_NATS_URL or the machine's local NATS. A second test runs a NATS server process
//! of its own (`nats-server` from the PATH or /usr/sbin, or EMPORIUM_TEST_NATS_SERVER), kills it
//! with SIGKILL and starts it again on the same port and store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{NatsTarget, Options, TestResult, TestServer, nats_required, tee};

/// A TCP relay to NATS that a test can take down (every connection closed, new ones refused,
/// as a NATS restart does) and bring back.
struct Outage {
    address: String,
    down: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Outage {
    async fn to(nats: &str) -> anyhow::Result<Self> {
        let target = nats.trim_start_matches("nats://").trim_end_matches('/').to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let down = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&down);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue;
                }
                let (flag, target) = (Arc::clone(&flag), target.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    let watch = async {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    };
                    // Down: both sockets are dropped, so the client sees the connection close.
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = watch => {}
                    }
                });
            }
        });
        Ok(Self { address, down, task })
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A NATS server with JetStream as a process of this test: its own port and store directory.
struct NatsProcess {
    port: u16,
    store: std::path::PathBuf,
    child: Option<tokio::process::Child>,
}

impl NatsProcess {
    async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let store = std::env::temp_dir().join(format!("emporium-nats-{}-{port}", std::process::id()));
        let mut nats = Self { port, store, child: None };
        nats.restart().await?;
        Ok(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again), on the same port and store, and waits until it answers.
    async fn restart(&mut self) -> anyhow::Result<()> {
        let binary = std::env::var("EMPORIUM_TEST_NATS_SERVER").unwrap_or_else(|_| {
            let sbin = std::path::Path::new("/usr/sbin/nats-server");
            if sbin.exists() { sbin.display().to_string() } else { "nats-server".to_owned() }
        });
        let child = tokio::process::Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start {binary}: {e} (install nats-server or set EMPORIUM_TEST_NATS_SERVER)")
            })?;
        self.child = Some(child);
        for _ in 0..100 {
            if async_nats::connect(self.url()).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("{binary} did not answer on {} in 5 s", self.url())
    }

    /// Kills the server with SIGKILL, as a crash would.
    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }
}

impl Drop for NatsProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

async fn nats_is(server: &TestServer, wanted: &str) -> anyhow::Result<()> {
    let mut last = Value::Null;
    for _ in 0..200 {
        let ready = server.get("/readyz").await?;
        anyhow::ensure!(ready.status == StatusCode::OK, "NATS only degrades readiness: {}", ready.body);
        if ready.body["nats"] == wanted {
            return Ok(());
        }
        last = ready.body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("/readyz never said nats {wanted}: {last}")
}

/// Every message of the test's stream, read by a JetStream consumer.
async fn consume(nats: &str, stream: &str, count: usize) -> anyhow::Result<Vec<(Option<String>, Value)>> {
    let client = async_nats::connect(nats).await?;
    let context = async_nats::jetstream::new(client);
    let stream = context.get_stream(stream).await?;
    let consumer = stream.create_consumer(async_nats::jetstream::consumer::pull::Config::default()).await?;
    let mut read = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while read.len() < count && tokio::time::Instant::now() < deadline {
        let mut batch = consumer.fetch().max_messages(100).expires(Duration::from_millis(500)).messages().await?;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
            let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_owned());
            read.push((id, serde_json::from_slice(&message.payload)?));
            message.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(read)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs NATS: runs when make test includes ignored tests (always in CI)"]
async fn every_event_reaches_jetstream_once_in_order_across_an_outage() -> TestResult {
    let nats = nats_required();
    let outage = Outage::to(&nats).await?;
    let target = NatsTarget::unique(&format!("nats://{}", outage.address));
    let server = TestServer::start_with(Options { nats: Some(target.clone()), ..Options::default() }).await?;
    let admin = server.admin_token().await?;
    nats_is(&server, "up").await?;

    for i in 0..3 {
        server.create_product(&admin, tee(&format!("Relayed {i}"), &format!("RL{i}"))).await?;
    }
    let first = consume(&nats, &target.stream, 3).await?;
    assert_eq!(first.len(), 3, "{first:?}");

    outage.set_down(true);
    nats_is(&server, "down").await?;
    for i in 3..6 {
        server.create_product(&admin, tee(&format!("Relayed {i}"), &format!("RL{i}"))).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    outage.set_down(false);
    nats_is(&server, "up").await?;

    let all = consume(&nats, &target.stream, 6).await?;
    assert_eq!(all.len(), 6, "every event once: {all:?}");
    let sequences: Vec<i64> = all.iter().filter_map(|(_, e)| e["sequence"].as_i64()).collect();
    let start = sequences[0];
    assert_eq!(sequences, (start..start + 6).collect::<Vec<_>>(), "in order, with no gap and no duplicate");
    for (id, event) in &all {
        assert_eq!(id.as_deref(), event["id"].as_str(), "Nats-Msg-Id is the event id");
        assert_eq!(event["type"], "product.created");
        assert!(event["data"]["product_id"].is_string(), "{event}");
    }
    // The same events, in the same order, as the feed shows them.
    let feed = server.get_as("/v1/events?limit=100", &admin).await?;
    let feed_ids: Vec<&str> =
        feed.body["data"].as_array().into_iter().flatten().filter_map(|e| e["id"].as_str()).collect();
    let relayed_ids: Vec<&str> = all.iter().filter_map(|(id, _)| id.as_deref()).collect();
    assert_eq!(relayed_ids, feed_ids);

    let client = async_nats::connect(&nats).await?;
    async_nats::jetstream::new(client).delete_stream(&target.stream).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server: runs when make test includes ignored tests (always in CI)"]
async fn the_relay_loses_and_repeats_nothing_when_nats_is_killed_and_restarted() -> TestResult {
    let mut nats = NatsProcess::start().await?;
    let target = NatsTarget::unique(&nats.url());
    let server = TestServer::start_with(Options { nats: Some(target.clone()), ..Options::default() }).await?;
    let admin = server.admin_token().await?;
    nats_is(&server, "up").await?;
    for i in 0..3 {
        server.create_product(&admin, tee(&format!("Restarted {i}"), &format!("RS{i}"))).await?;
    }
    assert_eq!(consume(&nats.url(), &target.stream, 3).await?.len(), 3);

    nats.kill().await?;
    nats_is(&server, "down").await?;
    for i in 3..6 {
        server.create_product(&admin, tee(&format!("Restarted {i}"), &format!("RS{i}"))).await?;
    }
    nats.restart().await?;
    nats_is(&server, "up").await?;

    let all = consume(&nats.url(), &target.stream, 6).await?;
    let sequences: Vec<i64> = all.iter().filter_map(|(_, e)| e["sequence"].as_i64()).collect();
    assert_eq!(sequences.len(), 6, "every event, the ones before the crash kept: {all:?}");
    let context = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    let stored = context.get_stream(&target.stream).await?.info().await?.state.messages;
    assert_eq!(stored, 6, "the stream holds no duplicate");
    let start = sequences[0];
    assert_eq!(sequences, (start..start + 6).collect::<Vec<_>>(), "in order, with no gap and no duplicate");
    for (id, event) in &all {
        assert_eq!(id.as_deref(), event["id"].as_str(), "Nats-Msg-Id is the event id");
    }
    Ok(())
}
