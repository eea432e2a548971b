//! CORS: browser pages from the configured origins may call REST and GraphQL; others get no
//! CORS headers.

use reqwest::{Method, StatusCode};

use crate::common::{Options, TestResult, TestServer};

const SHOP: &str = "https://shop.example";

fn cors_headers(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers.keys().map(|k| k.as_str().to_owned()).filter(|k| k.starts_with("access-control-")).collect()
}

async fn preflight(server: &TestServer, path: &str, origin: &str) -> anyhow::Result<reqwest::Response> {
    Ok(server
        .client
        .request(Method::OPTIONS, server.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, x-api-key, idempotency-key")
        .send()
        .await?)
}

#[tokio::test]
async fn a_configured_origin_may_call_rest_and_graphql_from_a_browser() -> TestResult {
    let options = Options { cors_origins: vec![SHOP.into(), "http://localhost:3000".into()], ..Options::default() };
    let server = TestServer::start_with(options).await?;
    for path in ["/v1/products", "/graphql", "/v1/products/some-slug/variants"] {
        let reply = preflight(&server, path, SHOP).await?;
        assert!(reply.status().is_success(), "{path}: preflight answered {}", reply.status());
        let headers = reply.headers();
        assert_eq!(headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some(SHOP), "{path}");
        let allowed = headers.get("access-control-allow-headers").and_then(|v| v.to_str().ok()).unwrap_or_default();
        for needed in ["authorization", "content-type", "x-api-key", "idempotency-key"] {
            assert!(allowed.contains(needed), "{path}: {needed} not allowed in {allowed:?}");
        }
        let methods = headers.get("access-control-allow-methods").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(methods.contains("POST"), "{path}: {methods:?}");
    }
    let read = server.client.get(server.url("/v1/products")).header("origin", SHOP).send().await?;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some(SHOP));
    Ok(())
}

#[tokio::test]
async fn another_origin_gets_no_cors_headers() -> TestResult {
    let server = TestServer::start_with(Options { cors_origins: vec![SHOP.into()], ..Options::default() }).await?;
    let reply = preflight(&server, "/v1/products", "https://evil.example").await?;
    assert_eq!(cors_headers(reply.headers()), Vec::<String>::new());
    let read = server.client.get(server.url("/v1/products")).header("origin", "https://evil.example").send().await?;
    assert_eq!(cors_headers(read.headers()), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn without_configured_origins_no_origin_is_allowed() -> TestResult {
    let server = TestServer::start().await?;
    let reply = preflight(&server, "/graphql", SHOP).await?;
    assert_eq!(cors_headers(reply.headers()), Vec::<String>::new());
    let read = server.client.get(server.url("/v1/products")).header("origin", SHOP).send().await?;
    assert_eq!(cors_headers(read.headers()), Vec::<String>::new());
    Ok(())
}
