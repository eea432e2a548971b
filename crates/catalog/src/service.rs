//! Catalog operations. Writes expect to run inside the caller's write transaction.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use emporium_core::db::{is_unique_violation, statement};
use emporium_core::{Currency, Money, ValidationErrors, id, slug};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::{categories, product_categories, products, variant_prices, variants};
use crate::error::CatalogError;
use crate::model::*;
use crate::validate::{self, CheckedVariant};

// ---------------------------------------------------------------------------------------
// Reads

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

/// Takes a product's row for the rest of the transaction, so changes of its variants never
/// interleave: a second writer waits here, then reads the first one's variants (on PostgreSQL
/// each statement sees what committed before it; SQLite writers already run one at a time).
/// Checks across variants (one combination of option values per variant, the count) then hold
/// under any concurrency.
async fn lock_product<C: ConnectionTrait>(db: &C, product_id: &str) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE products SET updated_at = updated_at WHERE id = ?",
        [product_id.into()],
    ))
    .await?;
    Ok(())
}

async fn find_row<C: ConnectionTrait>(db: &C, id_or_slug: &str) -> Result<Option<products::Model>, DbErr> {
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
            };
            (row.id, product)
        })
        .collect();
    Ok(order.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Variant options are stored as a JSON array of `[name, value]` pairs to keep their order.
fn decode_pairs(text: &str) -> Vec<(String, String)> {
    serde_json::from_str(text).unwrap_or_default()
}

fn encode_pairs(pairs: &[(String, String)]) -> String {
    serde_json::to_string(pairs).unwrap_or_else(|_| "[]".to_owned())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

// ---------------------------------------------------------------------------------------
// Products

/// Creates a product with its variants. All or nothing: the caller's transaction rolls back
/// on any error.
pub async fn create_product<C: ConnectionTrait>(db: &C, input: NewProduct) -> Result<ProductChange, CatalogError> {
    let mut errors = ValidationErrors::new();
    let name = validate::name(&mut errors, &input.name);
    if let Some(slug) = &input.slug {
        validate::slug_field(&mut errors, "slug", slug);
    }
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
    let checked: Vec<CheckedVariant> = input
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| validate::variant(&mut errors, &format!("variants[{i}]"), &options, v))
        .collect();
    let mut skus = HashSet::new();
    let mut combinations = HashSet::new();
    for (i, variant) in checked.iter().enumerate() {
        if !variant.sku.is_empty() && !skus.insert(variant.sku.clone()) {
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

    let given = input.slug.is_some();
    let mut slug = match input.slug {
        Some(slug) => {
            if product_slug_taken(db, &slug, None).await? {
                return Err(CatalogError::SlugTaken { slug });
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
        slug: Set(slug.clone()),
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
    };
    // A slug made from the name that a concurrent create takes first is not a conflict: the
    // next free one is taken instead (the insert does nothing on a taken slug, which leaves a
    // PostgreSQL transaction usable, and each retry sees what committed meanwhile).
    let mut attempts = 0;
    loop {
        let mut row = row.clone();
        row.slug = Set(slug.clone());
        let mut on_taken = sea_orm::sea_query::OnConflict::column(products::Column::Slug);
        on_taken.target_and_where(products::Column::DeletedAt.is_null()).do_nothing();
        let inserted =
            products::Entity::insert(row).on_conflict(on_taken).exec_without_returning(db).await.or_else(|e| {
                if matches!(e, DbErr::RecordNotInserted) { Ok(0) } else { Err(map_unique(e, &slug, "")) }
            })?;
        if inserted == 1 {
            break;
        }
        attempts += 1;
        if given || attempts >= 10 {
            return Err(CatalogError::SlugTaken { slug });
        }
        slug = free_product_slug(db, &slug::slugify(&name_for_slug)).await?;
    }
    replace_categories(db, &product_id, &input.category_ids).await?;
    for (position, variant) in checked.iter().enumerate() {
        insert_variant(db, &product_id, variant, position as i32).await?;
    }
    refresh_derived(db, &product_id).await?;
    Ok(ProductChange { id: product_id, slugs: vec![slug] })
}

/// Applies a merge patch to a product's own fields.
pub async fn patch_product<C: ConnectionTrait>(
    db: &C,
    id_or_slug: &str,
    patch: ProductPatch,
) -> Result<ProductChange, CatalogError> {
    use emporium_core::Patch;
    let row = find_row(db, id_or_slug).await?.ok_or(CatalogError::ProductNotFound)?;
    let mut errors = ValidationErrors::new();
    let mut change = ProductChange { id: row.id.clone(), slugs: vec![row.slug.clone()] };
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
            validate::slug_field(&mut errors, "slug", &slug);
            if slug != row.slug {
                new_slug = Some(slug);
            }
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
            return Err(CatalogError::SlugTaken { slug });
        }
        update.slug = Set(slug.clone());
        change.slugs.push(slug);
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
/// Rows stay, because stock movements and placed orders point at them.
pub async fn delete_product<C: ConnectionTrait>(db: &C, id_or_slug: &str) -> Result<ProductChange, CatalogError> {
    let row = find_row(db, id_or_slug).await?.ok_or(CatalogError::ProductNotFound)?;
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
    Ok(ProductChange { id: row.id, slugs: vec![row.slug] })
}

// ---------------------------------------------------------------------------------------
// Variants

/// Adds a variant at the end of a product's variants; returns the change and the new id.
pub async fn add_variant<C: ConnectionTrait>(
    db: &C,
    product: &str,
    input: NewVariant,
) -> Result<(ProductChange, String), CatalogError> {
    let row = find_row(db, product).await?.ok_or(CatalogError::ProductNotFound)?;
    lock_product(db, &row.id).await?;
    let row = find_row(db, &row.id).await?.ok_or(CatalogError::ProductNotFound)?;
    let options: Vec<ProductOption> = serde_json::from_str(&row.options).unwrap_or_default();
    let live = live_variants(db, &row.id).await?;
    let mut errors = ValidationErrors::new();
    let checked = validate::variant(&mut errors, "", &options, &input);
    if live.len() >= validate::MAX_VARIANTS {
        errors.add("body", "too_many", format!("a product has at most {} variants", validate::MAX_VARIANTS));
    }
    if live.iter().any(|v| decode_pairs(&v.options) == checked.options) {
        errors.add("options", "duplicate_combination", "another variant has the same option values");
    }
    errors.finish(())?;
    ensure_sku_free(db, &checked.sku, None).await?;
    let position = live.iter().map(|v| v.position).max().map_or(0, |p| p + 1);
    let variant_id = insert_variant(db, &row.id, &checked, position).await?;
    refresh_derived(db, &row.id).await?;
    Ok((ProductChange { id: row.id, slugs: vec![row.slug] }, variant_id))
}

/// Applies a merge patch to one variant.
pub async fn patch_variant<C: ConnectionTrait>(
    db: &C,
    product: &str,
    variant_id: &str,
    patch: VariantPatch,
) -> Result<ProductChange, CatalogError> {
    use emporium_core::Patch;
    let row = find_row(db, product).await?.ok_or(CatalogError::ProductNotFound)?;
    lock_product(db, &row.id).await?;
    let row = find_row(db, &row.id).await?.ok_or(CatalogError::ProductNotFound)?;
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
            let sku = sku.trim().to_owned();
            validate::sku(&mut errors, "sku", &sku);
            if sku != current.sku {
                new_sku = Some(sku);
            }
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
        update.sku = Set(sku.clone());
    }
    update.updated_at = Set(Utc::now());
    variants::Entity::update(update)
        .exec(db)
        .await
        .map_err(|e| map_unique(e, "", new_sku.as_deref().unwrap_or_default()))?;
    if let Some(prices) = prices {
        variant_prices::Entity::delete_many()
            .filter(variant_prices::Column::VariantId.eq(current.id.as_str()))
            .exec(db)
            .await?;
        insert_prices(db, &current.id, &prices).await?;
    }
    refresh_derived(db, &row.id).await?;
    Ok(ProductChange { id: row.id, slugs: vec![row.slug] })
}

/// Deletes a variant; its SKU becomes free. A product keeps at least one variant.
pub async fn delete_variant<C: ConnectionTrait>(
    db: &C,
    product: &str,
    variant_id: &str,
) -> Result<ProductChange, CatalogError> {
    let row = find_row(db, product).await?.ok_or(CatalogError::ProductNotFound)?;
    lock_product(db, &row.id).await?;
    let row = find_row(db, &row.id).await?.ok_or(CatalogError::ProductNotFound)?;
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
    Ok(ProductChange { id: row.id, slugs: vec![row.slug] })
}

// ---------------------------------------------------------------------------------------
// Categories

/// Creates a category under an optional parent.
pub async fn create_category<C: ConnectionTrait>(db: &C, input: NewCategory) -> Result<Category, CatalogError> {
    let mut errors = ValidationErrors::new();
    let name = validate::name(&mut errors, &input.name);
    if let Some(slug) = &input.slug {
        validate::slug_field(&mut errors, "slug", slug);
    }
    if let Some(parent) = &input.parent_id {
        if categories::Entity::find_by_id(parent.as_str()).one(db).await?.is_none() {
            errors.add("parent_id", "unknown_category", "no category has this id");
        }
    }
    errors.finish(())?;
    let slug = match input.slug {
        Some(slug) => slug,
        None => free_slug(db, CategorySlugs, &slug::slugify(&name)).await?,
    };
    if categories::Entity::find().filter(categories::Column::Slug.eq(slug.as_str())).one(db).await?.is_some() {
        return Err(CatalogError::SlugTaken { slug });
    }
    let now = Utc::now();
    let category = Category { id: id::new_id(CATEGORY_ID_PREFIX), slug, name, parent_id: input.parent_id };
    categories::Entity::insert(categories::ActiveModel {
        id: Set(category.id.clone()),
        slug: Set(category.slug.clone()),
        name: Set(category.name.clone()),
        parent_id: Set(category.parent_id.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "categories", "slug") {
            CatalogError::SlugTaken { slug: category.slug.clone() }
        } else {
            e.into()
        }
    })?;
    Ok(category)
}

/// One page of categories in creation order, after the category id `after`.
pub async fn list_categories<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Category>, DbErr> {
    let mut query = categories::Entity::find().order_by_asc(categories::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(categories::Column::Id.gt(after));
    }
    Ok(query.all(db).await?.into_iter().map(to_category).collect())
}

/// The ids of every product not deleted (drafts too), in id order.
pub async fn live_product_ids<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(emporium_core::db::statement(
            db.get_database_backend(),
            "SELECT id FROM products WHERE deleted_at IS NULL ORDER BY id",
            [],
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "id")).collect()
}

/// Every category, for building the tree in one step.
pub async fn all_categories<C: ConnectionTrait>(db: &C) -> Result<Vec<Category>, DbErr> {
    Ok(categories::Entity::find()
        .order_by_asc(categories::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(to_category)
        .collect())
}

/// Categories by id, in no particular order (for batch loaders).
pub async fn categories_by_ids<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<Category>, DbErr> {
    Ok(categories::Entity::find()
        .filter(categories::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .map(to_category)
        .collect())
}

/// One category by id or slug.
pub async fn get_category<C: ConnectionTrait>(db: &C, id_or_slug: &str) -> Result<Option<Category>, DbErr> {
    let column =
        if id::is_id(CATEGORY_ID_PREFIX, id_or_slug) { categories::Column::Id } else { categories::Column::Slug };
    Ok(categories::Entity::find().filter(column.eq(id_or_slug)).one(db).await?.map(to_category))
}

fn to_category(row: categories::Model) -> Category {
    Category { id: row.id, slug: row.slug, name: row.name, parent_id: row.parent_id }
}

// ---------------------------------------------------------------------------------------
// Helpers

async fn check_categories_exist<C: ConnectionTrait>(
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

async fn live_variants<C: ConnectionTrait>(db: &C, product_id: &str) -> Result<Vec<variants::Model>, DbErr> {
    variants::Entity::find()
        .filter(variants::Column::ProductId.eq(product_id))
        .filter(variants::Column::DeletedAt.is_null())
        .order_by_asc(variants::Column::Position)
        .all(db)
        .await
}

async fn product_slug_taken<C: ConnectionTrait>(db: &C, slug: &str, except: Option<&str>) -> Result<bool, DbErr> {
    let mut query =
        products::Entity::find().filter(products::Column::Slug.eq(slug)).filter(products::Column::DeletedAt.is_null());
    if let Some(id) = except {
        query = query.filter(products::Column::Id.ne(id));
    }
    Ok(query.one(db).await?.is_some())
}

async fn ensure_sku_free<C: ConnectionTrait>(db: &C, sku: &str, except: Option<&str>) -> Result<(), CatalogError> {
    let mut query =
        variants::Entity::find().filter(variants::Column::Sku.eq(sku)).filter(variants::Column::DeletedAt.is_null());
    if let Some(id) = except {
        query = query.filter(variants::Column::Id.ne(id));
    }
    if query.one(db).await?.is_some() {
        return Err(CatalogError::SkuTaken { sku: sku.to_owned() });
    }
    Ok(())
}

/// Which table a generated slug must be free in.
trait SlugTable {
    fn taken_sql(&self) -> &'static str;
}
struct ProductSlugs;
struct CategorySlugs;
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

async fn free_product_slug<C: ConnectionTrait>(db: &C, base: &str) -> Result<String, DbErr> {
    free_slug(db, ProductSlugs, base).await
}

/// `base`, or `base-2`, `base-3`, ... whichever is free first.
async fn free_slug<C: ConnectionTrait>(db: &C, table: impl SlugTable, base: &str) -> Result<String, DbErr> {
    let pattern = format!("{}-%", emporium_core::db::like_escape(base));
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), table.taken_sql(), [base.into(), pattern.into()]))
        .await?;
    let taken: HashSet<String> = rows.iter().filter_map(|r| r.try_get::<String>("", "slug").ok()).collect();
    if !taken.contains(base) {
        return Ok(base.to_owned());
    }
    let n = (2..).find(|n| !taken.contains(&format!("{base}-{n}"))).unwrap_or(2);
    Ok(format!("{base}-{n}"))
}

async fn replace_categories<C: ConnectionTrait>(db: &C, product_id: &str, ids: &[String]) -> Result<(), DbErr> {
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

async fn insert_variant<C: ConnectionTrait>(
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
        sku: Set(variant.sku.clone()),
        title: Set(variant.title.clone()),
        options: Set(encode_pairs(&variant.options)),
        position: Set(position),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    })
    .exec_without_returning(db)
    .await
    .map_err(|e| map_unique(e, "", &variant.sku))?;
    insert_prices(db, &variant_id, &variant.prices).await?;
    Ok(variant_id)
}

async fn insert_prices<C: ConnectionTrait>(db: &C, variant_id: &str, prices: &[Money]) -> Result<(), DbErr> {
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
async fn refresh_derived<C: ConnectionTrait>(db: &C, product_id: &str) -> Result<(), DbErr> {
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
fn map_unique(err: DbErr, slug: &str, sku: &str) -> CatalogError {
    if is_unique_violation(&err, "products", "slug") {
        CatalogError::SlugTaken { slug: slug.to_owned() }
    } else if is_unique_violation(&err, "variants", "sku") {
        CatalogError::SkuTaken { sku: sku.to_owned() }
    } else {
        CatalogError::Database(err)
    }
}

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
pub async fn variant_by_sku<C: ConnectionTrait>(db: &C, sku: &str) -> Result<Option<VariantRef>, DbErr> {
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
    sku: &str,
    currency: &str,
) -> Result<Option<Purchasable>, DbErr> {
    let row = db
        .query_one_raw(emporium_core::db::statement(
            db.get_database_backend(),
            &format!("{PURCHASABLE} WHERE v.sku = ? ORDER BY v.deleted_at IS NULL DESC, v.created_at DESC LIMIT 1"),
            [currency.into(), sku.into()],
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
