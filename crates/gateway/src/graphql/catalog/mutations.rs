//! Staff catalog writes and their inputs.

use async_graphql::{Context, InputObject, Object, Result};
use emporium_catalog as catalog;
use emporium_core::Patch;
use emporium_customers::Permission;

use super::types::{Product, to_product};
use crate::auth::Principal;
use crate::dto::{CategoryDto, ImageDto, NewCategoryDto, OptionValue, ProductOptionDto, StatusDto, VariantDto};
use crate::graphql::money::MoneyInput;
use crate::state::AppState;
use crate::usecases;

/// A variant in `createProduct` and `addVariant`.
#[derive(InputObject)]
pub struct VariantInput {
    pub sku: String,
    pub title: Option<String>,
    #[graphql(default)]
    pub options: Vec<OptionValue>,
    pub prices: Vec<MoneyInput>,
}

/// `updateVariant`'s input: fields left out stay; `prices` replaces the whole list.
#[derive(InputObject)]
pub struct UpdateVariantInput {
    pub sku: async_graphql::MaybeUndefined<String>,
    pub title: async_graphql::MaybeUndefined<String>,
    pub options: async_graphql::MaybeUndefined<Vec<OptionValue>>,
    pub prices: async_graphql::MaybeUndefined<Vec<MoneyInput>>,
}

impl From<VariantInput> for catalog::NewVariant {
    fn from(v: VariantInput) -> Self {
        Self {
            sku: v.sku,
            title: v.title,
            options: v.options.into_iter().map(|o| (o.name, o.value)).collect(),
            prices: v.prices.into_iter().map(Into::into).collect(),
        }
    }
}

/// `createProduct`'s input.
#[derive(InputObject)]
pub struct CreateProductInput {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub status: StatusDto,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    #[graphql(default)]
    pub category_ids: Vec<String>,
    #[graphql(default)]
    pub options: Vec<ProductOptionDto>,
    #[graphql(default)]
    pub images: Vec<ImageDto>,
    pub variants: Vec<VariantInput>,
}

/// `updateProduct`'s input: fields left out stay; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateProductInput {
    pub name: async_graphql::MaybeUndefined<String>,
    pub slug: async_graphql::MaybeUndefined<String>,
    pub description: async_graphql::MaybeUndefined<String>,
    pub status: async_graphql::MaybeUndefined<StatusDto>,
    pub seo_title: async_graphql::MaybeUndefined<String>,
    pub seo_description: async_graphql::MaybeUndefined<String>,
    pub category_ids: async_graphql::MaybeUndefined<Vec<String>>,
    pub options: async_graphql::MaybeUndefined<Vec<ProductOptionDto>>,
    pub images: async_graphql::MaybeUndefined<Vec<ImageDto>>,
}

pub(crate) fn patch<T>(value: async_graphql::MaybeUndefined<T>) -> Patch<T> {
    match value {
        async_graphql::MaybeUndefined::Undefined => Patch::Missing,
        async_graphql::MaybeUndefined::Null => Patch::Null,
        async_graphql::MaybeUndefined::Value(v) => Patch::Value(v),
    }
}

