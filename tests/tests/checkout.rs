//! The purchase flow end to end: carts priced from the catalog, shipping, tax and discounts
//! exact to the minor unit, checkout that reserves, pays and places all or nothing, and the
//! races that must not oversell, double-charge or pass a usage limit.

use std::sync::Arc;

use emporium_payments::Call;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestResult, TestServer};

const ADDRESS_FR: &str = r#"{"first_name":"Ada","last_name":"Lovelace","line1":"1 rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"}"#;

pub(crate) fn address(country: &str) -> Value {
    let mut a: Value = serde_json::from_str(ADDRESS_FR).unwrap_or(Value::Null);
    a["country"] = json!(country);
    a
}

/// A published product with one variant priced in each of `prices`, stocked with `units`: its SKU.
pub async fn product(
    server: &TestServer,
    admin: &str,
    sku: &str,
    prices: &[(i64, &str)],
    units: i64,
) -> anyhow::Result<String> {
    let prices: Vec<Value> = prices.iter().map(|(a, c)| json!({"amount": a, "currency": c})).collect();
    let body = json!({
        "name": format!("Product {sku}"),
        "status": "published",
        "variants": [{"sku": sku, "prices": prices}],
    });
    let created = server.create_product(admin, body).await?;
    let variant = created["variants"][0]["id"].as_str().unwrap_or_default().to_owned();
    if units > 0 {
        server.stock(&variant, units).await?;
    }
    Ok(sku.to_owned())
}

/// A guest cart in `currency` holding `lines`, with an email and a French address: its id.
pub async fn cart(
    server: &TestServer,
    token: Option<&str>,
    currency: &str,
    lines: &[(&str, i64)],
) -> anyhow::Result<String> {
    let created = server.post("/v1/carts", token, json!({"currency": currency})).await?;
    anyhow::ensure!(created.status == StatusCode::CREATED, "{}", created.body);
    let id = created.str("id")?.to_owned();
    for (sku, quantity) in lines {
        let added =
            server.post(&format!("/v1/carts/{id}/items"), token, json!({"sku": sku, "quantity": quantity})).await?;
        anyhow::ensure!(added.status == StatusCode::OK, "{}", added.body);
    }
    let put = server
        .send(
            reqwest::Method::PUT,
            &format!("/v1/carts/{id}"),
            token,
            Some(json!({"email": "ada@example.com", "shipping_address": address("FR")})),
        )
        .await?;
    anyhow::ensure!(put.status == StatusCode::OK, "{}", put.body);
    Ok(id)
}

pub async fn checkout(
    server: &TestServer,
    token: Option<&str>,
    cart: &str,
    payment: &str,
) -> anyhow::Result<crate::common::Reply> {
    server
        .post(&format!("/v1/carts/{cart}/checkout"), token, json!({"payment": {"provider": "test", "token": payment}}))
        .await
}

pub fn amount(v: &Value) -> i64 {
    v["amount"].as_i64().unwrap_or(i64::MIN)
}

fn check_total(v: &Value) {
    let include = v["prices_include_tax"].as_bool().unwrap_or(false);
    let tax = if include { 0 } else { amount(&v["tax_total"]) };
    assert_eq!(
        amount(&v["subtotal"]) - amount(&v["discount_total"]) + amount(&v["shipping_total"]) + tax,
        amount(&v["total"]),
        "{v}"
    );
}

/// (on_hand, reserved) of a SKU.
pub async fn stock_of(server: &TestServer, admin: &str, sku: &str) -> anyhow::Result<(i64, i64)> {
    let stock = server.get_as(&format!("/v1/inventory/{sku}"), admin).await?;
    Ok((stock.body["on_hand"].as_i64().unwrap_or(-1), stock.body["reserved"].as_i64().unwrap_or(-1)))
}

