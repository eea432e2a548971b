//! The event feed: stock and product changes write their events with the change, the feed
//! reads them in commit order after a given event, and a reader reading on never misses one.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait as _;
use serde_json::json;

use crate::common::{TestResult, TestServer, tee};

/// Reads `path` until it lists `count` events (on PostgreSQL an event becomes readable once
/// every older transaction of the cluster has ended, which other tests' may delay a moment).
async fn feed(server: &TestServer, token: &str, path: &str, count: usize) -> anyhow::Result<crate::common::Reply> {
    for _ in 0..100 {
        let page = server.get_as(path, token).await?;
        if page.status != StatusCode::OK || kinds(&page.body).len() >= count {
            return Ok(page);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.get_as(path, token).await
}

fn kinds(page: &serde_json::Value) -> Vec<String> {
    page["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|e| e["type"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn stock_and_product_changes_write_their_events_in_order() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let product = server.create_product(&admin, tee("Event Tee", "EVT")).await?;
    server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    let adjust = |delta: i64| json!({"sku": "EVT-S", "location": "main", "delta": delta, "reason": if delta > 0 { "restock" } else { "damage" }});
    assert_eq!(server.post("/v1/inventory/adjustments", Some(&admin), adjust(10)).await?.status, StatusCode::CREATED);
    let point = server.patch("/v1/inventory/EVT-S/locations/main", Some(&admin), json!({"reorder_point": 3})).await?;
    assert_eq!(point.status, StatusCode::OK, "{}", point.body);
    // 10 → 2 crosses the point: one stock.low; 2 → 1 does not cross again.
    server.post("/v1/inventory/adjustments", Some(&admin), adjust(-8)).await?;
    server.post("/v1/inventory/adjustments", Some(&admin), adjust(-1)).await?;
    // A refused adjustment changes nothing, and writes no event.
    let refused = server.post("/v1/inventory/adjustments", Some(&admin), adjust(-5)).await?;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    // Deleting the product is its last event.
    let id = product["id"].as_str().unwrap_or_default();
    assert_eq!(server.delete(&format!("/v1/products/{id}"), Some(&admin)).await?.status, StatusCode::NO_CONTENT);

    let feed = feed(&server, &admin, "/v1/events", 6).await?;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
    assert_eq!(
        kinds(&feed.body),
        [
            "product.created",
            "inventory.changed",
            "inventory.changed",
            "stock.low",
            "inventory.changed",
            "product.deleted"
        ],
        "{}",
        feed.body
    );
    assert_eq!(feed.body["data"][0]["data"], json!({"product_id": product["id"]}));
    assert_eq!(feed.body["data"][5]["data"], json!({"product_id": product["id"]}));
    let sequences: Vec<i64> =
        feed.body["data"].as_array().into_iter().flatten().filter_map(|e| e["sequence"].as_i64()).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6], "events are numbered in commit order from 1: {}", feed.body);
    let levels: Vec<&serde_json::Value> = [1, 2, 4].iter().map(|i| &feed.body["data"][i]["data"]).collect();
    assert_eq!(
        levels,
        [
            &json!({"sku": "EVT-S", "location": "main", "on_hand": 10, "available": 10}),
            &json!({"sku": "EVT-S", "location": "main", "on_hand": 2, "available": 2}),
            &json!({"sku": "EVT-S", "location": "main", "on_hand": 1, "available": 1}),
        ]
    );
    assert_eq!(
        feed.body["data"][3]["data"],
        json!({"sku": "EVT-S", "location": "main", "available": 2, "reorder_point": 3})
    );

    // Paging: after the fourth, one page of one, then one more, then nothing.
    let fourth = feed.body["data"][3]["id"].as_str().unwrap_or_default().to_owned();
    let page = self::feed(&server, &admin, &format!("/v1/events?after={fourth}&limit=1"), 1).await?;
    assert_eq!(kinds(&page.body), ["inventory.changed"]);
    let fifth = page.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert_eq!(Some(fifth.as_str()), feed.body["data"][4]["id"].as_str(), "a full page names its last event");
    let page = self::feed(&server, &admin, &format!("/v1/events?after={fifth}&limit=1"), 1).await?;
    assert_eq!(kinds(&page.body), ["product.deleted"]);
    let last = page.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let rest = server.get_as(&format!("/v1/events?after={last}"), &admin).await?;
    assert_eq!((kinds(&rest.body).len(), rest.body["next_cursor"].clone()), (0, serde_json::Value::Null));

    let unknown = server.get_as("/v1/events?after=evt_nothing", &admin).await?;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_fields(), [("after".to_owned(), "unknown_event".to_owned())]);
    for bad in ["/v1/events?limit=0", "/v1/events?limit=", "/v1/events?limit=ten", "/v1/events?limit=101"] {
        assert_eq!(server.get_as(bad, &admin).await?.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    Ok(())
}

/// A sale tells what it took from which level, with the order's own events; a registration
/// tells who registered. Every event of the feed is one API.md lists.
#[tokio::test]
async fn a_sale_and_a_registration_write_their_events() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = crate::checkout::product(&server, &admin, "EVS-1", &[(1500, "EUR")], 5).await?;
    let cart = crate::checkout::cart(&server, None, "EUR", &[(&sku, 2)]).await?;
    let placed = crate::checkout::checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let registered = server
        .post(
            "/v1/customers",
            None,
            json!({"email": "Eve@Example.com", "password": "a-long-password-1", "first_name": "Eve", "last_name": "Adams"}),
        )
        .await?;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);

    let feed = feed(&server, &admin, "/v1/events?limit=100", 7).await?;
    let events = feed.body["data"].as_array().cloned().unwrap_or_default();
    let after_stock: Vec<String> = kinds(&feed.body).into_iter().skip(2).collect();
    // The order's transaction writes the units it took, then the order.
    assert_eq!(after_stock, ["inventory.changed", "order.placed", "order.paid", "customer.created"], "{}", feed.body);
    assert_eq!(events[1]["data"], json!({"sku": sku, "location": "main", "on_hand": 5, "available": 5}));
    assert_eq!(events[2]["data"], json!({"sku": sku, "location": "main", "on_hand": 3, "available": 3}));
    assert_eq!(events[5]["data"], json!({"customer_id": registered.body["id"], "email": "eve@example.com"}));
    let listed = [
        "order.placed",
        "order.paid",
        "order.fulfilled",
        "order.delivered",
        "order.cancelled",
        "order.refunded",
        "return.requested",
        "return.received",
        "stock.low",
        "inventory.changed",
        "product.created",
        "product.updated",
        "product.deleted",
        "customer.created",
        "review.submitted",
    ];
    for kind in kinds(&feed.body) {
        assert!(listed.contains(&kind.as_str()), "{kind} is not an event type API.md lists");
    }
    Ok(())
}

