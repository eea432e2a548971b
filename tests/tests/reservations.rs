//! Reservations through the inventory crate, as checkout will use them: all or nothing,
//! summed lines, split across locations by priority, committed or released once, expired once
//! whichever instance gets there first, and never more than on-hand under any concurrency.

use std::sync::Arc;

use chrono::Duration;
use emporium_inventory as inventory;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::common::{TestResult, TestServer, tee};

/// A product with stock at locations: its first variant's id.
async fn stocked(server: &TestServer, sku: &str, levels: &[(&str, i32, i64)]) -> anyhow::Result<String> {
    let admin = server.admin_token().await?;
    let product = server.create_product(&admin, tee(&format!("Reserved {sku}"), sku)).await?;
    for (code, priority, units) in levels {
        let location = server
            .post("/v1/locations", Some(&admin), json!({"code": code, "name": code, "priority": priority}))
            .await?;
        anyhow::ensure!(
            location.status.is_success() || location.status == reqwest::StatusCode::CONFLICT,
            "{}",
            location.body
        );
        if *units > 0 {
            let adjusted = server
                .post(
                    "/v1/inventory/adjustments",
                    Some(&admin),
                    json!({"sku": format!("{sku}-S"), "location": code, "delta": units, "reason": "restock"}),
                )
                .await?;
            anyhow::ensure!(adjusted.status == reqwest::StatusCode::CREATED, "{}", adjusted.body);
        }
    }
    Ok(product["variants"][0]["id"].as_str().unwrap_or_default().to_owned())
}

async fn reserve(
    server: &TestServer,
    lines: &[(String, i64)],
    ttl: Duration,
) -> anyhow::Result<Result<inventory::Reservation, inventory::InventoryError>> {
    let txn = server.state.writer.begin().await?;
    match inventory::reserve(&txn, lines, ttl, Some("test")).await {
        Ok(reservation) => {
            txn.commit().await?;
            Ok(Ok(reservation))
        }
        Err(err) => {
            txn.rollback().await?;
            Ok(Err(err))
        }
    }
}

/// (on_hand, reserved) of a variant over all locations.
async fn totals(server: &TestServer, variant: &str) -> anyhow::Result<(i64, i64)> {
    let stock = inventory::stock(&server.app_db, variant).await?;
    Ok((stock.on_hand, stock.reserved))
}

/// `reserved` of every level equals what live reservations hold, and the ledger sums to on-hand.
async fn assert_consistent(server: &TestServer, variant: &str) -> anyhow::Result<()> {
    let held = inventory::held_units(&server.app_db).await?;
    let stock = inventory::stock(&server.app_db, variant).await?;
    let held_total: i64 = held.iter().filter(|(v, _, _)| v == variant).map(|(_, _, q)| q).sum();
    anyhow::ensure!(
        stock.reserved == held_total,
        "reserved {} but live reservations hold {held_total}",
        stock.reserved
    );
    let movements = inventory::movements(&server.app_db, variant, None, 100).await?;
    let ledger: i64 = movements.iter().map(|m| m.delta).sum();
    anyhow::ensure!(ledger == stock.on_hand, "the ledger sums to {ledger}, on-hand is {}", stock.on_hand);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_checkouts_racing_for_the_last_ten_units_get_exactly_ten() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let variant = stocked(&server, "LAST", &[("main", 0, 10)]).await?;
    let mut racers = Vec::new();
    for _ in 0..50 {
        let (server, variant) = (Arc::clone(&server), variant.clone());
        racers.push(tokio::spawn(async move { reserve(&server, &[(variant, 1)], Duration::minutes(15)).await }));
    }
    let mut won = 0;
    let mut lost = 0;
    for racer in racers {
        match racer.await?? {
            Ok(_) => won += 1,
            Err(inventory::InventoryError::OutOfStock { .. }) => lost += 1,
            Err(other) => anyhow::bail!("unexpected: {other:?}"),
        }
    }
    eprintln!("MEASURED 50 racing reservations of 1 unit from 10: {won} held, {lost} out of stock");
    assert_eq!((won, lost), (10, 40));
    assert_eq!(totals(&server, &variant).await?, (10, 10));
    assert_consistent(&server, &variant).await?;
    Ok(())
}

