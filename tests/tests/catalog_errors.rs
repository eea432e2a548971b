//! Bad input to the catalog: it never gives a 500, every error is problem+json
//! `{type, title, status, detail, code}`, and a `validation_failed` names each problem by its
//! path into the request body (or the query parameter's name).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Options, Reply, TestResult, TestServer, tee};

/// Checks that `reply` is a problem+json error with this status and code, and every member
/// RFC 9457 and the contract promise.
fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "unexpected status; body: {}", reply.body);
    assert_eq!(reply.problem_code(), code, "unexpected code; headers: {:?}, body: {}", reply.headers, reply.body);
    for member in ["type", "title", "detail", "code"] {
        assert!(
            reply.body[member].as_str().is_some_and(|v| !v.is_empty()),
            "problem member `{member}` missing or empty in {}",
            reply.body
        );
    }
    assert_eq!(reply.body["status"], json!(status.as_u16()), "problem `status` member in {}", reply.body);
}

/// Checks a 422 `validation_failed` whose `errors` hold exactly these (field, code) entries, in
/// any order, each with a message.
fn assert_invalid(reply: &Reply, expected: &[(&str, &str)]) {
    assert_problem(reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut actual = reply.error_fields();
    actual.sort();
    let mut wanted: Vec<(String, String)> = expected.iter().map(|(f, c)| ((*f).to_owned(), (*c).to_owned())).collect();
    wanted.sort();
    assert_eq!(actual, wanted, "validation errors of {}", reply.body);
    for error in reply.body["errors"].as_array().into_iter().flatten() {
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "an error without a message: {error}");
    }
}

/// Checks a 422 `validation_failed` that names `field` (whatever the per-field code).
fn assert_names_field(reply: &Reply, field: &str) {
    assert_problem(reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<String> = reply.error_fields().into_iter().map(|(f, _)| f).collect();
    assert!(fields.iter().any(|f| f == field), "expected `{field}` among the errors, got {fields:?} in {}", reply.body);
}

/// Sends raw bytes with an optional content type and extra headers.
async fn send_raw(
    server: &TestServer,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    let mut request = server.client.request(method, server.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::from(request.send().await?).await
}

/// A valid product without options: one variant, one price.
fn simple(name: &str, sku: &str) -> Value {
    json!({
        "name": name,
        "status": "published",
        "variants": [{"sku": sku, "prices": [{"amount": 1000, "currency": "EUR"}]}]
    })
}

/// `body` with the JSON pointer `pointer` set to `value`.
fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = value;
        return body;
    }
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(map)) = body.pointer_mut(parent) {
        map.insert(key.to_owned(), value);
    }
    body
}

/// `body` without the member at `pointer`.
fn without(mut body: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(map)) = body.pointer_mut(parent) {
        map.remove(key);
    }
    body
}

// ---------------------------------------------------------------------------------------
// Credentials

