//! `emporium seed --demo`: a believable demo shop (categories, 50 products, stock).

use std::collections::HashMap;

use emporium_catalog as catalog;
use emporium_core::changes::Position;
use emporium_core::uow::Writer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Shop {
    categories: Vec<ShopCategory>,
    products: Vec<ShopProduct>,
}

#[derive(Deserialize)]
struct ShopCategory {
    slug: String,
    name: String,
    parent: Option<String>,
}

#[derive(Deserialize)]
struct ShopProduct {
    name: String,
    slug: String,
    description: String,
    status: catalog::ProductStatus,
    seo_title: Option<String>,
    seo_description: Option<String>,
    categories: Vec<String>,
    images: Vec<catalog::Image>,
    options: Vec<catalog::ProductOption>,
    variants: Vec<ShopVariant>,
}

#[derive(Deserialize)]
struct ShopVariant {
    sku: String,
    title: String,
    options: serde_json::Map<String, serde_json::Value>,
    prices: Vec<ShopPrice>,
    stock: i64,
}

#[derive(Deserialize)]
struct ShopPrice {
    amount: i64,
    currency: String,
}

/// What seeding did.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub categories: usize,
    pub products: usize,
    /// Where the load sits in the change log, when it added anything: every instance's caches
    /// and search index take it from the log.
    pub position: Option<Position>,
}

/// Loads the demo shop. Idempotent: what already exists (by slug) is left alone.
pub async fn demo(writer: &Writer) -> anyhow::Result<SeedReport> {
    let shop: Shop = serde_json::from_str(include_str!("demo/shop.json"))?;
    let mut txn = writer.begin().await?;
    let mut report = SeedReport::default();
    let mut keys: Vec<String> = Vec::new();
    let mut category_ids: HashMap<String, String> = HashMap::new();
    for category in &shop.categories {
        let id = match catalog::get_category(&txn, &category.slug).await? {
            Some(existing) => existing.id,
            None => {
                let parent_id = category.parent.as_ref().and_then(|slug| category_ids.get(slug).cloned());
                let created = catalog::create_category(
                    &txn,
                    catalog::NewCategory { name: category.name.clone(), slug: Some(category.slug.clone()), parent_id },
                )
                .await?;
                report.categories += 1;
                created.id
            }
        };
        category_ids.insert(category.slug.clone(), id);
    }
    let location = emporium_inventory::ensure_location(&txn, "main", "Main warehouse").await?;
    for product in shop.products {
        if catalog::get_product(&txn, &product.slug).await?.is_some() {
            continue;
        }
        let stock: HashMap<String, i64> = product.variants.iter().map(|v| (v.sku.clone(), v.stock)).collect();
        let input = catalog::NewProduct {
            name: product.name,
            slug: Some(product.slug),
            description: Some(product.description),
            status: product.status,
            seo_title: product.seo_title,
            seo_description: product.seo_description,
            category_ids: product.categories.iter().filter_map(|slug| category_ids.get(slug).cloned()).collect(),
            options: product.options,
            images: product.images,
            variants: product
                .variants
                .into_iter()
                .map(|v| catalog::NewVariant {
                    sku: v.sku,
                    title: Some(v.title),
                    options: v
                        .options
                        .into_iter()
                        .map(|(name, value)| (name, value.as_str().unwrap_or_default().to_owned()))
                        .collect(),
                    prices: v
                        .prices
                        .into_iter()
                        .map(|p| catalog::PriceInput { amount: p.amount, currency: p.currency })
                        .collect(),
                })
                .collect(),
        };
        let change = catalog::create_product(&txn, input).await?;
        keys.extend(change.keys().map(str::to_owned));
        txn.emit(catalog::ProductEvent::of(change.kind, &change.id));
        let created = catalog::get_product(&txn, &change.id).await?;
        let mut moved = Vec::new();
        for variant in created.map(|p| p.variants).unwrap_or_default() {
            let units = stock.get(&variant.sku).copied().unwrap_or(0);
            if units > 0 {
                let restock = emporium_inventory::Adjustment {
                    variant_id: variant.id.clone(),
                    location_id: location.clone(),
                    delta: units,
                    reason: emporium_inventory::Reason::Restock,
                    note: Some("demo shop".to_owned()),
                    actor: None,
                    reference: None,
                };
                moved.push((variant.sku.clone(), emporium_inventory::adjust(&txn, &restock).await?.moved));
            }
        }
        emporium_inventory::record_change(&mut txn, [], &moved, &[]).await?;
        report.products += 1;
    }
    if report.categories + report.products > 0 {
        keys.push(crate::infra::cache::CATALOG.to_owned());
        txn.touch_all(keys);
    }
    report.position = txn.commit().await?.position;
    Ok(report)
}

/// Creates an admin staff account, unless one with this email exists (then nothing changes,
/// its password included): how a new shop gets its first admin. Returns whether an account
/// was created. The password follows the same policy as every other (10 characters or more).
pub async fn create_admin(
    db: &sea_orm::DatabaseConnection,
    email: &str,
    password: String,
) -> Result<bool, emporium_customers::AccountError> {
    let email = emporium_customers::Email::parse(email, "email")?;
    let password = emporium_customers::Password::new(password, "password")?;
    let hash = tokio::task::spawn_blocking(move || password.hash())
        .await
        .map_err(|_| emporium_customers::AccountError::Hashing)??;
    emporium_customers::ensure_staff(db, &email, &hash, emporium_customers::Role::Admin).await
}

