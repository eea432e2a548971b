//! The committed OpenAPI document and GraphQL SDL are what the code generates, and both are
//! served.

use reqwest::StatusCode;

use crate::common::{TestResult, TestServer};

fn committed(path: &str) -> anyhow::Result<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Ok(std::fs::read_to_string(root.join(path))?)
}

#[test]
fn committed_openapi_matches_the_code() -> TestResult {
    let generated = format!("{}\n", emporium_gateway::rest::openapi().to_pretty_json()?);
    assert!(
        committed("openapi/openapi.json")? == generated,
        "openapi/openapi.json is out of date: run `make openapi` and commit it"
    );
    Ok(())
}

#[test]
fn committed_graphql_schema_matches_the_code() -> TestResult {
    let generated = emporium_gateway::graphql::sdl();
    assert!(
        committed("schema/schema.graphql")? == generated,
        "schema/schema.graphql is out of date: run `make graphql` and commit it"
    );
    Ok(())
}

#[test]
fn committed_error_code_table_matches_the_code() -> TestResult {
    let generated = emporium_gateway::error::error_code_table();
    assert!(
        committed("docs/error-codes.md")? == generated,
        "docs/error-codes.md is out of date: run `make error-codes` and commit it"
    );
    // One code, one status: a code never means two things.
    let mut seen = std::collections::HashMap::new();
    for line in generated.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        assert!(seen.insert(cells[0].to_owned(), cells[1].to_owned()).is_none(), "{} listed twice", cells[0]);
    }
    Ok(())
}

#[test]
fn every_operation_has_an_id_a_tag_and_responses() -> TestResult {
    let doc = serde_json::to_value(emporium_gateway::rest::openapi())?;
    let paths = doc["paths"].as_object().ok_or_else(|| anyhow::anyhow!("no paths"))?;
    let mut seen = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(seen.insert(id.to_owned()), "operationId {id} is used twice");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
        }
    }
    assert!(seen.contains("create_product") && seen.contains("list_products") && seen.contains("login"));
    Ok(())
}

#[tokio::test]
async fn the_server_serves_its_openapi_docs_and_graphql_ide() -> TestResult {
    let server = TestServer::start().await?;
    let openapi = server.get("/openapi.json").await?;
    assert_eq!(openapi.status, StatusCode::OK);
    assert_eq!(openapi.body["info"]["title"], "Emporium API");

    let docs = server.client.get(server.url("/docs/")).send().await?;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await?.contains("swagger"), "/docs is not the Swagger UI");

    let ide = server.client.get(server.url("/graphql")).send().await?;
    assert_eq!(ide.status(), StatusCode::OK);
    let page = ide.text().await?;
    assert!(page.to_lowercase().contains("graphiql"));
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "the IDE must not load anything from the internet"
    );
    // Every script and stylesheet the page names is served by the binary.
    for asset in page.split('"').filter(|part| part.starts_with("/graphql/assets/")) {
        let response = server.client.get(server.url(asset)).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{asset} is not served");
    }
    Ok(())
}

#[tokio::test]
async fn health_and_readiness_report_their_dependencies() -> TestResult {
    let server = TestServer::start().await?;
    assert_eq!(server.get("/healthz").await?.status, StatusCode::OK);
    let ready = server.get("/readyz").await?;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["database"], "up");
    let expected_redis = if crate::common::redis_url().is_some() { "up" } else { "off" };
    // Redis connects in the background; give it a moment.
    let mut redis = ready.body["redis"].as_str().unwrap_or_default().to_owned();
    for _ in 0..50 {
        if redis == expected_redis {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        redis = server.get("/readyz").await?.body["redis"].as_str().unwrap_or_default().to_owned();
    }
    assert_eq!(redis, expected_redis);
    Ok(())
}

