//! `Idempotency-Key`: retries return the first answer and do the work once.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
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

// Multi-threaded: the server's handlers really run at once, not merely interleaved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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

/// The request fingerprint the server binds a key to: an HMAC of the path and the exact body
/// bytes, keyed by a key derived from the signing key (so a stored fingerprint of a body with a
/// password cannot be brute-forced offline).
fn request_hash(path: &str, body: &Value) -> anyhow::Result<String> {
    use base64::Engine as _;
    use hmac::Mac as _;
    type HmacSha256 = hmac::Hmac<sha2::Sha256>;
    let mut derive = HmacSha256::new_from_slice(crate::auth::TEST_JWT_SECRET.as_bytes())?;
    derive.update(b"idempotency");
    let key = derive.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&key)?;
    mac.update(path.as_bytes());
    mac.update(&[0]);
    mac.update(&serde_json::to_vec(body)?);
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// The admin's staff id, from its access token's `sub`.
async fn admin_scope(server: &TestServer) -> anyhow::Result<String> {
    let row = server
        .app_db
        .query_one_raw(sea_orm::Statement::from_string(
            server.app_db.get_database_backend(),
            format!("SELECT id FROM staff_accounts WHERE email = '{}'", crate::common::ADMIN_EMAIL),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no admin row"))?;
    Ok(format!("staff:{}", row.try_get_by_index::<String>(0)?))
}

/// Leaves a `running` row for the admin's `key`, as a request still in flight (or a crashed
/// one, when `age` is long) would.
async fn running_row(server: &TestServer, key: &str, body: &Value, age: chrono::Duration) -> TestResult {
    let backend = server.app_db.get_database_backend();
    let created = chrono::Utc::now() - age;
    let sql = "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, claim_token, created_at) \
               VALUES (?, ?, ?, 'running', 'someone-else', ?)";
    let values =
        [admin_scope(server).await?.into(), key.into(), request_hash("/v1/products", body)?.into(), created.into()];
    server.app_db.execute_raw(emporium_core::db::statement(backend, sql, values)).await?;
    Ok(())
}

#[tokio::test]
async fn a_key_whose_first_request_is_still_running_is_409_idempotency_in_progress() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let body = tee("Running Tee", "RUN");
    running_row(&server, "key-running", &body, chrono::Duration::zero()).await?;
    let reply = post_keyed(&server, &token, "key-running", &body).await?;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.problem_code(), "idempotency_in_progress");
    assert_eq!(product_count(&server, &token).await?, 0, "nothing may run beside the first request");
    Ok(())
}

