//! Reports: every figure of the sales, conversion, customers and best-seller reports over a
//! handful of orders and carts placed on known days (moved there in the database after they
//! were made through the API), against sums worked out by hand in the comments; bad windows,
//! intervals, sorts and limits refused; who may read them; GraphQL answers the same.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{address, amount, checkout};
use crate::common::{Reply, TestResult, TestServer};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

/// Runs `UPDATE {table} SET {set} WHERE {filter}` with `values` (times moved back).
async fn rewrite(server: &TestServer, sql: &str, values: Vec<sea_orm::Value>) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    let backend = server.app_db.get_database_backend();
    let done = server.app_db.execute_raw(emporium_core::db::statement(backend, sql, values)).await?;
    anyhow::ensure!(done.rows_affected() > 0, "{sql} changed nothing");
    Ok(())
}

/// A cart in EUR for `email` holding `lines`, shipped to France by the Standard method, with
/// `code` applied: its id.
async fn cart(
    server: &TestServer,
    token: Option<&str>,
    email: &str,
    lines: &[(&str, i64)],
    code: Option<&str>,
) -> anyhow::Result<String> {
    let created = server.post("/v1/carts", token, json!({"currency": "EUR"})).await?;
    anyhow::ensure!(created.status == StatusCode::CREATED, "{}", created.body);
    let id = created.str("id")?.to_owned();
    for (sku, quantity) in lines {
        let added =
            server.post(&format!("/v1/carts/{id}/items"), token, json!({"sku": sku, "quantity": quantity})).await?;
        anyhow::ensure!(added.status == StatusCode::OK, "{}", added.body);
    }
    if lines.is_empty() {
        return Ok(id);
    }
    let details = json!({"email": email, "shipping_address": address("FR")});
    let put = server.send(reqwest::Method::PUT, &format!("/v1/carts/{id}"), token, Some(details)).await?;
    anyhow::ensure!(put.status == StatusCode::OK, "{}", put.body);
    let methods = server.send(reqwest::Method::GET, &format!("/v1/carts/{id}/shipping-methods"), token, None).await?;
    let method = methods.body["data"][0]["id"].as_str().unwrap_or_default().to_owned();
    let chosen = server
        .send(reqwest::Method::PUT, &format!("/v1/carts/{id}"), token, Some(json!({"shipping_method": method})))
        .await?;
    anyhow::ensure!(chosen.status == StatusCode::OK, "{}", chosen.body);
    if let Some(code) = code {
        let applied = server.post(&format!("/v1/carts/{id}/discounts"), token, json!({"code": code})).await?;
        anyhow::ensure!(applied.status == StatusCode::OK, "{}", applied.body);
    }
    Ok(id)
}

/// Places an order from a new cart and moves it (and its cart) to `placed_at`: the order.
async fn order(
    server: &TestServer,
    token: Option<&str>,
    email: &str,
    lines: &[(&str, i64)],
    code: Option<&str>,
    placed_at: &str,
) -> anyhow::Result<Value> {
    let cart_id = cart(server, token, email, lines, code).await?;
    let placed = checkout(server, token, &cart_id, "tok_ok").await?;
    anyhow::ensure!(placed.status == StatusCode::CREATED, "{}", placed.body);
    let order_id = placed.str("id")?.to_owned();
    let when = at(placed_at);
    rewrite(server, "UPDATE orders SET created_at = ? WHERE id = ?", vec![when.into(), order_id.into()]).await?;
    rewrite(server, "UPDATE carts SET created_at = ? WHERE id = ?", vec![when.into(), cart_id.into()]).await?;
    Ok(placed.body)
}

/// Moves the refunds of an order to `settled_at`.
async fn settle_at(server: &TestServer, order: &Value, settled_at: &str) -> anyhow::Result<()> {
    let order_id = order["id"].as_str().unwrap_or_default().to_owned();
    rewrite(
        server,
        "UPDATE payment_refunds SET settled_at = ? WHERE payment_id IN (SELECT id FROM payments WHERE order_id = ?)",
        vec![at(settled_at).into(), order_id.into()],
    )
    .await
}

fn eur(amount: i64) -> Value {
    json!({"amount": amount, "currency": "EUR"})
}

/// A report read as the admin.
async fn report(server: &TestServer, admin: &str, path: &str) -> anyhow::Result<Reply> {
    let reply = server.get_as(path, admin).await?;
    anyhow::ensure!(reply.status == StatusCode::OK, "{path}: {}", reply.body);
    Ok(reply)
}