#[tokio::test]
async fn creating_a_product_without_a_token_is_401_unauthorized() -> TestResult {
    let server = TestServer::start().await?;
    let reply = server.post("/v1/products", None, simple("No Token Tee", "NOTOKEN-1")).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    // Nothing was created.
    let token = server.admin_token().await?;
    assert_eq!(server.get_as("/v1/products/no-token-tee", &token).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_garbage_bearer_token_is_401_unauthorized() -> TestResult {
    let server = TestServer::start().await?;
    let reply = server.post("/v1/products", Some("not-a-token"), simple("Garbage Tee", "GARBAGE-1")).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let reply = server.post("/v1/products", Some("a.b.c"), simple("Garbage Tee", "GARBAGE-1")).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    // Bad credentials are refused even where anonymous callers may read.
    let reply = server.get_as("/v1/products", "not-a-token").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

#[tokio::test]
async fn an_unknown_api_key_is_401_even_on_routes_anonymous_callers_may_use() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("Key Tee", "KEY")).await?;
    assert_eq!(server.get("/v1/products").await?.status, StatusCode::OK, "anonymous reads work");

    for path in ["/v1/products", "/v1/products/key-tee", "/v1/categories"] {
        let reply = send_raw(&server, Method::GET, path, None, Vec::new(), &[("x-api-key", "anything")]).await?;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let body = serde_json::to_vec(&simple("Key Tee 2", "KEY-2"))?;
    let reply =
        send_raw(&server, Method::POST, "/v1/products", Some("application/json"), body, &[("x-api-key", "anything")])
            .await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Validation: one entry per problem, each with a path into the body

#[tokio::test]
async fn each_invalid_field_is_named_by_its_path_and_code() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let base = tee("Rules Tee", "RULES");
    let cases: Vec<(&str, Value, (&str, &str))> = vec![
        (
            "zero amount",
            with(base.clone(), "/variants/0/prices/0/amount", json!(0)),
            ("variants[0].prices[0].amount", "must_be_positive"),
        ),
        (
            "negative amount",
            with(base.clone(), "/variants/1/prices/0/amount", json!(-5)),
            ("variants[1].prices[0].amount", "must_be_positive"),
        ),
        (
            "lower-case currency",
            with(base.clone(), "/variants/0/prices/0/currency", json!("eur")),
            ("variants[0].prices[0].currency", "invalid_currency"),
        ),
        (
            "unknown currency",
            with(base.clone(), "/variants/0/prices/1/currency", json!("XYZ")),
            ("variants[0].prices[1].currency", "invalid_currency"),
        ),
        (
            "sku with a space",
            with(base.clone(), "/variants/0/sku", json!("has space")),
            ("variants[0].sku", "invalid_sku"),
        ),
        (
            "sku too long",
            with(base.clone(), "/variants/1/sku", json!("A".repeat(65))),
            ("variants[1].sku", "invalid_sku"),
        ),
        ("empty name", with(base.clone(), "/name", json!("")), ("name", "required")),
        ("blank name", with(base.clone(), "/name", json!("   ")), ("name", "required")),
        ("no variants", with(base.clone(), "/variants", json!([])), ("variants", "required")),
        (
            "duplicate sku in the request",
            with(base.clone(), "/variants/1/sku", json!("RULES-S")),
            ("variants[1].sku", "duplicate"),
        ),
        (
            "variant missing an option value",
            with(base.clone(), "/variants/0/options", json!({})),
            ("variants[0].options.Size", "required"),
        ),
        (
            "unknown category",
            with(base.clone(), "/category_ids", json!(["cat_does_not_exist"])),
            ("category_ids[0]", "unknown_category"),
        ),
        (
            "amount of 2^53",
            with(base.clone(), "/variants/0/prices/0/amount", json!(9_007_199_254_740_992_i64)),
            ("variants[0].prices[0].amount", "out_of_range"),
        ),
        ("slug with a space and capitals", with(base.clone(), "/slug", json!("Bad Slug")), ("slug", "invalid_slug")),
    ];
    for (case, body, (field, code)) in cases {
        let reply = server.post("/v1/products", Some(&token), body).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {}", reply.body);
        assert_invalid(&reply, &[(field, code)]);
    }
    // All or nothing: none of the refused bodies left a product behind.
    let all = server.get_as("/v1/products?status=all", &token).await?;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["data"], json!([]), "a refused create left a product behind");
    // The largest safe amount itself is accepted.
    let max = with(base, "/variants/0/prices/0/amount", json!(9_007_199_254_740_991_i64));
    let created = server.post("/v1/products", Some(&token), max).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["variants"][0]["prices"][0]["amount"], json!(9_007_199_254_740_991_i64));
    Ok(())
}