#[tokio::test]
async fn lines_of_one_sku_are_summed_and_reserving_is_all_or_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let variant = stocked(&server, "SUM", &[("main", 0, 3)]).await?;
    let two_lines = [(variant.clone(), 2), (variant.clone(), 2)];
    let refused = reserve(&server, &two_lines, Duration::minutes(15)).await?;
    assert!(
        matches!(&refused, Err(inventory::InventoryError::OutOfStock { variant_ids }) if variant_ids == std::slice::from_ref(&variant)),
        "{refused:?}"
    );
    assert_eq!(totals(&server, &variant).await?, (3, 0), "a refused reservation holds nothing");
    let held = reserve(&server, &[(variant.clone(), 2), (variant.clone(), 1)], Duration::minutes(15)).await??;
    assert_eq!(held.lines.iter().map(|l| l.quantity).sum::<i64>(), 3);
    assert_eq!(totals(&server, &variant).await?, (3, 3));
    Ok(())
}

#[tokio::test]
async fn a_line_is_split_across_active_locations_lowest_priority_first() -> TestResult {
    let server = TestServer::start().await?;
    let variant = stocked(&server, "SPLIT", &[("store", 1, 5), ("main", 0, 2), ("closed", 0, 9)]).await?;
    let admin = server.admin_token().await?;
    server.patch("/v1/locations/closed", Some(&admin), json!({"active": false})).await?;
    let held = reserve(&server, &[(variant.clone(), 4)], Duration::minutes(15)).await??;
    let closed = inventory::location_by_code(&server.app_db, "closed").await?.map(|l| l.id).unwrap_or_default();
    let main = inventory::location_by_code(&server.app_db, "main").await?.map(|l| l.id).unwrap_or_default();
    let by_location: Vec<(bool, i64)> = held.lines.iter().map(|l| (l.location_id == main, l.quantity)).collect();
    assert_eq!(by_location, [(true, 2), (false, 2)], "main (priority 0) first, then store");
    assert!(held.lines.iter().all(|l| l.location_id != closed), "an inactive location ships nothing");
    Ok(())
}

