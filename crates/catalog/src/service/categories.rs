//! Categories: created, listed and read.

use chrono::Utc;
use emporium_core::db::is_unique_violation;
use emporium_core::{Slug, ValidationErrors, id, slug};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::helpers::{CategorySlugs, free_slug};
use crate::entity::categories;
use crate::error::CatalogError;
use crate::model::*;
use crate::validate;

/// Creates a category under an optional parent.
pub async fn create_category<C: ConnectionTrait>(db: &C, input: NewCategory) -> Result<Category, CatalogError> {
    let mut errors = ValidationErrors::new();
    let name = validate::name(&mut errors, &input.name);
    let given_slug = input.slug.as_deref().and_then(|slug| Slug::check(&mut errors, "slug", slug));
    if let Some(parent) = &input.parent_id {
        if categories::Entity::find_by_id(parent.as_str()).one(db).await?.is_none() {
            errors.add("parent_id", "unknown_category", "no category has this id");
        }
    }
    errors.finish(())?;
    let slug = match given_slug {
        Some(slug) => slug,
        None => free_slug(db, CategorySlugs, &slug::slugify(&name)).await?,
    };
    if categories::Entity::find().filter(categories::Column::Slug.eq(slug.as_str())).one(db).await?.is_some() {
        return Err(CatalogError::SlugTaken { slug: slug.into_string() });
    }
    let now = Utc::now();
    let category = Category {
        id: id::new_id(CATEGORY_ID_PREFIX),
        slug: slug.into_string(),
        name,
        parent_id: input.parent_id,
        version: 1,
    };
    categories::Entity::insert(categories::ActiveModel {
        id: Set(category.id.clone()),
        slug: Set(category.slug.clone()),
        name: Set(category.name.clone()),
        parent_id: Set(category.parent_id.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(category.version),
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
    Category { id: row.id, slug: row.slug, name: row.name, parent_id: row.parent_id, version: row.version }
}
