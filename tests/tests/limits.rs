//! Failed-login throttling and per-caller rate limits.

use std::num::NonZeroU32;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Options, TestResult, TestServer};
use emporium_gateway::infra::limits::Allowances;

fn allowances(anonymous: u32, customer: u32, api_key: u32) -> Allowances {
    Allowances {
        anonymous: NonZeroU32::new(anonymous),
        customer: NonZeroU32::new(customer),
        api_key: NonZeroU32::new(api_key),
    }
}

fn header(reply: &crate::common::Reply, name: &str) -> Option<u64> {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn ten_failed_logins_for_an_email_lock_it_before_any_password_is_checked() -> TestResult {
    let server = TestServer::start().await?;
    for attempt in 1..=10 {
        let reply = server
            .post("/v1/auth/login", None, json!({"email": ADMIN_EMAIL, "password": format!("wrong {attempt}")}))
            .await?;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {}", reply.body);
    }
    // The right password no longer helps: the attempt is refused before it is checked.
    let locked = server
        .post("/v1/auth/login", None, json!({"email": ADMIN_EMAIL.to_uppercase(), "password": ADMIN_PASSWORD}))
        .await?;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.body);
    assert_eq!(locked.problem_code(), "rate_limited");
    let retry = header(&locked, "retry-after").unwrap_or_default();
    assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
    // GraphQL shares the throttle.
    let graphql = server
        .graphql(
            None,
            &format!(r#"mutation {{ login(email: "{ADMIN_EMAIL}", password: "{ADMIN_PASSWORD}") {{ accessToken }} }}"#),
            json!({}),
        )
        .await?;
    assert_eq!(graphql.body["errors"][0]["extensions"]["code"], "rate_limited", "{}", graphql.body);
    Ok(())
}

#[tokio::test]
async fn ten_failed_logins_from_one_address_lock_that_address_for_every_email() -> TestResult {
    let server =
        TestServer::start_with(Options { client_ip_header: Some("x-forwarded-for"), ..Options::default() }).await?;
    let attempt = |email: String, password: &'static str, ip: &'static str| {
        server
            .client
            .post(server.url("/v1/auth/login"))
            .header("x-forwarded-for", format!("10.9.9.9, {ip}"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for i in 0..10 {
        let reply =
            crate::common::Reply::from(attempt(format!("guess{i}@shop.test"), "wrong password", "198.51.100.7").await?)
                .await?;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let locked =
        crate::common::Reply::from(attempt(ADMIN_EMAIL.to_owned(), ADMIN_PASSWORD, "198.51.100.7").await?).await?;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.body);
    // Another address signs in as usual.
    let other =
        crate::common::Reply::from(attempt(ADMIN_EMAIL.to_owned(), ADMIN_PASSWORD, "203.0.113.5").await?).await?;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    Ok(())
}

#[tokio::test]
async fn an_anonymous_caller_past_the_allowance_gets_429_with_retry_after_and_ratelimit_headers() -> TestResult {
    let server = TestServer::start_with(Options { rate_limits: allowances(5, 0, 0), ..Options::default() }).await?;
    server.wait_for_redis().await?;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let reply = server.get("/v1/products").await?;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(header(&reply, "ratelimit-limit"), Some(5));
        remaining.push(header(&reply, "ratelimit-remaining").unwrap_or(99));
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let refused = server.get("/v1/products").await?;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert_eq!(refused.problem_code(), "rate_limited");
    assert!(header(&refused, "retry-after").is_some_and(|s| (1..=60).contains(&s)));
    assert!(header(&refused, "ratelimit-reset").is_some());
    // Health checks are never limited.
    assert_eq!(server.get("/healthz").await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn customers_and_api_keys_spend_their_own_allowances() -> TestResult {
    let server = TestServer::start_with(Options { rate_limits: allowances(1000, 3, 2), ..Options::default() }).await?;
    server.wait_for_redis().await?;
    let (_, ada) = server.customer("ada@example.com").await?;
    let (_, bob) = server.customer("bob@example.com").await?;
    for _ in 0..3 {
        assert_eq!(server.get_as("/v1/customers/me", &ada).await?.status, StatusCode::OK);
    }
    assert_eq!(server.get_as("/v1/customers/me", &ada).await?.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(server.get_as("/v1/customers/me", &bob).await?.status, StatusCode::OK, "Bob has his own allowance");

    let admin = server.admin_token().await?;
    let (_, key) = server.api_key(&admin, &["catalog:read"]).await?;
    for _ in 0..2 {
        assert_eq!(server.get_as("/v1/products", &key).await?.status, StatusCode::OK);
    }
    assert_eq!(server.get_as("/v1/products", &key).await?.status, StatusCode::TOO_MANY_REQUESTS);
    // Staff tokens are not limited.
    for _ in 0..5 {
        assert_eq!(server.get_as("/v1/products", &admin).await?.status, StatusCode::OK);
    }
    Ok(())
}

#[tokio::test]
async fn graphql_aliases_spend_one_request_each() -> TestResult {
    let server = TestServer::start_with(Options { rate_limits: allowances(6, 0, 0), ..Options::default() }).await?;
    server.wait_for_redis().await?;
    let aliases: String = (0..7).map(|i| format!("a{i}: categories(first: 1) {{ nodes {{ id }} }} ")).collect();
    let refused = server.graphql(None, &format!("{{ {aliases} }}"), json!({})).await?;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert_eq!(refused.problem_code(), "rate_limited");
    // Two root fields spend two of what is left.
    let two = server
        .graphql(
            None,
            "{ a: categories(first: 1) { nodes { id } } b: categories(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await?;
    assert_eq!(two.status, StatusCode::OK, "{}", two.body);
    assert!(header(&two, "ratelimit-remaining").is_some_and(|r| r <= 3), "{:?}", two.headers);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: runs when EMPORIUM_TEST_REDIS_URL is set, and always in CI (see make test)"]
async fn with_redis_one_allowance_holds_across_instances() -> TestResult {
    let redis = crate::common::redis_required()?;
    let prefix = format!("emporium-test:{}:", uuid::Uuid::now_v7().simple());
    let options = Options {
        redis_url: Some(redis),
        cache_prefix: Some(prefix),
        rate_limits: allowances(4, 0, 0),
        ..Options::default()
    };
    let a = TestServer::start_with(options.clone()).await?;
    let b = a.sibling(options).await?;
    a.wait_for_redis().await?;
    b.wait_for_redis().await?;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let server = if i % 2 == 0 { &a } else { &b };
        statuses.push(server.get("/v1/categories").await?.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "the two instances shared one allowance");
    Ok(())
}

#[tokio::test]
async fn fragments_cannot_hide_root_fields_from_the_allowance() -> TestResult {
    let server = TestServer::start_with(Options { rate_limits: allowances(6, 0, 0), ..Options::default() }).await?;
    server.wait_for_redis().await?;
    let aliases: String = (0..7).map(|i| format!("a{i}: categories(first: 1) {{ nodes {{ id }} }} ")).collect();
    let hidden = format!("query {{ ...Many }} fragment Many on Query {{ {aliases} }}");
    let refused = server.graphql(None, &hidden, json!({})).await?;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_in_flight_at_once_cannot_pass_the_throttle_together() -> TestResult {
    let server = std::sync::Arc::new(TestServer::start().await?);
    let mut attempts = Vec::new();
    for i in 0..20 {
        let server = std::sync::Arc::clone(&server);
        attempts.push(tokio::spawn(async move {
            server.post("/v1/auth/login", None, json!({"email": ADMIN_EMAIL, "password": format!("wrong {i}")})).await
        }));
    }
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await??.status);
    }
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, throttled), (10, 10), "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn a_registration_costs_more_of_the_allowance_than_a_read() -> TestResult {
    let server = TestServer::start_with(Options { rate_limits: allowances(45, 0, 0), ..Options::default() }).await?;
    server.wait_for_redis().await?;
    let register =
        |email: &str| json!({"email": email, "password": "a long password", "first_name": "R", "last_name": "L"});
    assert_eq!(server.post("/v1/customers", None, register("r1@example.com")).await?.status, StatusCode::CREATED);
    assert_eq!(server.post("/v1/customers", None, register("r2@example.com")).await?.status, StatusCode::CREATED);
    let third = server.post("/v1/customers", None, register("r3@example.com")).await?;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{}", third.body);
    assert_eq!(server.get("/v1/categories").await?.status, StatusCode::OK, "plain reads still fit");
    Ok(())
}
