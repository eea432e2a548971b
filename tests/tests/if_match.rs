//! Concurrent edits with `If-Match` on tax rates: the ETag is the version; a stale tag is 412
//! `precondition_failed` and changes nothing; GraphQL says the same with `expectedVersion`. Then
//! the other resources API.md lists: discounts, shipping zones, locations, the customer's
//! profile, products (a stock movement is not a change) and categories.
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

/// The `ETag` of a reply ("" when it has none).
fn tag_of(reply: &crate::common::Reply) -> String {
    reply.headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// One resource of API.md's list: where it reads, how it changes, and a field the change sets.
struct Editable {
    read: String,
    change: Value,
    /// A second change, sent with the stale tag: it must not land.
    stale_change: Value,
    field: &'static str,
    delete: bool,
}

/// Reads, changes with the fresh tag, then tries a second change and (where there is one) a
/// deletion with the tag from before: both 412 `precondition_failed`, nothing changed; the
/// fresh tag then deletes.
async fn stale_edits_are_refused(server: &TestServer, token: &str, what: Editable) -> anyhow::Result<()> {
    let read = server.get_as(&what.read, token).await?;
    assert_eq!(read.status, StatusCode::OK, "{}: {}", what.read, read.body);
    let first = tag_of(&read);
    assert_eq!(first, "\"1\"", "{} has its version as its ETag", what.read);

    let (status, fresh, changed) =
        send(server, Method::PATCH, &what.read, token, &first, Some(what.change.clone())).await?;
    assert_eq!((status, fresh.as_deref()), (StatusCode::OK, Some("\"2\"")), "{}: {changed}", what.read);
    let (status, _, stale) = send(server, Method::PATCH, &what.read, token, &first, Some(what.stale_change)).await?;
    assert_eq!(
        (status, stale["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed")),
        "{}: {stale}",
        what.read
    );
    let now = server.get_as(&what.read, token).await?;
    assert_eq!(now.body[what.field], changed[what.field], "{}: the stale change left nothing", what.read);
    assert_eq!(tag_of(&now), "\"2\"");
    if what.delete {
        let (status, _, _) = send(server, Method::DELETE, &what.read, token, &first, None).await?;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{}", what.read);
        assert_eq!(server.get_as(&what.read, token).await?.status, StatusCode::OK, "{} is still there", what.read);
        let (status, _, _) = send(server, Method::DELETE, &what.read, token, "\"2\"", None).await?;
        assert_eq!(status, StatusCode::NO_CONTENT, "{}", what.read);
        assert_eq!(server.get_as(&what.read, token).await?.status, StatusCode::NOT_FOUND, "{}", what.read);
    }
    Ok(())
}

#[tokio::test]
async fn discounts_zones_locations_and_profiles_refuse_a_stale_if_match_and_change_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let discount =
        server.post("/v1/discounts", Some(&admin), json!({"code": "IFM", "kind": "percentage", "value": 1000})).await?;
    assert_eq!(discount.status, StatusCode::CREATED, "{}", discount.body);
    let zone = server
        .post(
            "/v1/shipping-zones",
            Some(&admin),
            json!({"name": "France", "countries": ["FR"], "methods": [{"name": "Post", "price": {"amount": 495, "currency": "EUR"}}]}),
        )
        .await?;
    assert_eq!(zone.status, StatusCode::CREATED, "{}", zone.body);
    let zone_body = |name: &str, price: i64| json!({"name": name, "countries": ["FR"], "methods": [{"name": "Post", "price": {"amount": price, "currency": "EUR"}}]});
    let location = server.post("/v1/locations", Some(&admin), json!({"code": "depot", "name": "Depot"})).await?;
    assert_eq!(location.status, StatusCode::CREATED, "{}", location.body);
    let (_, customer) = server.customer("ifmatch@example.com").await?;

    let cases = [
        (
            admin.as_str(),
            Editable {
                read: format!("/v1/discounts/{}", discount.str("id")?),
                change: json!({"value": 1500}),
                stale_change: json!({"value": 9000}),
                field: "value",
                delete: true,
            },
        ),
        (
            admin.as_str(),
            Editable {
                read: format!("/v1/shipping-zones/{}", zone.str("id")?),
                change: zone_body("France métropolitaine", 500),
                stale_change: zone_body("Stale", 1),
                field: "name",
                delete: true,
            },
        ),
        (
            admin.as_str(),
            Editable {
                read: "/v1/locations/depot".to_owned(),
                change: json!({"priority": 3}),
                stale_change: json!({"priority": 9, "active": false}),
                field: "priority",
                delete: false,
            },
        ),
        (
            customer.as_str(),
            Editable {
                read: "/v1/customers/me".to_owned(),
                change: json!({"first_name": "Grace"}),
                stale_change: json!({"first_name": "Stale"}),
                field: "first_name",
                delete: false,
            },
        ),
    ];
    for (token, case) in cases {
        stale_edits_are_refused(&server, token, case).await?;
    }

    // GraphQL: the same versions, and `expectedVersion` on the changes.
    let stale = server
        .graphql(
            Some(&admin),
            r#"mutation { updateLocation(code: "depot", name: "X", expectedVersion: 1) { name } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(stale.body["errors"][0]["extensions"]["code"], "precondition_failed", "{}", stale.body);
    let fresh = server
        .graphql(
            Some(&admin),
            r#"mutation { updateLocation(code: "depot", name: "Depot 2", expectedVersion: 2) { name version } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(fresh.body["data"]["updateLocation"], json!({"name": "Depot 2", "version": 3}), "{}", fresh.body);
    let me = server.graphql(Some(&customer), "{ me { firstName version } }", json!({})).await?;
    assert_eq!(me.body["data"]["me"], json!({"firstName": "Grace", "version": 2}), "{}", me.body);
    let stale = server
        .graphql(
            Some(&customer),
            r#"mutation { updateMe(lastName: "Hopper", expectedVersion: 1) { version } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(stale.body["errors"][0]["extensions"]["code"], "precondition_failed", "{}", stale.body);
    let other =
        server.post("/v1/discounts", Some(&admin), json!({"code": "IFM2", "kind": "percentage", "value": 500})).await?;
    let id = other.str("id")?.to_owned();
    // A stale tag is 412 before the body's rules are looked at.
    let (status, _, stale) =
        send(&server, Method::PATCH, &format!("/v1/discounts/{id}"), &admin, "\"7\"", Some(json!({"value": -1})))
            .await?;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{stale}");
    let stale = server
        .graphql(
            Some(&admin),
            "mutation($id: String!) { deleteDiscount(id: $id, expectedVersion: 7) }",
            json!({"id": id}),
        )
        .await?;
    assert_eq!(stale.body["errors"][0]["extensions"]["code"], "precondition_failed", "{}", stale.body);
    let listed = server.graphql(Some(&admin), "{ discounts { code version } }", json!({})).await?;
    assert_eq!(listed.body["data"]["discounts"], json!([{"code": "IFM2", "version": 1}]), "{}", listed.body);
    Ok(())
}

#[tokio::test]
async fn a_product_changed_since_it_was_read_is_412_and_its_stock_moving_is_no_change() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let created = server.create_product(&admin, crate::common::tee("If-Match tee", "IFM")).await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let variant = created["variants"][0]["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/products/{id}");
    let read = server.get_as(&path, &admin).await?;
    let first = tag_of(&read);
    assert!(first.starts_with("\"1-"), "a product's ETag starts with its version: {first}");

    // Stock moving changes what the product reads as (its ETag), not its version.
    server.stock(&variant, 5).await?;
    let restocked = server.get_as(&path, &admin).await?;
    assert_ne!(tag_of(&restocked), first, "availability is part of the representation");
    let (status, second, body) =
        send(&server, Method::PATCH, &path, &admin, &first, Some(json!({"name": "Renamed tee"}))).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = second.unwrap_or_default();
    assert!(second.starts_with("\"2-"), "{second}");

    // Every change of the product or its variants with the tag from before the rename is 412.
    let variant_path = format!("{path}/variants/{variant}");
    let refused = [
        (Method::PATCH, path.clone(), Some(json!({"name": "Stale"}))),
        (Method::DELETE, path.clone(), None),
        (Method::PATCH, variant_path.clone(), Some(json!({"title": "Stale"}))),
        (Method::DELETE, variant_path.clone(), None),
        (
            Method::POST,
            format!("{path}/variants"),
            Some(json!({"sku": "IFM-L", "options": {"Size": "M"}, "prices": [{"amount": 1, "currency": "EUR"}]})),
        ),
    ];
    for (method, at, body) in refused {
        let (status, _, problem) = send(&server, method.clone(), &at, &admin, &first, body).await?;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::PRECONDITION_FAILED, Some("precondition_failed")),
            "{method} {at}: {problem}"
        );
    }
    let now = server.get_as(&path, &admin).await?;
    assert_eq!(now.body["name"], "Renamed tee");
    assert_eq!(now.body["variants"].as_array().map(Vec::len), Some(2), "no variant was added or deleted");
    assert!(tag_of(&now).starts_with("\"2-"), "nothing moved the version: {}", tag_of(&now));

    // A variant's change moves its product's version.
    let (status, _, body) =
        send(&server, Method::PATCH, &variant_path, &admin, &second, Some(json!({"title": "Small"}))).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(tag_of(&server.get_as(&path, &admin).await?).starts_with("\"3-"));

    // GraphQL reads the same version (from the cached document too) and takes it back.
    let query = "query($id: String!) { product(idOrSlug: $id) { version } }";
    for _ in 0..2 {
        let read = server.graphql(Some(&admin), query, json!({"id": id})).await?;
        assert_eq!(read.body["data"]["product"]["version"], 3, "{}", read.body);
    }
    let stale = server
        .graphql(
            Some(&admin),
            r#"mutation($id: String!) { updateProduct(idOrSlug: $id, input: {name: "G"}, expectedVersion: 2) { version } }"#,
            json!({"id": id}),
        )
        .await?;
    assert_eq!(stale.body["errors"][0]["extensions"]["code"], "precondition_failed", "{}", stale.body);
    let fresh = server
        .graphql(
            Some(&admin),
            r#"mutation($id: String!) { updateProduct(idOrSlug: $id, input: {name: "G"}, expectedVersion: 3) { name version } }"#,
            json!({"id": id}),
        )
        .await?;
    assert_eq!(fresh.body["data"]["updateProduct"], json!({"name": "G", "version": 4}), "{}", fresh.body);
    let (status, _, _) = send(&server, Method::DELETE, &path, &admin, "\"4-whatever\"", None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "the version is what If-Match compares");

    // A category's read carries its version too.
    let category = server.post("/v1/categories", Some(&admin), json!({"name": "Tops"})).await?;
    let read = server.get(&format!("/v1/categories/{}", category.str("id")?)).await?;
    assert_eq!(tag_of(&read), "\"1\"");
    Ok(())
}