#[tokio::test]
async fn the_whole_flow_prices_ships_taxes_discounts_and_places_the_order() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let mug = product(&server, &admin, "FLOW-MUG", &[(1999, "EUR")], 10).await?;
    let tee = product(&server, &admin, "FLOW-TEE", &[(505, "EUR")], 10).await?;
    let zone = server
        .post(
            "/v1/shipping-zones",
            Some(&admin),
            json!({"name": "France", "countries": ["FR"], "methods": [
                {"name": "Standard", "price": {"amount": 495, "currency": "EUR"}},
                {"name": "Express", "price": {"amount": 1500, "currency": "EUR"}},
                {"name": "Yen post", "price": {"amount": 900, "currency": "JPY"}}
            ]}),
        )
        .await?;
    assert_eq!(zone.status, StatusCode::CREATED, "{}", zone.body);
    let rate =
        server.post("/v1/tax-rates", Some(&admin), json!({"country": "FR", "name": "TVA", "rate_bp": 2000})).await?;
    assert_eq!(rate.status, StatusCode::CREATED, "{}", rate.body);
    let code =
        server.post("/v1/discounts", Some(&admin), json!({"code": "TEN", "kind": "percentage", "value": 1000})).await?;
    assert_eq!(code.status, StatusCode::CREATED, "{}", code.body);

    let cart = cart(&server, None, "EUR", &[(&mug, 1), (&tee, 1), (&mug, 1)]).await?;
    let view = server.get(&format!("/v1/carts/{cart}")).await?;
    assert_eq!(view.body["items"].as_array().map(Vec::len), Some(2), "the same SKU merges: {}", view.body);
    assert_eq!(view.body["items"][0]["quantity"], 2);
    assert_eq!(amount(&view.body["subtotal"]), 4503);

    // No method chosen: checkout needs one, since the shop ships by zones.
    let refused = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.problem_code(), "shipping_method_required");

    let methods = server.get(&format!("/v1/carts/{cart}/shipping-methods")).await?;
    let listed = methods.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 2, "only the cart's currency: {}", methods.body);
    assert_eq!(listed[0]["name"], "Standard", "cheapest first");
    let method = listed[0]["id"].as_str().unwrap_or_default().to_owned();
    let chosen = server
        .send(reqwest::Method::PUT, &format!("/v1/carts/{cart}"), None, Some(json!({"shipping_method": method})))
        .await?;
    assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.body);
    let applied = server.post(&format!("/v1/carts/{cart}/discounts"), None, json!({"code": "ten"})).await?;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let v = &applied.body;
    assert_eq!(v["discount_codes"], json!(["TEN"]));
    assert_eq!(amount(&v["discount_total"]), 450);
    assert_eq!(amount(&v["shipping_total"]), 495);
    // 35.98 → 7.20, 4.55 → 0.91, shipping 4.95 → 0.99.
    assert_eq!(amount(&v["tax_total"]), 720 + 91 + 99);
    assert_eq!(amount(&v["total"]), 4503 - 450 + 495 + 910);
    check_total(v);

    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order = &placed.body;
    assert_eq!(order["number"], 1001);
    assert_eq!(order["status"], "paid");
    assert_eq!(order["total"], v["total"]);
    assert_eq!(order["captured"], v["total"]);
    assert_eq!(order["discount_codes"], json!(["TEN"]));
    assert_eq!(order["shipping_method"]["name"], "Standard");
    assert_eq!(order["lines"][0]["sku"], "FLOW-MUG");
    assert_eq!(order["history"][0]["status"], "paid");
    check_total(order);
    assert_eq!(stock_of(&server, &admin, &mug).await?, (8, 0), "sold units left on-hand, none held");

    // The order is a copy: a later price change does not touch it.
    let order_id = order["id"].as_str().unwrap_or_default().to_owned();
    let seen = server.get(&format!("/v1/orders/{order_id}")).await?;
    assert_eq!(seen.status, StatusCode::OK, "the guest reaches it by its id");
    assert_eq!(seen.body["lines"], order["lines"]);

    let again = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_code(), "cart_already_checked_out");
    let changed = server.post(&format!("/v1/carts/{cart}/items"), None, json!({"sku": tee, "quantity": 1})).await?;
    assert_eq!(changed.problem_code(), "cart_already_checked_out");

    let wanted = ["order.placed", "order.paid"];
    let kinds = crate::common::event_kinds(&server, &admin, &wanted).await?;
    assert!(wanted.iter().all(|w| kinds.iter().any(|k| k == w)), "{kinds:?}");

    let discount = server.get_as(&format!("/v1/discounts/{}", code.str("id")?), &admin).await?;
    assert_eq!(discount.body["times_used"], 1);
    Ok(())
}

#[tokio::test]
async fn tax_inclusive_prices_contain_the_tax_in_jpy_and_kwd() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "INCL-1", &[(1100, "JPY"), (2_345, "KWD")], 10).await?;
    for currency in ["JPY", "KWD"] {
        let set = server
            .send(
                reqwest::Method::PUT,
                &format!("/v1/settings/currencies/{currency}"),
                Some(&admin),
                Some(json!({"prices_include_tax": true})),
            )
            .await?;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    }
    let rate =
        server.post("/v1/tax-rates", Some(&admin), json!({"country": "FR", "name": "TVA", "rate_bp": 1000})).await?;
    assert_eq!(rate.status, StatusCode::CREATED);
    let jpy = cart(&server, None, "JPY", &[(&sku, 3)]).await?;
    let v = server.get(&format!("/v1/carts/{jpy}")).await?.body;
    assert_eq!(v["prices_include_tax"], true);
    assert_eq!(amount(&v["total"]), 3300, "the tax is inside the price");
    assert_eq!(amount(&v["tax_total"]), 300, "3300 contains 300 at 10%");
    check_total(&v);
    let kwd = cart(&server, None, "KWD", &[(&sku, 1)]).await?;
    let v = server.get(&format!("/v1/carts/{kwd}")).await?.body;
    assert_eq!(amount(&v["tax_total"]), 213, "2.345 contains 0.21318… KWD");
    check_total(&v);
    let placed = checkout(&server, None, &kwd, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "no zones: no method needed: {}", placed.body);
    assert_eq!(amount(&placed.body["shipping_total"]), 0);
    assert_eq!(amount(&placed.body["lines"][0]["tax"]), 213);
    Ok(())
}

