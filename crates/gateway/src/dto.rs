//! What goes over the wire: request and response bodies, shared by REST and GraphQL.

use chrono::{DateTime, Utc};
use emporium_catalog as catalog;
use emporium_core::{Money, Patch};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// An amount of money in the currency's minor units.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyDto {
    /// Minor units (cents for EUR, yen for JPY), above zero and at most 2^53 − 1.
    #[schema(example = 1999, minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    pub amount: i64,
    /// Upper-case ISO 4217 code.
    #[schema(value_type = CurrencyCode, example = "EUR")]
    pub currency: String,
}

/// An amount of money that may be zero (a total, a shipping price), in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Amount)]
#[serde(deny_unknown_fields)]
pub struct AmountDto {
    /// Minor units, from 0 to 2^53 − 1.
    #[schema(example = 4503, minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub amount: i64,
    /// Upper-case ISO 4217 code.
    #[schema(value_type = CurrencyCode, example = "EUR")]
    pub currency: String,
}

impl From<Money> for AmountDto {
    fn from(money: Money) -> Self {
        Self { amount: money.amount(), currency: money.currency().code().to_owned() }
    }
}

/// An upper-case ISO 4217 currency code.
pub struct CurrencyCode;

impl utoipa::PartialSchema for CurrencyCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An upper-case ISO 4217 currency code."))
            .enum_values(Some(emporium_core::Currency::codes()))
            .into()
    }
}

impl utoipa::ToSchema for CurrencyCode {}

/// An amount above zero (a catalog price) as one that may be zero: GraphQL shows both as `Money`.
impl From<MoneyDto> for AmountDto {
    fn from(money: MoneyDto) -> Self {
        Self { amount: money.amount, currency: money.currency }
    }
}

impl AmountDto {
    /// Amounts above zero, each as an `AmountDto`.
    pub fn all_of(list: Vec<MoneyDto>) -> Vec<Self> {
        list.into_iter().map(Self::from).collect()
    }

    /// An amount above zero, if any, as an `AmountDto`.
    pub fn some_of(money: Option<MoneyDto>) -> Option<Self> {
        money.map(Self::from)
    }
}

impl From<Money> for MoneyDto {
    fn from(money: Money) -> Self {
        Self { amount: money.amount(), currency: money.currency().code().to_owned() }
    }
}

impl From<MoneyDto> for catalog::PriceInput {
    fn from(dto: MoneyDto) -> Self {
        Self { amount: dto.amount, currency: dto.currency }
    }
}

/// A product option and its values.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, async_graphql::SimpleObject, async_graphql::InputObject)]
#[graphql(name = "ProductOption", input_name = "ProductOptionInput")]
#[serde(deny_unknown_fields)]
pub struct ProductOptionDto {
    #[schema(example = "Size", min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[schema(example = json!(["S", "M", "L"]), min_items = 1, max_items = 100)]
    pub values: Vec<String>,
}

/// A product image.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, async_graphql::SimpleObject, async_graphql::InputObject)]
#[graphql(name = "Image", input_name = "ImageInput")]
#[serde(deny_unknown_fields)]
pub struct ImageDto {
    /// An absolute http(s) URL.
    #[schema(pattern = r"^https?://[^\s/?#]+[^\s]*$", max_length = 2048)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// A variant as it reads.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "Variant")]
pub struct VariantDto {
    pub id: String,
    pub sku: String,
    pub title: String,
    /// One value of each of the product's options: a map in REST, e.g. `{"Size": "S"}`; a
    /// list of names and values in GraphQL.
    #[serde(serialize_with = "pairs_as_map", deserialize_with = "map_as_pairs")]
    #[schema(value_type = HashMap<String, String>)]
    #[graphql(skip, derived(name = "options", into = "Vec<OptionValue>", owned, with = "OptionValue::list"))]
    pub options: Vec<(String, String)>,
    #[graphql(skip, derived(name = "prices", into = "Vec<AmountDto>", owned, with = "AmountDto::all_of"))]
    pub prices: Vec<MoneyDto>,
    /// Units that can be bought now.
    pub available: i64,
}

/// One option value of a variant, as GraphQL reads and writes a variant's options.
#[derive(Debug, Clone, async_graphql::SimpleObject, async_graphql::InputObject)]
#[graphql(name = "OptionValue", input_name = "OptionValueInput")]
pub struct OptionValue {
    pub name: String,
    pub value: String,
}

impl OptionValue {
    /// A variant's `(option, value)` pairs, in their order.
    pub fn list(pairs: Vec<(String, String)>) -> Vec<Self> {
        pairs.into_iter().map(|(name, value)| Self { name, value }).collect()
    }
}

/// A product as it reads, in lists too.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductDto {
    #[schema(example = "prod_0192f5c3a1b27c4e8a0f3d2b1c4e5f60")]
    pub id: String,
    #[schema(example = "organic-cotton-tee")]
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = String, example = "published")]
    pub status: catalog::ProductStatus,
    pub seo_title: Option<String>,
    pub seo_description: Option<String>,
    pub category_ids: Vec<String>,
    pub options: Vec<ProductOptionDto>,
    pub images: Vec<ImageDto>,
    pub variants: Vec<VariantDto>,
    /// Over the product's approved reviews.
    pub rating: RatingDto,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Moved by every change of the product or its variants (not by stock): REST sends it at
    /// the head of the `ETag`, GraphQL's changes take it as `expectedVersion`.
    #[serde(skip)]
    pub version: i64,
}