/// Events of the tests' own, written as every domain writes its events.
#[derive(serde::Serialize)]
#[serde(tag = "type", content = "data")]
enum TestEvent {
    #[serde(rename = "test.a")]
    A {},
    #[serde(rename = "test.b")]
    B {},
    #[serde(rename = "test.earlier")]
    Earlier {},
    #[serde(rename = "test.later")]
    Later {},
}

impl emporium_core::events::DomainEvent for TestEvent {}

/// A reader reading forward from the last event it saw never misses one: a writer that began
/// first but commits last is numbered after what was read meanwhile, not before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_never_misses_an_event_that_commits_after_it_read_on() -> TestResult {
    let server = TestServer::start().await?;
    let db = &server.app_db;
    let read = |after: Option<String>| async move {
        emporium_core::events::read_after(db, after.as_deref(), 100).await.map_err(|e| anyhow::anyhow!("{e}"))
    };
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        // SQLite: one writer at a time, so two racing writers commit in sequence order.
        let (a, b) = tokio::join!(
            async {
                let mut work = server.state.writer.begin().await?;
                work.emit(TestEvent::A {});
                work.commit().await?;
                anyhow::Ok(())
            },
            async {
                let mut work = server.state.writer.begin().await?;
                work.emit(TestEvent::B {});
                work.commit().await?;
                anyhow::Ok(())
            }
        );
        a?;
        b?;
        assert_eq!(read(None).await?.len(), 2);
        return Ok(());
    }
    // The earlier unit of work takes its transaction id with a first statement, and commits last.
    let mut earlier = server.state.writer.begin().await?;
    earlier.execute_unprepared("SELECT pg_current_xact_id()").await?;
    earlier.emit(TestEvent::Earlier {});
    let mut later = server.state.writer.begin().await?;
    later.emit(TestEvent::Later {});
    later.commit().await?;
    let seen = read(None).await?;
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["test.later"], "what committed is readable; what did not is not");
    earlier.commit().await?;
    let after = read(Some(seen[0].id.clone())).await?;
    let kinds: Vec<&str> = after.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["test.earlier"], "read on from where the reader was, the later commit comes next");
    assert_eq!(after[0].sequence, seen[0].sequence + 1);
    Ok(())
}
