//! What writes share: existence and uniqueness checks, free slugs, rows of variants, prices
//! and category links, what is derived from a product's rows.

use std::collections::HashSet;

use chrono::Utc;
use emporium_core::db::{is_unique_violation, statement};
use emporium_core::{Money, Sku, Slug, ValidationErrors, id};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::reads::encode_pairs;
use crate::entity::{categories, product_categories, products, variant_prices, variants};
use crate::error::CatalogError;
use crate::model::*;
use crate::validate::CheckedVariant;

pub(super) async fn check_categories_exist<C: ConnectionTrait>(
    db: &C,
    errors: &mut ValidationErrors,
    ids: &[String],
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: HashSet<String> = categories::Entity::find()
        .filter(categories::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    for (i, id) in ids.iter().enumerate() {
        if !found.contains(id) {
            errors.add(format!("category_ids[{i}]"), "unknown_category", "no category has this id");
        }
    }
    Ok(())
}

pub(super) async fn live_variants<C: ConnectionTrait>(db: &C, product_id: &str) -> Result<Vec<variants::Model>, DbErr> {
    variants::Entity::find()
        .filter(variants::Column::ProductId.eq(product_id))
        .filter(variants::Column::DeletedAt.is_null())
        .order_by_asc(variants::Column::Position)
        .all(db)
        .await
}

pub(super) async fn product_slug_taken<C: ConnectionTrait>(
    db: &C,
    slug: &Slug,
    except: Option<&str>,
) -> Result<bool, DbErr> {
    let mut query = products::Entity::find()
        .filter(products::Column::Slug.eq(slug.as_str()))
        .filter(products::Column::DeletedAt.is_null());
    if let Some(id) = except {
        query = query.filter(products::Column::Id.ne(id));
    }
    Ok(query.one(db).await?.is_some())
}

pub(super) async fn ensure_sku_free<C: ConnectionTrait>(
    db: &C,
    sku: &Sku,
    except: Option<&str>,
) -> Result<(), CatalogError> {
    let mut query = variants::Entity::find()
        .filter(variants::Column::Sku.eq(sku.as_str()))
        .filter(variants::Column::DeletedAt.is_null());
    if let Some(id) = except {
        query = query.filter(variants::Column::Id.ne(id));
    }
    if query.one(db).await?.is_some() {
        return Err(CatalogError::SkuTaken { sku: sku.to_string() });
    }
    Ok(())
}

/// Which table a generated slug must be free in.
pub(super) trait SlugTable {
    fn taken_sql(&self) -> &'static str;
}
struct ProductSlugs;
pub(super) struct CategorySlugs;
impl SlugTable for ProductSlugs {
    fn taken_sql(&self) -> &'static str {
        "SELECT slug FROM products WHERE deleted_at IS NULL AND (slug = ? OR slug LIKE ? ESCAPE '\\')"
    }
}
impl SlugTable for CategorySlugs {
    fn taken_sql(&self) -> &'static str {
        "SELECT slug FROM categories WHERE slug = ? OR slug LIKE ? ESCAPE '\\'"
    }
}

pub(super) async fn free_product_slug<C: ConnectionTrait>(db: &C, base: &Slug) -> Result<Slug, DbErr> {
    free_slug(db, ProductSlugs, base).await
}

/// `base`, or `base-2`, `base-3`, ... whichever is free first.
pub(super) async fn free_slug<C: ConnectionTrait>(db: &C, table: impl SlugTable, base: &Slug) -> Result<Slug, DbErr> {
    let pattern = format!("{}-%", emporium_core::db::like_escape(base.as_str()));
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), table.taken_sql(), [base.as_str().into(), pattern.into()]))
        .await?;
    let taken: HashSet<String> = rows.iter().filter_map(|r| r.try_get::<String>("", "slug").ok()).collect();
    if !taken.contains(base.as_str()) {
        return Ok(base.clone());
    }
    Ok((2..).map(|n| base.numbered(n)).find(|slug| !taken.contains(slug.as_str())).unwrap_or_else(|| base.numbered(2)))
}