#[tokio::test]
async fn a_declined_or_failed_payment_places_no_order_and_gives_the_stock_back() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "PAY-1", &[(1000, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 3)]).await?;
    let declined = checkout(&server, None, &cart, "tok_declined").await?;
    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED, "{}", declined.body);
    assert_eq!(declined.problem_code(), "payment_declined");
    assert_eq!(stock_of(&server, &admin, &sku).await?, (3, 0));
    let failed = checkout(&server, None, &cart, "tok_error").await?;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    assert_eq!(failed.problem_code(), "payment_provider_error");
    assert_eq!(stock_of(&server, &admin, &sku).await?, (3, 0));
    let card = checkout(&server, None, &cart, "4242 4242 4242 4242").await?;
    assert_eq!(card.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(card.error_fields(), vec![("payment.token".to_owned(), "card_number_refused".to_owned())]);
    let orders = server.get_as("/v1/orders", &admin).await?;
    assert_eq!(orders.body["data"], json!([]), "no order for a failed payment");
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "the cart is open again: {}", placed.body);
    assert_eq!(stock_of(&server, &admin, &sku).await?, (0, 0));
    Ok(())
}

#[tokio::test]
async fn short_stock_is_409_naming_the_skus_and_changes_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let plenty = product(&server, &admin, "SHORT-A", &[(1000, "EUR")], 10).await?;
    let scarce = product(&server, &admin, "SHORT-B", &[(1000, "EUR")], 1).await?;
    let cart = cart(&server, None, "EUR", &[(&plenty, 2), (&scarce, 2)]).await?;
    let short = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(short.status, StatusCode::CONFLICT, "{}", short.body);
    assert_eq!(short.problem_code(), "out_of_stock");
    assert_eq!(short.body["skus"], json!(["SHORT-B"]));
    assert_eq!(stock_of(&server, &admin, &plenty).await?, (10, 0), "nothing held");
    assert!(server.state.test_payments.calls().is_empty(), "nobody was charged");
    Ok(())
}

#[tokio::test]
async fn carts_refuse_bad_lines_client_prices_and_other_customers() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "BAD-1", &[(1000, "EUR")], 5).await?;
    let (_, ada) = server.customer("ada@example.com").await?;
    let (_, bob) = server.customer("bob@example.com").await?;
    let mine = server.post("/v1/carts", Some(&ada), json!({"currency": "EUR"})).await?;
    let mine = mine.str("id")?.to_owned();
    let items = format!("/v1/carts/{mine}/items");
    for quantity in [json!(0), json!(-1), json!(1.5), json!(10_001), json!("2")] {
        let bad = server.post(&items, Some(&ada), json!({"sku": sku, "quantity": quantity})).await?;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{quantity}: {}", bad.body);
    }
    let priced = server.post(&items, Some(&ada), json!({"sku": sku, "quantity": 1, "unit_price": 1})).await?;
    assert_eq!(priced.status, StatusCode::UNPROCESSABLE_ENTITY, "a client never sets a price");
    let unknown = server.post(&items, Some(&ada), json!({"sku": "NOPE", "quantity": 1})).await?;
    assert_eq!(unknown.problem_code(), "unknown_sku");
    let no_price = server.post("/v1/carts", Some(&ada), json!({"currency": "JPY"})).await?;
    let jpy = no_price.str("id")?.to_owned();
    let refused =
        server.post(&format!("/v1/carts/{jpy}/items"), Some(&ada), json!({"sku": sku, "quantity": 1})).await?;
    assert_eq!(refused.problem_code(), "no_price");
    let draft = server
        .create_product(&admin, json!({"name": "Draft", "status": "draft", "variants": [{"sku": "BAD-DRAFT", "prices": [{"amount": 100, "currency": "EUR"}]}]}))
        .await?;
    assert_eq!(draft["status"], "draft");
    let refused = server.post(&items, Some(&ada), json!({"sku": "BAD-DRAFT", "quantity": 1})).await?;
    assert_eq!(refused.problem_code(), "not_purchasable");
    let empty = checkout(&server, Some(&ada), &mine, "tok_ok").await?;
    assert_eq!(empty.problem_code(), "cart_empty");
    for token in [Some(bob.as_str()), None] {
        let theirs = server.send(reqwest::Method::GET, &format!("/v1/carts/{mine}"), token, None).await?;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND, "another caller never sees a customer's cart");
        let add = server.post(&items, token, json!({"sku": sku, "quantity": 1})).await?;
        assert_eq!(add.status, StatusCode::NOT_FOUND);
    }
    let unknown = server.post(&format!("/v1/carts/{mine}/discounts"), Some(&ada), json!({"code": "NOPE"})).await?;
    assert_eq!(unknown.problem_code(), "discount_invalid");
    assert_eq!(unknown.body["reason"], "unknown");

    // Ids and codes that no row could have (a NUL byte PostgreSQL refuses in text) are 404.
    for path in [
        "/v1/discounts/%00".to_owned(),
        "/v1/tax-rates/%00".to_owned(),
        "/v1/shipping-zones/%00".to_owned(),
        format!("/v1/carts/{mine}/discounts/%00"),
        format!("/v1/carts/{mine}/items/%00"),
    ] {
        let gone = server.delete(&path, Some(&admin)).await?;
        let gone = if path.starts_with("/v1/carts") { server.delete(&path, Some(&ada)).await? } else { gone };
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{path}: {}", gone.body);
    }
    let odd = server.get_as("/v1/orders?customer=%00", &admin).await?;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", odd.body);
    Ok(())
}

