//! Inventory: locations, adjustments and the ledger, stock per SKU, reorder points, backorders
//! and the low-stock report, with the ledger invariant checked after every scenario.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestResult, TestServer, tee};

/// For every location of `sku`, the movements sum to on-hand and each movement's
/// `on_hand_after` is the running sum.
async fn assert_ledger(server: &TestServer, token: &str, sku: &str) -> anyhow::Result<()> {
    let stock = server.get_as(&format!("/v1/inventory/{sku}"), token).await?;
    anyhow::ensure!(stock.status == StatusCode::OK, "{}", stock.body);
    let mut movements = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/inventory/{sku}/movements?limit=100&cursor={c}"),
            None => format!("/v1/inventory/{sku}/movements?limit=100"),
        };
        let page = server.get_as(&path, token).await?;
        movements.extend(page.body["data"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    movements.reverse(); // oldest first
    for level in stock.body["locations"].as_array().cloned().unwrap_or_default() {
        let location = level["location"].as_str().unwrap_or_default();
        let mut running = 0;
        for movement in movements.iter().filter(|m| m["location"] == location) {
            running += movement["delta"].as_i64().unwrap_or_default();
            anyhow::ensure!(movement["on_hand_after"] == running, "on_hand_after breaks the running sum: {movement}");
        }
        anyhow::ensure!(
            level["on_hand"] == running,
            "{sku}@{location}: on_hand {} but the ledger sums to {running}",
            level["on_hand"]
        );
        anyhow::ensure!(
            level["available"].as_i64() == Some(running - level["reserved"].as_i64().unwrap_or_default()),
            "available is not on_hand - reserved: {level}"
        );
    }
    Ok(())
}

async fn adjust(
    server: &TestServer,
    token: &str,
    sku: &str,
    location: &str,
    delta: i64,
    reason: &str,
) -> anyhow::Result<crate::common::Reply> {
    server
        .post(
            "/v1/inventory/adjustments",
            Some(token),
            json!({"sku": sku, "location": location, "delta": delta, "reason": reason}),
        )
        .await
}

#[tokio::test]
async fn locations_are_created_listed_by_priority_and_changed() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let store = server
        .post("/v1/locations", Some(&admin), json!({"code": "store", "name": "Shop floor", "priority": 5}))
        .await?;
    assert_eq!(store.status, StatusCode::CREATED, "{}", store.body);
    assert_eq!(store.body["active"], true);
    server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main warehouse"})).await?;
    let taken = server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Again"})).await?;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.problem_code(), "location_code_taken");
    let bad =
        server.post("/v1/locations", Some(&admin), json!({"code": "Main Hall", "name": "x", "priority": -1})).await?;
    let fields: Vec<String> = bad.error_fields().into_iter().map(|f| f.0).collect();
    assert_eq!(fields, ["code", "priority"]);

    let listed = server.get_as("/v1/locations", &admin).await?;
    let codes: Vec<&str> = listed.body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["code"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(codes, ["main", "store"], "lowest priority first");
    let changed = server.patch("/v1/locations/store", Some(&admin), json!({"priority": 0, "active": false})).await?;
    assert_eq!(changed.body["active"], false, "{}", changed.body);
    assert_eq!(server.patch("/v1/locations/nowhere", Some(&admin), json!({})).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn adjustments_move_on_hand_append_to_the_ledger_and_never_go_below_zero() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    server.create_product(&admin, tee("Stocked Tee", "STK")).await?;
    server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    server.post("/v1/locations", Some(&admin), json!({"code": "store", "name": "Store", "priority": 1})).await?;

    let restock = adjust(&server, &admin, "STK-S", "main", 10, "restock").await?;
    assert_eq!(restock.status, StatusCode::CREATED, "{}", restock.body);
    assert_eq!(restock.body["on_hand_after"], 10);
    assert_eq!(restock.body["reason"], "restock");
    assert!(restock.body["actor"].as_str().is_some_and(|a| a.starts_with("staff_")), "{}", restock.body);
    adjust(&server, &admin, "STK-S", "store", 3, "count").await?;
    let damaged = adjust(&server, &admin, "STK-S", "main", -4, "damage").await?;
    assert_eq!(damaged.body["on_hand_after"], 6);

    let too_many = adjust(&server, &admin, "STK-S", "main", -7, "correction").await?;
    assert_eq!(too_many.status, StatusCode::CONFLICT, "{}", too_many.body);
    assert_eq!(too_many.problem_code(), "insufficient_stock");

    let stock = server.get_as("/v1/inventory/STK-S", &admin).await?;
    assert_eq!(stock.status, StatusCode::OK, "{}", stock.body);
    assert_eq!(
        (stock.body["on_hand"].clone(), stock.body["reserved"].clone(), stock.body["available"].clone()),
        (json!(9), json!(0), json!(9))
    );
    assert_eq!(stock.body["backorder"], json!({"allowed": false, "limit": null}));
    let per_location: Vec<(Value, Value)> = stock.body["locations"]
        .as_array()
        .map(|a| a.iter().map(|l| (l["location"].clone(), l["on_hand"].clone())).collect())
        .unwrap_or_default();
    assert_eq!(per_location, [(json!("main"), json!(6)), (json!("store"), json!(3))]);
    let ledger = server.get_as("/v1/inventory/STK-S/movements?limit=2", &admin).await?;
    assert_eq!(ledger.body["data"].as_array().map(Vec::len), Some(2), "the refused adjustment left no movement");
    assert_eq!(ledger.body["data"][0]["delta"], -4, "newest first");
    assert!(ledger.body["next_cursor"].is_string());
    assert_ledger(&server, &admin, "STK-S").await?;

    // Bad input: zero, a reason only checkout writes, unknown SKU or location.
    assert_eq!(
        adjust(&server, &admin, "STK-S", "main", 0, "restock").await?.error_fields(),
        [("delta".to_owned(), "out_of_range".to_owned())]
    );
    assert_eq!(adjust(&server, &admin, "STK-S", "main", 1, "sale").await?.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(adjust(&server, &admin, "NOPE", "main", 1, "restock").await?.status, StatusCode::NOT_FOUND);
    assert_eq!(adjust(&server, &admin, "STK-S", "nowhere", 1, "restock").await?.status, StatusCode::NOT_FOUND);
    assert_eq!(server.get_as("/v1/inventory/NOPE", &admin).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(
        server.get_as("/v1/inventory/STK-S/movements?cursor=forged", &admin).await?.problem_code(),
        "invalid_cursor"
    );
    assert_ledger(&server, &admin, "STK-S").await?;
    Ok(())
}

#[tokio::test]
async fn a_products_available_changes_after_a_cached_read() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    server.create_product(&admin, tee("Cached Tee", "CAV")).await?;
    server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    adjust(&server, &admin, "CAV-S", "main", 5, "restock").await?;
    let first = server.get("/v1/products/cached-tee").await?;
    assert_eq!(first.body["variants"][0]["available"], 5, "{}", first.body);
    let listed = server.get("/v1/products").await?;
    assert_eq!(listed.body["data"][0]["variants"][0]["available"], 5);
    // Cached now; the next adjustment must show at once, on the document and the list page.
    assert_eq!(server.get("/v1/products/cached-tee").await?.body["variants"][0]["available"], 5);
    adjust(&server, &admin, "CAV-S", "main", -2, "damage").await?;
    assert_eq!(server.get("/v1/products/cached-tee").await?.body["variants"][0]["available"], 3);
    assert_eq!(server.get("/v1/products").await?.body["data"][0]["variants"][0]["available"], 3);
    let graphql =
        server.graphql(None, r#"{ product(idOrSlug: "cached-tee") { variants { available } } }"#, json!({})).await?;
    assert_eq!(graphql.body["data"]["product"]["variants"][0]["available"], 3, "{}", graphql.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_removals_never_take_stock_below_zero() -> TestResult {
    let server = std::sync::Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    server.create_product(&admin, tee("Race Tee", "RACE")).await?;
    server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    adjust(&server, &admin, "RACE-S", "main", 10, "restock").await?;
    let mut racers = Vec::new();
    for _ in 0..30 {
        let (server, admin) = (std::sync::Arc::clone(&server), admin.clone());
        racers.push(tokio::spawn(async move { adjust(&server, &admin, "RACE-S", "main", -1, "damage").await }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await??.status);
    }
    let removed = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    eprintln!("MEASURED 30 racing removals of one unit from 10: {removed} succeeded, {refused} refused");
    assert_eq!((removed, refused), (10, 20), "{statuses:?}");
    let stock = server.get_as("/v1/inventory/RACE-S", &admin).await?;
    assert_eq!(stock.body["on_hand"], 0);
    assert_ledger(&server, &admin, "RACE-S").await?;
    Ok(())
}

#[tokio::test]
async fn an_adjustment_with_an_idempotency_key_is_applied_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    server.create_product(&admin, tee("Once Tee", "ONCE")).await?;
    server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    let send = || {
        server
            .client
            .post(server.url("/v1/inventory/adjustments"))
            .bearer_auth(&admin)
            .header("idempotency-key", "delivery-4711")
            .json(&json!({"sku": "ONCE-S", "location": "main", "delta": 12, "reason": "restock"}))
            .send()
    };
    let first = crate::common::Reply::from(send().await?).await?;
    let again = crate::common::Reply::from(send().await?).await?;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(server.get_as("/v1/inventory/ONCE-S", &admin).await?.body["on_hand"], 12);
    assert_ledger(&server, &admin, "ONCE-S").await?;
    Ok(())
}

#[tokio::test]
async fn low_stock_lists_levels_at_their_reorder_point_with_sales_velocity() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let product = server.create_product(&admin, tee("Low Tee", "LOW")).await?;
    server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    adjust(&server, &admin, "LOW-S", "main", 20, "restock").await?;
    adjust(&server, &admin, "LOW-M", "main", 4, "restock").await?;
    for sku in ["LOW-S", "LOW-M"] {
        let set = server
            .patch(
                &format!("/v1/inventory/{sku}/locations/main"),
                Some(&admin),
                json!({"reorder_point": 5, "reorder_quantity": 30}),
            )
            .await?;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.body["locations"][0]["reorder_point"], 5);
    }
    assert_eq!(
        server.patch("/v1/inventory/LOW-S/locations/main", Some(&admin), json!({"reorder_point": -1})).await?.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Sales come from checkout (next issue); record some through the inventory service.
    let variant_s = product["variants"][0]["id"].as_str().unwrap_or_default().to_owned();
    let location =
        emporium_inventory::location_by_code(&server.app_db, "main").await?.map(|l| l.id).unwrap_or_default();
    let sale = emporium_inventory::Adjustment {
        variant_id: variant_s.clone(),
        location_id: location,
        delta: -16,
        reason: emporium_inventory::Reason::Sale,
        note: None,
        actor: None,
        reference: Some("ord_test".into()),
    };
    let adjusted = emporium_inventory::adjust(&server.app_db, &sale).await?;
    // 20 → 4 available crosses the point of 5: the moment a `stock.low` event is due.
    let crossed = adjusted.crossed.as_ref().map(|c| (c.variant_id.as_str(), c.available, c.reorder_point));
    assert_eq!(crossed, Some((variant_s.as_str(), 4, 5)));

    let report = server.get_as("/v1/inventory/low-stock", &admin).await?;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let rows = report.body["data"].as_array().cloned().unwrap_or_default();
    let skus: Vec<&str> = rows.iter().filter_map(|r| r["sku"].as_str()).collect();
    assert_eq!(skus, ["LOW-S", "LOW-M"], "fewest days of cover first; no sales last: {}", report.body);
    assert_eq!(
        (rows[0]["available"].clone(), rows[0]["sold_7d"].clone(), rows[0]["sold_30d"].clone()),
        (json!(4), json!(16), json!(16))
    );
    assert_eq!(rows[0]["days_of_cover"], 7.5);
    assert_eq!(rows[1]["days_of_cover"], Value::Null);
    let ledger = server.get_as("/v1/inventory/LOW-S/movements", &admin).await?;
    assert_eq!(ledger.body["data"][0]["reference"], "ord_test");
    assert_ledger(&server, &admin, "LOW-S").await?;

    // Once under the point, further changes do not cross again; back above, they do.
    let damage = emporium_inventory::Adjustment { delta: -1, reason: emporium_inventory::Reason::Damage, ..sale };
    assert_eq!(emporium_inventory::adjust(&server.app_db, &damage).await?.crossed, None);
    let restock = emporium_inventory::Adjustment { delta: 10, reason: emporium_inventory::Reason::Restock, ..damage };
    assert_eq!(emporium_inventory::adjust(&server.app_db, &restock).await?.crossed, None, "a rise crosses nothing");
    // 13 available; a reservation of 9 leaves 4: crossed by holding units, not only selling.
    let txn = server.state.writer.begin().await?;
    let held =
        emporium_inventory::reserve(&txn, &[(restock.variant_id.clone(), 9)], chrono::Duration::minutes(5), None)
            .await?;
    txn.commit().await?;
    assert_eq!(held.crossed.iter().map(|c| (c.available, c.reorder_point)).collect::<Vec<_>>(), [(4, 5)]);
    assert_ledger(&server, &admin, "LOW-S").await?;
    Ok(())
}

#[tokio::test]
async fn backorders_are_off_until_a_sku_opts_in() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    server.create_product(&admin, tee("Back Tee", "BACK")).await?;
    let set = server
        .patch("/v1/inventory/BACK-S", Some(&admin), json!({"backorder": {"allowed": true, "limit": 25}}))
        .await?;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["backorder"], json!({"allowed": true, "limit": 25}));
    assert_eq!(server.get_as("/v1/inventory/BACK-M", &admin).await?.body["backorder"]["allowed"], false);
    let bad = server
        .patch("/v1/inventory/BACK-S", Some(&admin), json!({"backorder": {"allowed": true, "limit": -3}}))
        .await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    Ok(())
}

#[tokio::test]
async fn graphql_reads_and_adjusts_stock_with_the_same_rules_and_codes() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    server.create_product(&admin, tee("Graph Tee", "GQ")).await?;
    let created = server
        .graphql(Some(&admin), r#"mutation { createLocation(code: "main", name: "Main") { code active } }"#, json!({}))
        .await?;
    assert_eq!(created.body["data"]["createLocation"]["active"], true, "{}", created.body);
    let adjusted = server
        .graphql(Some(&admin), r#"mutation { adjustStock(sku: "GQ-S", location: "main", delta: 7, reason: RESTOCK) { onHandAfter reason } }"#, json!({}))
        .await?;
    assert_eq!(adjusted.body["data"]["adjustStock"]["onHandAfter"], 7, "{}", adjusted.body);
    let refused = server
        .graphql(
            Some(&admin),
            r#"mutation { adjustStock(sku: "GQ-S", location: "main", delta: -8, reason: DAMAGE) { id } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(refused.body["errors"][0]["extensions"]["code"], "insufficient_stock", "{}", refused.body);
    let stock = server
        .graphql(
            Some(&admin),
            r#"{ stock(sku: "GQ-S") { onHand available locations { location onHand } } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(stock.body["data"]["stock"]["available"], 7, "{}", stock.body);
    let ledger = server
        .graphql(Some(&admin), r#"{ stockMovements(sku: "GQ-S") { nodes { delta } nextCursor } }"#, json!({}))
        .await?;
    assert_eq!(ledger.body["data"]["stockMovements"]["nodes"][0]["delta"], 7);
    let (_, customer) = server.customer("shop@example.com").await?;
    let forbidden = server.graphql(Some(&customer), r#"{ stock(sku: "GQ-S") { onHand } }"#, json!({})).await?;
    assert_eq!(forbidden.body["errors"][0]["extensions"]["code"], "forbidden");
    assert_ledger(&server, &admin, "GQ-S").await?;
    Ok(())
}
