//! Reads: products loaded whole (variants, prices, categories), and the row lookups writes share.

use std::collections::HashMap;

use emporium_core::db::statement;
use emporium_core::{Currency, Expected, Money, id};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::{product_categories, products, variant_prices, variants};
use crate::error::CatalogError;
use crate::model::*;

/// Loads live products by id, with variants, prices and categories, in the order asked.
/// Missing or deleted ids are left out. Four queries whatever the number of products.
pub async fn load_products<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<Product>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = products::Entity::find()
        .filter(products::Column::Id.is_in(ids.iter().cloned()))
        .filter(products::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    assemble(db, rows, ids).await
}

/// Loads one live product by id or slug.
pub async fn get_product<C: ConnectionTrait>(db: &C, id_or_slug: &str) -> Result<Option<Product>, DbErr> {
    let Some(row) = find_row(db, id_or_slug).await? else {
        return Ok(None);
    };
    let id = row.id.clone();
    Ok(assemble(db, vec![row], &[id]).await?.pop())
}

/// Takes a live product's row for the rest of the transaction and moves its version, if the
/// version is one `expected` admits; then returns the row as it now is. Changes of a product
/// and its variants never interleave: a second writer waits here, then reads the first one's
/// (on PostgreSQL each statement sees what committed before it; SQLite writers already run one
/// at a time). Checks across variants (one combination of option values per variant, the
/// count) then hold under any concurrency, and a stale `If-Match` changes nothing.
pub(super) async fn claim_product<C: ConnectionTrait>(
    db: &C,
    id_or_slug: &str,
    expected: &Expected,
) -> Result<products::Model, CatalogError> {
    let row = find_row(db, id_or_slug).await?.ok_or(CatalogError::ProductNotFound)?;
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> = vec![row.id.clone().into()];
    values.extend(versions);
    let claimed = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!("UPDATE products SET version = version + 1 WHERE id = ? AND deleted_at IS NULL{condition}"),
            values,
        ))
        .await?
        .rows_affected();
    let now = find_row(db, &row.id).await?.ok_or(CatalogError::ProductNotFound)?;
    if claimed == 0 {
        return Err(CatalogError::Stale);
    }
    Ok(now)
}

pub(super) async fn find_row<C: ConnectionTrait>(db: &C, id_or_slug: &str) -> Result<Option<products::Model>, DbErr> {
    let column = if id::is_id(PRODUCT_ID_PREFIX, id_or_slug) { products::Column::Id } else { products::Column::Slug };
    products::Entity::find().filter(column.eq(id_or_slug)).filter(products::Column::DeletedAt.is_null()).one(db).await
}

async fn assemble<C: ConnectionTrait>(
    db: &C,
    rows: Vec<products::Model>,
    order: &[String],
) -> Result<Vec<Product>, DbErr> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let links = product_categories::Entity::find()
        .filter(product_categories::Column::ProductId.is_in(ids.clone()))
        .order_by_asc(product_categories::Column::Position)
        .all(db)
        .await?;
    let variant_rows = variants::Entity::find()
        .filter(variants::Column::ProductId.is_in(ids))
        .filter(variants::Column::DeletedAt.is_null())
        .order_by_asc(variants::Column::Position)
        .all(db)
        .await?;
    let variant_ids: Vec<String> = variant_rows.iter().map(|v| v.id.clone()).collect();
    let price_rows = if variant_ids.is_empty() {
        Vec::new()
    } else {
        variant_prices::Entity::find()
            .filter(variant_prices::Column::VariantId.is_in(variant_ids))
            .order_by_asc(variant_prices::Column::Currency)
            .all(db)
            .await?
    };

    let mut prices: HashMap<String, Vec<Money>> = HashMap::new();
    for row in price_rows {
        // Rows are written through `Money`, so both checks hold; a bad row is skipped, not fatal.
        if let Ok(money) = Currency::parse(&row.currency).and_then(|c| Money::new(row.amount, c)) {
            prices.entry(row.variant_id).or_default().push(money);
        }
    }
    let mut variants_by_product: HashMap<String, Vec<Variant>> = HashMap::new();
    for row in variant_rows {
        let variant = Variant {
            prices: prices.remove(&row.id).unwrap_or_default(),
            options: decode_pairs(&row.options),
            id: row.id,
            sku: row.sku,
            title: row.title,
        };
        variants_by_product.entry(row.product_id).or_default().push(variant);
    }
    let mut categories_by_product: HashMap<String, Vec<String>> = HashMap::new();
    for link in links {
        categories_by_product.entry(link.product_id).or_default().push(link.category_id);
    }

    let mut by_id: HashMap<String, Product> = rows
        .into_iter()
        .map(|row| {
            let product = Product {
                category_ids: categories_by_product.remove(&row.id).unwrap_or_default(),
                variants: variants_by_product.remove(&row.id).unwrap_or_default(),
                status: ProductStatus::parse(&row.status).unwrap_or(ProductStatus::Draft),
                options: serde_json::from_str(&row.options).unwrap_or_default(),
                images: serde_json::from_str(&row.images).unwrap_or_default(),
                id: row.id.clone(),
                slug: row.slug,
                name: row.name,
                description: row.description,
                seo_title: row.seo_title,
                seo_description: row.seo_description,
                created_at: row.created_at,
                updated_at: row.updated_at,
                version: row.version,
            };
            (row.id, product)
        })
        .collect();
    Ok(order.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Variant options are stored as a JSON array of `[name, value]` pairs to keep their order.
pub(super) fn decode_pairs(text: &str) -> Vec<(String, String)> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(super) fn encode_pairs(pairs: &[(String, String)]) -> String {
    serde_json::to_string(pairs).unwrap_or_else(|_| "[]".to_owned())
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}