#[tokio::test]
async fn a_committed_reservation_sells_its_units_once_and_a_released_one_gives_them_back() -> TestResult {
    let server = TestServer::start().await?;
    let variant = stocked(&server, "SELL", &[("main", 0, 8)]).await?;
    let sold = reserve(&server, &[(variant.clone(), 3)], Duration::minutes(15)).await??;
    let kept = reserve(&server, &[(variant.clone(), 2)], Duration::minutes(15)).await??;
    assert_eq!(totals(&server, &variant).await?, (8, 5));

    let txn = server.state.writer.begin().await?;
    inventory::commit(&txn, &sold.id, "ord_1", None).await?;
    txn.commit().await?;
    assert_eq!(totals(&server, &variant).await?, (5, 2));
    let ledger = inventory::movements(&server.app_db, &variant, None, 1).await?;
    assert_eq!(
        (ledger[0].delta, ledger[0].reference.as_deref(), ledger[0].reason),
        (-3, Some("ord_1"), inventory::Reason::Sale)
    );

    for again in [
        inventory::commit(&server.app_db, &sold.id, "ord_1", None).await.err(),
        inventory::release(&server.app_db, &sold.id).await.err(),
    ] {
        assert!(matches!(again, Some(inventory::InventoryError::ReservationNotActive)), "{again:?}");
    }
    inventory::release(&server.app_db, &kept.id).await?;
    assert_eq!(totals(&server, &variant).await?, (5, 0));
    assert!(matches!(
        inventory::release(&server.app_db, &kept.id).await,
        Err(inventory::InventoryError::ReservationNotActive)
    ));
    assert_consistent(&server, &variant).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_expiring_at_once_release_each_reservation_exactly_once() -> TestResult {
    let a = TestServer::start().await?;
    let b = a.sibling(crate::common::Options::default()).await?;
    let variant = stocked(&a, "EXPIRE", &[("main", 0, 25)]).await?;
    for _ in 0..10 {
        reserve(&a, &[(variant.clone(), 2)], Duration::milliseconds(-1)).await??;
    }
    let live = reserve(&a, &[(variant.clone(), 1)], Duration::minutes(15)).await??;
    assert_eq!(totals(&a, &variant).await?, (25, 21));
    let (state_a, state_b) = (a.state.clone(), b.state.clone());
    let (first, second) = tokio::join!(
        tokio::spawn(async move {
            emporium_gateway::usecases::inventory::expire_reservations(&state_a).await.map_err(|e| e.code)
        }),
        tokio::spawn(async move {
            emporium_gateway::usecases::inventory::expire_reservations(&state_b).await.map_err(|e| e.code)
        }),
    );
    let (first, second) = (first?.map_err(|c| anyhow::anyhow!(c))?, second?.map_err(|c| anyhow::anyhow!(c))?);
    let rest = emporium_gateway::usecases::inventory::expire_reservations(&a.state)
        .await
        .map_err(|e| anyhow::anyhow!(e.code))?;
    eprintln!(
        "MEASURED two instances expiring 10 reservations at once: {first} + {second} lines released, {rest} left after"
    );
    // Released exactly once each (the background sweep may have taken some first): reserved
    // is back to what the live reservation holds, and every due reservation reads expired.
    assert_eq!(totals(&a, &variant).await?, (25, 1), "only the live reservation still holds units");
    let expired = a
        .app_db
        .query_one_raw(sea_orm::Statement::from_string(
            a.app_db.get_database_backend(),
            "SELECT COUNT(*) FROM reservations WHERE state = 'expired'",
        ))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?;
    assert_eq!(expired, Some(10));
    assert!(first + second + rest <= 10);
    assert!(inventory::commit(&a.app_db, &live.id, "ord_live", None).await.is_ok());
    assert_consistent(&a, &variant).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_mixed_stock_operations_keeps_reserved_and_the_ledger_exact() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let variant = stocked(&server, "STORM", &[("main", 0, 30), ("store", 1, 10)]).await?;
    let main = inventory::location_by_code(&server.app_db, "main").await?.map(|l| l.id).unwrap_or_default();
    // Each task says what it did: (kind, done, units its success moved on hand). A refusal for
    // lack of stock is an outcome; any other error fails the test.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (server, variant, main) = (Arc::clone(&server), variant.clone(), main.clone());
        tasks.push(tokio::spawn(async move {
            let outcome: (usize, bool, i64) = match i % 4 {
                0 => {
                    let txn = server.state.writer.begin().await?;
                    let delta = if i % 8 == 0 { 3 } else { -2 };
                    let adjustment = inventory::Adjustment {
                        variant_id: variant,
                        location_id: main,
                        delta,
                        reason: inventory::Reason::Correction,
                        note: None,
                        actor: None,
                        reference: None,
                    };
                    match inventory::adjust(&txn, &adjustment).await {
                        Ok(_) => {
                            txn.commit().await?;
                            (0, true, delta)
                        }
                        Err(inventory::InventoryError::InsufficientStock { .. }) => {
                            txn.rollback().await?;
                            (0, false, 0)
                        }
                        Err(other) => anyhow::bail!("adjusting failed: {other:?}"),
                    }
                }
                1 => match reserve(&server, &[(variant, 3)], Duration::minutes(15)).await? {
                    Ok(held) => {
                        let txn = server.state.writer.begin().await?;
                        inventory::commit(&txn, &held.id, &format!("ord_{i}"), None).await?;
                        txn.commit().await?;
                        (1, true, -3)
                    }
                    Err(inventory::InventoryError::OutOfStock { .. }) => (1, false, 0),
                    Err(other) => anyhow::bail!("reserving failed: {other:?}"),
                },
                2 => match reserve(&server, &[(variant, 2)], Duration::minutes(15)).await? {
                    Ok(held) => {
                        let txn = server.state.writer.begin().await?;
                        inventory::release(&txn, &held.id).await?;
                        txn.commit().await?;
                        (2, true, 0)
                    }
                    Err(inventory::InventoryError::OutOfStock { .. }) => (2, false, 0),
                    Err(other) => anyhow::bail!("reserving failed: {other:?}"),
                },
                _ => {
                    let held = match reserve(&server, &[(variant, 1)], Duration::milliseconds(-1)).await? {
                        Ok(_) => true,
                        Err(inventory::InventoryError::OutOfStock { .. }) => false,
                        Err(other) => anyhow::bail!("reserving failed: {other:?}"),
                    };
                    emporium_gateway::usecases::inventory::expire_reservations(&server.state)
                        .await
                        .map_err(|e| anyhow::anyhow!(e.code))?;
                    (3, held, 0)
                }
            };
            anyhow::Ok(outcome)
        }));
    }
    let mut done = [0usize; 4];
    let mut moved = 0;
    for task in tasks {
        let (kind, succeeded, units) = task.await??;
        if succeeded {
            done[kind] += 1;
            moved += units;
        }
    }
    emporium_gateway::usecases::inventory::expire_reservations(&server.state)
        .await
        .map_err(|e| anyhow::anyhow!(e.code))?;
    let (on_hand, reserved) = totals(&server, &variant).await?;
    eprintln!("MEASURED after a storm of 40 mixed operations: {done:?} done, on_hand {on_hand}, reserved {reserved}");
    // 40 units to start with: every operation that ran (most of each kind, with stock to
    // spare) is in the end state, and nothing else is.
    assert!(done.iter().all(|n| *n >= 2), "too few operations succeeded: {done:?}");
    assert_eq!(on_hand, 40 + moved, "on hand is the start plus what succeeded: {done:?}");
    assert!(on_hand >= 0 && reserved == 0, "on_hand {on_hand}, reserved {reserved}");
    assert_consistent(&server, &variant).await?;
    Ok(())
}

