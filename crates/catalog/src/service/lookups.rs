//! Lookups the other domains use: variants by SKU or id, and what a cart needs of them.

use emporium_core::{Currency, Sku};
use sea_orm::{ConnectionTrait, DbErr};

/// A live variant as other domains name it: by SKU, with its product's id and slug (the keys
/// its cached documents are read by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRef {
    pub variant_id: String,
    pub sku: String,
    pub product_id: String,
    pub product_slug: String,
}

const VARIANT_REF: &str = "SELECT v.id AS variant_id, v.sku, p.id AS product_id, p.slug AS product_slug \
                           FROM variants v JOIN products p ON p.id = v.product_id \
                           WHERE v.deleted_at IS NULL AND p.deleted_at IS NULL";

fn variant_ref(row: &sea_orm::QueryResult) -> Result<VariantRef, DbErr> {
    Ok(VariantRef {
        variant_id: row.try_get("", "variant_id")?,
        sku: row.try_get("", "sku")?,
        product_id: row.try_get("", "product_id")?,
        product_slug: row.try_get("", "product_slug")?,
    })
}

/// The live variant with this SKU.
pub async fn variant_by_sku<C: ConnectionTrait>(db: &C, sku: &Sku) -> Result<Option<VariantRef>, DbErr> {
    let row = db
        .query_one_raw(emporium_core::db::statement(
            db.get_database_backend(),
            &format!("{VARIANT_REF} AND v.sku = ?"),
            [sku.into()],
        ))
        .await?;
    row.as_ref().map(variant_ref).transpose()
}

/// Live variants by id, in no particular order (missing ones left out).
pub async fn variant_refs<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<VariantRef>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{VARIANT_REF} AND v.id IN ({})", vec!["?"; ids.len()].join(", "));
    let values: Vec<sea_orm::Value> = ids.iter().map(|id| id.clone().into()).collect();
    let rows = db.query_all_raw(emporium_core::db::statement(db.get_database_backend(), &sql, values)).await?;
    rows.iter().map(variant_ref).collect()
}

/// What a cart needs of a variant: whether it can be bought, what it is called and its price
/// in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchasable {
    pub variant_id: String,
    pub sku: String,
    pub product_id: String,
    /// The product's name, with the variant's title when it has one.
    pub title: String,
    /// Published and not deleted: only then may it be added or bought.
    pub purchasable: bool,
    /// The price in the currency asked for, in minor units, if it has one.
    pub price: Option<i64>,
}

const PURCHASABLE: &str = "SELECT v.id AS variant_id, v.sku, p.id AS product_id, p.name, v.title, \
     CAST(CASE WHEN v.deleted_at IS NULL AND p.deleted_at IS NULL AND p.status = 'published' THEN 1 ELSE 0 END AS BIGINT) \
     AS purchasable, vp.amount FROM variants v JOIN products p ON p.id = v.product_id \
     LEFT JOIN variant_prices vp ON vp.variant_id = v.id AND vp.currency = ?";

fn purchasable(row: &sea_orm::QueryResult) -> Result<Purchasable, DbErr> {
    let name: String = row.try_get("", "name")?;
    let variant_title: String = row.try_get("", "title")?;
    let title = if variant_title.trim().is_empty() || variant_title == name {
        name
    } else {
        format!("{name} – {variant_title}")
    };
    Ok(Purchasable {
        variant_id: row.try_get("", "variant_id")?,
        sku: row.try_get("", "sku")?,
        product_id: row.try_get("", "product_id")?,
        title,
        purchasable: row.try_get::<i64>("", "purchasable")? == 1,
        price: row.try_get("", "amount")?,
    })
}

/// The variant a SKU names for a shopper, priced in `currency`: the live one, else the last
/// deleted one (so a deleted product's SKU reads as not purchasable rather than unknown).
pub async fn purchasable_by_sku<C: ConnectionTrait>(
    db: &C,
    sku: &Sku,
    currency: Currency,
) -> Result<Option<Purchasable>, DbErr> {
    let row = db
        .query_one_raw(emporium_core::db::statement(
            db.get_database_backend(),
            &format!("{PURCHASABLE} WHERE v.sku = ? ORDER BY v.deleted_at IS NULL DESC, v.created_at DESC LIMIT 1"),
            [currency.code().into(), sku.into()],
        ))
        .await?;
    row.as_ref().map(purchasable).transpose()
}

/// Variants by id as a cart shows them, priced in `currency` (missing ids left out).
pub async fn purchasables<C: ConnectionTrait>(
    db: &C,
    variant_ids: &[String],
    currency: &str,
) -> Result<Vec<Purchasable>, DbErr> {
    if variant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{PURCHASABLE} WHERE v.id IN ({})", vec!["?"; variant_ids.len()].join(", "));
    let mut values: Vec<sea_orm::Value> = vec![currency.into()];
    values.extend(variant_ids.iter().map(|id| id.clone().into()));
    let rows = db.query_all_raw(emporium_core::db::statement(db.get_database_backend(), &sql, values)).await?;
    rows.iter().map(purchasable).collect()
}
