//! The operator's request log and `X-Request-Id`: one line per request with the matched route
//! (never the raw path), the id on every line the request writes, ids the caller cannot forge
//! into a log, and problem+json for oversized request lines and headers.

use std::sync::{Arc, Mutex, OnceLock};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{cart, checkout, product};
use crate::common::{Options, TestResult, TestServer};

/// Every line the servers of this test run write at the levels these tests read, as JSON.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LINES: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&lines);
            let writer = move || Sink(Arc::clone(&sink));
            let filter = tracing_subscriber::filter::Targets::new()
                .with_target("emporium::access", tracing::Level::INFO)
                .with_target("emporium_orders", tracing::Level::WARN);
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(writer)
                .finish();
            use tracing_subscriber::layer::SubscriberExt as _;
            let _ = tracing::subscriber::set_global_default(subscriber.with(filter));
            lines
        })
        .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut lines) = self.0.lock() {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured lines of one request id, after a moment for the last one to be written.
async fn lines_of(request_id: &str) -> Vec<Value> {
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let all = captured().lock().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
    all.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["request_id"] == request_id)
        .collect()
}

async fn get_with_id(server: &TestServer, path: &str, id: &str) -> anyhow::Result<reqwest::Response> {
    Ok(server.client.get(server.url(path)).header("x-request-id", id).send().await?)
}

#[tokio::test]
async fn each_request_writes_one_line_with_its_route_never_its_path() -> TestResult {
    captured();
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "LOG-1", &[(900, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let id = format!("test-{}", uuid::Uuid::new_v4().simple());
    let answer = get_with_id(&server, &format!("/v1/carts/{cart}"), &id).await?;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some(id.as_str()));
    let lines = lines_of(&id).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let fields = &lines[0]["fields"];
    assert_eq!(fields["route"], "/v1/carts/{cart_id}", "{fields}");
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["caller"], "anonymous");
    assert!(fields["latency_ms"].as_f64().is_some(), "{fields}");
    let text = serde_json::to_string(&lines)?;
    assert!(!text.contains(&cart), "the cart id is a capability: {text}");

    // A staff caller, and an unknown route (logged as unmatched, not by its path).
    let staff_id = format!("test-{}", uuid::Uuid::new_v4().simple());
    let listed = server
        .client
        .get(server.url("/v1/orders"))
        .bearer_auth(&admin)
        .header("x-request-id", &staff_id)
        .send()
        .await?;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(lines_of(&staff_id).await[0]["fields"]["caller"], "staff");
    let lost_id = format!("test-{}", uuid::Uuid::new_v4().simple());
    get_with_id(&server, "/v1/secret-cart_0123", &lost_id).await?;
    let lost = lines_of(&lost_id).await;
    assert_eq!(lost[0]["fields"]["route"], "unmatched");
    assert!(!serde_json::to_string(&lost)?.contains("secret-cart"));

    // A line written while the request runs carries its id.
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    let order = placed.str("id")?.to_owned();
    let calls = server.state.test_payments.calls();
    let Some(emporium_payments::Call::Authorize { payment_ref, .. }) = calls.last() else { anyhow::bail!("no charge") };
    server.state.test_payments.fail_refunds_of(payment_ref, Some(false));
    let refund_id = format!("test-{}", uuid::Uuid::new_v4().simple());
    let refund = server
        .client
        .post(server.url(&format!("/v1/orders/{order}/refunds")))
        .bearer_auth(&admin)
        .header("x-request-id", &refund_id)
        .json(&json!({"amount": {"amount": 100, "currency": "EUR"}}))
        .send()
        .await?;
    assert_eq!(refund.status(), StatusCode::BAD_GATEWAY);
    let lines = lines_of(&refund_id).await;
    assert!(lines.iter().any(|l| l["target"] == "emporium_orders::after_sale"), "{lines:?}");
    assert!(lines.iter().any(|l| l["fields"]["status"] == 502 && l["level"] == "ERROR"), "{lines:?}");
    Ok(())
}

#[tokio::test]
async fn a_request_id_that_could_forge_a_log_line_is_replaced() -> TestResult {
    captured();
    let server = TestServer::start().await?;
    for bad in ["x".repeat(3000), "a b".to_owned(), "id}: forged".to_owned()] {
        let answer = server.client.get(server.url("/healthz")).header("x-request-id", bad.as_str()).send().await?;
        let echoed = answer.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(!echoed.is_empty() && echoed != bad, "{bad:.20} was echoed");
        assert!(echoed.len() <= 64 && echoed.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
    }
    let made = server.client.get(server.url("/healthz")).send().await?;
    assert!(made.headers().get("x-request-id").is_some(), "one is made when none is sent");
    Ok(())
}

#[tokio::test]
async fn with_the_access_log_off_only_server_errors_are_written() -> TestResult {
    captured();
    let server = TestServer::start_with(Options { quiet_access_log: true, ..Options::default() }).await?;
    let fine = format!("test-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(get_with_id(&server, "/v1/products", &fine).await?.status(), StatusCode::OK);
    assert!(lines_of(&fine).await.is_empty());
    assert!(server.lose_database().await?);
    let broken = format!("test-{}", uuid::Uuid::new_v4().simple());
    let status = get_with_id(&server, "/v1/categories", &broken).await?.status();
    assert!(status.is_server_error(), "{status}");
    let lines = lines_of(&broken).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["fields"]["status"], status.as_u16());
    Ok(())
}

#[tokio::test]
async fn oversized_request_lines_and_headers_get_problem_bodies() -> TestResult {
    let server = TestServer::start().await?;
    let long = server.client.get(server.url(&format!("/v1/products?q={}", "a".repeat(10_000)))).send().await?;
    assert_eq!(long.status(), StatusCode::URI_TOO_LONG);
    assert_eq!(long.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    let body: Value = long.json().await?;
    assert_eq!(body["code"], "uri_too_long");
    let mut request = server.client.get(server.url("/v1/products"));
    for i in 0..8 {
        request = request.header(format!("x-filler-{i}"), "b".repeat(5_000));
    }
    let wide = request.send().await?;
    assert_eq!(wide.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let body: Value = wide.json().await?;
    assert_eq!(body["code"], "headers_too_large");
    Ok(())
}