#[tokio::test]
async fn a_cart_holds_100_lines_of_10_000_units_and_a_refused_change_changes_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let mut skus = Vec::new();
    for n in 0..=100 {
        skus.push(product(&server, &admin, &format!("ROOM-{n}"), &[(100, "EUR")], 0).await?);
    }
    let created = server.post("/v1/carts", None, json!({"currency": "EUR"})).await?;
    let id = created.str("id")?.to_owned();
    let items = format!("/v1/carts/{id}/items");
    for sku in &skus[..100] {
        let added = server.post(&items, None, json!({"sku": sku, "quantity": 1})).await?;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    }
    let full = server.post(&items, None, json!({"sku": skus[100], "quantity": 1})).await?;
    assert_eq!(full.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", full.body);
    assert!(full.body.to_string().contains("too_many_items"), "{}", full.body);
    // A full cart still takes more units of a line it has.
    let more = server.post(&items, None, json!({"sku": skus[0], "quantity": 9_998})).await?;
    assert_eq!(more.status, StatusCode::OK, "{}", more.body);
    assert_eq!(more.body["items"][0]["quantity"], 9_999);
    let over = server.post(&items, None, json!({"sku": skus[0], "quantity": 2})).await?;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", over.body);
    assert!(over.body.to_string().contains("out_of_range"), "{}", over.body);
    let view = server.get(&format!("/v1/carts/{id}")).await?;
    assert_eq!(view.body["items"].as_array().map(Vec::len), Some(100));
    assert_eq!(view.body["items"][0]["quantity"], 9_999, "a refused add changes nothing");

    // A method that does not ship to the cart refuses the whole change: the email stays unset.
    let put = server
        .send(
            reqwest::Method::PUT,
            &format!("/v1/carts/{id}"),
            None,
            Some(json!({"email": "ada@example.com", "shipping_address": address("FR"), "shipping_method": "shm_0123456789abcdef0123456789abcdef"})),
        )
        .await?;
    assert_eq!(put.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", put.body);
    assert!(put.body.to_string().contains("unknown_shipping_method"), "{}", put.body);
    let view = server.get(&format!("/v1/carts/{id}")).await?;
    assert_eq!(view.body["email"], Value::Null, "{}", view.body);
    assert_eq!(view.body["shipping_address"], Value::Null, "{}", view.body);
    Ok(())
}

#[tokio::test]
async fn discount_rules_refuse_with_their_reason() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "RULE-1", &[(1000, "EUR")], 5).await?;
    let soon = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let past_start = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    for body in [
        json!({"code": "LATER", "kind": "fixed", "value": {"amount": 100, "currency": "EUR"}, "starts_at": soon}),
        json!({"code": "GONE", "kind": "free_shipping", "starts_at": past_start, "ends_at": past}),
        json!({"code": "BIG", "kind": "percentage", "value": 500, "minimum_subtotal": {"amount": 5000, "currency": "EUR"}}),
    ] {
        let created = server.post("/v1/discounts", Some(&admin), body).await?;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let taken = server.post("/v1/discounts", Some(&admin), json!({"code": "later", "kind": "free_shipping"})).await?;
    assert_eq!(taken.problem_code(), "discount_code_taken");
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    for (code, reason) in [("LATER", "not_started"), ("GONE", "expired"), ("BIG", "minimum_not_met")] {
        let refused = server.post(&format!("/v1/carts/{cart}/discounts"), None, json!({"code": code})).await?;
        assert_eq!(refused.problem_code(), "discount_invalid", "{code}");
        assert_eq!(refused.body["reason"], reason, "{code}");
    }
    Ok(())
}

