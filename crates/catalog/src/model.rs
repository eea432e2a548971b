//! The catalog's types: what a product is, and what a caller may ask to create or change.

use chrono::{DateTime, Utc};
use emporium_core::{Money, Patch};
use serde::{Deserialize, Serialize};

/// Id prefixes, so an id is never mistaken for a slug (slugs have no `_`).
pub const PRODUCT_ID_PREFIX: &str = "prod";
/// Prefix of variant ids.
pub const VARIANT_ID_PREFIX: &str = "var";
/// Prefix of category ids.
pub const CATEGORY_ID_PREFIX: &str = "cat";

/// Whether a product can be seen by shoppers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// Visible to staff only.
    Draft,
    /// Visible to everyone.
    Published,
}

impl ProductStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

/// A product option such as Size with its values in display order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductOption {
    /// The option's name, e.g. `Size`.
    pub name: String,
    /// Its values, e.g. `["S", "M", "L"]`.
    pub values: Vec<String>,
}

/// A product image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// An absolute http(s) URL.
    pub url: String,
    /// Alternative text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// A product as stored, with its live variants in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub status: ProductStatus,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    pub category_ids: Vec<String>,
    pub options: Vec<ProductOption>,
    pub images: Vec<Image>,
    pub variants: Vec<Variant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Moved by every change of the product or its variants: what `If-Match` compares.
    pub version: i64,
}

/// A buyable variant of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub id: String,
    pub sku: String,
    pub title: String,
    /// One value per product option, in the product's option order.
    pub options: Vec<(String, String)>,
    /// At most one price per currency, ordered by currency code.
    pub prices: Vec<Money>,
}

/// A category; categories form a tree through `parent_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// Moved by every change: what `If-Match` compares.
    pub version: i64,
}

/// A price as a caller sends it; checked into [`Money`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceInput {
    pub amount: i64,
    pub currency: String,
}

/// A variant as a caller sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewVariant {
    pub sku: String,
    pub title: Option<String>,
    /// Option name to value, as sent.
    pub options: Vec<(String, String)>,
    pub prices: Vec<PriceInput>,
}

/// A product as a caller sends it to create one, variants included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub status: ProductStatus,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    pub category_ids: Vec<String>,
    pub options: Vec<ProductOption>,
    pub images: Vec<Image>,
    pub variants: Vec<NewVariant>,
}

/// A merge patch of a product's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductPatch {
    pub name: Patch<String>,
    pub slug: Patch<String>,
    pub description: Patch<String>,
    pub status: Patch<ProductStatus>,
    pub seo_title: Patch<String>,
    pub seo_description: Patch<String>,
    pub category_ids: Patch<Vec<String>>,
    pub options: Patch<Vec<ProductOption>>,
    pub images: Patch<Vec<Image>>,
}

/// A merge patch of one variant; `prices`, when given, replaces the whole list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VariantPatch {
    pub sku: Patch<String>,
    pub title: Patch<String>,
    pub options: Patch<Vec<(String, String)>>,
    pub prices: Patch<Vec<PriceInput>>,
}

/// A category as a caller sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCategory {
    pub name: String,
    pub slug: Option<String>,
    pub parent_id: Option<String>,
}

/// What a write touched, so the caller can drop every cached copy of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductChange {
    /// The product's id.
    pub id: String,
    /// Every slug the product answered to before or after the write.
    pub slugs: Vec<String>,
    /// Whether the write created, changed or deleted the product.
    pub kind: crate::events::ChangeKind,
}

impl ProductChange {
    /// Every key the product can be read by: its id and its slugs.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.slugs.iter().map(String::as_str))
    }
}
