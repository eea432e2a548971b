//! Variants of a product: added, patched, deleted.

use chrono::Utc;
use emporium_core::{Expected, Sku, ValidationErrors};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::helpers::{ensure_sku_free, insert_prices, insert_variant, live_variants, map_unique, refresh_derived};
use super::reads::{claim_product, decode_pairs, encode_pairs};
use crate::entity::{variant_prices, variants};
use crate::error::CatalogError;
use crate::events::ChangeKind;
use crate::model::*;
use crate::validate;

/// Adds a variant at the end of a product's variants, if the product is at a version `expected`
/// admits; returns the change and the new id.
pub async fn add_variant<C: ConnectionTrait>(
    db: &C,
    product: &str,
    input: NewVariant,
    expected: &Expected,
) -> Result<(ProductChange, String), CatalogError> {
    let row = claim_product(db, product, expected).await?;
    let options: Vec<ProductOption> = serde_json::from_str(&row.options).unwrap_or_default();
    let live = live_variants(db, &row.id).await?;
    let mut errors = ValidationErrors::new();
    let draft = validate::variant(&mut errors, "", &options, &input);
    if live.len() >= validate::MAX_VARIANTS {
        errors.add("body", "too_many", format!("a product has at most {} variants", validate::MAX_VARIANTS));
    }
    if live.iter().any(|v| decode_pairs(&v.options) == draft.options) {
        errors.add("options", "duplicate_combination", "another variant has the same option values");
    }
    let checked = errors.finish(draft)?.checked().ok_or_else(|| {
        let mut refused = ValidationErrors::new();
        Sku::check(&mut refused, "sku", &input.sku);
        CatalogError::from(refused)
    })?;
    ensure_sku_free(db, &checked.sku, None).await?;
    let position = live.iter().map(|v| v.position).max().map_or(0, |p| p + 1);
    let variant_id = insert_variant(db, &row.id, &checked, position).await?;
    refresh_derived(db, &row.id).await?;
    Ok((ProductChange { id: row.id, slugs: vec![row.slug], kind: ChangeKind::Updated }, variant_id))
}

/// Applies a merge patch to one variant, if its product is at a version `expected` admits.
pub async fn patch_variant<C: ConnectionTrait>(
    db: &C,
    product: &str,
    variant_id: &str,
    patch: VariantPatch,
    expected: &Expected,
) -> Result<ProductChange, CatalogError> {
    use emporium_core::Patch;
    let row = claim_product(db, product, expected).await?;
    let live = live_variants(db, &row.id).await?;
    let current = live.iter().find(|v| v.id == variant_id).ok_or(CatalogError::VariantNotFound)?;
    let options: Vec<ProductOption> = serde_json::from_str(&row.options).unwrap_or_default();
    let mut errors = ValidationErrors::new();
    let mut update =
        variants::ActiveModel { id: sea_orm::ActiveValue::Unchanged(current.id.clone()), ..Default::default() };

    let mut new_sku = None;
    match patch.sku {
        Patch::Missing => {}
        Patch::Null => errors.add("sku", "required", "must not be null"),
        Patch::Value(sku) => {
            new_sku = Sku::check(&mut errors, "sku", &sku).filter(|sku| sku.as_str() != current.sku);
        }
    }
    let pairs = match patch.options {
        Patch::Missing => decode_pairs(&current.options),
        Patch::Null => {
            errors.add("options", "required", "must not be null");
            decode_pairs(&current.options)
        }
        Patch::Value(given) => {
            let pairs = validate::variant_options(&mut errors, "options", &options, &given);
            if live.iter().any(|v| v.id != current.id && decode_pairs(&v.options) == pairs) {
                errors.add("options", "duplicate_combination", "another variant has the same option values");
            }
            update.options = Set(encode_pairs(&pairs));
            pairs
        }
    };
    match patch.title {
        Patch::Missing => {}
        Patch::Null => update.title = Set(validate::default_title(&pairs)),
        Patch::Value(title) => {
            update.title = Set(validate::required_text(&mut errors, "title", &title, validate::MAX_NAME))
        }
    }
    let prices = match patch.prices {
        Patch::Missing => None,
        Patch::Null => {
            errors.add("prices", "required", "a variant needs at least one price");
            None
        }
        Patch::Value(prices) => Some(validate::prices(&mut errors, "prices", &prices)),
    };
    errors.finish(())?;

    if let Some(sku) = &new_sku {
        ensure_sku_free(db, sku, Some(&current.id)).await?;
        update.sku = Set(sku.to_string());
    }
    update.updated_at = Set(Utc::now());
    variants::Entity::update(update)
        .exec(db)
        .await
        .map_err(|e| map_unique(e, "", new_sku.as_ref().map_or("", Sku::as_str)))?;
    if let Some(prices) = prices {
        variant_prices::Entity::delete_many()
            .filter(variant_prices::Column::VariantId.eq(current.id.as_str()))
            .exec(db)
            .await?;
        insert_prices(db, &current.id, &prices).await?;
    }
    refresh_derived(db, &row.id).await?;
    Ok(ProductChange { id: row.id, slugs: vec![row.slug], kind: ChangeKind::Updated })
}

/// Deletes a variant, if its product is at a version `expected` admits; its SKU becomes free.
/// A product keeps at least one variant.
pub async fn delete_variant<C: ConnectionTrait>(
    db: &C,
    product: &str,
    variant_id: &str,
    expected: &Expected,
) -> Result<ProductChange, CatalogError> {
    let row = claim_product(db, product, expected).await?;
    let live = live_variants(db, &row.id).await?;
    if !live.iter().any(|v| v.id == variant_id) {
        return Err(CatalogError::VariantNotFound);
    }
    if live.len() == 1 {
        return Err(CatalogError::LastVariant);
    }
    variants::Entity::update_many()
        .col_expr(variants::Column::DeletedAt, Expr::value(Utc::now()))
        .filter(variants::Column::Id.eq(variant_id))
        .exec(db)
        .await?;
    refresh_derived(db, &row.id).await?;
    Ok(ProductChange { id: row.id, slugs: vec![row.slug], kind: ChangeKind::Updated })
}