#[tokio::test]
async fn a_guest_cart_claimed_merges_into_the_customers_open_cart() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let a = product(&server, &admin, "CLAIM-A", &[(1000, "EUR")], 5).await?;
    let b = product(&server, &admin, "CLAIM-B", &[(1000, "EUR")], 5).await?;
    let (customer_id, ada) = server.customer("ada@example.com").await?;
    let theirs = cart(&server, Some(&ada), "EUR", &[(&a, 1)]).await?;
    let guest = cart(&server, None, "EUR", &[(&a, 2), (&b, 1)]).await?;
    let claimed = server.post(&format!("/v1/carts/{guest}/claim"), Some(&ada), json!({})).await?;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(claimed.str("id")?, theirs);
    let quantities: Vec<(String, i64)> = claimed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| (i["sku"].as_str().unwrap_or_default().to_owned(), i["quantity"].as_i64().unwrap_or(0)))
        .collect();
    assert_eq!(quantities, vec![("CLAIM-A".to_owned(), 3), ("CLAIM-B".to_owned(), 1)]);
    let placed = checkout(&server, Some(&ada), &theirs, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(placed.body["customer_id"], customer_id.as_str());
    let (_, bob) = server.customer("bob@example.com").await?;
    let order_id = placed.str("id")?;
    let hidden = server.get_as(&format!("/v1/orders/{order_id}"), &bob).await?;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "another customer's order");
    let guest_view = server.get(&format!("/v1/orders/{order_id}")).await?;
    assert_eq!(guest_view.status, StatusCode::NOT_FOUND, "a customer's order is not a guest's capability");
    let own = server.get_as("/v1/orders", &ada).await?;
    assert_eq!(own.body["data"].as_array().map(Vec::len), Some(1));
    let none = server.get_as("/v1/orders", &bob).await?;
    assert_eq!(none.body["data"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_buyers_for_scarce_stock_buy_exactly_the_stock() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "RACE-1", &[(1000, "EUR")], 5).await?;
    let mut carts = Vec::new();
    for _ in 0..16 {
        carts.push(cart(&server, None, "EUR", &[(&sku, 1)]).await?);
    }
    let mut tasks = Vec::new();
    for cart in carts {
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move { checkout(&server, None, &cart, "tok_ok").await.map(|r| r.status) }));
    }
    let mut placed = 0;
    for task in tasks {
        match task.await?? {
            StatusCode::CREATED => placed += 1,
            StatusCode::CONFLICT => {}
            other => anyhow::bail!("unexpected {other}"),
        }
    }
    assert_eq!(placed, 5, "exactly the stock is sold");
    assert_eq!(stock_of(&server, &admin, &sku).await?, (0, 0));
    let captures = server.state.test_payments.calls().iter().filter(|c| matches!(c, Call::Authorize { .. })).count();
    assert_eq!(captures, 5, "only buyers who got stock were charged");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_of_one_key_place_one_order_and_charge_once() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "REPLAY-1", &[(1000, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let key = uuid::Uuid::new_v4().to_string();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (server, cart, key) = (Arc::clone(&server), cart.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"payment": {"provider": "test", "token": "tok_ok"}});
            let url = server.url(&format!("/v1/carts/{cart}/checkout"));
            let response = server.client.post(url).header("Idempotency-Key", key).json(&body).send().await?;
            crate::common::Reply::from(response).await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let reply = task.await??;
        match reply.status {
            StatusCode::CREATED => {
                ids.insert(reply.str("id")?.to_owned());
            }
            StatusCode::CONFLICT => assert!(
                ["idempotency_in_progress", "checkout_in_progress"].contains(&reply.problem_code().as_str()),
                "{}",
                reply.body
            ),
            other => anyhow::bail!("unexpected {other}: {}", reply.body),
        }
    }
    // A replay after the first finished gets the first order again.
    let body = json!({"payment": {"provider": "test", "token": "tok_ok"}});
    let url = server.url(&format!("/v1/carts/{cart}/checkout"));
    let response = server.client.post(url).header("Idempotency-Key", &key).json(&body).send().await?;
    let replay = crate::common::Reply::from(response).await?;
    assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.body);
    ids.insert(replay.str("id")?.to_owned());
    assert_eq!(ids.len(), 1, "one order: {ids:?}");
    let captures = server.state.test_payments.calls().iter().filter(|c| matches!(c, Call::Authorize { .. })).count();
    assert_eq!(captures, 1, "charged once");
    assert_eq!(stock_of(&server, &admin, &sku).await?, (4, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_usage_limited_code_raced_is_used_exactly_its_limit() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "LIMIT-1", &[(1000, "EUR")], 50).await?;
    let code = server
        .post(
            "/v1/discounts",
            Some(&admin),
            json!({"code": "TWO", "kind": "percentage", "value": 5000, "usage_limit": 2}),
        )
        .await?;
    assert_eq!(code.status, StatusCode::CREATED, "{}", code.body);
    let mut carts = Vec::new();
    for i in 0..8 {
        let id = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
        let email = server
            .send(
                reqwest::Method::PUT,
                &format!("/v1/carts/{id}"),
                None,
                Some(json!({"email": format!("buyer{i}@example.com")})),
            )
            .await?;
        assert_eq!(email.status, StatusCode::OK);
        let applied = server.post(&format!("/v1/carts/{id}/discounts"), None, json!({"code": "TWO"})).await?;
        assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
        carts.push(id);
    }
    let mut tasks = Vec::new();
    for cart in carts {
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move { checkout(&server, None, &cart, "tok_ok").await }));
    }
    let mut placed = 0;
    for task in tasks {
        let reply = task.await??;
        match reply.status {
            StatusCode::CREATED => placed += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(reply.body["reason"], "usage_limit_reached", "{}", reply.body)
            }
            other => anyhow::bail!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(placed, 2, "the limit holds under the race");
    let discount = server.get_as(&format!("/v1/discounts/{}", code.str("id")?), &admin).await?;
    assert_eq!(discount.body["times_used"], 2);
    let calls = server.state.test_payments.calls();
    let charged = calls.iter().filter(|c| matches!(c, Call::Authorize { .. })).count();
    let refunded = calls.iter().filter(|c| matches!(c, Call::Refund { .. })).count();
    assert_eq!(charged - refunded, 2, "whoever was charged without an order was refunded: {calls:?}");
    assert_eq!(stock_of(&server, &admin, &sku).await?, (48, 0));
    Ok(())
}