impl ProductDto {
    /// The read model of a product, each variant's availability marked as a hole
    /// ([`crate::infra::cache::template::MARK`]): it is filled in per response, not cached.
    pub fn new(product: catalog::Product, rating: emporium_reviews::Rating) -> Self {
        Self {
            rating: rating.into(),
            variants: product
                .variants
                .into_iter()
                .map(|v| VariantDto {
                    available: crate::infra::cache::template::MARK,
                    id: v.id,
                    sku: v.sku,
                    title: v.title,
                    options: v.options,
                    prices: v.prices.into_iter().map(MoneyDto::from).collect(),
                })
                .collect(),
            version: product.version,
            id: product.id,
            slug: product.slug,
            name: product.name,
            description: product.description,
            status: product.status,
            seo_title: product.seo_title,
            seo_description: product.seo_description,
            category_ids: product.category_ids,
            options: product.options.into_iter().map(|o| ProductOptionDto { name: o.name, values: o.values }).collect(),
            images: product.images.into_iter().map(|i| ImageDto { url: i.url, alt: i.alt }).collect(),
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

/// A product's rating over its approved reviews.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Rating)]
pub struct RatingDto {
    /// The average number of stars with two places, rounded half to even; `"0.00"` without
    /// reviews.
    #[schema(example = "4.50")]
    pub average: String,
    /// Approved reviews.
    pub count: i64,
    /// Approved reviews per number of stars, `"1"` to `"5"`, each listed.
    #[schema(example = json!({"1": 0, "2": 0, "3": 1, "4": 3, "5": 4}))]
    pub histogram: std::collections::BTreeMap<String, i64>,
}

impl From<emporium_reviews::Rating> for RatingDto {
    fn from(rating: emporium_reviews::Rating) -> Self {
        Self {
            average: rating.average(),
            count: rating.count,
            histogram: (1..=5).zip(rating.histogram).map(|(stars, n)| (stars.to_string(), n)).collect(),
        }
    }
}

fn pairs_as_map<S: Serializer>(pairs: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

fn map_as_pairs<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of option names to values")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                pairs.push((k, v));
            }
            Ok(pairs)
        }
    }
    deserializer.deserialize_map(Pairs)
}

/// A category.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "Category")]
pub struct CategoryDto {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// Moved by every change: REST sends it as the `ETag`.
    #[serde(skip)]
    pub version: i64,
}

impl From<catalog::Category> for CategoryDto {
    fn from(c: catalog::Category) -> Self {
        Self { id: c.id, slug: c.slug, name: c.name, parent_id: c.parent_id, version: c.version }
    }
}

/// A page of categories.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryPage {
    pub data: Vec<CategoryDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub data: Vec<ProductDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// With `facets`: the counts asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<FacetsDto>,
    /// With `facets`: products matching the query and every filter, over all pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Facet counts, one key per facet asked for: `category`, `price` and `option.<Name>` (each
/// a list of values with counts). Each counts the products matching every other filter.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetsDto {
    /// Per category slug, sub-categories' products included; most frequent first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Vec<FacetCountDto>>,
    /// Per price band of the lowest matching variant price in `currency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Vec<PriceBandDto>>,
    /// `option.<Name>`: per value of the option; most frequent first.
    #[serde(flatten)]
    pub options: std::collections::BTreeMap<String, Vec<FacetCountDto>>,
}

/// A facet value and how many products have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetCountDto {
    #[schema(example = "M")]
    pub value: String,
    pub count: u64,
}

/// Products whose lowest matching price lies in `[min, max)`, in minor units; `max` is
/// `null` for the last band.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceBandDto {
    #[schema(example = 2500)]
    pub min: i64,
    #[schema(example = 5000)]
    pub max: Option<i64>,
    pub count: u64,
}

/// A variant in a create request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVariantDto {
    #[schema(example = "TEE-ORG-S", pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub sku: String,
    #[serde(default)]
    pub title: Option<String>,
    /// One value of each of the product's options.
    #[serde(default, deserialize_with = "map_as_pairs")]
    #[schema(value_type = HashMap<String, String>)]
    pub options: Vec<(String, String)>,
    /// One price per currency.
    #[schema(min_items = 1)]
    pub prices: Vec<MoneyDto>,
}

