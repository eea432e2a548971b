//! Products: created with their variants, patched, deleted.

use std::collections::HashSet;

use chrono::Utc;
use emporium_core::{Expected, Slug, ValidationErrors, id, slug};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::helpers::{
    check_categories_exist, ensure_sku_free, free_product_slug, insert_variant, live_variants, map_unique,
    product_slug_taken, refresh_derived, replace_categories,
};
use super::reads::{claim_product, decode_pairs, to_json};
use crate::entity::{products, variants};
use crate::error::CatalogError;
use crate::events::ChangeKind;
use crate::model::*;
use crate::validate::{self, CheckedVariant, VariantDraft};

/// Creates a product with its variants. All or nothing: the caller's transaction rolls back
/// on any error.
pub async fn create_product<C: ConnectionTrait>(db: &C, input: NewProduct) -> Result<ProductChange, CatalogError> {
    let mut errors = ValidationErrors::new();
    let name = validate::name(&mut errors, &input.name);
    let given_slug = input.slug.as_deref().and_then(|slug| Slug::check(&mut errors, "slug", slug));
    let description = validate::description(&mut errors, input.description.as_deref());
    let seo_title = validate::seo_title(&mut errors, input.seo_title.as_deref());
    let seo_description = validate::seo_description(&mut errors, input.seo_description.as_deref());
    validate::category_ids(&mut errors, &input.category_ids);
    check_categories_exist(db, &mut errors, &input.category_ids).await?;
    let options = validate::options(&mut errors, &input.options);
    let images = validate::images(&mut errors, &input.images);
    if input.variants.is_empty() {
        errors.add("variants", "required", "a product needs at least one variant");
    } else if input.variants.len() > validate::MAX_VARIANTS {
        errors.add("variants", "too_many", format!("at most {} variants", validate::MAX_VARIANTS));
    }
    let drafts: Vec<VariantDraft> = input
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| validate::variant(&mut errors, &format!("variants[{i}]"), &options, v))
        .collect();
    let mut skus = HashSet::new();
    let mut combinations = HashSet::new();
    for (i, variant) in drafts.iter().enumerate() {
        if variant.sku.as_ref().is_some_and(|sku| !skus.insert(sku.clone())) {
            errors.add(format!("variants[{i}].sku"), "duplicate", "another variant in this request has this SKU");
        }
        if variant.options.len() == options.len() && !combinations.insert(variant.options.clone()) {
            errors.add(
                format!("variants[{i}].options"),
                "duplicate_combination",
                "another variant has the same option values",
            );
        }
    }
    errors.finish(())?;
    let checked: Vec<CheckedVariant> = drafts.into_iter().filter_map(VariantDraft::checked).collect();

    let given = given_slug.is_some();
    let mut slug = match given_slug {
        Some(slug) => {
            if product_slug_taken(db, &slug, None).await? {
                return Err(CatalogError::SlugTaken { slug: slug.into_string() });
            }
            slug
        }
        None => free_product_slug(db, &slug::slugify(&name)).await?,
    };
    for variant in &checked {
        ensure_sku_free(db, &variant.sku, None).await?;
    }

    let now = Utc::now();
    let product_id = id::new_id(PRODUCT_ID_PREFIX);
    let name_for_slug = name.clone();
    let row = products::ActiveModel {
        id: Set(product_id.clone()),
        slug: Set(slug.to_string()),
        name: Set(name),
        description: Set(description),
        status: Set(input.status.as_str().to_owned()),
        seo_title: Set(seo_title),
        seo_description: Set(seo_description),
        options: Set(to_json(&options)),
        images: Set(to_json(&images)),
        search_text: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        version: Set(1),
    };
    // A slug made from the name that a concurrent create takes first is not a conflict: the
    // next free one is taken instead (the insert does nothing on a taken slug, which leaves a
    // PostgreSQL transaction usable, and each retry sees what committed meanwhile).
    let mut attempts = 0;
    loop {
        let mut row = row.clone();
        row.slug = Set(slug.to_string());
        let mut on_taken = sea_orm::sea_query::OnConflict::column(products::Column::Slug);
        on_taken.target_and_where(products::Column::DeletedAt.is_null()).do_nothing();
        let inserted =
            products::Entity::insert(row).on_conflict(on_taken).exec_without_returning(db).await.or_else(|e| {
                if matches!(e, DbErr::RecordNotInserted) { Ok(0) } else { Err(map_unique(e, slug.as_str(), "")) }
            })?;
        if inserted == 1 {
            break;
        }
        attempts += 1;
        if given || attempts >= 10 {
            return Err(CatalogError::SlugTaken { slug: slug.into_string() });
        }
        slug = free_product_slug(db, &slug::slugify(&name_for_slug)).await?;
    }
    replace_categories(db, &product_id, &input.category_ids).await?;
    for (position, variant) in checked.iter().enumerate() {
        insert_variant(db, &product_id, variant, position as i32).await?;
    }
    refresh_derived(db, &product_id).await?;
    Ok(ProductChange { id: product_id, slugs: vec![slug.into_string()], kind: ChangeKind::Created })
}