#[tokio::test]
async fn a_key_abandoned_by_a_crashed_request_is_taken_over_and_the_work_done_once() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let body = tee("Abandoned Tee", "ABANDON");
    // A `running` row means nothing committed (the answer commits with the write).
    running_row(&server, "key-abandoned", &body, chrono::Duration::hours(1)).await?;
    let first = post_keyed(&server, &token, "key-abandoned", &body).await?;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post_keyed(&server, &token, "key-abandoned", &body).await?;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(product_count(&server, &token).await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_request_can_retry_and_the_work_is_done_once() -> TestResult {
    use tokio::io::AsyncWriteExt as _;
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let body = tee("Hang-up Tee", "HANGUP");
    let bytes = serde_json::to_vec(&body)?;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await?;
    let head = format!(
        "POST /v1/products HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: key-hangup\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&bytes).await?;
    drop(stream);

    // Whether the first request finished or was dropped, a retry soon gets the one answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let reply = loop {
        let reply = post_keyed(&server, &token, "key-hangup", &body).await?;
        if reply.problem_code() != "idempotency_in_progress" || std::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(product_count(&server, &token).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_keyed_write_stores_its_answer_in_its_own_transaction() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let first = post_keyed(&server, &token, "key-stored", &tee("Stored Tee", "STORED")).await?;
    assert_eq!(first.status, StatusCode::CREATED);
    let row = server
        .app_db
        .query_one_raw(sea_orm::Statement::from_string(
            server.app_db.get_database_backend(),
            "SELECT state, response_status, response_body FROM idempotency_keys WHERE idempotency_key = 'key-stored'",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no idempotency row"))?;
    assert_eq!(row.try_get_by_index::<String>(0)?, "done");
    assert_eq!(row.try_get_by_index::<i32>(1)?, 201);
    let stored: Value = serde_json::from_str(&row.try_get_by_index::<String>(2)?)?;
    assert_eq!(stored, first.body);
    Ok(())
}

#[tokio::test]
async fn a_404_is_not_stored_so_the_retry_after_the_resource_exists_succeeds() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let variant = json!({"sku": "LATE-L", "options": {"Size": "L"}, "prices": [{"amount": 100, "currency": "EUR"}]});
    let keyed = |path: String| {
        server.client.post(server.url(&path)).bearer_auth(&token).header("idempotency-key", "key-404").json(&variant)
    };
    let missing = Reply::from(keyed("/v1/products/late-tee/variants".into()).send().await?).await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let mut product = tee("Late Tee", "LATE");
    product["options"] = json!([{"name": "Size", "values": ["S", "L"]}]);
    product["variants"] =
        json!([{"sku": "LATE-S", "options": {"Size": "S"}, "prices": [{"amount": 100, "currency": "EUR"}]}]);
    server.create_product(&token, product).await?;
    let retry = Reply::from(keyed("/v1/products/late-tee/variants".into()).send().await?).await?;
    assert_eq!(retry.status, StatusCode::CREATED, "the 404 was replayed: {}", retry.body);
    Ok(())
}

#[tokio::test]
async fn reads_and_graphql_never_store_an_answer() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let query = json!({"query": "{ products { nodes { name } } }"});
    let keyed_graphql = || async {
        let response = server
            .client
            .post(server.url("/graphql"))
            .header("idempotency-key", "key-read")
            .json(&query)
            .send()
            .await?;
        Reply::from(response).await
    };
    let before = keyed_graphql().await?;
    assert_eq!(before.body["data"]["products"]["nodes"], json!([]));
    server.create_product(&token, tee("New Tee", "NEW")).await?;
    let after = keyed_graphql().await?;
    assert!(after.headers.get("idempotent-replayed").is_none(), "a GraphQL query was replayed");
    assert_eq!(after.body["data"]["products"]["nodes"], json!([{"name": "New Tee"}]));

    // An unknown route stores nothing either.
    let unknown = server
        .client
        .post(server.url("/v1/nowhere"))
        .bearer_auth(&token)
        .header("idempotency-key", "key-nowhere")
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let rows = server
        .app_db
        .query_all_raw(sea_orm::Statement::from_string(
            server.app_db.get_database_backend(),
            "SELECT idempotency_key FROM idempotency_keys",
        ))
        .await?;
    assert!(rows.is_empty(), "{} idempotency rows were stored for reads", rows.len());
    Ok(())
}

#[tokio::test]
async fn one_staff_members_key_never_replays_to_another() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let second = server.staff_token("second@shop.test", emporium_customers::Role::Admin).await?;

    let first = post_keyed(&server, &token, "shared-key", &tee("Mine", "MINE")).await?;
    assert_eq!(first.status, StatusCode::CREATED);
    let other = post_keyed(&server, &second, "shared-key", &tee("Mine", "MINE")).await?;
    assert!(other.headers.get("idempotent-replayed").is_none(), "another caller received the first answer");
    assert_eq!(
        other.status,
        StatusCode::CONFLICT,
        "the second caller's own request ran (its SKUs are taken): {}",
        other.body
    );
    assert_eq!(other.problem_code(), "sku_taken");
    Ok(())
}

#[tokio::test]
async fn a_key_longer_than_255_characters_is_422_naming_the_header_and_does_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let reply = post_keyed(&server, &token, &"k".repeat(256), &tee("Long Key Tee", "LONGKEY")).await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.error_fields(), [("Idempotency-Key".to_owned(), "invalid".to_owned())]);
    assert_eq!(product_count(&server, &token).await?, 0);
    Ok(())
}