impl From<NewVariantDto> for catalog::NewVariant {
    fn from(dto: NewVariantDto) -> Self {
        Self {
            sku: dto.sku,
            title: dto.title,
            options: dto.options,
            prices: dto.prices.into_iter().map(Into::into).collect(),
        }
    }
}

/// `draft` or `published`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
#[graphql(name = "ProductStatus")]
pub enum StatusDto {
    Draft,
    Published,
}

impl From<StatusDto> for catalog::ProductStatus {
    fn from(s: StatusDto) -> Self {
        match s {
            StatusDto::Draft => Self::Draft,
            StatusDto::Published => Self::Published,
        }
    }
}

/// `POST /v1/products`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductDto {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Made from the name when left out.
    #[serde(default)]
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 120)]
    pub slug: Option<String>,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    pub status: StatusDto,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub seo_title: Option<String>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub seo_description: Option<String>,
    /// Ids of existing categories.
    #[serde(default)]
    pub category_ids: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 5)]
    pub options: Vec<ProductOptionDto>,
    #[serde(default)]
    #[schema(max_items = 30)]
    pub images: Vec<ImageDto>,
    /// Each names one value of every option.
    #[schema(min_items = 1, max_items = 250)]
    pub variants: Vec<NewVariantDto>,
}

impl From<NewProductDto> for catalog::NewProduct {
    fn from(dto: NewProductDto) -> Self {
        Self {
            name: dto.name,
            slug: dto.slug,
            description: dto.description,
            status: dto.status.into(),
            seo_title: dto.seo_title,
            seo_description: dto.seo_description,
            category_ids: dto.category_ids,
            options: dto
                .options
                .into_iter()
                .map(|o| catalog::ProductOption { name: o.name, values: o.values })
                .collect(),
            images: dto.images.into_iter().map(|i| catalog::Image { url: i.url, alt: i.alt }).collect(),
            variants: dto.variants.into_iter().map(Into::into).collect(),
        }
    }
}

/// `PATCH /v1/products/{id}`: a JSON merge patch; `null` clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchDto {
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 120)]
    pub slug: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 20000)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = StatusDto)]
    pub status: Patch<StatusDto>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub seo_title: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub seo_description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub category_ids: Patch<Vec<String>>,
    /// Every variant must still name one value of each option.
    #[serde(default)]
    #[schema(value_type = Option<Vec<ProductOptionDto>>, max_items = 5)]
    pub options: Patch<Vec<ProductOptionDto>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<ImageDto>>, max_items = 30)]
    pub images: Patch<Vec<ImageDto>>,
}

impl From<ProductPatchDto> for catalog::ProductPatch {
    fn from(dto: ProductPatchDto) -> Self {
        Self {
            name: dto.name,
            slug: dto.slug,
            description: dto.description,
            status: dto.status.map(Into::into),
            seo_title: dto.seo_title,
            seo_description: dto.seo_description,
            category_ids: dto.category_ids,
            options: dto
                .options
                .map(|os| os.into_iter().map(|o| catalog::ProductOption { name: o.name, values: o.values }).collect()),
            images: dto.images.map(|is| is.into_iter().map(|i| catalog::Image { url: i.url, alt: i.alt }).collect()),
        }
    }
}

/// `PATCH /v1/products/{id}/variants/{variant_id}`; `prices` replaces the whole list.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantPatchDto {
    #[serde(default)]
    #[schema(value_type = String, pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub sku: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Patch<String>,
    #[serde(default, deserialize_with = "patch_pairs")]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub options: Patch<Vec<(String, String)>>,
    #[serde(default)]
    #[schema(value_type = Vec<MoneyDto>, min_items = 1)]
    pub prices: Patch<Vec<MoneyDto>>,
}

fn patch_pairs<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Patch<Vec<(String, String)>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "map_as_pairs")] Vec<(String, String)>);
    Ok(match Option::<Wrapped>::deserialize(deserializer)? {
        Some(Wrapped(pairs)) => Patch::Value(pairs),
        None => Patch::Null,
    })
}

impl From<VariantPatchDto> for catalog::VariantPatch {
    fn from(dto: VariantPatchDto) -> Self {
        Self {
            sku: dto.sku,
            title: dto.title,
            options: dto.options,
            prices: dto.prices.map(|ps| ps.into_iter().map(Into::into).collect()),
        }
    }
}

/// `POST /v1/categories`.
#[derive(Debug, Clone, Deserialize, ToSchema, async_graphql::InputObject)]
#[graphql(name = "NewCategoryInput")]
#[serde(deny_unknown_fields)]
pub struct NewCategoryDto {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 120)]
    pub slug: Option<String>,
    #[serde(default)]
    pub parent_id: Option<String>,
}

impl From<NewCategoryDto> for catalog::NewCategory {
    fn from(dto: NewCategoryDto) -> Self {
        Self { name: dto.name, slug: dto.slug, parent_id: dto.parent_id }
    }
}
