//! The event feed: stock and product changes write their events with the change, the feed
//! reads them oldest first after a given event, and on PostgreSQL a reader never sees an event
//! while an earlier one is still uncommitted.

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

    let feed = feed(&server, &admin, "/v1/events", 2).await?;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
    assert_eq!(kinds(&feed.body), ["product.updated", "stock.low"], "{}", feed.body);
    assert_eq!(feed.body["data"][0]["data"]["product_id"], product["id"]);
    assert_eq!(
        feed.body["data"][1]["data"],
        json!({"sku": "EVT-S", "location": "main", "available": 2, "reorder_point": 3})
    );

    // Paging: after the first, one page of one, then nothing more.
    let first = feed.body["data"][0]["id"].as_str().unwrap_or_default().to_owned();
    let page = self::feed(&server, &admin, &format!("/v1/events?after={first}&limit=1"), 1).await?;
    assert_eq!(kinds(&page.body), ["stock.low"]);
    let last = page.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert_eq!(Some(last.as_str()), feed.body["data"][1]["id"].as_str(), "a full page names its last event");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_never_sees_a_later_event_while_an_earlier_one_is_uncommitted() -> TestResult {
    let server = TestServer::start().await?;
    let db = &server.app_db;
    let read = || async { emporium_core::events::read_after(db, None, 100).await.map_err(|e| anyhow::anyhow!("{e}")) };
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
        assert_eq!(read().await?.len(), 2);
        return Ok(());
    }
    // The earlier writer takes its place in the feed first and commits last.
    // The earlier unit of work takes its transaction id with a first statement.
    let mut earlier = server.state.writer.begin().await?;
    earlier.execute_unprepared("SELECT pg_current_xact_id()").await?;
    earlier.emit(TestEvent::Earlier {});
    let mut later = server.state.writer.begin().await?;
    later.emit(TestEvent::Later {});
    later.commit().await?;
    let seen = read().await?;
    assert!(seen.is_empty(), "the later event was readable while the earlier one was uncommitted: {seen:?}");
    earlier.commit().await?;
    // Readable once every older transaction of the cluster has ended (other tests' too).
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = read().await?.into_iter().map(|e| e.kind).collect::<Vec<String>>();
        if seen.len() == 2 {
            break;
        }
        // Never the later one alone: that is the property.
        assert!(seen.is_empty() || seen[0] == "test.earlier", "{seen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, ["test.earlier", "test.later"]);
    Ok(())
}
