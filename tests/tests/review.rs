//! What the review of the purchase flow found, each held by a test: selling setup behind its
//! own scopes, key budgets apart from their address's, the client address behind a proxy.

use std::num::NonZeroU32;

use emporium_customers::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Options, TestResult, TestServer};
use emporium_gateway::infra::limits::Allowances;

#[tokio::test]
async fn a_catalog_key_cannot_create_discounts_or_change_the_selling_setup() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let (_, sync) = server.api_key(&admin, &["catalog:write"]).await?;
    let code = json!({"code": "FREE", "kind": "percentage", "value": 10000});
    let refused = server.post("/v1/discounts", Some(&sync), code.clone()).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let rate = json!({"country": "FR", "name": "TVA", "rate_bp": 0});
    assert_eq!(server.post("/v1/tax-rates", Some(&sync), rate.clone()).await?.status, StatusCode::FORBIDDEN);
    let catalog = server.staff_token("cat@shop.test", Role::Catalog).await?;
    assert_eq!(server.post("/v1/discounts", Some(&catalog), code.clone()).await?.status, StatusCode::FORBIDDEN);

    // Marketing manages codes, not the shop's settings.
    let marketing = server.staff_token("mkt@shop.test", Role::Marketing).await?;
    let created = server.post("/v1/discounts", Some(&marketing), code).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(server.post("/v1/tax-rates", Some(&marketing), rate.clone()).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(server.get_as("/v1/orders", &marketing).await?.status, StatusCode::OK);
    assert_eq!(server.get_as("/v1/customers", &marketing).await?.status, StatusCode::OK);

    // Keys get exactly the new scopes.
    let (_, discounts) = server.api_key(&admin, &["discounts:write"]).await?;
    let other = json!({"code": "TEN", "kind": "percentage", "value": 1000});
    assert_eq!(server.post("/v1/discounts", Some(&discounts), other).await?.status, StatusCode::CREATED);
    assert_eq!(server.post("/v1/tax-rates", Some(&discounts), rate.clone()).await?.status, StatusCode::FORBIDDEN);
    let (_, settings) = server.api_key(&admin, &["settings:write"]).await?;
    assert_eq!(server.post("/v1/tax-rates", Some(&settings), rate).await?.status, StatusCode::CREATED);
    Ok(())
}

/// A request from `ip` (behind the trusted proxy header) with an optional API key.
async fn from(server: &TestServer, ip: &str, key: Option<&str>) -> anyhow::Result<StatusCode> {
    let mut request = server.client.get(server.url("/v1/products")).header("x-forwarded-for", ip);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    Ok(request.send().await?.status())
}

#[tokio::test]
async fn a_valid_key_keeps_its_own_budget_when_its_address_has_spent_its_own() -> TestResult {
    let limits = Allowances { anonymous: NonZeroU32::new(3), customer: None, api_key: NonZeroU32::new(100) };
    let server = TestServer::start_with(Options {
        rate_limits: limits,
        client_ip_header: Some("x-forwarded-for"),
        ..Options::default()
    })
    .await?;
    server.wait_for_redis().await?;
    let admin = server.admin_token().await?;
    let (_, key) = server.api_key(&admin, &["catalog:read"]).await?;
    for _ in 0..3 {
        assert_eq!(from(&server, "10.1.1.1", None).await?, StatusCode::OK);
    }
    assert_eq!(from(&server, "10.1.1.1", None).await?, StatusCode::TOO_MANY_REQUESTS);
    // The key is not cached yet on this instance: it is looked up all the same.
    for _ in 0..5 {
        assert_eq!(from(&server, "10.1.1.1", Some(&key)).await?, StatusCode::OK);
    }
    // An unknown key still costs its address, and made-up keys run out of lookups.
    assert_eq!(from(&server, "10.2.2.2", Some("emp_unknown_0")).await?, StatusCode::UNAUTHORIZED);
    let mut refused = false;
    for n in 1..10 {
        let status = from(&server, "10.2.2.2", Some(&format!("emp_unknown_{n}"))).await?;
        refused |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "guessed keys are never throttled");
    Ok(())
}