/// Units on backorder held by live or sold reservations of a variant: what `backordered` must
/// equal.
async fn backorders_held(server: &TestServer, variant: &str) -> anyhow::Result<i64> {
    let row = server
        .app_db
        .query_one_raw(emporium_core::db::statement(
            server.app_db.get_database_backend(),
            "SELECT CAST(COALESCE(SUM(b.quantity), 0) AS BIGINT) FROM reservation_backorders b \
             JOIN reservations r ON r.id = b.reservation_id \
             WHERE r.state IN ('active', 'committed') AND b.variant_id = ?",
            [variant.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backorders_sell_past_stock_only_when_allowed_and_never_past_the_limit() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let variant = stocked(&server, "BACKO", &[("main", 0, 4)]).await?;
    let ttl = Duration::minutes(15);
    assert!(
        matches!(
            reserve(&server, &[(variant.clone(), 5)], ttl).await?,
            Err(inventory::InventoryError::OutOfStock { .. })
        ),
        "off by default"
    );
    let backorder = inventory::Backorder { allowed: true, limit: Some(6) };
    inventory::set_backorder(&server.app_db, &variant, backorder).await?;

    let mut racers = Vec::new();
    for _ in 0..30 {
        let (server, variant) = (Arc::clone(&server), variant.clone());
        racers.push(tokio::spawn(async move { reserve(&server, &[(variant, 1)], ttl).await }));
    }
    let mut held = Vec::new();
    let mut lost = 0;
    for racer in racers {
        match racer.await?? {
            Ok(reservation) => held.push(reservation),
            Err(inventory::InventoryError::OutOfStock { .. }) => lost += 1,
            Err(other) => anyhow::bail!("unexpected: {other:?}"),
        }
    }
    let on_backorder: Vec<&inventory::Reservation> = held.iter().filter(|r| !r.backorders.is_empty()).collect();
    eprintln!(
        "MEASURED 30 racing reservations of 1 unit from 4 in stock + 6 on backorder: {} held ({} on backorder), {lost} refused",
        held.len(),
        on_backorder.len()
    );
    assert_eq!((held.len(), on_backorder.len(), lost), (10, 6, 20));
    let stock = inventory::stock(&server.app_db, &variant).await?;
    assert_eq!((stock.on_hand, stock.reserved, stock.backordered), (4, 4, 6));
    assert_eq!(inventory::available(&server.app_db, std::slice::from_ref(&variant)).await?.get(&variant), Some(&0));

    // A released backorder frees its unit of the limit; a sold one keeps it counted.
    let (released, sold) = (on_backorder[0].id.clone(), on_backorder[1].id.clone());
    inventory::release(&server.app_db, &released).await?;
    let txn = server.state.writer.begin().await?;
    let settled = inventory::commit(&txn, &sold, "ord_backorder", None).await?;
    txn.commit().await?;
    assert_eq!(settled.backorders.iter().map(|b| b.quantity).sum::<i64>(), 1);
    assert_eq!(inventory::stock(&server.app_db, &variant).await?.backordered, 5);
    assert_eq!(backorders_held(&server, &variant).await?, 5);
    // Two lines of the variant in one request are summed: 1 unit is left of the limit.
    let two_lines = reserve(&server, &[(variant.clone(), 1), (variant.clone(), 1)], ttl).await?;
    assert!(matches!(two_lines, Err(inventory::InventoryError::OutOfStock { .. })), "{two_lines:?}");
    assert!(reserve(&server, &[(variant.clone(), 1)], ttl).await?.is_ok());
    assert_eq!(inventory::stock(&server.app_db, &variant).await?.backordered, 6);
    assert_eq!(backorders_held(&server, &variant).await?, 6);
    // The sold backorder is filled (the orders crate calls this): a unit of the limit is free.
    assert!(!inventory::settle_backorder(&server.app_db, &variant, 7).await?, "never more than is backordered");
    assert!(inventory::settle_backorder(&server.app_db, &variant, 1).await?);
    assert_eq!(inventory::stock(&server.app_db, &variant).await?.backordered, 5);
    assert_consistent(&server, &variant).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releases_and_reservations_with_backorders_racing_never_deadlock() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let first = stocked(&server, "RACEA", &[("main", 0, 6)]).await?;
    let second = stocked(&server, "RACEB", &[("main", 0, 6)]).await?;
    for variant in [&first, &second] {
        inventory::set_backorder(&server.app_db, variant, inventory::Backorder { allowed: true, limit: None }).await?;
    }
    let ttl = Duration::minutes(15);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (server, first, second) = (Arc::clone(&server), first.clone(), second.clone());
        tasks.push(tokio::spawn(async move {
            // Both variants, past their stock, in either order; then half are given back.
            let lines = if i % 2 == 0 { vec![(first, 2), (second, 2)] } else { vec![(second, 2), (first, 2)] };
            let held = reserve(&server, &lines, ttl).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if i % 3 != 0 {
                let txn = server.state.writer.begin().await?;
                inventory::release(&txn, &held.id).await?;
                txn.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    for variant in [&first, &second] {
        let stock = inventory::stock(&server.app_db, variant).await?;
        // 8 reservations of 2 units each stay held, from stock or on backorder (which one
        // depends on who released first).
        assert_eq!(stock.on_hand, 6);
        assert!(stock.reserved <= 6, "{variant}: reserved {}", stock.reserved);
        assert_eq!(stock.reserved + stock.backordered, 16, "{variant}");
        assert_eq!(backorders_held(&server, variant).await?, stock.backordered);
        assert_consistent(&server, variant).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_sweep_stops_on_shutdown_and_expires_nothing_after() -> TestResult {
    let mut server = TestServer::start().await?;
    let variant = stocked(&server, "STOPPED", &[("main", 0, 5)]).await?;
    let background = server.background.take().ok_or_else(|| anyhow::anyhow!("no background tasks"))?;
    let total = background.len();
    assert!(total >= 3, "housekeeping, reservation expiry and cache sync: {total}");
    let ended =
        tokio::time::timeout(std::time::Duration::from_secs(15), background.stop(std::time::Duration::from_secs(10)))
            .await?;
    assert_eq!(ended, total, "every background task ended when asked");
    // Nothing sweeps any more: a due reservation stays held until a sweep runs.
    reserve(&server, &[(variant.clone(), 2)], Duration::milliseconds(-1)).await??;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(totals(&server, &variant).await?, (5, 2), "a stopped instance released nothing");
    Ok(())
}
