//! `Idempotency-Key`: retries return the first answer and do the work once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Reply, TestResult, TestServer, tee};

async fn post_keyed(server: &TestServer, token: &str, key: &str, body: &Value) -> anyhow::Result<Reply> {
    let response = server
        .client
        .post(server.url("/v1/products"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await?;
    Reply::from(response).await
}

async fn product_count(server: &TestServer, token: &str) -> anyhow::Result<usize> {
    let list = server.get_as("/v1/products?status=all&limit=100", token).await?;
    Ok(list.body["data"].as_array().map_or(0, Vec::len))
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_returns_the_first_answer_and_creates_once() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let body = tee("Keyed Tee", "KEY");
    let first = post_keyed(&server, &token, "key-1", &body).await?;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = post_keyed(&server, &token, "key-1", &body).await?;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body, "the replay must be the first answer");
    assert_eq!(again.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(product_count(&server, &token).await?, 1);
    Ok(())
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_idempotency_key_reused() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    assert_eq!(post_keyed(&server, &token, "key-2", &tee("One", "ONE")).await?.status, StatusCode::CREATED);
    let other = post_keyed(&server, &token, "key-2", &tee("Two", "TWO")).await?;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.problem_code(), "idempotency_key_reused");
    assert_eq!(product_count(&server, &token).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_refused_request_is_replayed_as_refused() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let bad = json!({"name": "", "status": "published", "variants": []});
    let first = post_keyed(&server, &token, "key-3", &bad).await?;
    assert_eq!(first.status, StatusCode::UNPROCESSABLE_ENTITY);
    let again = post_keyed(&server, &token, "key-3", &bad).await?;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.body, first.body);
    assert_eq!(again.problem_code(), "validation_failed");
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_with_one_key_do_the_work_once() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let body = tee("Race Tee", "RACE");
    let replies = futures::future::join_all((0..6).map(|_| post_keyed(&server, &token, "key-race", &body))).await;
    let mut created = 0;
    for reply in replies {
        let reply = reply?;
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert_eq!(reply.problem_code(), "idempotency_in_progress"),
            other => anyhow::bail!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(created >= 1, "someone must get the answer");
    assert_eq!(product_count(&server, &token).await?, 1, "the work must be done once");
    Ok(())
}

#[tokio::test]
async fn keys_belong_to_their_caller_and_auth_routes_ignore_them() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    // A request refused for its credentials is not recorded: the same key works once signed in.
    let anonymous = server
        .client
        .post(server.url("/v1/products"))
        .header("idempotency-key", "key-4")
        .json(&tee("Anon", "ANON"))
        .send()
        .await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(post_keyed(&server, &token, "key-4", &tee("Anon", "ANON")).await?.status, StatusCode::CREATED);
    Ok(())
}
