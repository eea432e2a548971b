//! Concurrent edits with `If-Match` on tax rates: the ETag is the version; a stale tag is 412
//! `precondition_failed` and changes nothing; GraphQL says the same with `expectedVersion`.
//! (Webhook subscriptions are covered in webhooks.rs.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestResult, TestServer};

async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    if_match: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Option<String>, Value)> {
    let mut request =
        reqwest::Client::new().request(method, server.url(path)).bearer_auth(token).header("if-match", if_match);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await?;
    let status = reply.status();
    let tag = reply.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = reply.text().await?;
    Ok((status, tag, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn a_tax_rate_changed_since_it_was_read_is_412_and_unchanged() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let created =
        server.post("/v1/tax-rates", Some(&admin), json!({"country": "FR", "name": "TVA", "rate_bp": 2000})).await?;
    let path = format!("/v1/tax-rates/{}", created.str("id")?);
    let read = server.get_as(&path, &admin).await?;
    let tag = read.headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(tag, "\"1\"");

    let (status, new_tag, body) =
        send(&server, Method::PATCH, &path, &admin, &tag, Some(json!({"rate_bp": 2100}))).await?;
    assert_eq!((status, new_tag.as_deref()), (StatusCode::OK, Some("\"2\"")), "{body}");
    let (status, _, stale) = send(&server, Method::PATCH, &path, &admin, &tag, Some(json!({"rate_bp": 500}))).await?;
    assert_eq!(
        (status, stale["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed")),
        "{stale}"
    );
    let (status, _, _) = send(&server, Method::DELETE, &path, &admin, &tag, None).await?;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(server.get_as(&path, &admin).await?.body["rate_bp"], 2100, "nothing changed");

    let id = created.str("id")?.to_owned();
    let stale = server
        .graphql(
            Some(&admin),
            "mutation($id: String!) { updateTaxRate(id: $id, rateBp: 1, expectedVersion: 1) { version } }",
            json!({"id": id}),
        )
        .await?;
    assert_eq!(stale.body["errors"][0]["extensions"]["code"], "precondition_failed", "{}", stale.body);
    let fresh = server
        .graphql(
            Some(&admin),
            "mutation($id: String!) { updateTaxRate(id: $id, rateBp: 1900, expectedVersion: 2) { version rateBp } }",
            json!({"id": id}),
        )
        .await?;
    assert_eq!(fresh.body["data"]["updateTaxRate"], json!({"version": 3, "rateBp": 1900}), "{}", fresh.body);
    let (status, _, _) = send(&server, Method::DELETE, &path, &admin, "\"3\"", None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, gone) = send(&server, Method::DELETE, &path, &admin, "\"3\"", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    Ok(())
}