#[tokio::test]
async fn every_report_figure_reconciles_with_orders_refunds_and_carts_worked_out_by_hand() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    for (sku, price) in [("REP-MUG", 1000), ("REP-TEE", 500)] {
        crate::checkout::product(&server, &admin, sku, &[(price, "EUR")], 50).await?;
    }
    let zone = json!({"name": "France", "countries": ["FR"], "methods": [
        {"name": "Standard", "price": {"amount": 495, "currency": "EUR"}}
    ]});
    assert_eq!(server.post("/v1/shipping-zones", Some(&admin), zone).await?.status, StatusCode::CREATED);
    let rate = json!({"country": "FR", "name": "TVA", "rate_bp": 2000});
    assert_eq!(server.post("/v1/tax-rates", Some(&admin), rate).await?.status, StatusCode::CREATED);
    let code = json!({"code": "TEN", "kind": "percentage", "value": 1000});
    assert_eq!(server.post("/v1/discounts", Some(&admin), code).await?.status, StatusCode::CREATED);
    let (bob_id, bob) = server.customer("bob@example.com").await?;

    // Prices exclude tax (20% in France); shipping 4.95 (+0.99 tax) per order.
    // O5 bob 27 Feb, before the window: 2 tees, 10.00 of goods.
    order(&server, Some(&bob), "bob@example.com", &[("REP-TEE", 2)], None, "2026-02-27T09:00:00Z").await?;
    // O1 guest ann, Mon 2 Mar: 2 mugs 20.00 less 10% = 18.00, tax 3.60 + 0.99, total 27.54.
    let o1 = order(&server, None, "ann@example.com", &[("REP-MUG", 2)], Some("TEN"), "2026-03-02T10:00:00Z").await?;
    assert_eq!(amount(&o1["total"]), 2754);
    // O2 bob, Mon 2 Mar: a tee 5.00, tax 1.00 + 0.99, total 11.94.
    let o2 = order(&server, Some(&bob), "bob@example.com", &[("REP-TEE", 1)], None, "2026-03-02T15:00:00Z").await?;
    assert_eq!(amount(&o2["total"]), 1194);
    // O3 bob, Wed 4 Mar: a mug and a tee 15.00, tax 3.00 + 0.99, total 23.94; 5.00 refunded Thu 5 Mar.
    let o3 =
        order(&server, Some(&bob), "bob@example.com", &[("REP-MUG", 1), ("REP-TEE", 1)], None, "2026-03-04T08:00:00Z")
            .await?;
    assert_eq!(amount(&o3["total"]), 2394);
    let o3_id = o3["id"].as_str().unwrap_or_default().to_owned();
    let refund = server.post(&format!("/v1/orders/{o3_id}/refunds"), Some(&admin), json!({"amount": eur(500)})).await?;
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
    settle_at(&server, &o3, "2026-03-05T12:00:00Z").await?;
    // O4 guest dan, Tue 10 Mar: a mug 10.00, tax 2.00 + 0.99, total 17.94; cancelled, refunded that day.
    let o4 = order(&server, None, "dan@example.com", &[("REP-MUG", 1)], None, "2026-03-10T09:00:00Z").await?;
    assert_eq!(amount(&o4["total"]), 1794);
    let o4_id = o4["id"].as_str().unwrap_or_default().to_owned();
    let cancelled = server.post(&format!("/v1/orders/{o4_id}/cancel"), Some(&admin), json!({})).await?;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    settle_at(&server, &o4, "2026-03-10T12:00:00Z").await?;

    // Carts that did not become orders, made in the window: one left with items on 11 Mar, one
    // whose payment was declined (left on 12 Mar), an empty one, one with items changed just now.
    let left = cart(&server, None, "eve@example.com", &[("REP-MUG", 1)], None).await?;
    let declined = cart(&server, None, "fay@example.com", &[("REP-TEE", 1)], None).await?;
    assert_eq!(checkout(&server, None, &declined, "tok_declined").await?.status, StatusCode::PAYMENT_REQUIRED);
    let empty = cart(&server, None, "gus@example.com", &[], None).await?;
    let fresh = cart(&server, None, "hal@example.com", &[("REP-TEE", 1)], None).await?;
    for (id, created, updated) in [
        (&left, "2026-03-11T10:00:00Z", "2026-03-11T10:05:00Z"),
        (&declined, "2026-03-12T10:00:00Z", "2026-03-12T10:05:00Z"),
        (&empty, "2026-03-12T11:00:00Z", "2026-03-12T11:00:00Z"),
    ] {
        let sql = "UPDATE carts SET created_at = ?, updated_at = ? WHERE id = ?";
        rewrite(&server, sql, vec![at(created).into(), at(updated).into(), id.clone().into()]).await?;
    }
    rewrite(
        &server,
        "UPDATE carts SET created_at = ? WHERE id = ?",
        vec![at("2026-03-13T10:00:00Z").into(), fresh.into()],
    )
    .await?;

    let window = "from=2026-03-01T00:00:00Z&to=2026-03-15T00:00:00Z";

    // Sales: O1–O4 (O4 cancelled, still placed). Gross 20+5+15+10 = 50.00, discounts 2.00,
    // returns 5.00 + 17.94 = 22.94, net 25.06, shipping 4 × 4.95 = 19.80, tax 4.59 + 1.99 +
    // 3.99 + 2.99 = 13.56, total 58.42 (= 27.54 + 11.94 + 23.94 + 17.94 − 22.94);
    // average order value (50.00 − 2.00) / 4 = 12.00.
    let sales = report(&server, &admin, &format!("/v1/reports/sales?{window}&currency=EUR&interval=week")).await?;
    let totals = &sales.body["totals"];
    let figures = |f: &Value| -> Vec<Value> {
        ["orders", "units"]
            .iter()
            .map(|k| f[*k].clone())
            .chain(
                [
                    "gross_sales",
                    "discounts",
                    "returns",
                    "net_sales",
                    "shipping",
                    "tax",
                    "total_sales",
                    "average_order_value",
                ]
                .iter()
                .map(|k| f[*k]["amount"].clone()),
            )
            .collect()
    };
    assert_eq!(
        figures(totals),
        [4, 6, 5000, 200, 2294, 2506, 1980, 1356, 5842, 1200].map(|n| json!(n))[..],
        "{totals}"
    );
    assert_eq!(totals["orders"], 4);
    assert_eq!(totals["gross_sales"], eur(5000));
    assert!(totals.get("start").is_none());
    // ISO weeks: the one of Sun 1 Mar starts Mon 23 Feb (O5 is in it but before `from`: not
    // counted); then 2–8 Mar (O1, O2, O3 and the 5.00 refund; AOV 38.00 / 3 = 12.666… → 12.67);
    // then 9–15 Mar (O4 and its refund: net 10.00 − 17.94 = −7.94).
    let series = sales.body["series"].as_array().cloned().unwrap_or_default();
    let starts: Vec<&str> = series.iter().filter_map(|b| b["start"].as_str()).collect();
    assert_eq!(starts, ["2026-02-23T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"]);
    assert_eq!(figures(&series[0]), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0].map(|n| json!(n))[..]);
    assert_eq!(figures(&series[1]), [3, 5, 4000, 200, 500, 3300, 1485, 1057, 5842, 1267].map(|n| json!(n))[..]);
    assert_eq!(figures(&series[2]), [1, 1, 1000, 0, 1794, -794, 495, 299, 0, 1000].map(|n| json!(n))[..]);
    let days = report(&server, &admin, &format!("/v1/reports/sales?{window}&currency=EUR")).await?;
    let days = days.body["series"].as_array().cloned().unwrap_or_default();
    assert_eq!(days.len(), 14, "every day listed, empty ones too");
    assert_eq!((days[1]["start"].as_str(), days[1]["orders"].as_i64()), (Some("2026-03-02T00:00:00Z"), Some(2)));
    assert_eq!(days[4]["returns"], eur(500), "the refund on its own day");
    let months = report(&server, &admin, &format!("/v1/reports/sales?{window}&currency=EUR&interval=month")).await?;
    assert_eq!(months.body["series"].as_array().map(Vec::len), Some(1));
    assert_eq!(months.body["series"][0]["total_sales"], eur(5842));
    let yen = report(&server, &admin, &format!("/v1/reports/sales?{window}&currency=JPY")).await?;
    assert_eq!(yen.body["totals"]["orders"], 0, "one currency, no conversion");

    // Conversion over the 8 carts made in the window (O5's is from February): 7 with items,
    // 5 checkouts begun (4 ordered, 1 declined), 4 orders; abandoned: the one left on 11 Mar and
    // the declined one (the fresh one changed just now): 4 / 7 and 2 / (2 + 4).
    let conversion = report(&server, &admin, &format!("/v1/reports/conversion?{window}")).await?;
    assert_eq!(
        conversion.body,
        json!({"carts_created": 8, "carts_with_items": 7, "checkouts_started": 5, "orders_placed": 4,
               "cart_to_order_rate": "0.5714", "abandoned_carts": 2, "abandonment_rate": "0.3333"})
    );
    // Every cart here is in euros: the same in EUR, none in yen.
    let in_euros = report(&server, &admin, &format!("/v1/reports/conversion?{window}&currency=EUR")).await?;
    assert_eq!(in_euros.body, conversion.body);
    let in_yen = report(&server, &admin, &format!("/v1/reports/conversion?{window}&currency=JPY")).await?;
    assert_eq!(
        (in_yen.body["carts_created"].as_i64(), in_yen.body["cart_to_order_rate"].as_str()),
        (Some(0), Some("0.0000"))
    );

    // Customers (cancelled O4 left out): buyers ann and bob; ann is new, bob bought in
    // February; 3 orders / 2 buyers; both have bought before `to`, bob more than once: 1 / 2.
    // Net sales ever: O5 10.00 + O1 18.00 + O2 5.00 + O3 15.00 − 5.00 = 43.00, over 2 = 21.50.
    // Top: ann 18.00 (1 order), bob 5.00 + 10.00 = 15.00 (2 orders).
    let customers = report(&server, &admin, &format!("/v1/reports/customers?{window}&currency=EUR")).await?;
    assert_eq!(
        customers.body,
        json!({"buyers": 2, "new_buyers": 1, "returning_buyers": 1, "repeat_purchase_rate": "0.5000",
        "purchase_frequency": "1.5000", "average_lifetime_value": eur(2150), "top": [
            {"customer_id": null, "email": "ann@example.com", "orders": 1, "net_sales": eur(1800)},
            {"customer_id": bob_id, "email": "bob@example.com", "orders": 2, "net_sales": eur(1500)}
        ]})
    );

    // Best sellers (cancelled O4 left out): mugs 2 + 1 = 3 for 18.00 + 10.00; tees 1 + 1 = 2 for 10.00.
    let products = report(&server, &admin, &format!("/v1/reports/products?{window}&currency=EUR")).await?;
    let rows: Vec<(String, i64, Value)> = products.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (r["sku"].as_str().unwrap_or_default().to_owned(), r["units"].as_i64().unwrap_or(-1), r["revenue"].clone())
        })
        .collect();
    assert_eq!(rows, [("REP-MUG".to_owned(), 3, eur(2800)), ("REP-TEE".to_owned(), 2, eur(1000))]);
    assert_eq!(products.body["data"][0]["refunded_units"], 0);
    let one =
        report(&server, &admin, &format!("/v1/reports/products?{window}&currency=EUR&sort=revenue&limit=1")).await?;
    assert_eq!(one.body["data"].as_array().map(Vec::len), Some(1));

    // GraphQL reads the same figures.
    let read = server
        .graphql(
            Some(&admin),
            r#"{
                salesReport(from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z", currency: "EUR", interval: "week") {
                    totals { orders totalSales { amount currency } }
                    series { start netSales { amount } }
                }
                conversionReport(from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z") { cartToOrderRate abandonedCarts }
                customersReport(from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z", currency: "EUR") {
                    buyers averageLifetimeValue { amount } top { email }
                }
                productsReport(from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z", currency: "EUR") { sku units }
            }"#,
            json!({}),
        )
        .await?;
    assert!(read.body["errors"].is_null(), "{}", read.body);
    let data = &read.body["data"];
    assert_eq!(data["salesReport"]["totals"], json!({"orders": 4, "totalSales": {"amount": 5842, "currency": "EUR"}}));
    assert_eq!(data["salesReport"]["series"][2]["netSales"]["amount"], -794);
    assert_eq!(data["conversionReport"], json!({"cartToOrderRate": "0.5714", "abandonedCarts": 2}));
    assert_eq!(data["customersReport"]["averageLifetimeValue"]["amount"], 2150);
    assert_eq!(data["customersReport"]["top"][0]["email"], "ann@example.com");
    assert_eq!(data["productsReport"][0], json!({"sku": "REP-MUG", "units": 3}));
    Ok(())
}