/// Applies a merge patch to a product's own fields, if it is at a version `expected` admits.
pub async fn patch_product<C: ConnectionTrait>(
    db: &C,
    id_or_slug: &str,
    patch: ProductPatch,
    expected: &Expected,
) -> Result<ProductChange, CatalogError> {
    use emporium_core::Patch;
    let row = claim_product(db, id_or_slug, expected).await?;
    let mut errors = ValidationErrors::new();
    let mut change = ProductChange { id: row.id.clone(), slugs: vec![row.slug.clone()], kind: ChangeKind::Updated };
    let mut update =
        products::ActiveModel { id: sea_orm::ActiveValue::Unchanged(row.id.clone()), ..Default::default() };

    match patch.name {
        Patch::Missing => {}
        Patch::Null => errors.add("name", "required", "must not be null"),
        Patch::Value(name) => update.name = Set(validate::name(&mut errors, &name)),
    }
    let mut new_slug = None;
    match patch.slug {
        Patch::Missing => {}
        Patch::Null => errors.add("slug", "required", "must not be null"),
        Patch::Value(slug) => {
            new_slug = Slug::check(&mut errors, "slug", &slug).filter(|slug| slug.as_str() != row.slug);
        }
    }
    match patch.description {
        Patch::Missing => {}
        Patch::Null => update.description = Set(None),
        Patch::Value(text) => update.description = Set(validate::description(&mut errors, Some(&text))),
    }
    match patch.status {
        Patch::Missing => {}
        Patch::Null => errors.add("status", "required", "must not be null"),
        Patch::Value(status) => update.status = Set(status.as_str().to_owned()),
    }
    match patch.seo_title {
        Patch::Missing => {}
        Patch::Null => update.seo_title = Set(None),
        Patch::Value(text) => update.seo_title = Set(validate::seo_title(&mut errors, Some(&text))),
    }
    match patch.seo_description {
        Patch::Missing => {}
        Patch::Null => update.seo_description = Set(None),
        Patch::Value(text) => update.seo_description = Set(validate::seo_description(&mut errors, Some(&text))),
    }
    let category_ids = match patch.category_ids {
        Patch::Missing => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(ids) => {
            validate::category_ids(&mut errors, &ids);
            check_categories_exist(db, &mut errors, &ids).await?;
            Some(ids)
        }
    };
    let options = match patch.options {
        Patch::Missing => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(options) => Some(validate::options(&mut errors, &options)),
    };
    if let Some(options) = &options {
        let live = live_variants(db, &row.id).await?;
        let fits = live.iter().all(|v| {
            let pairs = decode_pairs(&v.options);
            pairs.len() == options.len()
                && pairs.iter().all(|(n, val)| options.iter().any(|o| &o.name == n && o.values.contains(val)))
        });
        if !fits {
            errors.add(
                "options",
                "conflicts_with_variants",
                "every variant must name one value of each option; change the variants first",
            );
        }
        update.options = Set(to_json(options));
    }
    match patch.images {
        Patch::Missing => {}
        Patch::Null => update.images = Set(to_json::<Vec<Image>>(&Vec::new())),
        Patch::Value(images) => update.images = Set(to_json(&validate::images(&mut errors, &images))),
    }
    errors.finish(())?;

    if let Some(slug) = new_slug {
        if product_slug_taken(db, &slug, Some(&row.id)).await? {
            return Err(CatalogError::SlugTaken { slug: slug.into_string() });
        }
        update.slug = Set(slug.to_string());
        change.slugs.push(slug.into_string());
    }
    update.updated_at = Set(Utc::now());
    let new_slug_text = change.slugs.last().cloned().unwrap_or_default();
    products::Entity::update(update).exec(db).await.map_err(|e| map_unique(e, &new_slug_text, ""))?;
    if let Some(ids) = category_ids {
        replace_categories(db, &row.id, &ids).await?;
    }
    refresh_derived(db, &row.id).await?;
    Ok(change)
}

/// Deletes a product: it reads as not found from now on, and its slug and SKUs become free.
/// Rows stay, because stock movements and placed orders point at them. Only at a version
/// `expected` admits.
pub async fn delete_product<C: ConnectionTrait>(
    db: &C,
    id_or_slug: &str,
    expected: &Expected,
) -> Result<ProductChange, CatalogError> {
    let row = claim_product(db, id_or_slug, expected).await?;
    let now = Utc::now();
    products::Entity::update_many()
        .col_expr(products::Column::DeletedAt, Expr::value(now))
        .filter(products::Column::Id.eq(row.id.as_str()))
        .exec(db)
        .await?;
    variants::Entity::update_many()
        .col_expr(variants::Column::DeletedAt, Expr::value(now))
        .filter(variants::Column::ProductId.eq(row.id.as_str()))
        .filter(variants::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(ProductChange { id: row.id, slugs: vec![row.slug], kind: ChangeKind::Deleted })
}
