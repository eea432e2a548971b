//! Webhooks end to end, with a real HTTP receiver on loopback
//! (`EMPORIUM_WEBHOOK_ALLOW_PRIVATE=true`): signed deliveries of the events a subscription
//! hears, retries on a growing schedule (the server's clock moved forward, not slept through),
//! failure and the subscription turned off after the whole schedule, manual retry, replay,
//! rotation, and the refusals of bad input.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{Options, TestResult, TestServer, tee};

/// What the receiver got: the headers that matter and the body.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    pub event_type: String,
    pub signature: String,
    pub body: String,
}

/// A webhook receiver on a random loopback port that answers `status` (200 unless changed)
/// after `delay_ms`.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<AtomicU16>,
    pub delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (keep, answer, delay) = (Arc::clone(&got), Arc::clone(&status), Arc::clone(&delay_ms));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (keep, answer, delay) = (Arc::clone(&keep), Arc::clone(&answer), Arc::clone(&delay));
                async move {
                    let header =
                        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    keep.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Received {
                        event_id: header("emporium-event-id"),
                        event_type: header("emporium-event-type"),
                        signature: header("emporium-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    tokio::time::sleep(Duration::from_millis(delay.load(Ordering::Relaxed))).await;
                    AxumStatus::from_u16(answer.load(Ordering::Relaxed)).unwrap_or(AxumStatus::OK)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, got, status, delay_ms, task })
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits until `count` requests came (15 s at most); what came.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..300 {
            if self.received().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `header` (`t=...,v1=...`) holds a signature of `body` under `secret`, made by the
/// recipe API.md gives: hex HMAC-SHA256 of `<t>.<body>`.
pub fn verifies(header: &str, secret: &str, body: &str) -> bool {
    let Some(t) = header.split(',').find_map(|p| p.strip_prefix("t=")) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    header.split(',').filter_map(|p| p.strip_prefix("v1=")).any(|v| v == expected)
}

fn private() -> Options {
    Options { webhooks_private: true, ..Options::default() }
}

async fn deliveries(server: &TestServer, admin: &str, hook: &str) -> anyhow::Result<Vec<Value>> {
    let page = server.get_as(&format!("/v1/webhooks/{hook}/deliveries"), admin).await?;
    anyhow::ensure!(page.status == StatusCode::OK, "{}", page.body);
    Ok(page.body["data"].as_array().cloned().unwrap_or_default())
}

/// Waits until the newest delivery's status and attempts are as given (15 s at most).
async fn delivery_reaches(
    server: &TestServer,
    admin: &str,
    hook: &str,
    status: &str,
    attempts: i64,
) -> anyhow::Result<Value> {
    let mut last = Value::Null;
    for _ in 0..300 {
        if let Some(first) = deliveries(server, admin, hook).await?.first() {
            if first["status"] == status && first["attempts"].as_i64() >= Some(attempts) {
                return Ok(first.clone());
            }
            last = first.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the delivery did not reach {status} after {attempts} attempts: {last}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_receives_the_events_it_hears_signed_and_logged() -> TestResult {
    let server = TestServer::start_with(private()).await?;
    let admin = server.admin_token().await?;
    let receiver = Receiver::start().await?;
    let created = server
        .post(
            "/v1/webhooks",
            Some(&admin),
            json!({"url": receiver.url, "events": ["product.created", "product.deleted"], "description": "ERP"}),
        )
        .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.str("secret")?.to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let hook = created.str("id")?.to_owned();
    assert_eq!(created.body["events"], json!(["product.created", "product.deleted"]));
    assert_eq!(created.body["active"], json!(true));
    let shown = server.get_as(&format!("/v1/webhooks/{hook}"), &admin).await?;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.get("secret").is_none(), "the secret is shown once: {}", shown.body);

    let product = server.create_product(&admin, tee("Hooked Tee", "HKT")).await?;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let body: Value = serde_json::from_str(&got[0].body)?;
    assert_eq!(body["type"], "product.created");
    assert_eq!(body["data"], json!({"product_id": product["id"]}));
    assert!(body["sequence"].as_i64().is_some_and(|s| s > 0), "{body}");
    assert!(body["created_at"].is_string() && body["id"].is_string(), "{body}");
    assert_eq!(got[0].event_id, body["id"].as_str().unwrap_or_default());
    assert_eq!(got[0].event_type, "product.created");
    assert!(verifies(&got[0].signature, &secret, &got[0].body), "{} does not verify", got[0].signature);
    assert!(!verifies(&got[0].signature, "whsec_another", &got[0].body));
    let t: i64 =
        got[0].signature.split(',').find_map(|p| p.strip_prefix("t=")).and_then(|t| t.parse().ok()).unwrap_or(0);
    assert!((chrono::Utc::now().timestamp() - t).abs() < 300, "t is now: {t}");

    let logged = delivery_reaches(&server, &admin, &hook, "delivered", 1).await?;
    assert_eq!(
        (logged["event_type"].as_str(), logged["last_status_code"].as_i64()),
        (Some("product.created"), Some(200))
    );
    assert_eq!(logged["event_id"], body["id"]);

    // Rotation: for 24 hours deliveries carry a signature under each secret.
    let rotated = server.post(&format!("/v1/webhooks/{hook}/rotate-secret"), Some(&admin), json!({})).await?;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.str("secret")?.to_owned();
    assert_ne!(new_secret, secret);
    let id = product["id"].as_str().unwrap_or_default();
    assert_eq!(server.delete(&format!("/v1/products/{id}"), Some(&admin)).await?.status, StatusCode::NO_CONTENT);
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].event_type, "product.deleted");
    assert!(
        verifies(&got[1].signature, &new_secret, &got[1].body) && verifies(&got[1].signature, &secret, &got[1].body)
    );

    // Only what it hears: stock changes reached nobody.
    let sku_created = server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    assert_eq!(sku_created.status, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_growing_gaps_then_failed_turned_off_retried_and_replayed() -> TestResult {
    let server = TestServer::start_with(Options { webhook_retry_base: Some(1.0), ..private() }).await?;
    let admin = server.admin_token().await?;
    let receiver = Receiver::start().await?;
    receiver.status.store(500, Ordering::Relaxed);
    let created = server.post("/v1/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["*"]})).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let hook = created.str("id")?.to_owned();
    server
        .post(
            "/v1/customers",
            None,
            json!({"email": "hook@example.com", "password": "a-long-password-1", "first_name": "H", "last_name": "K"}),
        )
        .await?;

    // Each failure puts the next attempt further away: 1 s, 2 s, 4 s (±25%).
    let mut gaps = Vec::new();
    for attempt in 1..=3 {
        let failed = delivery_reaches(&server, &admin, &hook, "pending", attempt).await?;
        assert_eq!(
            (failed["last_status_code"].as_i64(), failed["attempts"].as_i64()),
            (Some(500), Some(attempt)),
            "{failed}"
        );
        let next: chrono::DateTime<chrono::Utc> = serde_json::from_value(failed["next_attempt_at"].clone())?;
        gaps.push((next - server.state.clock.now()).num_milliseconds());
        server.state.clock.advance(chrono::Duration::seconds(6));
    }
    assert!(gaps[0] <= 1_250 && gaps[1] > 1_000 && gaps[2] > gaps[0] * 2, "gaps grow: {gaps:?}");
    assert_eq!(receiver.wait_for(3).await.len(), 3);

    // Past the schedule's window (three days at 30 s, 8,640 s here): failed, and the
    // subscription, failing all that time, turned off with a reason.
    server.state.clock.advance(chrono::Duration::seconds(9_000));
    let dead = delivery_reaches(&server, &admin, &hook, "failed", 4).await?;
    assert!(dead["next_attempt_at"].is_null(), "{dead}");
    let mut turned_off = Value::Null;
    for _ in 0..100 {
        turned_off = server.get_as(&format!("/v1/webhooks/{hook}"), &admin).await?.body;
        if turned_off["active"] == json!(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(turned_off["active"], json!(false), "{turned_off}");
    assert!(turned_off["disabled_reason"].is_string(), "{turned_off}");
    let failed = server.get_as(&format!("/v1/webhooks/{hook}/deliveries?status=failed"), &admin).await?;
    assert_eq!(failed.body["data"].as_array().map(Vec::len), Some(1), "{}", failed.body);

    // The receiver is fixed: turned on again and retried by hand, the delivery lands.
    receiver.status.store(204, Ordering::Relaxed);
    let on = server.patch(&format!("/v1/webhooks/{hook}"), Some(&admin), json!({"active": true})).await?;
    assert_eq!((on.status, on.body["disabled_reason"].clone()), (StatusCode::OK, Value::Null), "{}", on.body);
    let delivery = dead["id"].as_str().unwrap_or_default();
    let retried =
        server.post(&format!("/v1/webhooks/{hook}/deliveries/{delivery}/retry"), Some(&admin), json!({})).await?;
    assert_eq!(
        (retried.status, retried.body["status"].as_str()),
        (StatusCode::OK, Some("pending")),
        "{}",
        retried.body
    );
    let landed = delivery_reaches(&server, &admin, &hook, "delivered", 5).await?;
    assert_eq!(landed["last_status_code"].as_i64(), Some(204));

    // Replay: every event it hears since an hour ago, sent again.
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let replayed = server.post(&format!("/v1/webhooks/{hook}/replay"), Some(&admin), json!({"since": since})).await?;
    assert_eq!(
        (replayed.status, replayed.body["queued"].as_i64()),
        (StatusCode::ACCEPTED, Some(1)),
        "{}",
        replayed.body
    );
    let got = receiver.wait_for(5).await;
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[4].event_id, got[0].event_id, "the same event again");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_does_not_answer_in_time_is_retried() -> TestResult {
    let options = Options { webhook_timeout: Some(Duration::from_millis(300)), ..private() };
    let server = TestServer::start_with(options).await?;
    let admin = server.admin_token().await?;
    let receiver = Receiver::start().await?;
    receiver.delay_ms.store(5_000, Ordering::Relaxed);
    let created =
        server.post("/v1/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["product.created"]})).await?;
    let hook = created.str("id")?.to_owned();
    server.create_product(&admin, tee("Slow Tee", "SLO")).await?;

    let timed_out = delivery_reaches(&server, &admin, &hook, "pending", 1).await?;
    assert_eq!(
        (timed_out["last_status_code"].clone(), timed_out["last_error"].as_str()),
        (Value::Null, Some("timed out")),
        "{timed_out}"
    );
    receiver.delay_ms.store(0, Ordering::Relaxed);
    server.state.clock.advance(chrono::Duration::seconds(60));
    let landed = delivery_reaches(&server, &admin, &hook, "delivered", 2).await?;
    assert_eq!(landed["last_status_code"].as_i64(), Some(200), "{landed}");
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].event_id, got[1].event_id, "the same event again");
    Ok(())
}

#[tokio::test]
async fn bad_subscriptions_and_requests_are_refused_and_change_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let (_, customer) = server.customer("hooks@example.com").await?;
    let body = json!({"url": "https://hooks.example.com/in", "events": ["order.placed"]});
    assert_eq!(server.post("/v1/webhooks", None, body.clone()).await?.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.post("/v1/webhooks", Some(&customer), body.clone()).await?.status, StatusCode::FORBIDDEN);
    let (_, reader) = server.api_key(&admin, &["orders:read"]).await?;
    assert_eq!(server.get_as("/v1/webhooks", &reader).await?.status, StatusCode::FORBIDDEN);
    let (_, integrator) = server.api_key(&admin, &["webhooks:write"]).await?;
    assert_eq!(server.get_as("/v1/webhooks", &integrator).await?.status, StatusCode::OK);

    let refused = [
        (
            json!({"url": "https://hooks.example.com/in", "events": ["order.shipped"]}),
            "events[0]",
            "unknown_event_type",
        ),
        (json!({"url": "http://hooks.example.com/in", "events": ["*"]}), "url", "unsafe_target"),
        (json!({"url": "https://10.0.0.7/in", "events": ["*"]}), "url", "unsafe_target"),
        (json!({"url": "https://127.0.0.1:9/in", "events": ["*"]}), "url", "unsafe_target"),
        (json!({"url": "https://[::1]/in", "events": ["*"]}), "url", "unsafe_target"),
        (json!({"url": "https://localhost/in", "events": ["*"]}), "url", "unsafe_target"),
        (json!({"url": "https://hooks.example.com/in", "events": []}), "events", "required"),
    ];
    for (body, field, code) in refused {
        let reply = server.post("/v1/webhooks", Some(&admin), body.clone()).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.body);
        assert_eq!(reply.error_fields(), [(field.to_owned(), code.to_owned())], "{body}");
    }
    let listed = server.get_as("/v1/webhooks", &admin).await?;
    assert_eq!(listed.body["data"], json!([]), "nothing was created");
    assert_eq!(server.get_as("/v1/webhooks/whk_nothing", &admin).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_secret_in_a_patch_another_subscriptions_delivery_and_a_long_replay_are_refused() -> TestResult {
    let server = TestServer::start_with(private()).await?;
    let admin = server.admin_token().await?;
    let receiver = Receiver::start().await?;
    let mut hooks = Vec::new();
    for _ in 0..2 {
        let created = server
            .post("/v1/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["product.created"]}))
            .await?;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        hooks.push(created.str("id")?.to_owned());
    }
    server.create_product(&admin, tee("Twice Tee", "TWT")).await?;
    assert_eq!(receiver.wait_for(2).await.len(), 2, "each subscription gets its own delivery");
    let first = delivery_reaches(&server, &admin, &hooks[0], "delivered", 1).await?;

    let secret =
        server.patch(&format!("/v1/webhooks/{}", hooks[0]), Some(&admin), json!({"secret": "whsec_mine"})).await?;
    assert_eq!(secret.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", secret.body);
    let delivery = first["id"].as_str().unwrap_or_default();
    let other =
        server.post(&format!("/v1/webhooks/{}/deliveries/{delivery}/retry", hooks[1]), Some(&admin), json!({})).await?;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let long = (chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339();
    let replay =
        server.post(&format!("/v1/webhooks/{}/replay", hooks[0]), Some(&admin), json!({"since": long})).await?;
    assert_eq!(replay.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", replay.body);
    assert_eq!(replay.error_fields(), [("since".to_owned(), "out_of_range".to_owned())]);
    let bad_status = server.get_as(&format!("/v1/webhooks/{}/deliveries?status=lost", hooks[0]), &admin).await?;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Deleting a subscription takes its log with it.
    assert_eq!(
        server.delete(&format!("/v1/webhooks/{}", hooks[1]), Some(&admin)).await?.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.get_as(&format!("/v1/webhooks/{}/deliveries", hooks[1]), &admin).await?.status,
        StatusCode::NOT_FOUND
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_subscribes_rotates_reads_the_log_retries_and_replays_as_rest_does() -> TestResult {
    let server = TestServer::start_with(private()).await?;
    let admin = server.admin_token().await?;
    let receiver = Receiver::start().await?;
    let created = server
        .graphql(
            Some(&admin),
            "mutation($url: String!) { createWebhook(input: {url: $url, events: [\"product.created\"]}) { id url events active secret } }",
            json!({"url": receiver.url}),
        )
        .await?;
    let hook = created.body["data"]["createWebhook"].clone();
    let secret = hook["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_"), "{}", created.body);
    let id = hook["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(server.get_as(&format!("/v1/webhooks/{id}"), &admin).await?.body["url"], receiver.url.as_str());

    server.create_product(&admin, tee("Graph Tee", "GHT")).await?;
    let got = receiver.wait_for(1).await;
    assert!(got.len() == 1 && verifies(&got[0].signature, &secret, &got[0].body), "{got:?}");
    let log = server
        .graphql(
            Some(&admin),
            "query($id: String!) { webhookDeliveries(id: $id, status: \"delivered\") { nodes { id eventType status attempts lastStatusCode } pageInfo { hasNextPage } } }",
            json!({"id": id}),
        )
        .await?;
    let nodes = log.body["data"]["webhookDeliveries"]["nodes"].clone();
    assert_eq!(nodes[0]["eventType"], "product.created", "{}", log.body);
    assert_eq!((nodes[0]["status"].as_str(), nodes[0]["lastStatusCode"].as_i64()), (Some("delivered"), Some(200)));
    let delivery = nodes[0]["id"].as_str().unwrap_or_default().to_owned();

    let rotated = server
        .graphql(Some(&admin), "mutation($id: String!) { rotateWebhookSecret(id: $id) { secret } }", json!({"id": id}))
        .await?;
    let new_secret = rotated.body["data"]["rotateWebhookSecret"]["secret"].as_str().unwrap_or_default().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret, "{}", rotated.body);
    let retried = server
        .graphql(
            Some(&admin),
            "mutation($id: String!, $d: String!) { retryWebhookDelivery(id: $id, deliveryId: $d) { status } }",
            json!({"id": id, "d": delivery}),
        )
        .await?;
    assert_eq!(retried.body["data"]["retryWebhookDelivery"]["status"], "pending", "{}", retried.body);
    let got = receiver.wait_for(2).await;
    assert!(got.len() == 2 && verifies(&got[1].signature, &new_secret, &got[1].body), "{got:?}");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let replayed = server
        .graphql(
            Some(&admin),
            "mutation($id: String!, $since: DateTime!) { replayWebhook(id: $id, since: $since) { queued } }",
            json!({"id": id, "since": since}),
        )
        .await?;
    assert_eq!(replayed.body["data"]["replayWebhook"]["queued"], 1, "{}", replayed.body);
    let refused = server
        .graphql(
            Some(&admin),
            "mutation { createWebhook(input: {url: \"https://10.0.0.1/x\", events: [\"order.shipped\"]}) { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(refused.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", refused.body);
    let off = server
        .graphql(
            Some(&admin),
            "mutation($id: String!) { updateWebhook(id: $id, input: {active: false}) { active } }",
            json!({"id": id}),
        )
        .await?;
    assert_eq!(off.body["data"]["updateWebhook"]["active"], false, "{}", off.body);
    let deleted =
        server.graphql(Some(&admin), "mutation($id: String!) { deleteWebhook(id: $id) }", json!({"id": id})).await?;
    assert_eq!(deleted.body["data"]["deleteWebhook"], true, "{}", deleted.body);
    let listed = server.graphql(Some(&admin), "{ webhooks { id } }", json!({})).await?;
    assert_eq!(listed.body["data"]["webhooks"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_deliver_each_event_once_between_them() -> TestResult {
    let first = TestServer::start_with(private()).await?;
    let second = first.sibling(private()).await?;
    let admin = first.admin_token().await?;
    let receiver = Receiver::start().await?;
    let created =
        first.post("/v1/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["product.created"]})).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    for i in 0..20 {
        let server = if i % 2 == 0 { &first } else { &second };
        server.create_product(&admin, tee(&format!("Shared {i}"), &format!("SH{i}"))).await?;
    }
    let got = receiver.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got_all = receiver.received();
    let ids: std::collections::BTreeSet<&str> = got_all.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!((got.len(), got_all.len(), ids.len()), (20, 20, 20), "each event once: {got_all:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_delivery_loses_nothing_another_delivers_it_once_the_claim_runs_out() -> TestResult {
    let mut killed = TestServer::start_with(private()).await?;
    let admin = killed.admin_token().await?;
    let receiver = Receiver::start().await?;
    let created =
        killed.post("/v1/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["product.created"]})).await?;
    let hook = created.str("id")?.to_owned();
    // The receiver holds the first attempt open; the instance making it dies meanwhile.
    receiver.delay_ms.store(60_000, Ordering::Relaxed);
    killed.create_product(&admin, tee("Crash Tee", "CRT")).await?;
    assert_eq!(receiver.wait_for(1).await.len(), 1, "the attempt is in flight");
    killed.kill();

    let survivor = killed.sibling(private()).await?;
    receiver.delay_ms.store(0, Ordering::Relaxed);
    let pending = deliveries(&survivor, &admin, &hook).await?;
    assert_eq!((pending.len(), pending[0]["status"].as_str()), (1, Some("pending")), "{pending:?}");
    // Still claimed by the dead worker: nobody sends it until the claim runs out.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 1);
    survivor.state.clock.advance(chrono::Duration::seconds(61));
    let landed = delivery_reaches(&survivor, &admin, &hook, "delivered", 1).await?;
    assert_eq!(landed["last_status_code"].as_i64(), Some(200));
    let got = receiver.received();
    assert_eq!(got.len(), 2, "at least once: the event again, {got:?}");
    assert_eq!(got[0].event_id, got[1].event_id);
    Ok(())
}

/// The server as a process of its own on `database_url`, delivering webhooks to loopback;
/// killed with SIGKILL when dropped.
async fn server_process(database_url: &str) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium-test-server"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("EMPORIUM_")) {
        command.env_remove(name);
    }
    command
        .env("EMPORIUM_ADDR", format!("127.0.0.1:{port}"))
        .env("EMPORIUM_DATABASE_URL", database_url)
        .env("EMPORIUM_JWT_SECRET", crate::common::JWT_SECRET)
        .env("EMPORIUM_SECRET_KEY", crate::common::SECRET_KEY)
        .env("EMPORIUM_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("EMPORIUM_LOG", "warn")
        .env("EMPORIUM_ACCESS_LOG", "false")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = command.spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
            return Ok((child, base));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server process did not answer on {base} in 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_process_killed_with_sigkill_mid_delivery_is_restarted_and_every_event_arrives() -> TestResult {
    // The database and the subscription, made by a server in this process that then stops.
    let mut setup = TestServer::start_with(private()).await?;
    let admin = setup.admin_token().await?;
    let receiver = Receiver::start().await?;
    let created =
        setup.post("/v1/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["product.created"]})).await?;
    let hook = created.str("id")?.to_owned();
    setup.kill();

    // A server process makes five events and holds their deliveries open at the receiver.
    receiver.delay_ms.store(60_000, Ordering::Relaxed);
    let (mut process, base) = server_process(&setup.database_url()).await?;
    let client = reqwest::Client::new();
    for i in 0..5 {
        let made = client
            .post(format!("{base}/v1/products"))
            .bearer_auth(&admin)
            .json(&tee(&format!("Killed {i}"), &format!("KIL{i}")))
            .send()
            .await?;
        assert_eq!(made.status(), StatusCode::CREATED);
    }
    assert_eq!(receiver.wait_for(5).await.len(), 5, "five deliveries in flight");
    process.start_kill()?;
    let ended = process.wait().await?;
    assert!(!ended.success(), "killed, not stopped: {ended:?}");

    // Restarted: once the dead process's claims run out (the clock moved past them), each
    // event is delivered, at least once.
    let restarted = setup.sibling(private()).await?;
    receiver.delay_ms.store(0, Ordering::Relaxed);
    let pending = deliveries(&restarted, &admin, &hook).await?;
    assert_eq!(pending.len(), 5);
    assert!(pending.iter().all(|d| d["status"] == "pending"), "{pending:?}");
    restarted.state.clock.advance(chrono::Duration::seconds(61));
    let got = receiver.wait_for(10).await;
    let first: std::collections::BTreeSet<&str> = got[..5].iter().map(|r| r.event_id.as_str()).collect();
    let again: std::collections::BTreeSet<&str> = got[5..].iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!((first.len(), again), (5, first.clone()), "every event again: {got:?}");
    for _ in 0..100 {
        let log = deliveries(&restarted, &admin, &hook).await?;
        if log.iter().all(|d| d["status"] == "delivered") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the log never showed every delivery delivered")
}

/// `PATCH` or `DELETE` with an `If-Match` header.
async fn with_if_match(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    if_match: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, Value)> {
    let mut request =
        reqwest::Client::new().request(method, server.url(path)).bearer_auth(token).header("if-match", if_match);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await?;
    let (status, headers) = (reply.status(), reply.headers().clone());
    let text = reply.text().await?;
    Ok((status, headers, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_or_expected_version_is_412_and_changes_nothing() -> TestResult {
    let server = TestServer::start_with(private()).await?;
    let admin = server.admin_token().await?;
    let created =
        server.post("/v1/webhooks", Some(&admin), json!({"url": "http://127.0.0.1:9/a", "events": ["*"]})).await?;
    let hook = created.str("id")?.to_owned();
    let path = format!("/v1/webhooks/{hook}");
    let read = server.get_as(&path, &admin).await?;
    let tag = read.headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "a strong ETag: {tag:?}");

    // Two editors read the same version; the first change wins, the second is refused.
    let patch = reqwest::Method::PATCH;
    let (status, headers, first) =
        with_if_match(&server, patch.clone(), &path, &admin, &tag, Some(json!({"description": "first"}))).await?;
    assert_eq!(status, StatusCode::OK, "{first}");
    let new_tag = headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_ne!(new_tag, tag, "the version moved");
    let (status, _, second) =
        with_if_match(&server, patch.clone(), &path, &admin, &tag, Some(json!({"description": "second"}))).await?;
    assert_eq!(
        (status, second["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed")),
        "{second}"
    );
    let (status, _, _) = with_if_match(&server, reqwest::Method::DELETE, &path, &admin, &tag, None).await?;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, weak) = with_if_match(
        &server,
        patch.clone(),
        &path,
        &admin,
        &format!("W/{new_tag}"),
        Some(json!({"description": "weak"})),
    )
    .await?;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "a weak tag never matches: {weak}");
    let now = server.get_as(&path, &admin).await?;
    assert_eq!(now.body["description"], "first", "nothing changed: {}", now.body);

    // `*` and the current tag pass; GraphQL states the same with `expectedVersion`.
    let (status, _, _) =
        with_if_match(&server, patch.clone(), &path, &admin, "*", Some(json!({"description": "any"}))).await?;
    assert_eq!(status, StatusCode::OK);
    let version = server
        .graphql(Some(&admin), "query($id: String!) { webhook(id: $id) { version } }", json!({"id": hook}))
        .await?;
    let version = version.body["data"]["webhook"]["version"].as_i64().unwrap_or_default();
    let stale = server
        .graphql(
            Some(&admin),
            "mutation($id: String!, $v: Int!) { updateWebhook(id: $id, input: {description: \"g\"}, expectedVersion: $v) { version } }",
            json!({"id": hook, "v": version - 1}),
        )
        .await?;
    assert_eq!(stale.body["errors"][0]["extensions"]["code"], "precondition_failed", "{}", stale.body);
    let fresh = server
        .graphql(
            Some(&admin),
            "mutation($id: String!, $v: Int!) { updateWebhook(id: $id, input: {description: \"g\"}, expectedVersion: $v) { version description } }",
            json!({"id": hook, "v": version}),
        )
        .await?;
    assert_eq!(fresh.body["data"]["updateWebhook"]["version"], version + 1, "{}", fresh.body);
    let current = server.get_as(&path, &admin).await?;
    let tag = current.headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (status, _, _) = with_if_match(&server, reqwest::Method::DELETE, &path, &admin, &tag, None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    Ok(())
}

#[tokio::test]
async fn a_retried_creation_does_not_show_the_secret_again() -> TestResult {
    let server = TestServer::start_with(private()).await?;
    let admin = server.admin_token().await?;
    let body = json!({"url": "http://127.0.0.1:9/once", "events": ["order.paid"]});
    let send = || async {
        let reply = reqwest::Client::new()
            .post(server.url("/v1/webhooks"))
            .bearer_auth(&admin)
            .header("idempotency-key", "hook-once")
            .json(&body)
            .send()
            .await?;
        let status = reply.status();
        anyhow::Ok((status, reply.json::<Value>().await?))
    };
    let (status, first) = send().await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(first["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")), "{first}");
    let (status, again) = send().await?;
    assert_eq!((status, again["id"].clone()), (StatusCode::CREATED, first["id"].clone()), "{again}");
    assert!(again.get("secret").is_none(), "the secret is shown once and not stored: {again}");
    Ok(())
}