#[tokio::test]
async fn without_its_database_the_server_is_not_ready_and_answers_503_changing_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    if !server.lose_database().await? {
        return Ok(());
    }
    let ready = server.get("/readyz").await?;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["database"], "down");
    assert_eq!(server.get("/healthz").await?.status, StatusCode::OK, "the process is still up");

    for _ in 0..3 {
        let read = server.get("/v1/products?sort=name").await?;
        assert_eq!(read.status, StatusCode::SERVICE_UNAVAILABLE, "{}", read.body);
        assert_eq!(read.problem_code(), "service_unavailable");
        assert!(read.headers.contains_key("retry-after"));
        let write = server.post("/v1/products", Some(&token), crate::common::tee("Lost", "LOST")).await?;
        assert_eq!(write.status, StatusCode::SERVICE_UNAVAILABLE, "{}", write.body);
    }
    Ok(())
}

/// The value of one sample line of a Prometheus text body (`name{labels} value`).
fn sample(body: &str, line_start: &str) -> Option<f64> {
    body.lines().find(|line| line.starts_with(line_start)).and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_cache_hits() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, crate::common::tee("Metric Tee", "METRIC")).await?;
    for _ in 0..3 {
        assert_eq!(server.get("/v1/products/metric-tee").await?.status, StatusCode::OK);
    }
    assert_eq!(server.get("/v1/products/no-such-tee").await?.status, StatusCode::NOT_FOUND);

    let reply = server.client.get(server.url("/metrics")).send().await?;
    assert_eq!(reply.status(), StatusCode::OK);
    let media = reply.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(media.starts_with("text/plain"), "{media}");
    let body = reply.text().await?;
    let ok = r#"emporium_http_requests_total{method="GET",route="/v1/products/{id}",status="200"}"#;
    assert_eq!(sample(&body, ok), Some(3.0), "{body}");
    let missing = r#"emporium_http_requests_total{method="GET",route="/v1/products/{id}",status="404"}"#;
    assert_eq!(sample(&body, missing), Some(1.0));
    let created = r#"emporium_http_requests_total{method="POST",route="/v1/products",status="201"}"#;
    assert_eq!(sample(&body, created), Some(1.0));
    let latency = r#"emporium_http_request_duration_seconds_count{method="GET",route="/v1/products/{id}"}"#;
    assert_eq!(sample(&body, latency), Some(4.0));
    let hits = sample(&body, r#"emporium_cache_lookups_total{entry="product",result="hit"}"#).unwrap_or_default();
    assert!(hits >= 2.0, "two of the three reads hit the cache: {hits}");
    assert!(sample(&body, r#"emporium_db_pool_connections{state="max"}"#).is_some_and(|max| max >= 1.0));
    // Unknown routes are one label, whatever their path.
    server.get("/nowhere/1").await?;
    server.get("/nowhere/2").await?;
    let body = server.client.get(server.url("/metrics")).send().await?.text().await?;
    assert_eq!(
        sample(&body, r#"emporium_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        Some(2.0)
    );
    Ok(())
}

/// The string literals of every `fn code(&self)` body in `source`: the codes its errors answer.
fn answered_codes(source: &str) -> Vec<String> {
    let mut codes = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("fn code(&self) -> &'static str {") {
        let body = &rest[at..];
        // The body ends at the first line that closes the function at its indentation.
        let indent = rest[..at].rsplit('\n').next().map_or(0, str::len);
        let end = body.find(&format!("\n{}}}", " ".repeat(indent))).unwrap_or(body.len());
        let mut text = &body[..end];
        while let Some(open) = text.find('"') {
            let Some(close) = text[open + 1..].find('"') else { break };
            codes.push(text[open + 1..open + 1 + close].to_owned());
            text = &text[open + 2 + close..];
        }
        rest = &body[end..];
    }
    codes
}

#[test]
fn every_code_a_domain_error_answers_is_in_the_published_table() -> TestResult {
    let table = emporium_gateway::error::error_code_table();
    let mut checked = 0;
    for file in [
        "crates/core/src/error.rs",
        "crates/catalog/src/error.rs",
        "crates/inventory/src/lib.rs",
        "crates/customers/src/lib.rs",
        "crates/orders/src/lib.rs",
    ] {
        let codes = answered_codes(&committed(file)?);
        assert!(!codes.is_empty(), "{file} answers no code: the scan is broken");
        for code in codes {
            assert!(
                table.contains(&format!("| `{code}` |")),
                "{file} answers `{code}`, missing from docs/error-codes.md"
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} codes found");
    Ok(())
}
