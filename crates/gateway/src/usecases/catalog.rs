//! Catalog writes, once for both transports: each takes the catalog crate's typed input, runs
//! in one unit of work ([`products::Write`]) and returns what it wrote together with the answer
//! stored for its `Idempotency-Key`. REST sends the answer; GraphQL renders the value. Changes
//! of a product or its variants take the product's `Expected` version (`If-Match`).

use axum::http::StatusCode;
use emporium_catalog as catalog;
use emporium_core::Expected;

use crate::dto::{CategoryDto, VariantDto};
use crate::error::ApiError;
use crate::infra::cache::Doc;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;
use crate::usecases::products::{self, Write};

/// A product as a write left it: its document and its variants' availability, and the answer.
pub struct ProductWritten {
    pub doc: Doc,
    pub figures: Vec<i64>,
    pub answer: Answer,
}

/// A variant as a write left it, and the answer.
pub struct VariantWritten {
    pub variant: VariantDto,
    pub answer: Answer,
}

/// Creates a product with its variants, all or nothing (201).
pub async fn create_product(
    state: &AppState,
    idempotency: &Idempotency,
    input: catalog::NewProduct,
) -> Result<ProductWritten, ApiError> {
    let mut write = Write::begin(state).await?;
    let change = catalog::create_product(write.txn(), input).await?;
    write.touch(&change);
    product_written(write, idempotency, StatusCode::CREATED, &change.id).await
}

/// Changes a product's own fields (200).
pub async fn update_product(
    state: &AppState,
    idempotency: &Idempotency,
    id_or_slug: &str,
    patch: catalog::ProductPatch,
    expected: &Expected,
) -> Result<ProductWritten, ApiError> {
    let mut write = Write::begin(state).await?;
    let change = catalog::patch_product(write.txn(), id_or_slug, patch, expected).await?;
    write.touch(&change);
    product_written(write, idempotency, StatusCode::OK, &change.id).await
}

/// Deletes a product (204): it reads as 404 afterwards; its slug and SKUs become free.
pub async fn delete_product(
    state: &AppState,
    idempotency: &Idempotency,
    id_or_slug: &str,
    expected: &Expected,
) -> Result<(), ApiError> {
    let mut write = Write::begin(state).await?;
    let change = catalog::delete_product(write.txn(), id_or_slug, expected).await?;
    write.touch(&change);
    write.commit_answering(idempotency, Answer::empty(StatusCode::NO_CONTENT)).await?;
    Ok(())
}

/// Adds a variant to a product (201).
pub async fn add_variant(
    state: &AppState,
    idempotency: &Idempotency,
    product: &str,
    input: catalog::NewVariant,
    expected: &Expected,
) -> Result<VariantWritten, ApiError> {
    let mut write = Write::begin(state).await?;
    let (change, variant_id) = catalog::add_variant(write.txn(), product, input, expected).await?;
    write.touch(&change);
    variant_written(write, idempotency, StatusCode::CREATED, &change.id, &variant_id).await
}

/// Changes a variant (200; `prices` replaces the list).
pub async fn update_variant(
    state: &AppState,
    idempotency: &Idempotency,
    product: &str,
    variant_id: &str,
    patch: catalog::VariantPatch,
    expected: &Expected,
) -> Result<VariantWritten, ApiError> {
    let mut write = Write::begin(state).await?;
    let change = catalog::patch_variant(write.txn(), product, variant_id, patch, expected).await?;
    write.touch(&change);
    variant_written(write, idempotency, StatusCode::OK, &change.id, variant_id).await
}

/// Deletes a variant (204); a product keeps at least one (409 `last_variant`).
pub async fn delete_variant(
    state: &AppState,
    idempotency: &Idempotency,
    product: &str,
    variant_id: &str,
    expected: &Expected,
) -> Result<(), ApiError> {
    let mut write = Write::begin(state).await?;
    let change = catalog::delete_variant(write.txn(), product, variant_id, expected).await?;
    write.touch(&change);
    write.commit_answering(idempotency, Answer::empty(StatusCode::NO_CONTENT)).await?;
    Ok(())
}

/// Creates a category (201).
pub async fn create_category(
    state: &AppState,
    idempotency: &Idempotency,
    input: catalog::NewCategory,
) -> Result<(CategoryDto, Answer), ApiError> {
    let write = Write::begin(state).await?;
    let category = CategoryDto::from(catalog::create_category(write.txn(), input).await?);
    let answer = Answer::of(StatusCode::CREATED, &category)?;
    let answer = write.commit_answering(idempotency, answer).await?;
    Ok((category, answer))
}

async fn product_written(
    write: Write,
    idempotency: &Idempotency,
    status: StatusCode,
    product_id: &str,
) -> Result<ProductWritten, ApiError> {
    let doc = write.doc(product_id).await?;
    let figures = write.figures(&doc).await?;
    let answer = products::doc_answer(status, crate::availability::show(&doc, &figures));
    let answer = write.commit_answering(idempotency, answer).await?;
    Ok(ProductWritten { doc, figures, answer })
}

async fn variant_written(
    write: Write,
    idempotency: &Idempotency,
    status: StatusCode,
    product_id: &str,
    variant_id: &str,
) -> Result<VariantWritten, ApiError> {
    let doc = write.doc(product_id).await?;
    let variant = products::variant_of(&doc, &write.figures(&doc).await?, variant_id)?;
    let answer = Answer::of(status, &variant)?;
    let answer = write.commit_answering(idempotency, answer).await?;
    Ok(VariantWritten { variant, answer })
}