/// Staff catalog writes.
#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Creates a product with its variants, all or nothing.
    async fn create_product(&self, ctx: &Context<'_>, input: CreateProductInput) -> Result<Product> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let input = catalog::NewProduct {
            name: input.name,
            slug: input.slug,
            description: input.description,
            status: input.status.into(),
            seo_title: input.seo_title,
            seo_description: input.seo_description,
            category_ids: input.category_ids,
            options: input
                .options
                .into_iter()
                .map(|o| catalog::ProductOption { name: o.name, values: o.values })
                .collect(),
            images: input.images.into_iter().map(|i| catalog::Image { url: i.url, alt: i.alt }).collect(),
            variants: input.variants.into_iter().map(Into::into).collect(),
        };
        let written = usecases::catalog::create_product(state, &crate::graphql::claim(ctx), input).await?;
        to_product(&written.doc, &written.figures)
    }

    /// Changes a product's own fields; with `expectedVersion`, only while it is at that
    /// version (`precondition_failed` otherwise, nothing changed).
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id_or_slug: String,
        input: UpdateProductInput,
        expected_version: Option<i64>,
    ) -> Result<Product> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let patch_input = catalog::ProductPatch {
            name: patch(input.name),
            slug: patch(input.slug),
            description: patch(input.description),
            status: patch(input.status).map(Into::into),
            seo_title: patch(input.seo_title),
            seo_description: patch(input.seo_description),
            category_ids: patch(input.category_ids),
            options: patch(input.options)
                .map(|os| os.into_iter().map(|o| catalog::ProductOption { name: o.name, values: o.values }).collect()),
            images: patch(input.images)
                .map(|is| is.into_iter().map(|i| catalog::Image { url: i.url, alt: i.alt }).collect()),
        };
        let claim = crate::graphql::claim(ctx);
        let expected = crate::graphql::expected(expected_version);
        let written = usecases::catalog::update_product(state, &claim, &id_or_slug, patch_input, &expected).await?;
        to_product(&written.doc, &written.figures)
    }

    /// Deletes a product; with `expectedVersion`, only while it is at that version.
    async fn delete_product(
        &self,
        ctx: &Context<'_>,
        id_or_slug: String,
        expected_version: Option<i64>,
    ) -> Result<bool> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let expected = crate::graphql::expected(expected_version);
        usecases::catalog::delete_product(state, &crate::graphql::claim(ctx), &id_or_slug, &expected).await?;
        Ok(true)
    }

    /// Adds a variant to a product; with `expectedVersion`, only while the product is at that
    /// version.
    async fn add_variant(
        &self,
        ctx: &Context<'_>,
        product: String,
        input: VariantInput,
        expected_version: Option<i64>,
    ) -> Result<VariantDto> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let claim = crate::graphql::claim(ctx);
        let expected = crate::graphql::expected(expected_version);
        Ok(usecases::catalog::add_variant(state, &claim, &product, input.into(), &expected).await?.variant)
    }

    /// Changes a variant; with `expectedVersion`, only while the product is at that version.
    async fn update_variant(
        &self,
        ctx: &Context<'_>,
        product: String,
        variant_id: String,
        input: UpdateVariantInput,
        expected_version: Option<i64>,
    ) -> Result<VariantDto> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let patch_input = catalog::VariantPatch {
            sku: patch(input.sku),
            title: patch(input.title),
            options: patch(input.options).map(|os| os.into_iter().map(|o| (o.name, o.value)).collect()),
            prices: patch(input.prices).map(|ps| ps.into_iter().map(Into::into).collect()),
        };
        let claim = crate::graphql::claim(ctx);
        let expected = crate::graphql::expected(expected_version);
        let written = usecases::catalog::update_variant(state, &claim, &product, &variant_id, patch_input, &expected);
        Ok(written.await?.variant)
    }

    /// Deletes a variant; a product keeps at least one (`last_variant`). With
    /// `expectedVersion`, only while the product is at that version.
    async fn delete_variant(
        &self,
        ctx: &Context<'_>,
        product: String,
        variant_id: String,
        expected_version: Option<i64>,
    ) -> Result<bool> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        let expected = crate::graphql::expected(expected_version);
        usecases::catalog::delete_variant(state, &crate::graphql::claim(ctx), &product, &variant_id, &expected).await?;
        Ok(true)
    }

    /// Creates a category.
    async fn create_category(&self, ctx: &Context<'_>, input: NewCategoryDto) -> Result<CategoryDto> {
        let (state, principal) = (ctx.data::<AppState>()?, ctx.data::<Principal>()?);
        principal.require(Permission::CatalogWrite)?;
        Ok(usecases::catalog::create_category(state, &crate::graphql::claim(ctx), input.into()).await?.0)
    }
}
