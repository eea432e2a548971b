//! `Idempotency-Key` on `POST /graphql`: a keyed mutation document does its work once and
//! replays its whole answer, with REST's rules.

use emporium_payments::Call;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{amount, cart, product, stock_of};
use crate::common::{Reply, TestResult, TestServer};

/// Sends a GraphQL document with an `Idempotency-Key`.
async fn keyed(
    server: &TestServer,
    token: Option<&str>,
    key: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Reply> {
    let mut request = server
        .client
        .post(server.url("/graphql"))
        .header("idempotency-key", key)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::from(request.send().await?).await
}

fn replayed(reply: &Reply) -> bool {
    reply.headers.get("idempotent-replayed").is_some_and(|v| v == "true")
}

const CHECKOUT: &str = "mutation($cart: String!) { checkout(cartId: $cart, payment: {provider: \"test\", token: \"tok_ok\"}) { id number total { amount } } }";

#[tokio::test]
async fn a_retried_graphql_checkout_answers_the_same_order_and_charges_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "GQL-KEY-1", &[(1200, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let key = uuid::Uuid::new_v4().to_string();
    let first = keyed(&server, None, &key, CHECKOUT, json!({"cart": cart})).await?;
    assert!(first.body["errors"].is_null(), "{}", first.body);
    let order = first.body["data"]["checkout"].clone();
    assert!(order["id"].is_string(), "{}", first.body);
    let again = keyed(&server, None, &key, CHECKOUT, json!({"cart": cart})).await?;
    assert!(replayed(&again), "{:?}", again.headers);
    assert_eq!(again.body, first.body, "the whole first answer, not cart_already_checked_out");
    let charges = server.state.test_payments.calls().iter().filter(|c| matches!(c, Call::Authorize { .. })).count();
    assert_eq!(charges, 1);
    assert_eq!(stock_of(&server, &admin, &sku).await?, (4, 0));

    // The same key with another document is refused; without credentials a key must be a
    // random UUID; a keyed document holds one mutation.
    let other = keyed(&server, None, &key, CHECKOUT, json!({"cart": "cart_other"})).await?;
    assert_eq!(other.body["errors"][0]["extensions"]["code"], "idempotency_key_reused", "{}", other.body);
    let fixed = keyed(&server, None, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", CHECKOUT, json!({"cart": cart})).await?;
    assert_eq!(fixed.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", fixed.body);
    let two = "mutation { a: createCart(currency: \"EUR\") { id } b: createCart(currency: \"EUR\") { id } }";
    let refused = keyed(&server, None, &uuid::Uuid::new_v4().to_string(), two, json!({})).await?;
    assert_eq!(refused.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", refused.body);
    assert_eq!(refused.body["errors"][0]["extensions"]["errors"][0]["field"], "Idempotency-Key");
    // A document of queries ignores the header.
    let read = keyed(&server, None, &key, "{ categories { nodes { id } } }", json!({})).await?;
    assert!(read.body["errors"].is_null() && !replayed(&read), "{}", read.body);
    Ok(())
}

#[tokio::test]
async fn a_retried_graphql_refund_refunds_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "GQL-KEY-2", &[(1000, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 2)]).await?;
    let placed = crate::checkout::checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order = placed.str("id")?.to_owned();
    let refund = "mutation($id: String!) { refundOrder(orderId: $id, amount: {amount: 300, currency: \"EUR\"}) { refunded { amount } } }";
    let key = "refund-once-1";
    let first = keyed(&server, Some(&admin), key, refund, json!({"id": order})).await?;
    assert_eq!(first.body["data"]["refundOrder"]["refunded"]["amount"], 300, "{}", first.body);
    let again = keyed(&server, Some(&admin), key, refund, json!({"id": order})).await?;
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    let seen = server.get_as(&format!("/v1/orders/{order}"), &admin).await?;
    assert_eq!(amount(&seen.body["refunded"]), 300, "refunded once: {}", seen.body);
    Ok(())
}

#[tokio::test]
async fn a_retried_graphql_stock_adjustment_adjusts_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "GQL-KEY-3", &[(1000, "EUR")], 5).await?;
    let adjust = "mutation($sku: String!) { adjustStock(sku: $sku, location: \"main\", delta: 7, reason: RESTOCK) { delta onHandAfter } }";
    let first = keyed(&server, Some(&admin), "adjust-once-1", adjust, json!({"sku": sku})).await?;
    assert_eq!(first.body["data"]["adjustStock"]["onHandAfter"], 12, "{}", first.body);
    let again = keyed(&server, Some(&admin), "adjust-once-1", adjust, json!({"sku": sku})).await?;
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    assert_eq!(stock_of(&server, &admin, &sku).await?, (12, 0), "adjusted once");
    // Another caller's same key is theirs alone: it does the work.
    let (_, key) = server.api_key(&admin, &["inventory:write"]).await?;
    let request = server
        .client
        .post(server.url("/graphql"))
        .header("idempotency-key", "adjust-once-1")
        .header("x-api-key", &key)
        .json(&json!({"query": adjust, "variables": {"sku": sku}}));
    let theirs = Reply::from(request.send().await?).await?;
    assert_eq!(theirs.body["data"]["adjustStock"]["onHandAfter"], 19, "{}", theirs.body);
    Ok(())
}

#[tokio::test]
async fn a_keyed_graphql_refusal_is_replayed_and_a_new_keys_secret_is_not_kept() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "GQL-KEY-4", &[(800, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let declined = CHECKOUT.replace("tok_ok", "tok_declined");
    let key = uuid::Uuid::new_v4().to_string();
    let first = keyed(&server, None, &key, &declined, json!({"cart": cart})).await?;
    assert_eq!(first.body["errors"][0]["extensions"]["code"], "payment_declined", "{}", first.body);
    let again = keyed(&server, None, &key, &declined, json!({"cart": cart})).await?;
    assert!(replayed(&again), "a refusal is kept as REST keeps it: {}", again.body);
    assert_eq!(again.body, first.body);

    let create = r#"mutation { made: createApiKey(name: "ERP", scopes: ["catalog:read"]) { id secret: key } }"#;
    let created = keyed(&server, Some(&admin), "new-key-1", create, json!({})).await?;
    let secret = created.body["data"]["made"]["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("emp_"), "{}", created.body);
    let replay = keyed(&server, Some(&admin), "new-key-1", create, json!({})).await?;
    assert!(replayed(&replay));
    assert_eq!(replay.body["data"]["made"]["id"], created.body["data"]["made"]["id"], "the same key, once");
    assert!(replay.body["data"]["made"]["secret"].is_null(), "the secret is shown once: {}", replay.body);
    assert!(!replay.body.to_string().contains(&secret));
    Ok(())
}