pub(super) async fn replace_categories<C: ConnectionTrait>(
    db: &C,
    product_id: &str,
    ids: &[String],
) -> Result<(), DbErr> {
    product_categories::Entity::delete_many()
        .filter(product_categories::Column::ProductId.eq(product_id))
        .exec(db)
        .await?;
    if ids.is_empty() {
        return Ok(());
    }
    let rows = ids.iter().enumerate().map(|(position, category_id)| product_categories::ActiveModel {
        product_id: Set(product_id.to_owned()),
        category_id: Set(category_id.clone()),
        position: Set(position as i32),
    });
    product_categories::Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

pub(super) async fn insert_variant<C: ConnectionTrait>(
    db: &C,
    product_id: &str,
    variant: &CheckedVariant,
    position: i32,
) -> Result<String, CatalogError> {
    let now = Utc::now();
    let variant_id = id::new_id(VARIANT_ID_PREFIX);
    variants::Entity::insert(variants::ActiveModel {
        id: Set(variant_id.clone()),
        product_id: Set(product_id.to_owned()),
        sku: Set(variant.sku.to_string()),
        title: Set(variant.title.clone()),
        options: Set(encode_pairs(&variant.options)),
        position: Set(position),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .map_err(|e| map_unique(e, "", variant.sku.as_str()))?;
    insert_prices(db, &variant_id, &variant.prices).await?;
    Ok(variant_id)
}

pub(super) async fn insert_prices<C: ConnectionTrait>(db: &C, variant_id: &str, prices: &[Money]) -> Result<(), DbErr> {
    if prices.is_empty() {
        return Ok(());
    }
    let rows = prices.iter().map(|money| variant_prices::ActiveModel {
        variant_id: Set(variant_id.to_owned()),
        currency: Set(money.currency().code().to_owned()),
        amount: Set(money.amount()),
    });
    variant_prices::Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

/// Recomputes what is derived from a product's rows: its search text, its lowest price per
/// currency and its `updated_at`.
pub(super) async fn refresh_derived<C: ConnectionTrait>(db: &C, product_id: &str) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let Some(row) = products::Entity::find_by_id(product_id).one(db).await? else {
        return Ok(());
    };
    let skus: Vec<String> = live_variants(db, product_id).await?.into_iter().map(|v| v.sku).collect();
    let search_text =
        format!("{}\n{}\n{}", row.name, row.description.unwrap_or_default(), skus.join("\n")).to_lowercase();
    products::Entity::update_many()
        .col_expr(products::Column::SearchText, Expr::value(search_text))
        .col_expr(products::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(products::Column::Id.eq(product_id))
        .exec(db)
        .await?;
    db.execute_raw(statement(backend, "DELETE FROM product_prices WHERE product_id = ?", [product_id.into()])).await?;
    db.execute_raw(statement(
        backend,
        "INSERT INTO product_prices (product_id, currency, min_amount) \
         SELECT v.product_id, vp.currency, MIN(vp.amount) FROM variant_prices vp \
         JOIN variants v ON v.id = vp.variant_id \
         WHERE v.product_id = ? AND v.deleted_at IS NULL GROUP BY v.product_id, vp.currency",
        [product_id.into()],
    ))
    .await?;
    Ok(())
}

/// A unique violation that slipped past the checks (a concurrent writer) is still a 409.
pub(super) fn map_unique(err: DbErr, slug: &str, sku: &str) -> CatalogError {
    if is_unique_violation(&err, "products", "slug") {
        CatalogError::SlugTaken { slug: slug.to_owned() }
    } else if is_unique_violation(&err, "variants", "sku") {
        CatalogError::SkuTaken { sku: sku.to_owned() }
    } else {
        CatalogError::Database(err)
    }
}
