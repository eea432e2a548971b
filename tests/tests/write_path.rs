//! The one write path: every write is a unit of work, and the two logs it writes (the change
//! log that caches and search indexes replay, and the event feed) never let a reader skip a
//! write, however the writers' commits interleave.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use emporium_core::changes::{self, Position};
use sea_orm::ConnectionTrait as _;

use crate::common::{TestResult, TestServer};

/// An event of the tests' own.
#[derive(serde::Serialize)]
#[serde(tag = "type", content = "data")]
enum Probe {
    #[serde(rename = "test.probe")]
    Wrote { key: String },
}

impl emporium_core::events::DomainEvent for Probe {}

const WRITERS: usize = 8;
const WRITES: usize = 25;

/// Reads both logs forward only, as the cache sync, the search poller and the feed's readers
/// do, while writers commit in an order that is not the order they started in (each holds its
/// transaction open a random moment after its first statement). A reader that skipped a write
/// could never read it later: every write must still be read, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_of_the_change_log_and_the_event_feed_never_skip_a_write_of_concurrent_writers() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let server = Arc::clone(&server);
        writers.push(tokio::spawn(async move {
            for n in 0..WRITES {
                let key = format!("probe:{writer}:{n}");
                let mut work = server.state.writer.begin().await?;
                // A first statement gives the transaction its id (its place in the logs).
                work.execute_unprepared("UPDATE locations SET priority = priority WHERE 1 = 0").await?;
                tokio::time::sleep(Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 16))).await;
                work.emit(Probe::Wrote { key: key.clone() });
                work.touch(key);
                work.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    let (mut position, mut after_event) = (Position::default(), None::<String>);
    let (mut keys, mut events, mut sequence) = (Vec::new(), Vec::new(), 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while keys.len() < WRITERS * WRITES || events.len() < WRITERS * WRITES {
        assert!(tokio::time::Instant::now() < deadline, "read {} writes and {} events", keys.len(), events.len());
        for change in changes::read_after(&server.app_db, position, 7).await? {
            assert!(change.position > position, "the log went backwards");
            position = change.position;
            keys.extend(change.keys);
        }
        let page = emporium_core::events::read_after(&server.app_db, after_event.as_deref(), 7)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(last) = page.last() {
            after_event = Some(last.id.clone());
        }
        for event in &page {
            assert_eq!(event.sequence, sequence + 1, "sequences follow one another in the feed, without a gap");
            sequence = event.sequence;
        }
        events.extend(page.into_iter().filter(|e| e.kind == "test.probe").map(|e| e.data["key"].clone()));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for writer in writers {
        writer.await??;
    }
    let expected: BTreeSet<String> =
        (0..WRITERS).flat_map(|w| (0..WRITES).map(move |n| format!("probe:{w}:{n}"))).collect();
    assert_eq!(keys.len(), WRITERS * WRITES, "each write read once from the change log");
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(events.len(), WRITERS * WRITES, "each event read once from the feed");
    let events: BTreeSet<String> = events.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect();
    assert_eq!(events, expected);
    Ok(())
}

/// Two writers of one row on PostgreSQL: the one that began first but waited for the other's
/// row lock commits second, and its event is numbered second, so a receiver ordering by
/// `sequence` applies the two changes in the order they happened. (On SQLite one writer at a
/// time holds the database, so two writes never overlap: the test has nothing to race there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_that_waited_for_another_is_numbered_after_it() -> TestResult {
    if crate::common::postgres_url().is_none() {
        eprintln!("a_write_that_waited_for_another_is_numbered_after_it: writers never overlap on SQLite");
        return Ok(());
    }
    let server = Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    for code in ["first", "second"] {
        server.post("/v1/locations", Some(&admin), serde_json::json!({"code": code, "name": code})).await?;
    }
    // The early writer takes its transaction id first, on a row of its own.
    let mut early = server.state.writer.begin().await?;
    early.execute_unprepared("UPDATE locations SET priority = priority WHERE code = 'first'").await?;
    // The late writer takes the shared row and commits.
    let mut late = server.state.writer.begin().await?;
    late.execute_unprepared("UPDATE locations SET priority = priority WHERE code = 'second'").await?;
    // The early writer now waits for the late one's row lock.
    let waiting = tokio::spawn(async move {
        early.execute_unprepared("UPDATE locations SET priority = priority WHERE code = 'second'").await?;
        early.emit(Probe::Wrote { key: "early".to_owned() });
        early.commit().await?;
        anyhow::Ok(())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    late.emit(Probe::Wrote { key: "late".to_owned() });
    late.commit().await?;
    waiting.await??;
    let feed =
        emporium_core::events::read_after(&server.app_db, None, 100).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let order: Vec<&str> =
        feed.iter().filter(|e| e.kind == "test.probe").filter_map(|e| e.data["key"].as_str()).collect();
    assert_eq!(order, ["late", "early"], "numbered in the order they committed");
    Ok(())
}

/// A write that fails rolls back with everything it noted: no event, no change-log row.
#[tokio::test]
async fn a_unit_of_work_given_up_records_neither_its_events_nor_its_keys() -> TestResult {
    let server = TestServer::start().await?;
    let before = changes::tail(&server.app_db).await?;
    let mut work = server.state.writer.begin().await?;
    work.emit(Probe::Wrote { key: "dropped".to_owned() });
    work.touch("dropped");
    work.rollback().await?;
    let mut work = server.state.writer.begin().await?;
    work.emit(Probe::Wrote { key: "dropped too".to_owned() });
    drop(work);
    assert!(changes::read_after(&server.app_db, before, 10).await?.is_empty());
    let events =
        emporium_core::events::read_after(&server.app_db, None, 100).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(events.iter().all(|e| e.kind != "test.probe"), "{events:?}");
    Ok(())
}

/// The statements a write runs are counted by its unit of work, its own records included.
#[tokio::test]
async fn a_unit_of_work_counts_the_statements_it_runs() -> TestResult {
    let server = TestServer::start().await?;
    let work = server.state.writer.begin().await?;
    let committed = work.commit().await?;
    assert_eq!((committed.statements, committed.position, committed.events.len()), (1, None, 0), "the commit alone");
    let mut work = server.state.writer.begin().await?;
    work.execute_unprepared("UPDATE locations SET priority = priority WHERE 1 = 0").await?;
    work.emit(Probe::Wrote { key: "counted".to_owned() });
    work.touch("counted");
    let committed = work.commit().await?;
    // The update, the events (one statement on PostgreSQL, two on SQLite), the log, the commit.
    let events = if server.app_db.get_database_backend() == sea_orm::DbBackend::Postgres { 1 } else { 2 };
    assert_eq!(committed.statements, 3 + events);
    assert!(committed.position.is_some());
    assert_eq!(committed.events.len(), 1);
    Ok(())
}

/// What a write left in the two logs: its events' types and payload keys, and the kinds of
/// cache keys it touched (ids and slugs reduced to what they are).
/// The events (type and payload fields) and the kinds of cache keys of some writes.
type Effects = (Vec<String>, Vec<String>);

async fn effects_since(server: &TestServer, log: Position, feed: Option<&str>) -> anyhow::Result<Effects> {
    readable(server).await?;
    let events =
        emporium_core::events::read_after(&server.app_db, feed, 100).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let events = events
        .iter()
        .map(|e| {
            let keys: Vec<&str> =
                e.data.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            format!("{} {keys:?}", e.kind)
        })
        .collect();
    let mut keys: Vec<String> = changes::read_after(&server.app_db, log, 100)
        .await?
        .into_iter()
        .flat_map(|c| c.keys)
        .map(|k| match k.as_str() {
            "catalog" => "catalog".to_owned(),
            k if k.starts_with("prod_") => "product id".to_owned(),
            k if k.starts_with("stock:") => "stock".to_owned(),
            _ => "slug".to_owned(),
        })
        .collect();
    keys.sort();
    Ok((events, keys))
}

/// Waits until every write committed so far is readable from both logs (on PostgreSQL, until
/// every transaction older than a fresh one has ended, other tests' included).
async fn readable(server: &TestServer) -> anyhow::Result<()> {
    if server.app_db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let fresh = server
        .app_db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_current_xact_id()::text::bigint AS xid",
        ))
        .await?
        .context("a transaction id")?
        .try_get::<i64>("", "xid")?;
    for _ in 0..200 {
        let horizon = server
            .app_db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin",
            ))
            .await?
            .context("a snapshot")?
            .try_get::<i64>("", "xmin")?;
        if horizon > fresh {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("older transactions did not end within 5 s")
}

/// Where both logs end now, every write so far readable.
async fn marks(server: &TestServer) -> anyhow::Result<(Position, Option<String>)> {
    readable(server).await?;
    let feed =
        emporium_core::events::read_after(&server.app_db, None, 10_000).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((changes::tail(&server.app_db).await?, feed.last().map(|e| e.id.clone())))
}

/// REST and GraphQL reach the same use case: a catalog write through either leaves the same
/// events (types and payload fields) and touches the same kinds of cache keys, write for write.
#[tokio::test]
async fn a_catalog_write_has_the_same_effects_over_rest_and_graphql() -> TestResult {
    use crate::common::tee;
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut seen: Vec<[(Vec<String>, Vec<String>); 2]> = Vec::new();
    // Create.
    let (log, feed) = marks(&server).await?;
    server.create_product(&token, tee("Rest Tee", "RST")).await?;
    let rest = effects_since(&server, log, feed.as_deref()).await?;
    let (log, feed) = marks(&server).await?;
    let create = "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }";
    let input = serde_json::json!({"input": {"name": "Graph Tee", "status": "PUBLISHED",
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [{"sku": "GQT-S", "options": [{"name": "Size", "value": "S"}], "prices": [{"amount": 2500, "currency": "EUR"}]}]}});
    let created = server.graphql(Some(&token), create, input).await?;
    assert!(created.body["errors"].is_null(), "{}", created.body);
    seen.push([rest, effects_since(&server, log, feed.as_deref()).await?]);
    // Delete.
    let (log, feed) = marks(&server).await?;
    assert_eq!(server.delete("/v1/products/rest-tee", Some(&token)).await?.status, reqwest::StatusCode::NO_CONTENT);
    let rest = effects_since(&server, log, feed.as_deref()).await?;
    let (log, feed) = marks(&server).await?;
    let deleted = server
        .graphql(Some(&token), "mutation { deleteProduct(idOrSlug: \"graph-tee\") }", serde_json::json!({}))
        .await?;
    assert_eq!(deleted.body["data"]["deleteProduct"], true, "{}", deleted.body);
    seen.push([rest, effects_since(&server, log, feed.as_deref()).await?]);
    for [rest, graphql] in seen {
        assert!(!rest.0.is_empty() && !rest.1.is_empty(), "the REST write recorded nothing: {rest:?}");
        assert_eq!(rest, graphql, "REST and GraphQL left different effects");
    }
    Ok(())
}

/// A write committed behind a transaction that is still open is not readable yet: readers may
/// act on it early (`committed_beyond`) but not pass it, and a purge keeps it whatever its age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_behind_an_open_transaction_is_applied_early_and_never_purged_unread() -> TestResult {
    let server = TestServer::start().await?;
    let db = &server.app_db;
    let start = marks(&server).await?.0;
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        assert!(changes::committed_beyond(db, start, 10).await?.is_empty(), "SQLite reads every committed write");
        return Ok(());
    }
    let older = server.state.writer.begin().await?;
    older.execute_unprepared("SELECT pg_current_xact_id()").await?;
    let mut later = server.state.writer.begin().await?;
    later.touch("behind");
    later.commit().await?;
    assert!(changes::read_after(db, start, 10).await?.iter().all(|c| c.keys != ["behind"]), "read past an open one");
    let beyond = changes::committed_beyond(db, start, 10).await?;
    assert!(beyond.iter().any(|c| c.keys == ["behind"]), "{beyond:?}");
    changes::purge(db, chrono::Utc::now() + chrono::Duration::hours(1)).await?;
    assert!(changes::committed_beyond(db, start, 10).await?.iter().any(|c| c.keys == ["behind"]), "purged unread");
    older.rollback().await?;
    readable(&server).await?;
    assert!(changes::read_after(db, start, 10).await?.iter().any(|c| c.keys == ["behind"]), "readable once it ended");
    Ok(())
}

