//! The inventory report, from the ledger: what each SKU sold in a window, how much stock it
//! held on average (each day's closing on-hand), how fast that stock turned, and what did not
//! sell at all.
//!
//! The on-hand at any moment is today's on-hand less every movement since: so the on-hand at
//! `from` and at `to` need only the movements after `from`, and each day's closing is the
//! on-hand at `from` plus that window's movements up to the day's end.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use emporium_core::db::{statement, utc_day};
use emporium_core::report::Window;
use sea_orm::{ConnectionTrait, DbErr};

/// One SKU over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuFigures {
    pub sku: String,
    /// Units sold in the window, less units back from cancellations in it.
    pub units_sold: i64,
    /// The sum of each day's closing on-hand (over every location); divided by `days`, the
    /// average on-hand.
    pub closing_sum: i64,
    /// Days in the window (a part day counts whole).
    pub days: i64,
    /// On-hand at `to`.
    pub on_hand_at_end: i64,
    /// Whether a sale was recorded in the window.
    pub sold_in_window: bool,
    /// The last sale before `to`.
    pub last_sold_at: Option<DateTime<Utc>>,
}

/// The inventory report: SKUs that moved or hold stock, most sold first, and the dead stock
/// (units on hand at `to`, no sale in the window), most on hand first; each at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryReport {
    pub skus: Vec<SkuFigures>,
    pub dead_stock: Vec<SkuFigures>,
}

/// The inventory report over `window`.
pub async fn inventory<C: ConnectionTrait>(db: &C, window: &Window, limit: usize) -> Result<InventoryReport, DbErr> {
    let backend = db.get_database_backend();
    // Every variant with stock or with a movement since `from`: its SKU and on-hand now.
    let mut now: HashMap<String, (String, i64)> = HashMap::new();
    let held = db
        .query_all_raw(statement(
            backend,
            "SELECT v.id, v.sku, CAST(COALESCE(SUM(s.on_hand), 0) AS BIGINT) AS on_hand FROM variants v \
             LEFT JOIN stock_levels s ON s.variant_id = v.id \
             WHERE s.on_hand > 0 OR EXISTS (SELECT 1 FROM stock_movements m WHERE m.variant_id = v.id AND m.created_at >= ?) \
             GROUP BY v.id, v.sku",
            [window.from.into()],
        ))
        .await?;
    for row in &held {
        now.insert(row.try_get("", "id")?, (row.try_get("", "sku")?, row.try_get("", "on_hand")?));
    }
    // Movements since `from`: those after `to`, and per day of the window the net change,
    // the units sold (sales less cancellations) and whether any sale.
    let daily = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT variant_id, CASE WHEN created_at >= ? THEN 'after' ELSE {day} END AS day, \
                 CAST(SUM(delta) AS BIGINT) AS delta, \
                 CAST(SUM(CASE WHEN reason IN ('sale', 'cancellation') THEN -delta ELSE 0 END) AS BIGINT) AS sold, \
                 CAST(SUM(CASE WHEN reason = 'sale' THEN 1 ELSE 0 END) AS BIGINT) AS sales \
                 FROM stock_movements WHERE created_at >= ? GROUP BY variant_id, 2",
                day = utc_day(backend, "created_at"),
            ),
            [window.to.into(), window.from.into()],
        ))
        .await?;
    struct Moves {
        after_to: i64,
        in_window: i64,
        sold: i64,
        sales: i64,
        days: Vec<(NaiveDate, i64)>,
    }
    let mut moves: HashMap<String, Moves> = HashMap::new();
    for row in &daily {
        let variant: String = row.try_get("", "variant_id")?;
        let day: String = row.try_get("", "day")?;
        let delta: i64 = row.try_get("", "delta")?;
        let entry =
            moves.entry(variant).or_insert(Moves { after_to: 0, in_window: 0, sold: 0, sales: 0, days: Vec::new() });
        if day == "after" {
            entry.after_to += delta;
            continue;
        }
        let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| DbErr::Type(format!("a ledger day: {e}")))?;
        entry.in_window += delta;
        entry.sold += row.try_get::<i64>("", "sold")?;
        entry.sales += row.try_get::<i64>("", "sales")?;
        entry.days.push((day, delta));
    }
    let last_sales = db
        .query_all_raw(statement(
            backend,
            "SELECT variant_id, MAX(created_at) AS last_at FROM stock_movements WHERE reason = 'sale' AND created_at < ? \
             GROUP BY variant_id",
            [window.to.into()],
        ))
        .await?;
    let mut last_sold: HashMap<String, DateTime<Utc>> = HashMap::new();
    for row in &last_sales {
        last_sold.insert(row.try_get("", "variant_id")?, row.try_get("", "last_at")?);
    }

    let days = window.days();
    let first_day = window.from.date_naive();
    let mut all = Vec::with_capacity(now.len());
    for (variant, (sku, on_hand_now)) in now {
        let (after_to, in_window, sold, sales, mut changes) = match moves.remove(&variant) {
            Some(m) => (m.after_to, m.in_window, m.sold, m.sales, m.days),
            None => (0, 0, 0, 0, Vec::new()),
        };
        let at_end = on_hand_now - after_to;
        let at_start = at_end - in_window;
        // Σ over the window's days of (on-hand at `from` + changes up to that day's end).
        changes.sort_unstable();
        let mut closing_sum = at_start * days;
        for (day, delta) in changes {
            let from_that_day = days - (day - first_day).num_days();
            closing_sum += delta * from_that_day.max(0);
        }
        all.push(SkuFigures {
            sku,
            units_sold: sold,
            closing_sum,
            days,
            on_hand_at_end: at_end,
            sold_in_window: sales > 0,
            last_sold_at: last_sold.get(&variant).copied(),
        });
    }
    let mut dead: Vec<SkuFigures> = all.iter().filter(|s| s.on_hand_at_end > 0 && !s.sold_in_window).cloned().collect();
    dead.sort_by(|a, b| b.on_hand_at_end.cmp(&a.on_hand_at_end).then_with(|| a.sku.cmp(&b.sku)));
    dead.truncate(limit);
    all.sort_by(|a, b| b.units_sold.cmp(&a.units_sold).then_with(|| a.sku.cmp(&b.sku)));
    all.truncate(limit);
    Ok(InventoryReport { skus: all, dead_stock: dead })
}