#[tokio::test]
async fn several_problems_in_one_request_give_one_entry_each() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let body = json!({
        "name": "",
        "slug": "Bad Slug",
        "status": "published",
        "category_ids": ["cat_nope"],
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [
            {"sku": "has space", "options": {}, "prices": [{"amount": 0, "currency": "eur"}]},
            {"sku": "MULTI-1", "options": {"Size": "S"}, "prices": [{"amount": 9_007_199_254_740_992_i64, "currency": "EUR"}]},
            {"sku": "MULTI-1", "options": {"Size": "M"}, "prices": [{"amount": 100, "currency": "EUR"}]}
        ]
    });
    let reply = server.post("/v1/products", Some(&token), body).await?;
    assert_invalid(
        &reply,
        &[
            ("name", "required"),
            ("slug", "invalid_slug"),
            ("category_ids[0]", "unknown_category"),
            ("variants[0].sku", "invalid_sku"),
            ("variants[0].options.Size", "required"),
            ("variants[0].prices[0].amount", "must_be_positive"),
            ("variants[0].prices[0].currency", "invalid_currency"),
            ("variants[1].prices[0].amount", "out_of_range"),
            ("variants[2].sku", "duplicate"),
        ],
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_field_is_422_naming_it() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let base = tee("Unknown Field Tee", "UNK");
    let cases = [
        (with(base.clone(), "/price", json!(5)), "price"),
        (with(base.clone(), "/id", json!("prod_mine")), "id"),
        (with(base.clone(), "/variants/0/colour", json!("red")), "variants[0].colour"),
        (with(base.clone(), "/variants/1/prices/0/cents", json!(5)), "variants[1].prices[0].cents"),
        (with(base.clone(), "/options/0/colour", json!("red")), "options[0].colour"),
    ];
    for (body, field) in cases {
        let reply = server.post("/v1/products", Some(&token), body).await?;
        assert_names_field(&reply, field);
    }
    assert_eq!(server.get_as("/v1/products/unknown-field-tee", &token).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_422_naming_it() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let base = tee("Wrong Type Tee", "WRONG");
    let cases = [
        (with(base.clone(), "/name", json!(5)), "name"),
        (with(base.clone(), "/status", json!("archived")), "status"),
        (with(base.clone(), "/variants", json!({"sku": "X"})), "variants"),
        (with(base.clone(), "/variants/0/prices/0/amount", json!("2500")), "variants[0].prices[0].amount"),
        // No floating point anywhere in money.
        (with(base.clone(), "/variants/0/prices/0/amount", json!(25.5)), "variants[0].prices[0].amount"),
    ];
    for (body, field) in cases {
        let reply = server.post("/v1/products", Some(&token), body).await?;
        assert_names_field(&reply, field);
    }
    // A JSON document that is not an object at all is well-formed but invalid.
    let reply = server.post("/v1/products", Some(&token), json!([1, 2, 3])).await?;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    Ok(())
}

#[tokio::test]
async fn a_missing_required_field_is_422_naming_it() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let base = tee("Missing Tee", "MISS");
    for (pointer, field) in [
        ("/status", "status"),
        ("/name", "name"),
        ("/variants", "variants"),
        ("/variants/0/sku", "variants[0].sku"),
        ("/variants/1/prices", "variants[1].prices"),
    ] {
        let reply = server.post("/v1/products", Some(&token), without(base.clone(), pointer)).await?;
        assert_names_field(&reply, field);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Transport: malformed bodies, media types, sizes, routes and methods

#[tokio::test]
async fn malformed_json_is_400_malformed_body() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let valid = serde_json::to_string(&simple("Trailing Tee", "TRAILING-1"))?;
    let trailing = format!("{valid} trailing");
    let two_documents = format!("{valid}{valid}");
    for body in [r#"{"name": "Tee", "status": "#, "{name: 'Tee'}", "", "nul", trailing.as_str(), two_documents.as_str()]
    {
        let reply = server
            .client
            .post(server.url("/v1/products"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        let reply = Reply::from(reply).await?;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "body {body:?}: {}", reply.body);
        assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed_body");
    }
    Ok(())
}

#[tokio::test]
async fn a_malformed_body_is_400_even_when_what_precedes_the_error_is_also_invalid() -> TestResult {
    // Not well-formed JSON is 400 whatever the fields that could be read say: the client must
    // learn that its serializer is broken, not that a field is missing or of the wrong type.
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut wrong = Vec::new();
    for body in [r#"{"name": "Tee"} trailing"#, r#"{"name": 5, "status": "#, r#"{"name": "Tee", "bogus": 1, "#] {
        let reply = send_raw(
            &server,
            Method::POST,
            "/v1/products",
            Some("application/json"),
            body,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await?;
        if reply.status != StatusCode::BAD_REQUEST || reply.problem_code() != "malformed_body" {
            wrong.push(format!("body {body:?} gave {} {}", reply.status, reply.body));
        }
    }
    assert!(wrong.is_empty(), "not 400 malformed_body:\n{}", wrong.join("\n"));
    Ok(())
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_unsupported_media_type() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let json_text = serde_json::to_string(&simple("Plain Tee", "PLAIN-1"))?;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut request = server.client.post(server.url("/v1/products")).bearer_auth(&token).body(json_text.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let reply = Reply::from(request.send().await?).await?;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "content type {content_type:?}: {}", reply.body);
        assert_problem(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    assert_eq!(server.get_as("/v1/products/plain-tee", &token).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_payload_too_large_on_rest() -> TestResult {
    let server = TestServer::start_with(Options { body_limit: Some(2048), ..Default::default() }).await?;
    let token = server.admin_token().await?;

    // Under the limit, the same route works.
    let small = server.post("/v1/products", Some(&token), simple("Small Tee", "SMALL-1")).await?;
    assert_eq!(small.status, StatusCode::CREATED, "{}", small.body);

    let mut big = simple("Big Tee", "BIG-1");
    big["description"] = json!("x".repeat(4096));
    let reply = server.post("/v1/products", Some(&token), big).await?;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(server.get_as("/v1/products/big-tee", &token).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_payload_too_large_on_graphql() -> TestResult {
    let server = TestServer::start_with(Options { body_limit: Some(2048), ..Default::default() }).await?;
    let token = server.admin_token().await?;

    // A small GraphQL request on the same server is served.
    let ok = server.graphql(None, "{ __typename }", json!({})).await?;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["data"]["__typename"], "Query");

    let padding = "#".repeat(4096);
    let query = format!("{padding}\n{{ __typename }}");
    let reply = server.graphql(None, &query, json!({})).await?;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let reply = server.graphql(Some(&token), &query, json!({})).await?;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    Ok(())
}

#[tokio::test]
async fn an_unknown_route_is_404_and_a_wrong_method_405_both_as_problem_json() -> TestResult {
    let server = TestServer::start().await?;
    for path in ["/v1/nothing-here", "/v2/products", "/"] {
        let reply = server.get(path).await?;
        assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    }
    let token = server.admin_token().await?;
    let reply = server.send(Method::PUT, "/v1/products", Some(&token), Some(simple("Put Tee", "PUT-1"))).await?;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{}", reply.body);
    let code = reply.problem_code();
    assert!(!code.is_empty() && !code.starts_with("<not problem+json"), "405 is not problem+json: {code}");
    assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, &code);
    let allow = reply.headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "405 without a proper Allow header: {allow:?}");

    let reply = server.send(Method::DELETE, "/v1/products", Some(&token), None).await?;
    assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, &code);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// List parameters

#[tokio::test]
async fn list_parameters_out_of_range_are_422_naming_them() -> TestResult {
    let server = TestServer::start().await?;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=2.5", "limit"),
        ("sort=cheapest", "sort"),
        ("currency=eur", "currency"),
        ("sort=price_asc", "currency"),
    ] {
        let reply = server.get(&format!("/v1/products?{query}")).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", reply.body);
        assert_names_field(&reply, field);
    }
    // Limits at the bounds are fine.
    for query in ["limit=1", "limit=100", "sort=price_desc&currency=EUR", "sort=name"] {
        let reply = server.get(&format!("/v1/products?{query}")).await?;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        assert_eq!(reply.body["data"], json!([]));
    }
    Ok(())
}

#[tokio::test]
async fn an_unknown_or_tampered_cursor_is_422_invalid_cursor() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    for i in 0..3 {
        server.create_product(&token, simple(&format!("Cursor Tee {i}"), &format!("CURSOR-{i}"))).await?;
    }
    let first = server.get("/v1/products?limit=1").await?;
    assert_eq!(first.status, StatusCode::OK);
    let cursor = first.str("next_cursor")?.to_owned();
    assert_eq!(server.get(&format!("/v1/products?limit=1&cursor={cursor}")).await?.status, StatusCode::OK);

    // Change one character of a real cursor.
    let mut tampered: Vec<char> = cursor.chars().collect();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for bad in ["garbage", tampered.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAA"] {
        let reply = server.get(&format!("/v1/products?cursor={bad}")).await?;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Conflicts

#[tokio::test]
async fn a_taken_slug_is_409_slug_taken_and_a_taken_sku_409_sku_taken() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut first = simple("First Tee", "TAKEN-1");
    first["slug"] = json!("taken");
    server.create_product(&token, first).await?;

    let mut same_slug = simple("Second Tee", "TAKEN-2");
    same_slug["slug"] = json!("taken");
    let reply = server.post("/v1/products", Some(&token), same_slug).await?;
    assert_problem(&reply, StatusCode::CONFLICT, "slug_taken");

    let reply = server.post("/v1/products", Some(&token), simple("Third Tee", "TAKEN-1")).await?;
    assert_problem(&reply, StatusCode::CONFLICT, "sku_taken");

    // All or nothing: neither refused product exists, and TAKEN-2 is still free.
    for slug in ["second-tee", "third-tee"] {
        assert_eq!(server.get_as(&format!("/v1/products/{slug}"), &token).await?.status, StatusCode::NOT_FOUND);
    }
    let reply = server.post("/v1/products", Some(&token), simple("Fourth Tee", "TAKEN-2")).await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // A slug left out is made from the name, with a suffix when taken.
    let reply = server.post("/v1/products", Some(&token), simple("Taken", "TAKEN-3")).await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_ne!(reply.body["slug"], "taken");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Request ids

#[tokio::test]
async fn every_response_carries_an_x_request_id() -> TestResult {
    let server = TestServer::start_with(Options { body_limit: Some(2048), ..Default::default() }).await?;
    let token = server.admin_token().await?;
    let mut big = simple("Big", "BIG-2");
    big["description"] = json!("x".repeat(4096));
    let replies = vec![
        ("200", server.get("/v1/products").await?),
        ("201", server.post("/v1/products", Some(&token), simple("Rid Tee", "RID-1")).await?),
        ("401", server.post("/v1/products", None, simple("Rid Tee 2", "RID-2")).await?),
        ("404 route", server.get("/v1/nowhere").await?),
        ("404 product", server.get("/v1/products/nothing").await?),
        ("405", server.send(Method::PUT, "/v1/products", None, Some(json!({}))).await?),
        ("409", server.post("/v1/products", Some(&token), simple("Rid Tee 3", "RID-1")).await?),
        ("413", server.post("/v1/products", Some(&token), big).await?),
        ("415", send_raw(&server, Method::POST, "/v1/products", Some("text/plain"), "hi", &[]).await?),
        ("400", send_raw(&server, Method::POST, "/v1/products", Some("application/json"), "{", &[]).await?),
        ("422", server.get("/v1/products?limit=0").await?),
        ("graphql", server.graphql(None, "{ __typename }", json!({})).await?),
        ("healthz", server.get("/healthz").await?),
    ];
    let mut seen = std::collections::HashSet::new();
    for (case, reply) in &replies {
        let id = reply.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(!id.is_empty(), "{case} ({}) has no x-request-id", reply.status);
        assert!(seen.insert(id.to_owned()), "{case} reuses request id {id}");
    }
    Ok(())
}

#[tokio::test]
async fn a_field_of_the_wrong_shape_in_well_formed_json_is_422_naming_it_not_400() -> TestResult {
    let server = TestServer::start().await?;
    let reply =
        server.post("/v1/auth/login", None, serde_json::json!({"account": {}, "email": "", "password": "x"})).await?;
    assert_eq!(reply.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.problem_code(), "validation_failed");
    assert_eq!(reply.error_fields().first().map(|(field, _)| field.as_str()), Some("account"));
    Ok(())
}

#[tokio::test]
async fn empty_list_parameters_count_as_not_given() -> TestResult {
    let server = TestServer::start().await?;
    for path in ["/v1/products?limit=&cursor=&q=&category=&sort=&currency=&status=", "/v1/categories?limit=&cursor="] {
        let reply = server.get(path).await?;
        assert_eq!(reply.status, reqwest::StatusCode::OK, "{path}: {}", reply.body);
    }
    Ok(())
}

#[tokio::test]
async fn unknown_fields_in_a_patch_are_422_naming_them_and_change_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server.create_product(&token, tee("Patched Tee", "PUNK")).await?;
    let variant = product["variants"][0]["id"].as_str().unwrap_or_default().to_owned();
    let reply = server.patch("/v1/products/patched-tee", Some(&token), json!({"name": "New", "price": 1})).await?;
    assert_names_field(&reply, "price");
    let reply = server
        .patch(&format!("/v1/products/patched-tee/variants/{variant}"), Some(&token), json!({"available": 99}))
        .await?;
    assert_names_field(&reply, "available");
    assert_eq!(server.get("/v1/products/patched-tee").await?.body["name"], "Patched Tee");
    Ok(())
}

#[tokio::test]
async fn category_list_parameters_out_of_range_or_tampered_are_422() -> TestResult {
    let server = TestServer::start().await?;
    for limit in ["0", "101", "ten", "-1"] {
        let reply = server.get(&format!("/v1/categories?limit={limit}")).await?;
        assert_invalid(&reply, &[("limit", "out_of_range")]);
    }
    let reply = server.get("/v1/categories?cursor=not-a-cursor").await?;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor");
    // A product list's cursor is not a category list's.
    let token = server.admin_token().await?;
    for i in 0..3 {
        server.create_product(&token, tee(&format!("Cursor Tee {i}"), &format!("CUR{i}"))).await?;
    }
    let products = server.get("/v1/products?limit=1").await?;
    let cursor = products.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let reply = server.get(&format!("/v1/categories?cursor={cursor}")).await?;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor");
    Ok(())
}

#[tokio::test]
async fn the_default_body_limit_is_one_mebibyte() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    // Just over 1 MiB of otherwise valid JSON: refused before it is parsed.
    let mut big = simple("Huge Tee", "HUGE-1");
    big["description"] = json!("x".repeat(1024 * 1024));
    let reply = server.post("/v1/products", Some(&token), big).await?;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let query = json!({"query": format!("{{ __typename }} #{}", "x".repeat(1024 * 1024))});
    let reply = server.post("/graphql", None, query).await?;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Under it, the same route takes a large (but valid) description.
    let mut large = simple("Large Tee", "LARGE-1");
    large["description"] = json!("x".repeat(19_000));
    assert_eq!(server.post("/v1/products", Some(&token), large).await?.status, StatusCode::CREATED);
    Ok(())
}

#[tokio::test]
async fn a_product_reads_with_exactly_the_fields_the_contract_lists() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("Shape Tee", "SHAPE")).await?;
    let read = server.get("/v1/products/shape-tee").await?;
    let keys = |value: &Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        keys.sort();
        keys
    };
    // Present even when empty or null: a client reading a missing key must not see `null`
    // by accident, so every key is always there.
    assert_eq!(
        keys(&read.body),
        [
            "category_ids",
            "created_at",
            "description",
            "id",
            "images",
            "name",
            "options",
            "rating",
            "seo_description",
            "seo_title",
            "slug",
            "status",
            "updated_at",
            "variants"
        ]
    );
    assert_eq!(keys(&read.body["rating"]), ["average", "count", "histogram"]);
    assert!(read.body["seo_title"].is_null() && read.body.get("seo_title").is_some());
    assert_eq!(keys(&read.body["variants"][0]), ["available", "id", "options", "prices", "sku", "title"]);
    assert_eq!(keys(&read.body["variants"][0]["prices"][0]), ["amount", "currency"]);
    let list = server.get("/v1/products").await?;
    assert_eq!(keys(&list.body), ["data", "next_cursor"]);
    assert_eq!(keys(&list.body["data"][0]), keys(&read.body), "lists carry the same document");
    Ok(())
}