#[tokio::test]
async fn behind_a_proxy_the_client_address_is_the_right_most_entry_of_every_header_line() -> TestResult {
    let limits = Allowances { anonymous: NonZeroU32::new(2), customer: None, api_key: None };
    let server = TestServer::start_with(Options {
        rate_limits: limits,
        client_ip_header: Some("x-forwarded-for"),
        ..Options::default()
    })
    .await?;
    server.wait_for_redis().await?;
    // The client writes its own first line; the proxy appends a line with what it saw.
    let mut statuses = Vec::new();
    for n in 0..4 {
        let status = server
            .client
            .get(server.url("/v1/products"))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await?
            .status();
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 2, "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn nul_bytes_are_refused_where_ids_and_text_are_read_never_a_500() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let created = server.create_product(&admin, crate::common::tee("Nul", "NUL")).await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let listed = server.get("/v1/products?category=a%00b").await?;
    assert_eq!(listed.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", listed.body);
    assert_eq!(listed.error_fields(), vec![("category".to_owned(), "control_character".to_owned())]);
    for (method, path) in [
        (reqwest::Method::PATCH, "/v1/products/a%00b"),
        (reqwest::Method::DELETE, "/v1/products/a%00b"),
        (reqwest::Method::POST, "/v1/products/a%00b/variants"),
        (reqwest::Method::GET, "/v1/products/a%00b"),
        (reqwest::Method::GET, "/v1/carts/cart_%00"),
    ] {
        let body = (method != reqwest::Method::DELETE && method != reqwest::Method::GET).then(|| json!({}));
        let reply = server.send(method.clone(), path, Some(&admin), body).await?;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}: {}", reply.body);
        assert_eq!(reply.problem_code(), "not_found");
    }
    let patch = json!({"category_ids": ["cat_a\u{0}b"]});
    let refused = server.patch(&format!("/v1/products/{id}"), Some(&admin), patch).await?;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.error_fields(), vec![("category_ids[0]".to_owned(), "control_character".to_owned())]);
    let category = server.post("/v1/categories", Some(&admin), json!({"name": "Sub", "parent_id": "a\u{0}"})).await?;
    assert_eq!(category.error_fields(), vec![("parent_id".to_owned(), "control_character".to_owned())]);
    let graphql = server.graphql(None, r#"{ products(category: "a\u0000b") { nodes { id } } }"#, json!({})).await?;
    assert_eq!(graphql.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", graphql.body);
    let variables = server
        .graphql(None, "query($c: String) { products(category: $c) { nodes { id } } }", json!({"c": "a\u{0}b"}))
        .await?;
    assert_eq!(variables.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", variables.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_variant_adds_with_one_combination_create_it_once() -> TestResult {
    let server = std::sync::Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    let mut body = crate::common::tee("Race", "RACE");
    body["options"] = json!([{"name": "Size", "values": ["S", "M", "XL"]}]);
    let product = server.create_product(&admin, body).await?;
    let id = product["id"].as_str().unwrap_or_default().to_owned();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (server, admin, id) = (std::sync::Arc::clone(&server), admin.clone(), id.clone());
            tokio::spawn(async move {
                let body = json!({"sku": format!("RACE-X{i}"), "options": {"Size": "XL"}, "prices": [{"amount": 100, "currency": "EUR"}]});
                server.post(&format!("/v1/products/{id}/variants"), Some(&admin), body).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let reply = task.await??;
        if reply.status != StatusCode::CREATED {
            assert_eq!(reply.error_fields(), vec![("options".to_owned(), "duplicate_combination".to_owned())]);
        }
        statuses.push(reply.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    let read = server.get_as(&format!("/v1/products/{id}"), &admin).await?;
    let xl = read.body["variants"].as_array().map_or(0, |v| v.iter().filter(|v| v["options"]["Size"] == "XL").count());
    assert_eq!(xl, 1, "{}", read.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_get_suffixed_slugs() -> TestResult {
    let server = std::sync::Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (server, admin) = (std::sync::Arc::clone(&server), admin.clone());
            tokio::spawn(async move {
                let body = json!({"name": "Same Name", "status": "published",
                    "variants": [{"sku": format!("SAME-{i}"), "prices": [{"amount": 100, "currency": "EUR"}]}]});
                server.post("/v1/products", Some(&admin), body).await
            })
        })
        .collect();
    let mut slugs = Vec::new();
    for task in tasks {
        let reply = task.await??;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        slugs.push(reply.str("slug")?.to_owned());
    }
    slugs.sort();
    slugs.dedup();
    assert_eq!(slugs.len(), 6, "{slugs:?}");
    assert!(slugs.contains(&"same-name".to_owned()), "{slugs:?}");
    Ok(())
}

#[tokio::test]
async fn the_smallest_delta_is_out_of_range_not_a_conflict() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let product = server.create_product(&admin, crate::common::tee("Delta", "DELTA")).await?;
    server.stock(product["variants"][0]["id"].as_str().unwrap_or_default(), 1).await?;
    let sku = product["variants"][0]["sku"].as_str().unwrap_or_default();
    let body = json!({"sku": sku, "location": "main", "delta": i64::MIN, "reason": "correction"});
    let reply = server.post("/v1/inventory/adjustments", Some(&admin), body).await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.error_fields(), vec![("delta".to_owned(), "out_of_range".to_owned())]);
    Ok(())
}

#[tokio::test]
async fn the_selling_setup_works_over_graphql_behind_the_same_scopes() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let marketing = server.staff_token("mkt@shop.test", Role::Marketing).await?;
    let (_, sync) = server.api_key(&admin, &["catalog:write"]).await?;
    let create = r#"mutation { createDiscount(input: {code: "GQL10", kind: PERCENTAGE, valueBp: 1000, usageLimitPerCustomer: 1}) { id code valueBp usageLimitPerCustomer } }"#;
    let refused = server.graphql(Some(&sync), create, json!({})).await?;
    assert_eq!(refused.body["errors"][0]["extensions"]["code"], "forbidden", "{}", refused.body);
    let created = server.graphql(Some(&marketing), create, json!({})).await?;
    let discount = &created.body["data"]["createDiscount"];
    assert_eq!(discount["valueBp"], 1000, "{}", created.body);
    let id = discount["id"].as_str().unwrap_or_default().to_owned();
    let change = "mutation($id: String!) { updateDiscount(id: $id, input: {usageLimitPerCustomer: null, usageLimit: 5}) { usageLimit usageLimitPerCustomer } }";
    let changed = server.graphql(Some(&marketing), change, json!({"id": id})).await?;
    assert_eq!(changed.body["data"]["updateDiscount"], json!({"usageLimit": 5, "usageLimitPerCustomer": null}));
    let rest = server.get_as(&format!("/v1/discounts/{id}"), &admin).await?;
    assert_eq!(rest.body["usage_limit"], 5, "the same record REST reads: {}", rest.body);

    let zone = r#"mutation { createShippingZone(input: {name: "France", countries: ["FR"], methods: [{name: "Standard", price: {amount: 495, currency: "EUR"}, freeOver: {amount: 5000, currency: "EUR"}}]}) { id countries methods { name price { amount } freeOver { amount } } } }"#;
    let by_marketing = server.graphql(Some(&marketing), zone, json!({})).await?;
    assert_eq!(by_marketing.body["errors"][0]["extensions"]["code"], "forbidden", "{}", by_marketing.body);
    let made = server.graphql(Some(&admin), zone, json!({})).await?;
    assert_eq!(made.body["data"]["createShippingZone"]["methods"][0]["freeOver"]["amount"], 5000, "{}", made.body);
    let rate = r#"mutation { createTaxRate(country: "FR", name: "TVA", rateBp: 2000) { rateBp } }"#;
    assert_eq!(server.graphql(Some(&admin), rate, json!({})).await?.body["data"]["createTaxRate"]["rateBp"], 2000);
    let setting = r#"mutation { setCurrencySetting(currency: "EUR", pricesIncludeTax: true) { pricesIncludeTax } }"#;
    let set = server.graphql(Some(&admin), setting, json!({})).await?;
    assert_eq!(set.body["data"]["setCurrencySetting"]["pricesIncludeTax"], true, "{}", set.body);
    let read = "{ shippingZones { name } taxRates { name } discounts { code } currencySetting(currency: \"EUR\") { pricesIncludeTax } }";
    let all = server.graphql(Some(&marketing), read, json!({})).await?;
    assert_eq!(all.body["data"]["shippingZones"][0]["name"], "France", "{}", all.body);
    assert_eq!(all.body["data"]["discounts"][0]["code"], "GQL10");
    Ok(())
}

#[tokio::test]
async fn a_fixed_discount_reads_its_amount_and_minimum_as_money_over_graphql() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let create = r#"mutation { createDiscount(input: {code: "FIVE", kind: FIXED, valueAmount: {amount: 500, currency: "EUR"}, minimumSubtotal: {amount: 2000, currency: "EUR"}}) { kind valueBp valueAmount { amount currency } minimumSubtotal { amount currency } } }"#;
    let created = server.graphql(Some(&admin), create, json!({})).await?;
    let expected = json!({
        "kind": "fixed",
        "valueBp": null,
        "valueAmount": {"amount": 500, "currency": "EUR"},
        "minimumSubtotal": {"amount": 2000, "currency": "EUR"},
    });
    assert_eq!(created.body["data"]["createDiscount"], expected, "{}", created.body);
    let read = "{ discounts { valueBp valueAmount { amount } minimumSubtotal { currency } } }";
    let all = server.graphql(Some(&admin), read, json!({})).await?;
    let expected = json!([{"valueBp": null, "valueAmount": {"amount": 500}, "minimumSubtotal": {"currency": "EUR"}}]);
    assert_eq!(all.body["data"]["discounts"], expected, "{}", all.body);
    Ok(())
}