#[tokio::test]
async fn the_storefront_flow_works_over_graphql_with_the_same_codes() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "GQL-BUY", &[(1999, "EUR")], 2).await?;
    let (customer_id, ada) = server.customer("ada@example.com").await?;
    let token = Some(ada.as_str());
    let created = server.graphql(token, r#"mutation { createCart(currency: "EUR") { id status } }"#, json!({})).await?;
    let cart = created.body["data"]["createCart"]["id"].as_str().unwrap_or_default().to_owned();
    assert!(cart.starts_with("cart_"), "{}", created.body);
    let add = "mutation($cart: String!, $sku: String!, $q: Int!) { addCartItem(cartId: $cart, sku: $sku, quantity: $q) { items { sku quantity unitPrice { amount } } total { amount currency } } }";
    let added = server.graphql(token, add, json!({"cart": cart, "sku": sku, "q": 3})).await?;
    assert_eq!(added.body["data"]["addCartItem"]["total"]["amount"], 5997, "{}", added.body);
    let code = server
        .graphql(
            token,
            r#"mutation($cart: String!) { applyDiscount(cartId: $cart, code: "NOPE") { id } }"#,
            json!({"cart": cart}),
        )
        .await?;
    assert_eq!(code.body["errors"][0]["extensions"]["code"], "discount_invalid", "{}", code.body);
    assert_eq!(code.body["errors"][0]["extensions"]["reason"], "unknown");
    let address = json!({"firstName": "Ada", "lastName": "Lovelace", "line1": "1 rue de la Paix", "city": "Paris", "postalCode": "75002", "country": "FR"});
    let update = "mutation($cart: String!, $a: AddressInput!) { updateCart(cartId: $cart, input: {shippingAddress: $a}) { shippingAddress { city } } }";
    let updated = server.graphql(token, update, json!({"cart": cart, "a": address})).await?;
    assert_eq!(updated.body["data"]["updateCart"]["shippingAddress"]["city"], "Paris", "{}", updated.body);
    let pay = "mutation($cart: String!) { checkout(cartId: $cart, payment: {provider: \"test\", token: \"tok_ok\"}) { id number status total { amount } } }";
    let short = server.graphql(token, pay, json!({"cart": cart})).await?;
    assert_eq!(short.body["errors"][0]["extensions"]["code"], "out_of_stock", "{}", short.body);
    assert_eq!(short.body["errors"][0]["extensions"]["skus"], json!(["GQL-BUY"]));
    let lines = server
        .graphql(token, "query($cart: String!) { cart(id: $cart) { items { id } } }", json!({"cart": cart}))
        .await?;
    let item = lines.body["data"]["cart"]["items"][0]["id"].as_str().unwrap_or_default().to_owned();
    let fewer =
        "mutation($cart: String!, $item: String!) { updateCartItem(cartId: $cart, itemId: $item, quantity: 2) { id } }";
    let changed = server.graphql(token, fewer, json!({"cart": cart, "item": item})).await?;
    assert!(changed.body["errors"].is_null(), "{}", changed.body);
    let placed = server.graphql(token, pay, json!({"cart": cart})).await?;
    let order = &placed.body["data"]["checkout"];
    assert_eq!(order["status"], "paid", "{}", placed.body);
    assert_eq!(order["total"]["amount"], 3998);
    let mine = server
        .graphql(
            token,
            "{ orders(first: 5) { edges { cursor node { id customerId } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await?;
    let edges = mine.body["data"]["orders"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 1, "{}", mine.body);
    assert_eq!(edges[0]["node"]["customerId"], customer_id.as_str());
    let order_id = order["id"].as_str().unwrap_or_default();
    let cancel = server
        .graphql(
            token,
            "mutation($id: String!) { cancelOrder(orderId: $id) { status refunded { amount } } }",
            json!({"id": order_id}),
        )
        .await?;
    assert_eq!(cancel.body["data"]["cancelOrder"]["status"], "cancelled", "{}", cancel.body);
    assert_eq!(cancel.body["data"]["cancelOrder"]["refunded"]["amount"], 3998);
    Ok(())
}

#[tokio::test]
async fn a_payment_whose_checkout_was_abandoned_after_capture_is_given_back() -> TestResult {
    use emporium_payments::{Authorize, PaymentProvider as _, PaymentToken};
    use sea_orm::ConnectionTrait as _;
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "SWEEP-1", &[(1500, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    // What a crash leaves: the provider captured, the payment was recorded, the order never
    // placed, the cart still taken, and all of it older than the hold.
    let money = emporium_core::Money::new(1500, emporium_core::Currency::EUR)?;
    let Ok(token) = PaymentToken::parse("tok_ok", "token") else { unreachable!("a valid token") };
    let request = Authorize {
        amount: money,
        token,
        capture: true,
        idempotency_key: "chk_crashed_k".into(),
        reference: cart.clone(),
    };
    let Ok(authorized) = server.state.test_payments.authorize(&request).await else {
        unreachable!("tok_ok is accepted")
    };
    let old = chrono::Utc::now() - chrono::Duration::minutes(30);
    let backend = server.app_db.get_database_backend();
    server
        .app_db
        .execute_raw(emporium_core::db::statement(
            backend,
            "INSERT INTO payments (id, checkout_id, order_id, provider, provider_ref, provider_key, status, currency, amount, \
             captured, refunded, created_at, updated_at) VALUES ('pay_crashed', 'chk_crashed', NULL, 'test', ?, 'chk_crashed_k', \
             'captured', 'EUR', 1500, 1500, 0, ?, ?)",
            [authorized.payment_ref.clone().into(), old.into(), old.into()],
        ))
        .await?;
    server
        .app_db
        .execute_raw(emporium_core::db::statement(
            backend,
            "UPDATE carts SET status = 'checking_out', checkout_id = 'chk_crashed', checkout_expires_at = ? WHERE id = ?",
            [old.into(), cart.clone().into()],
        ))
        .await?;
    let swept = emporium_orders::checkout::sweep_abandoned(
        &server.state.writer,
        &server.state.payments,
        server.state.config.reservation_ttl,
    )
    .await?;
    assert_eq!(swept, 1);
    assert_eq!(
        server.state.test_payments.payment(&authorized.payment_ref),
        Some((1500, 1500, false)),
        "refunded in full"
    );
    let again = emporium_orders::checkout::sweep_abandoned(
        &server.state.writer,
        &server.state.payments,
        server.state.config.reservation_ttl,
    )
    .await?;
    assert_eq!(again, 0, "given back once");
    let view = server.get(&format!("/v1/carts/{cart}")).await?;
    assert_eq!(view.body["status"], "open", "the cart can be checked out again");
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    Ok(())
}

/// Posts a checkout with an `Idempotency-Key`.
async fn checkout_keyed(
    server: &TestServer,
    cart: &str,
    payment: &str,
    key: &str,
) -> anyhow::Result<crate::common::Reply> {
    let body = json!({"payment": {"provider": "test", "token": payment}});
    let url = server.url(&format!("/v1/carts/{cart}/checkout"));
    let response = server.client.post(url).header("Idempotency-Key", key).json(&body).send().await?;
    crate::common::Reply::from(response).await
}

/// Makes every pending payment older than its checkout's hold, as if its shopper left long ago.
async fn age_pending_payments(server: &TestServer) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait as _;
    let old = chrono::Utc::now() - chrono::Duration::minutes(30);
    server
        .app_db
        .execute_raw(emporium_core::db::statement(
            server.app_db.get_database_backend(),
            "UPDATE payments SET updated_at = ? WHERE status = 'pending'",
            [old.into()],
        ))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_payment_whose_answer_was_lost_places_the_order_on_a_retry_of_its_key_charged_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "LOST-1", &[(1500, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let key = uuid::Uuid::new_v4().to_string();
    let lost = checkout_keyed(&server, &cart, "tok_timeout", &key).await?;
    assert_eq!(lost.status, StatusCode::BAD_GATEWAY, "{}", lost.body);
    assert_eq!(stock_of(&server, &admin, &sku).await?, (3, 0), "nothing stays reserved");
    let retried = checkout_keyed(&server, &cart, "tok_timeout", &key).await?;
    assert_eq!(retried.status, StatusCode::CREATED, "the provider's first answer: {}", retried.body);
    assert_eq!(amount(&retried.body["captured"]), 1500, "{}", retried.body);
    let charges = server.state.test_payments.calls().iter().filter(|c| matches!(c, Call::Authorize { .. })).count();
    assert_eq!(charges, 1, "charged once");
    assert_eq!(stock_of(&server, &admin, &sku).await?, (2, 0));
    Ok(())
}

#[tokio::test]
async fn a_payment_whose_answer_was_lost_and_never_retried_is_found_and_given_back() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "LOST-2", &[(1500, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let lost = checkout(&server, None, &cart, "tok_timeout").await?;
    assert_eq!(lost.status, StatusCode::BAD_GATEWAY, "{}", lost.body);
    let calls = server.state.test_payments.calls();
    let Some(Call::Authorize { payment_ref, .. }) = calls.first() else { anyhow::bail!("no charge: {calls:?}") };
    assert_eq!(server.state.test_payments.payment(payment_ref), Some((1500, 0, false)), "the money was taken");
    let swept = emporium_orders::checkout::sweep_abandoned(
        &server.state.writer,
        &server.state.payments,
        server.state.config.reservation_ttl,
    )
    .await?;
    assert_eq!(swept, 0, "not while the shopper may still retry");
    // The shopper went away; the hold is long over.
    age_pending_payments(&server).await?;
    let swept = emporium_orders::checkout::sweep_abandoned(
        &server.state.writer,
        &server.state.payments,
        server.state.config.reservation_ttl,
    )
    .await?;
    assert_eq!(swept, 1);
    assert_eq!(server.state.test_payments.payment(payment_ref), Some((1500, 1500, false)), "refunded in full");
    let again = emporium_orders::checkout::sweep_abandoned(
        &server.state.writer,
        &server.state.payments,
        server.state.config.reservation_ttl,
    )
    .await?;
    assert_eq!(again, 0, "given back once");
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(stock_of(&server, &admin, &sku).await?, (2, 0));
    Ok(())
}

#[tokio::test]
async fn a_retry_after_its_payment_was_given_back_pays_anew_and_places_the_order() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "LOST-3", &[(900, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let key = uuid::Uuid::new_v4().to_string();
    let lost = checkout_keyed(&server, &cart, "tok_timeout", &key).await?;
    assert_eq!(lost.status, StatusCode::BAD_GATEWAY, "{}", lost.body);
    age_pending_payments(&server).await?;
    assert_eq!(
        emporium_orders::checkout::sweep_abandoned(
            &server.state.writer,
            &server.state.payments,
            server.state.config.reservation_ttl
        )
        .await?,
        1
    );
    // The shopper comes back with the same key: the given-back payment is not replayed.
    let retried = checkout_keyed(&server, &cart, "tok_ok", &key).await?;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(amount(&retried.body["captured"]), 900, "{}", retried.body);
    let calls = server.state.test_payments.calls();
    let charges: Vec<&String> = calls
        .iter()
        .filter_map(|c| if let Call::Authorize { payment_ref, .. } = c { Some(payment_ref) } else { None })
        .collect();
    assert_eq!(charges.len(), 2, "charged anew: {calls:?}");
    assert_eq!(server.state.test_payments.payment(charges[0]), Some((900, 900, false)), "the first given back");
    assert_eq!(server.state.test_payments.payment(charges[1]), Some((900, 0, false)), "the second kept");
    Ok(())
}