/// REST and GraphQL reach the same use cases for the purchase and what follows it: a whole
/// purchase (cart, line, address, checkout), a fulfilment, a refund and a stock
/// adjustment leave the same events and the same kinds of cache keys through either.
#[tokio::test]
async fn a_purchase_and_what_follows_have_the_same_effects_over_rest_and_graphql() -> TestResult {
    use serde_json::json;
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = crate::checkout::product(&server, &admin, "SAME-1", &[(1500, "EUR")], 50).await?;
    let address = json!({"first_name": "Ada", "last_name": "Lovelace", "line1": "1 rue de la Paix",
        "city": "Paris", "postal_code": "75002", "country": "FR"});
    let gql_address = json!({"firstName": "Ada", "lastName": "Lovelace", "line1": "1 rue de la Paix",
        "city": "Paris", "postalCode": "75002", "country": "FR"});
    let graphql = |query: &'static str, variables: serde_json::Value, token: Option<String>| {
        let server = &server;
        async move {
            let reply = server.graphql(token.as_deref(), query, variables).await?;
            anyhow::ensure!(reply.body["errors"].is_null(), "{}", reply.body);
            Ok::<serde_json::Value, anyhow::Error>(reply.body["data"].clone())
        }
    };
    let mut seen: Vec<(&str, [Effects; 2])> = Vec::new();

    // A whole purchase, twice: one order each.
    let (log, feed) = marks(&server).await?;
    let cart = server.post("/v1/carts", None, json!({"currency": "EUR"})).await?;
    let cart = cart.str("id")?.to_owned();
    server.post(&format!("/v1/carts/{cart}/items"), None, json!({"sku": sku, "quantity": 2})).await?;
    let put = json!({"email": "ada@example.com", "shipping_address": address});
    server.send(reqwest::Method::PUT, &format!("/v1/carts/{cart}"), None, Some(put)).await?;
    let placed = crate::checkout::checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, reqwest::StatusCode::CREATED, "{}", placed.body);
    let rest_order = placed.str("id")?.to_owned();
    let rest = effects_since(&server, log, feed.as_deref()).await?;
    let (log, feed) = marks(&server).await?;
    let cart = graphql("mutation { createCart(currency: \"EUR\") { id } }", json!({}), None).await?;
    let cart = cart["createCart"]["id"].as_str().unwrap_or_default().to_owned();
    let add = "mutation($c: String!, $s: String!) { addCartItem(cartId: $c, sku: $s, quantity: 2) { id } }";
    graphql(add, json!({"c": cart, "s": sku}), None).await?;
    let update = "mutation($c: String!, $a: AddressInput!) { updateCart(cartId: $c, input: {email: \"ada@example.com\", shippingAddress: $a}) { id } }";
    graphql(update, json!({"c": cart, "a": gql_address}), None).await?;
    let pay = "mutation($c: String!) { checkout(cartId: $c, payment: {provider: \"test\", token: \"tok_ok\"}) { id } }";
    let order = graphql(pay, json!({"c": cart}), None).await?;
    let gql_order = order["checkout"]["id"].as_str().unwrap_or_default().to_owned();
    seen.push(("purchase", [rest, effects_since(&server, log, feed.as_deref()).await?]));

    // A fulfilment of one unit.
    let (log, feed) = marks(&server).await?;
    let shipped = server
        .post(
            &format!("/v1/orders/{rest_order}/fulfillments"),
            Some(&admin),
            json!({"items": [{"sku": sku, "quantity": 1}]}),
        )
        .await?;
    assert_eq!(shipped.status, reqwest::StatusCode::CREATED, "{}", shipped.body);
    let rest = effects_since(&server, log, feed.as_deref()).await?;
    let (log, feed) = marks(&server).await?;
    let fulfil =
        "mutation($o: String!, $s: String!) { fulfilOrder(orderId: $o, items: [{sku: $s, quantity: 1}]) { id } }";
    graphql(fulfil, json!({"o": gql_order, "s": sku}), Some(admin.clone())).await?;
    seen.push(("fulfilment", [rest, effects_since(&server, log, feed.as_deref()).await?]));

    // A partial refund.
    let (log, feed) = marks(&server).await?;
    let refund = json!({"amount": {"amount": 500, "currency": "EUR"}});
    let refunded = server.post(&format!("/v1/orders/{rest_order}/refunds"), Some(&admin), refund).await?;
    assert!(refunded.status.is_success(), "{}", refunded.body);
    let rest = effects_since(&server, log, feed.as_deref()).await?;
    let (log, feed) = marks(&server).await?;
    let refund = "mutation($o: String!) { refundOrder(orderId: $o, amount: {amount: 500, currency: \"EUR\"}) { id } }";
    graphql(refund, json!({"o": gql_order}), Some(admin.clone())).await?;
    seen.push(("refund", [rest, effects_since(&server, log, feed.as_deref()).await?]));

    // A stock adjustment.
    let (log, feed) = marks(&server).await?;
    let adjusted = server
        .post(
            "/v1/inventory/adjustments",
            Some(&admin),
            json!({"sku": sku, "location": "main", "delta": 3, "reason": "restock"}),
        )
        .await?;
    assert!(adjusted.status.is_success(), "{}", adjusted.body);
    let rest = effects_since(&server, log, feed.as_deref()).await?;
    let (log, feed) = marks(&server).await?;
    let adjust =
        "mutation($s: String!) { adjustStock(sku: $s, location: \"main\", delta: 3, reason: RESTOCK) { delta } }";
    graphql(adjust, json!({"s": sku}), Some(admin.clone())).await?;
    seen.push(("adjustment", [rest, effects_since(&server, log, feed.as_deref()).await?]));

    for (step, [rest, graphql]) in seen {
        assert!(!rest.0.is_empty() || !rest.1.is_empty(), "{step}: the REST write recorded nothing: {rest:?}");
        assert_eq!(rest, graphql, "{step}: REST and GraphQL left different effects");
    }
    Ok(())
}