/// Words the generated catalog's names are made of.
const ADJECTIVES: [&str; 16] = [
    "Classic",
    "Vintage",
    "Organic",
    "Rugged",
    "Compact",
    "Waxed",
    "Merino",
    "Heritage",
    "Ultralight",
    "Recycled",
    "Insulated",
    "Waterproof",
    "Linen",
    "Canvas",
    "Stoneware",
    "Bamboo",
];
const NOUNS: [&str; 20] = [
    "Mug", "Tee", "Hoodie", "Backpack", "Lantern", "Blanket", "Sneaker", "Jacket", "Bottle", "Tent", "Candle", "Scarf",
    "Skillet", "Pillow", "Duffel", "Wallet", "Beanie", "Planter", "Sandal", "Tumbler",
];
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];
const COLORS: [&str; 6] = ["Black", "White", "Olive", "Navy", "Sand", "Rust"];

/// Adds `count` generated products (20 categories, 4 variants each with a size and a colour,
/// EUR prices, stock on half the variants), for benchmarks at scale; `progress` hears how
/// many are done. Recorded in the change log as a rebuild, which every running
/// instance's search index takes.
pub async fn generated(writer: &Writer, count: usize, progress: impl Fn(u64)) -> anyhow::Result<SeedReport> {
    let run = emporium_core::id::new_id("gen");
    let run = &run[run.len() - 6..];
    let mut report = SeedReport::default();
    let txn = writer.begin().await?;
    let mut categories = Vec::new();
    for noun in NOUNS {
        let slug = format!("{}-{run}", noun.to_lowercase());
        let category = catalog::create_category(
            &txn,
            catalog::NewCategory { name: format!("{noun}s"), slug: Some(slug), parent_id: None },
        )
        .await?;
        categories.push(category.id);
        report.categories += 1;
    }
    let location = emporium_inventory::ensure_location(&txn, "main", "Main warehouse").await?;
    txn.commit().await?;
    for chunk in (0..count).collect::<Vec<_>>().chunks(1_000) {
        let mut txn = writer.begin().await?;
        for &n in chunk {
            let (adjective, noun) = (ADJECTIVES[n % ADJECTIVES.len()], NOUNS[(n / 7) % NOUNS.len()]);
            let input = catalog::NewProduct {
                name: format!("{adjective} {noun} {n}"),
                slug: Some(format!("gen-{run}-{n}")),
                description: Some(format!(
                    "A {} {} made to last, number {n} of the range.",
                    adjective.to_lowercase(),
                    noun.to_lowercase()
                )),
                status: catalog::ProductStatus::Published,
                category_ids: vec![categories[(n / 7) % categories.len()].clone()],
                options: vec![
                    catalog::ProductOption {
                        name: "Size".to_owned(),
                        values: SIZES.iter().map(|s| (*s).to_owned()).collect(),
                    },
                    catalog::ProductOption {
                        name: "Color".to_owned(),
                        values: (0..SIZES.len()).map(|v| COLORS[(n + v) % COLORS.len()].to_owned()).collect(),
                    },
                ],
                variants: (0..SIZES.len())
                    .map(|v| catalog::NewVariant {
                        sku: format!("GEN-{run}-{n}-{v}").to_uppercase(),
                        title: None,
                        options: vec![
                            ("Size".to_owned(), SIZES[v].to_owned()),
                            ("Color".to_owned(), COLORS[(n + v) % COLORS.len()].to_owned()),
                        ],
                        prices: vec![catalog::PriceInput {
                            amount: 500 + ((n * 37 + v * 11) % 20_000) as i64,
                            currency: "EUR".to_owned(),
                        }],
                    })
                    .collect(),
                seo_title: None,
                seo_description: None,
                images: Vec::new(),
            };
            let change = catalog::create_product(&txn, input).await?;
            txn.emit(catalog::ProductEvent::of(change.kind, &change.id));
            let mut moved = Vec::new();
            if let Some(product) = catalog::get_product(&txn, &change.id).await? {
                for variant in product.variants.iter().step_by(2) {
                    let restock = emporium_inventory::Adjustment {
                        variant_id: variant.id.clone(),
                        location_id: location.clone(),
                        delta: 10,
                        reason: emporium_inventory::Reason::Restock,
                        note: Some("generated catalog".to_owned()),
                        actor: None,
                        reference: None,
                    };
                    moved.push((variant.sku.clone(), emporium_inventory::adjust(&txn, &restock).await?.moved));
                }
            }
            emporium_inventory::record_change(&mut txn, [], &moved, &[]).await?;
            report.products += 1;
        }
        txn.commit().await?;
        progress(report.products as u64);
    }
    // One record for the whole load: every instance rebuilds its index rather than replaying
    // a row per product.
    let mut txn = writer.begin().await?;
    txn.touch_all([crate::infra::search::REINDEX, crate::infra::cache::CATALOG]);
    report.position = txn.commit().await?.position;
    Ok(report)
}
