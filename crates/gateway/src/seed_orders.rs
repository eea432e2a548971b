//! `emporium seed --orders N`: a year of realistic trade for reports and benchmarks, written
//! in bulk (multi-row inserts in batched transactions, never through HTTP).
//!
//! It makes its own catalog (products in three currencies, stock at one location), customers
//! (who cannot sign in: their password hash matches no password), then `N` orders spread over
//! the last 365 days, oldest first: customers and guests (both coming back, the first ones
//! most), one to four lines, EUR (20% tax on top), USD (8% on top) and GBP (20% inside the
//! price), a 10% code on some orders and free shipping on others, priced by the checkout's
//! own rule ([`emporium_orders::pricing::totals`]). About 3% are cancelled and refunded, 4%
//! partly refunded; older orders are delivered. Each order has its cart, items, payment,
//! history and sale movements; abandoned and empty carts come between them; stock is
//! restocked before it runs out, so the ledger never goes below zero and sums to the on-hand
//! it leaves. The sales counters are rebuilt at the end. No events are written: subscribers
//! hear nothing of a seed.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use emporium_catalog as catalog;
use emporium_core::uow::Writer;
use emporium_core::{Currency, Money};
use emporium_orders::pricing::{self, PricingInput, Reduction, ShippingPrice};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DbBackend, Value};

/// Orders written per transaction.
const BATCH: usize = 2_000;
/// Most rows in one insert statement (PostgreSQL takes at most 65,535 parameters).
const ROWS_PER_STATEMENT: usize = 1_000;
/// Products of a seeded catalog (two variants each).
const PRODUCTS: usize = 400;
/// Units a restock brings.
const RESTOCK: i64 = 300;
/// A hash no password matches: seeded customers cannot sign in.
const NO_PASSWORD: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2VlZGVkLWN1c3RvbWVy$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// What a seed wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrdersReport {
    pub orders: u64,
    pub customers: u64,
    pub carts: u64,
    pub movements: u64,
    pub refunds: u64,
}

/// One sellable variant of the seeded catalog.
struct Sku {
    variant_id: String,
    sku: String,
    product_id: String,
    title: String,
    /// EUR, USD, GBP.
    prices: [i64; 3],
}

/// A currency's terms in the seed.
struct Terms {
    currency: Currency,
    include_tax: bool,
    tax_bp: i64,
    shipping: i64,
    free_over: i64,
    country: &'static str,
}

fn terms() -> [Terms; 3] {
    [
        Terms {
            currency: Currency::EUR,
            include_tax: false,
            tax_bp: 2000,
            shipping: 495,
            free_over: 7500,
            country: "FR",
        },
        Terms {
            currency: Currency::USD,
            include_tax: false,
            tax_bp: 800,
            shipping: 599,
            free_over: 9000,
            country: "US",
        },
        Terms {
            currency: Currency::parse("GBP").unwrap_or(Currency::USD),
            include_tax: true,
            tax_bp: 2000,
            shipping: 450,
            free_over: 6000,
            country: "GB",
        },
    ]
}

/// Rows of one table waiting to be inserted.
struct Rows {
    table: &'static str,
    columns: &'static [&'static str],
    values: Vec<Value>,
}

impl Rows {
    fn new(table: &'static str, columns: &'static [&'static str]) -> Self {
        Self { table, columns, values: Vec::new() }
    }

    fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.values.extend(row);
    }

    fn len(&self) -> usize {
        self.values.len() / self.columns.len()
    }

    /// Inserts every row, [`ROWS_PER_STATEMENT`] per statement.
    async fn flush<C: ConnectionTrait>(&mut self, db: &C) -> Result<u64, sea_orm::DbErr> {
        self.flush_with(db, "").await
    }