#[tokio::test]
async fn tax_inclusive_sales_show_the_tax_they_contain_apart() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    crate::checkout::product(&server, &admin, "INCL-REP", &[(1100, "JPY")], 10).await?;
    let set = server
        .send(
            reqwest::Method::PUT,
            "/v1/settings/currencies/JPY",
            Some(&admin),
            Some(json!({"prices_include_tax": true})),
        )
        .await?;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let rate = json!({"country": "FR", "name": "TVA", "rate_bp": 1000});
    assert_eq!(server.post("/v1/tax-rates", Some(&admin), rate).await?.status, StatusCode::CREATED);
    let cart = crate::checkout::cart(&server, None, "JPY", &[("INCL-REP", 3)]).await?;
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    // 3 × ¥1,100 = ¥3,300 containing ¥300 of tax: gross ¥3,000, tax ¥300, total ¥3,300.
    let now = Utc::now();
    let window = format!(
        "from={}&to={}",
        (now - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let sales = report(&server, &admin, &format!("/v1/reports/sales?{window}&currency=JPY")).await?;
    let totals = &sales.body["totals"];
    let yen = |amount: i64| json!({"amount": amount, "currency": "JPY"});
    assert_eq!(
        (&totals["gross_sales"], &totals["tax"], &totals["total_sales"], &totals["average_order_value"]),
        (&yen(3000), &yen(300), &yen(3300), &yen(3000))
    );
    Ok(())
}

#[tokio::test]
async fn bad_windows_currencies_intervals_sorts_and_limits_are_refused_and_only_reporters_read() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let window = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z";
    for (path, field) in [
        ("/v1/reports/sales?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z&currency=EUR".to_owned(), "to"),
        ("/v1/reports/sales?from=2024-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&currency=EUR".to_owned(), "to"),
        ("/v1/reports/sales?from=yesterday&to=2026-02-01T00:00:00Z&currency=EUR".to_owned(), "from"),
        ("/v1/reports/sales?to=2026-02-01T00:00:00Z&currency=EUR".to_owned(), "from"),
        (format!("/v1/reports/sales?{window}"), "currency"),
        (format!("/v1/reports/sales?{window}&currency=EURO"), "currency"),
        (format!("/v1/reports/sales?{window}&currency=EUR&interval=hour"), "interval"),
        (format!("/v1/reports/customers?{window}"), "currency"),
        (format!("/v1/reports/products?{window}&currency=EUR&sort=margin"), "sort"),
        (format!("/v1/reports/products?{window}&currency=EUR&limit=101"), "limit"),
        (format!("/v1/reports/products?{window}&currency=EUR&limit=x"), "limit"),
        ("/v1/reports/conversion?from=2026-01-01T00:00:00Z".to_owned(), "to"),
    ] {
        let refused = server.get_as(&path, &admin).await?;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", refused.body);
        assert_eq!(refused.problem_code(), "validation_failed");
        assert!(refused.error_fields().iter().any(|(f, _)| f == field), "{path}: {}", refused.body);
    }
    // Every problem at once.
    let both = server.get_as("/v1/reports/sales?interval=hour", &admin).await?;
    let fields: Vec<String> = both.error_fields().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["from", "to", "currency", "interval"]);

    // Marketing and keys with reports:read; not support, not customers, not anonymous.
    let path = format!("/v1/reports/sales?{window}&currency=EUR");
    let marketing = server.staff_token("m@shop.test", emporium_customers::Role::Marketing).await?;
    assert_eq!(server.get_as(&path, &marketing).await?.status, StatusCode::OK);
    let support = server.staff_token("s@shop.test", emporium_customers::Role::Support).await?;
    assert_eq!(server.get_as(&path, &support).await?.status, StatusCode::FORBIDDEN);
    let (_, customer) = server.customer("c@example.com").await?;
    assert_eq!(server.get_as(&path, &customer).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(server.get(&path).await?.status, StatusCode::UNAUTHORIZED);
    let bad = server
        .graphql(
            Some(&admin),
            r#"{ salesReport(from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z", currency: "EUR") { totals { orders } } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(bad.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", bad.body);
    Ok(())
}

#[tokio::test]
async fn the_inventory_report_reads_average_on_hand_turnover_and_dead_stock_from_the_ledger() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    for (sku, units) in [("INV-A", 10), ("INV-B", 5), ("INV-C", 7)] {
        crate::checkout::product(&server, &admin, sku, &[(1000, "EUR")], units).await?;
    }
    for (sku, quantity) in [("INV-A", 3), ("INV-B", 1)] {
        let cart = crate::checkout::cart(&server, None, "EUR", &[(sku, quantity)]).await?;
        assert_eq!(checkout(&server, None, &cart, "tok_ok").await?.status, StatusCode::CREATED);
    }
    // The ledger's movements, moved to known days: A restocked 10 on 1 Mar and sold 3 on 3 Mar;
    // B restocked 5 on 20 Feb and sold 1 on 10 Mar; C restocked 7 on 20 Feb, never sold.
    for (sku, reason, when) in [
        ("INV-A", "restock", "2026-03-01T08:00:00Z"),
        ("INV-A", "sale", "2026-03-03T10:00:00Z"),
        ("INV-B", "restock", "2026-02-20T08:00:00Z"),
        ("INV-B", "sale", "2026-03-10T10:00:00Z"),
        ("INV-C", "restock", "2026-02-20T08:00:00Z"),
    ] {
        let sql = "UPDATE stock_movements SET created_at = ? WHERE reason = ? AND variant_id = (SELECT id FROM variants WHERE sku = ?)";
        rewrite(&server, sql, vec![at(when).into(), reason.into(), sku.into()]).await?;
    }
    let path = "/v1/reports/inventory?from=2026-03-01T00:00:00Z&to=2026-03-15T00:00:00Z";
    let read = report(&server, &admin, path).await?;
    // A: closings 10, 10, then 7 for 12 days = 104 over 14 days = 7.4286; turnover 3 × 14 / 104
    // = 0.4038; sell-through 3 / (3 + 7); cover 7 × 14 / 3 = 32.6667 days.
    // B: closings 5 for 9 days, then 4 for 5 = 65 / 14 = 4.6429; 14 / 65 = 0.2154; 1 / 5; 4 × 14.
    // C: 7 every day, no sale: dead stock.
    assert_eq!(
        read.body["data"],
        json!([
            {"sku": "INV-A", "units_sold": 3, "average_on_hand": "7.4286", "turnover": "0.4038",
             "sell_through": "0.3000", "days_of_cover": "32.6667", "last_sold_at": "2026-03-03T10:00:00Z"},
            {"sku": "INV-B", "units_sold": 1, "average_on_hand": "4.6429", "turnover": "0.2154",
             "sell_through": "0.2000", "days_of_cover": "56.0000", "last_sold_at": "2026-03-10T10:00:00Z"},
            {"sku": "INV-C", "units_sold": 0, "average_on_hand": "7.0000", "turnover": "0.0000",
             "sell_through": "0.0000", "days_of_cover": null, "last_sold_at": null}
        ]),
        "{}",
        read.body
    );
    assert_eq!(read.body["dead_stock"], json!([{"sku": "INV-C", "on_hand": 7, "last_sold_at": null}]));
    let one = report(&server, &admin, &format!("{path}&limit=1")).await?;
    assert_eq!(one.body["data"].as_array().map(Vec::len), Some(1));
    let refused = server.get_as(&format!("{path}&limit=1001"), &admin).await?;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let graphql = server
        .graphql(
            Some(&admin),
            r#"{ inventoryReport(from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z") {
                data { sku averageOnHand } deadStock { sku onHand } } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(graphql.body["data"]["inventoryReport"]["data"][0], json!({"sku": "INV-A", "averageOnHand": "7.4286"}));
    assert_eq!(graphql.body["data"]["inventoryReport"]["deadStock"], json!([{"sku": "INV-C", "onHand": 7}]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_year_of_trade_reconciles_with_its_orders_ledger_and_counters() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let seeded = emporium_gateway::seed_orders::orders(&server.state.writer, 3_000, 7, |_| {}).await?;
    assert_eq!(seeded.orders, 3_000);
    assert!(seeded.refunds > 0 && seeded.carts > seeded.orders && seeded.customers >= 600, "{seeded:?}");
    assert_eq!(server.scalar("SELECT COUNT(*) AS n FROM orders", vec![]).await?, 3_000);

    // Sales: the buckets sum to the totals, and the totals to the orders less their refunds.
    let now = Utc::now();
    let window = format!(
        "from={}&to={}",
        (now - chrono::Duration::days(366)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let mut orders_seen = 0;
    for currency in ["EUR", "USD", "GBP"] {
        let sales =
            report(&server, &admin, &format!("/v1/reports/sales?{window}&currency={currency}&interval=month")).await?;
        let totals = &sales.body["totals"];
        let paid = server
            .scalar("SELECT CAST(SUM(total) AS BIGINT) AS n FROM orders WHERE currency = ?", vec![currency.into()])
            .await?;
        let back = server.scalar("SELECT CAST(SUM(r.amount) AS BIGINT) AS n FROM payment_refunds r JOIN payments p ON p.id = r.payment_id WHERE p.currency = ?",
            vec![currency.into()],
        )
        .await?;
        assert_eq!(totals["total_sales"]["amount"].as_i64(), Some(paid - back), "{currency}: {totals}");
        let series = sales.body["series"].as_array().cloned().unwrap_or_default();
        let summed: i64 = series.iter().filter_map(|b| b["total_sales"]["amount"].as_i64()).sum();
        assert_eq!(Some(summed), totals["total_sales"]["amount"].as_i64(), "{currency}: the months add up");
        orders_seen += totals["orders"].as_i64().unwrap_or(0);
    }
    assert_eq!(orders_seen, 3_000, "every order in one of the three currencies");

    // The ledger: movements sum to what is on hand, and read in time order never go below zero.
    let off = server.scalar("SELECT COUNT(*) AS n FROM stock_levels s WHERE s.on_hand <> \
         (SELECT COALESCE(SUM(m.delta), 0) FROM stock_movements m WHERE m.variant_id = s.variant_id AND m.location_id = s.location_id)",
        vec![],
    )
    .await?;
    assert_eq!(off, 0, "on-hand is the sum of its movements");
    {
        use sea_orm::ConnectionTrait;
        let backend = server.app_db.get_database_backend();
        let rows = server
            .app_db
            .query_all_raw(emporium_core::db::statement(
                backend,
                "SELECT variant_id, delta FROM stock_movements ORDER BY created_at, id",
                [],
            ))
            .await?;
        let mut running: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        for row in rows {
            let on_hand = running.entry(row.try_get("", "variant_id")?).or_default();
            *on_hand += row.try_get::<i64>("", "delta")?;
            assert!(*on_hand >= 0, "the ledger went below zero");
        }
    }

    // Conversion and customers read the seeded carts and buyers.
    let conversion = report(&server, &admin, &format!("/v1/reports/conversion?{window}")).await?;
    assert_eq!(conversion.body["orders_placed"], 3_000);
    assert!(conversion.body["carts_with_items"].as_i64() > Some(3_000), "{}", conversion.body);
    let customers = report(&server, &admin, &format!("/v1/reports/customers?{window}&currency=EUR")).await?;
    assert!(customers.body["repeat_purchase_rate"].as_str() > Some("0.0000"), "{}", customers.body);

    // The counters the seed rebuilt agree with those an order keeps live: a real order of two
    // seeded SKUs, then a rebuild, changes nothing.
    let skus: Vec<String> = {
        use sea_orm::ConnectionTrait;
        let backend = server.app_db.get_database_backend();
        let rows = server
            .app_db
            .query_all_raw(emporium_core::db::statement(
                backend,
                "SELECT v.sku FROM variants v JOIN stock_levels s ON s.variant_id = v.id WHERE s.on_hand > 2 ORDER BY v.sku LIMIT 2",
                [],
            ))
            .await?;
        rows.iter().map(|r| r.try_get("", "sku")).collect::<Result<_, _>>()?
    };
    let lines: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 1)).collect();
    let cart = crate::checkout::cart(&server, None, "EUR", &lines).await?;
    assert_eq!(checkout(&server, None, &cart, "tok_ok").await?.status, StatusCode::CREATED);
    let counters = "SELECT CAST(SUM(orders * 7 + units * 3) AS BIGINT) AS n FROM product_sales";
    let pairs =
        "SELECT CAST(SUM(orders * 11) + SUM(CASE WHEN orders > 0 THEN 1 ELSE 0 END) AS BIGINT) AS n FROM co_purchases";
    let (live, live_pairs) = (server.scalar(counters, vec![]).await?, server.scalar(pairs, vec![]).await?);
    let mut work = server.state.writer.begin().await?;
    emporium_orders::sales::rebuild(&work).await?;
    work.touch("nothing");
    work.commit().await?;
    assert_eq!((server.scalar(counters, vec![]).await?, server.scalar(pairs, vec![]).await?), (live, live_pairs));
    Ok(())
}