    /// Inserts every row, each statement ending with `tail` (an `ON CONFLICT` clause).
    async fn flush_with<C: ConnectionTrait>(&mut self, db: &C, tail: &str) -> Result<u64, sea_orm::DbErr> {
        let width = self.columns.len();
        let rows = self.len() as u64;
        let values = std::mem::take(&mut self.values);
        for chunk in values.chunks(width * ROWS_PER_STATEMENT) {
            let row = format!("({})", vec!["?"; width].join(", "));
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}{tail}",
                self.table,
                self.columns.join(", "),
                vec![row.as_str(); chunk.len() / width].join(", ")
            );
            db.execute_raw(emporium_core::db::statement(db.get_database_backend(), &sql, chunk.to_vec())).await?;
        }
        Ok(rows)
    }
}

/// The ledger as the seed writes it: each SKU's on-hand, and the units of cancelled orders
/// that come back later than the orders placed meanwhile (so a sale never counts on them).
struct Ledger {
    location: String,
    on_hand: Vec<i64>,
    touched: Vec<bool>,
    /// (when, SKU, units, order) of cancellations not yet reached, oldest first.
    coming_back: VecDeque<(DateTime<Utc>, usize, i64, String)>,
    rows: Rows,
}

impl Ledger {
    fn new(location: String, skus: usize) -> Self {
        Self {
            location,
            on_hand: vec![0; skus],
            touched: vec![false; skus],
            coming_back: VecDeque::new(),
            rows: Rows::new(
                "stock_movements",
                &[
                    "id",
                    "variant_id",
                    "location_id",
                    "delta",
                    "reason",
                    "created_at",
                    "on_hand_after",
                    "reference",
                    "note",
                ],
            ),
        }
    }

    fn record(
        &mut self,
        skus: &[Sku],
        index: usize,
        delta: i64,
        reason: &str,
        at: DateTime<Utc>,
        reference: Option<&str>,
    ) {
        self.on_hand[index] += delta;
        self.touched[index] = true;
        self.rows.push(vec![
            id("mov").into(),
            skus[index].variant_id.clone().into(),
            self.location.clone().into(),
            delta.into(),
            reason.into(),
            at.into(),
            self.on_hand[index].into(),
            reference.map(str::to_owned).into(),
            Some("seeded".to_owned()).into(),
        ]);
    }

    /// Takes back the cancelled units due by `until`.
    fn catch_up(&mut self, skus: &[Sku], until: DateTime<Utc>) {
        while self.coming_back.front().is_some_and(|(at, ..)| *at <= until) {
            if let Some((at, index, units, order)) = self.coming_back.pop_front() {
                self.record(skus, index, units, "cancellation", at, Some(&order));
            }
        }
    }

    /// Sells `units` at `at`, restocking first (at the same moment) if fewer are on hand.
    fn sell(&mut self, skus: &[Sku], index: usize, units: i64, at: DateTime<Utc>, order: &str) {
        self.catch_up(skus, at);
        if self.on_hand[index] < units {
            self.record(skus, index, RESTOCK, "restock", at, None);
        }
        self.record(skus, index, -units, "sale", at, Some(order));
    }
}

fn id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Writes `count` orders over the year before now; `progress` hears how many are written.
pub async fn orders(writer: &Writer, count: u64, seed: u64, progress: impl Fn(u64)) -> anyhow::Result<OrdersReport> {
    let db = writer.db();
    let backend = db.get_database_backend();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = OrdersReport::default();
    let run = id("seed");
    let run = run[run.len() - 6..].to_owned();
    let terms = terms();

    // The catalog, through the catalog's own writes.
    let mut skus: Vec<Sku> = Vec::with_capacity(PRODUCTS * 2);
    let txn = writer.begin().await?;
    let mut categories = Vec::new();
    for n in 0..12 {
        let category = catalog::create_category(
            &txn,
            catalog::NewCategory {
                name: format!("Seeded range {n}"),
                slug: Some(format!("seed-{run}-{n}")),
                parent_id: None,
            },
        )
        .await?;
        categories.push(category.id);
    }
    let location = emporium_inventory::ensure_location(&txn, "main", "Main warehouse").await?;
    txn.commit().await?;
    for chunk in (0..PRODUCTS).collect::<Vec<_>>().chunks(100) {
        let mut txn = writer.begin().await?;
        for &n in chunk {
            let eur = 800 + ((n * 131) % 9_000) as i64;
            let prices = [eur, eur * 11 / 10, eur * 87 / 100];
            let input = catalog::NewProduct {
                name: format!("Seeded item {n}"),
                slug: Some(format!("seed-{run}-item-{n}")),
                description: Some(format!("Item {n} of a seeded year of trade.")),
                status: catalog::ProductStatus::Published,
                category_ids: vec![categories[n % categories.len()].clone()],
                options: vec![catalog::ProductOption {
                    name: "Size".to_owned(),
                    values: vec!["M".to_owned(), "L".to_owned()],
                }],
                variants: ["M", "L"]
                    .iter()
                    .map(|size| catalog::NewVariant {
                        sku: format!("SEED-{run}-{n}-{size}").to_uppercase(),
                        title: None,
                        options: vec![("Size".to_owned(), (*size).to_owned())],
                        prices: terms
                            .iter()
                            .zip(prices)
                            .map(|(t, amount)| catalog::PriceInput { amount, currency: t.currency.code().to_owned() })
                            .collect(),
                    })
                    .collect(),
                seo_title: None,
                seo_description: None,
                images: Vec::new(),
            };
            let change = catalog::create_product(&txn, input).await?;
            txn.emit(catalog::ProductEvent::of(change.kind, &change.id));
            if let Some(product) = catalog::get_product(&txn, &change.id).await? {
                for variant in product.variants {
                    skus.push(Sku {
                        title: format!("{} ({})", product.name, variant.title),
                        variant_id: variant.id,
                        sku: variant.sku,
                        product_id: product.id.clone(),
                        prices,
                    });
                }
            }
        }
        txn.touch(crate::infra::cache::CATALOG);
        txn.commit().await?;
    }

    // Customers: about one for every five orders.
    let now = emporium_core::db::now();
    let start = now - Duration::days(365);
    let customer_count = (count / 5).max(10);
    let mut customers: Vec<(String, String)> = Vec::with_capacity(customer_count as usize);
    let mut rows = Rows::new(
        "customers",
        &["id", "email", "password_hash", "first_name", "last_name", "created_at", "updated_at"],
    );
    for n in 0..customer_count {
        let (customer, email) = (id("cus"), format!("customer{n}.{run}@seed.example"));
        let at: DateTime<Utc> = start - Duration::days(30);
        rows.push(vec![
            customer.clone().into(),
            email.clone().into(),
            NO_PASSWORD.into(),
            "Seeded".into(),
            format!("Customer {n}").into(),
            at.into(),
            at.into(),
        ]);
        customers.push((customer, email));
        if rows.len() >= 5_000 {
            let txn = writer.begin().await?;
            report.customers += rows.flush(&txn).await?;
            txn.commit().await?;
        }
    }
    let txn = writer.begin().await?;
    report.customers += rows.flush(&txn).await?;
    txn.commit().await?;

    // Orders, oldest first.
    let first_number: i64 = {
        let row = db
            .query_one_raw(emporium_core::db::statement(
                backend,
                "SELECT COALESCE(MAX(number), 1000) AS top FROM orders",
                [],
            ))
            .await?;
        row.map(|r| r.try_get::<i64>("", "top")).transpose()?.unwrap_or(1000) + 1
    };
    let mut ledger = Ledger::new(location, skus.len());
    let span_seconds = (now - start).num_seconds() - 3_600;
    let guests = (count / 3).max(10);
    let mut written = 0u64;
    while written < count {
        let batch = (count - written).min(BATCH as u64);
        let mut order_rows = Rows::new(
            "orders",
            &[
                "id",
                "number",
                "cart_id",
                "status",
                "currency",
                "email",
                "customer_id",
                "shipping_address",
                "billing_address",
                "shipping_method",
                "discount_codes",
                "prices_include_tax",
                "subtotal",
                "discount_total",
                "shipping_total",
                "shipping_tax",
                "tax_total",
                "total",
                "captured",
                "refunded",
                "created_at",
                "updated_at",
            ],
        );
        let mut line_rows = Rows::new(
            "order_lines",
            &[
                "order_id",
                "position",
                "variant_id",
                "sku",
                "product_id",
                "title",
                "quantity",
                "unit_price",
                "line_total",
                "discount",
                "tax",
                "fulfilled_quantity",
            ],
        );
        let mut history_rows = Rows::new("order_history", &["id", "order_id", "status", "created_at"]);
        let mut payment_rows = Rows::new(
            "payments",
            &[
                "id",
                "checkout_id",
                "order_id",
                "provider",
                "provider_ref",
                "status",
                "currency",
                "amount",
                "captured",
                "refunded",
                "created_at",
                "updated_at",
            ],
        );
        let mut refund_rows = Rows::new(
            "payment_refunds",
            &["id", "payment_id", "order_id", "amount", "reason", "provider_ref", "status", "created_at", "settled_at"],
        );
        let mut cart_rows = Rows::new(
            "carts",
            &[
                "id",
                "currency",
                "customer_id",
                "status",
                "email",
                "order_id",
                "checkout_started_at",
                "created_at",
                "updated_at",
            ],
        );
        let mut item_rows = Rows::new("cart_items", &["id", "cart_id", "variant_id", "quantity", "created_at"]);
        for n in written..written + batch {
            let placed_at = start
                + Duration::seconds(((n as f64 + rng.r#gen::<f64>()) / count as f64 * span_seconds as f64) as i64);
            let t = &terms[match rng.gen_range(0..100) {
                0..70 => 0,
                70..88 => 1,
                _ => 2,
            }];
            let currency_index = terms.iter().position(|x| x.currency == t.currency).unwrap_or(0);
            // Who: a customer (the first ones most) or a guest (coming back too).
            let (customer_id, email) = if rng.gen_bool(0.6) {
                let pick = (customer_count as f64 * rng.r#gen::<f64>().powi(2)) as usize;
                let (customer, email) = &customers[pick.min(customers.len() - 1)];
                (Some(customer.clone()), email.clone())
            } else {
                let pick = (guests as f64 * rng.r#gen::<f64>().powf(1.5)) as u64;
                (None, format!("guest{pick}.{run}@seed.example"))
            };
            // What: one to four distinct SKUs, popular ones most.
            let mut picked: Vec<(usize, i64)> = Vec::new();
            let lines =
                1 + usize::from(rng.gen_bool(0.4)) + usize::from(rng.gen_bool(0.15)) + usize::from(rng.gen_bool(0.05));
            while picked.len() < lines {
                let index = ((skus.len() as f64) * rng.r#gen::<f64>().powi(2)) as usize % skus.len();
                if picked.iter().all(|(i, _)| *i != index) {
                    let quantity = match rng.gen_range(0..100) {
                        0..80 => 1,
                        80..95 => 2,
                        _ => 3,
                    };
                    picked.push((index, quantity));
                }
            }
            let mut reductions = Vec::new();
            let mut codes = Vec::new();
            if rng.gen_bool(0.12) {
                reductions.push(Reduction::Percentage(1000));
                codes.push("SEED10");
            } else if rng.gen_bool(0.03) {
                reductions.push(Reduction::FreeShipping);
                codes.push("SEEDSHIP");
            }
            let money = |amount: i64| Money::new(amount, t.currency);
            let input = PricingInput {
                currency: t.currency,
                prices_include_tax: t.include_tax,
                lines: picked.iter().map(|(i, q)| Ok((money(skus[*i].prices[currency_index])?, *q))).collect::<Result<
                    _,
                    emporium_core::MoneyError,
                >>(
                )?,
                reductions,
                shipping: Some(ShippingPrice { price: money(t.shipping)?, free_over: Some(money(t.free_over)?) }),
                tax_rate_bp: t.tax_bp,
            };
            let totals = pricing::totals(&input)?;
            let total = totals.total.amount();
            let (order_id, cart_id, payment_id) = (id("ord"), id("cart"), id("pay"));
            let cancelled = rng.gen_bool(0.03);
            let partly_refunded = !cancelled && rng.gen_bool(0.04);
            let delivered = !cancelled && placed_at < now - Duration::days(7);
            let cancelled_at = (placed_at + Duration::hours(2)).min(now);
            let refund_at = placed_at + Duration::days(5);
            let refunded = if cancelled {
                total
            } else if partly_refunded && refund_at < now {
                total / 2
            } else {
                0
            };
            let status = match (cancelled, refunded > 0, delivered) {
                (true, _, _) => "cancelled",
                (false, true, _) => "partially_refunded",
                (false, false, true) => "delivered",
                _ => "paid",
            };
            let address = serde_json::json!({"first_name": "Seeded", "last_name": "Buyer", "line1": "1 Seed Street",
                "line2": null, "city": "Seedville", "region": null, "postal_code": "10001", "country": t.country,
                "phone": null})
            .to_string();
            let method =
                serde_json::json!({"id": "seeded", "name": "Standard", "amount": totals.shipping_total.amount(),
                "list_price": t.shipping})
                .to_string();
            let updated_at = if cancelled { cancelled_at } else { placed_at };
            order_rows.push(vec![
                order_id.clone().into(),
                (first_number + n as i64).into(),
                cart_id.clone().into(),
                status.into(),
                t.currency.code().into(),
                email.clone().into(),
                customer_id.clone().into(),
                address.into(),
                Option::<String>::None.into(),
                Some(method).into(),
                serde_json::json!(codes).to_string().into(),
                t.include_tax.into(),
                totals.subtotal.amount().into(),
                totals.discount_total.amount().into(),
                totals.shipping_total.amount().into(),
                totals.shipping_tax.amount().into(),
                totals.tax_total.amount().into(),
                total.into(),
                total.into(),
                refunded.into(),
                placed_at.into(),
                updated_at.into(),
            ]);
            history_rows.push(vec![id("ohi").into(), order_id.clone().into(), "paid".into(), placed_at.into()]);
            for (position, ((index, quantity), line)) in picked.iter().zip(&totals.lines).enumerate() {
                let sku = &skus[*index];
                line_rows.push(vec![
                    order_id.clone().into(),
                    (position as i32).into(),
                    sku.variant_id.clone().into(),
                    sku.sku.clone().into(),
                    sku.product_id.clone().into(),
                    sku.title.clone().into(),
                    (*quantity).into(),
                    sku.prices[currency_index].into(),
                    line.line_total.amount().into(),
                    line.discount.amount().into(),
                    line.tax.amount().into(),
                    (if delivered { *quantity } else { 0 }).into(),
                ]);
                ledger.sell(&skus, *index, *quantity, placed_at, &order_id);
                item_rows.push(vec![
                    id("itm").into(),
                    cart_id.clone().into(),
                    sku.variant_id.clone().into(),
                    (*quantity).into(),
                    (placed_at - Duration::minutes(20)).into(),
                ]);
            }
            payment_rows.push(vec![
                payment_id.clone().into(),
                format!("chk_seed_{order_id}").into(),
                order_id.clone().into(),
                "test".into(),
                format!("seed_{order_id}").into(),
                "captured".into(),
                t.currency.code().into(),
                total.into(),
                total.into(),
                refunded.into(),
                placed_at.into(),
                placed_at.into(),
            ]);
            if cancelled {
                history_rows.push(vec![
                    id("ohi").into(),
                    order_id.clone().into(),
                    "cancelled".into(),
                    cancelled_at.into(),
                ]);
                for (index, quantity) in &picked {
                    ledger.coming_back.push_back((cancelled_at, *index, *quantity, order_id.clone()));
                }
            }
            if refunded > 0 {
                let at = if cancelled { cancelled_at } else { refund_at };
                refund_rows.push(vec![
                    id("rfd").into(),
                    payment_id.clone().into(),
                    order_id.clone().into(),
                    refunded.into(),
                    Some(if cancelled { "order cancelled" } else { "seeded refund" }.to_owned()).into(),
                    Some(format!("seed_refund_{order_id}")).into(),
                    "done".into(),
                    at.into(),
                    Some(at).into(),
                ]);
                if !cancelled {
                    history_rows.push(vec![
                        id("ohi").into(),
                        order_id.clone().into(),
                        "partially_refunded".into(),
                        at.into(),
                    ]);
                }
            }
            cart_rows.push(vec![
                cart_id.clone().into(),
                t.currency.code().into(),
                customer_id.clone().into(),
                "ordered".into(),
                Some(email.clone()).into(),
                Some(order_id.clone()).into(),
                Some(placed_at - Duration::minutes(1)).into(),
                (placed_at - Duration::minutes(20)).into(),
                placed_at.into(),
            ]);
            // Carts that did not become orders: about 6 for every 10 orders, most with items,
            // some whose checkout began.
            while rng.gen_bool(0.375) {
                let abandoned = id("cart");
                let made = placed_at - Duration::minutes(rng.gen_range(30..600));
                let with_items = rng.gen_bool(0.8);
                let began = with_items && rng.gen_bool(0.12);
                cart_rows.push(vec![
                    abandoned.clone().into(),
                    t.currency.code().into(),
                    Option::<String>::None.into(),
                    "open".into(),
                    Option::<String>::None.into(),
                    Option::<String>::None.into(),
                    began.then_some(made + Duration::minutes(4)).into(),
                    made.into(),
                    (made + Duration::minutes(5)).into(),
                ]);
                if with_items {
                    let index = ((skus.len() as f64) * rng.r#gen::<f64>().powi(2)) as usize % skus.len();
                    item_rows.push(vec![
                        id("itm").into(),
                        abandoned.into(),
                        skus[index].variant_id.clone().into(),
                        1i64.into(),
                        made.into(),
                    ]);
                }
            }
        }
        if written + batch == count {
            ledger.catch_up(&skus, now);
        }
        let mut txn = writer.begin().await?;
        report.orders += order_rows.flush(&txn).await?;
        line_rows.flush(&txn).await?;
        history_rows.flush(&txn).await?;
        payment_rows.flush(&txn).await?;
        report.refunds += refund_rows.flush(&txn).await?;
        report.carts += cart_rows.flush(&txn).await?;
        item_rows.flush(&txn).await?;
        report.movements += ledger.rows.flush(&txn).await?;
        // What the batch's movements left on hand, with them: each commit leaves a ledger that
        // sums to the stock levels, should the seed stop before its end.
        let mut levels = Rows::new("stock_levels", &["variant_id", "location_id", "on_hand", "reserved", "updated_at"]);
        for (index, sku) in skus.iter().enumerate().filter(|(i, _)| ledger.touched[*i]) {
            levels.push(vec![
                sku.variant_id.clone().into(),
                ledger.location.clone().into(),
                ledger.on_hand[index].into(),
                0i64.into(),
                now.into(),
            ]);
            txn.touch(crate::infra::cache::stock_key(&sku.variant_id));
        }
        ledger.touched.iter_mut().for_each(|t| *t = false);
        levels
            .flush_with(
                &txn,
                " ON CONFLICT (variant_id, location_id) DO UPDATE SET on_hand = excluded.on_hand, \
                 updated_at = excluded.updated_at",
            )
            .await?;
        txn.commit().await?;
        written += batch;
        progress(written);
    }

    // The order numbers go on after the seeded ones; the sales counters count the seeded
    // orders (a seed stopped before this point leaves them short until a later one ends).
    let mut txn = writer.begin().await?;
    if backend == DbBackend::Postgres {
        txn.execute_raw(emporium_core::db::statement(
            backend,
            "SELECT setval('order_numbers', (SELECT MAX(number) FROM orders))",
            [],
        ))
        .await?;
    }
    emporium_orders::sales::rebuild(&txn).await?;
    txn.touch_all([crate::infra::search::REINDEX, crate::infra::cache::CATALOG]);
    txn.commit().await?;
    Ok(report)
}
