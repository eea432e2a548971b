//! Listing products: filters, sorts and keyset pagination with signed cursors.

use emporium_core::db::{like_escape, statement};
use emporium_core::money::MAX_SAFE_AMOUNT;
use emporium_core::{Currency, CursorCodec, Limit};
use sea_orm::{ConnectionTrait, Value};
use serde::{Deserialize, Serialize};

use crate::error::CatalogError;
use crate::service::get_category;

/// How a product list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductSort {
    /// Most recently created first (the default without `q`).
    #[default]
    Newest,
    /// Best match first, then newest (the default with `q`). Served by the search index.
    Relevance,
    /// By name, A to Z.
    Name,
    /// By the lowest variant price in the chosen currency, cheapest first.
    PriceAsc,
    /// By the lowest variant price in the chosen currency, dearest first.
    PriceDesc,
    /// Best rated first (the average of approved reviews, then how many there are); products
    /// without reviews last.
    Rating,
}

/// Which statuses a list includes; shoppers always get `Published`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Drafts only.
    Draft,
    /// Published only.
    #[default]
    Published,
    /// Both.
    All,
}

impl StatusFilter {
    /// Whether a product that is (or is not) published belongs in a list with this filter.
    pub fn admits(self, published: bool) -> bool {
        match self {
            Self::All => true,
            Self::Published => published,
            Self::Draft => !published,
        }
    }
}

/// A product's rank by rating as the listing computes it from `product_ratings` (kept by the
/// reviews crate's moderation): the shown average in hundredths, then the review count, as
/// `emporium_reviews::Rating::rank` computes it.
const RATING_RANK: &str = "(COALESCE(r.score, 0) * 1000000000000 + COALESCE(r.count, 0))";

/// A product list request, already checked for shape by the caller.
#[derive(Debug, Clone, Default)]
pub struct ListProducts {
    pub limit: Limit,
    pub cursor: Option<String>,
    pub q: Option<String>,
    /// A category id or slug; its sub-categories are included.
    pub category: Option<String>,
    pub sort: ProductSort,
    /// Required by the price sorts.
    pub currency: Option<Currency>,
    pub status: StatusFilter,
    /// Only products with a variant that can be bought now.
    pub in_stock: bool,
    /// A variant's price in `currency` at least this, in minor units.
    pub price_min: Option<i64>,
    /// A variant's price in `currency` at most this, in minor units.
    pub price_max: Option<i64>,
    /// Option name and the values any of which one variant must have (`option.Size=M`).
    pub options: Vec<(String, Vec<String>)>,
    /// The facets to count, with `total`; `None` when none are asked for.
    pub facets: Option<FacetSelection>,
}

/// The facets a list asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FacetSelection {
    pub category: bool,
    /// Option names, as given.
    pub options: Vec<String>,
    /// Price bands in the list's currency.
    pub price: bool,
}

/// Longest `q` accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most `option.<Name>` filters in one list.
pub const MAX_OPTION_FILTERS: usize = 10;
/// Most values one option filter may list.
pub const MAX_OPTION_VALUES: usize = 20;
/// Most option facets in one list.
pub const MAX_OPTION_FACETS: usize = 10;

impl ListProducts {
    /// Whether the search index serves this list: a text query, a relevance sort, a filter
    /// only the index knows (stock, price, options), or facets. Other lists are read from the
    /// database.
    pub fn searches(&self) -> bool {
        self.q.as_deref().is_some_and(|q| !q.trim().is_empty())
            || self.sort == ProductSort::Relevance
            || self.in_stock
            || self.price_min.is_some()
            || self.price_max.is_some()
            || !self.options.is_empty()
            || self.facets.is_some()
    }
}

impl ListProducts {
    /// A key naming exactly this page of this query, for caching its result.
    pub fn cache_key(&self) -> String {
        format!("{}|{}|{}", fingerprint(self), self.limit.get(), self.cursor.as_deref().unwrap_or_default())
    }
}

/// Where a page stopped, bound to the query that made it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct PageCursor {
    /// The filters and sort of the query, so a cursor cannot be replayed on another one.
    query: String,
    /// The sort key of the last row: a name or an amount.
    key: Option<SortKey>,
    /// The id of the last row.
    id: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
enum SortKey {
    Amount(i64),
    Text(String),
}

/// One page of a product list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPage {
    /// Product ids, in order.
    pub ids: Vec<String>,
    /// Per id, the cursor that continues after it (GraphQL edges carry one each).
    pub cursors: Vec<String>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// One page of product ids in order, with their cursors.
pub async fn list_products<C: ConnectionTrait>(
    db: &C,
    codec: &CursorCodec,
    request: &ListProducts,
) -> Result<IdPage, CatalogError> {
    let fingerprint = fingerprint(request);
    let after: Option<PageCursor> = match &request.cursor {
        None => None,
        Some(text) => {
            let cursor: PageCursor = codec.decode(text).ok_or(CatalogError::InvalidCursor)?;
            if cursor.query != fingerprint {
                return Err(CatalogError::InvalidCursor);
            }
            Some(cursor)
        }
    };

    let mut sql = String::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(category) = &request.category {
        // The category and its descendants, in the same statement (UNION stops at a cycle).
        sql.push_str(
            "WITH RECURSIVE tree(id) AS (SELECT id FROM categories WHERE id = ? OR slug = ? \
             UNION SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id) ",
        );
        values.push(category.clone().into());
        values.push(category.clone().into());
    }
    sql.push_str("SELECT p.id, ");
    // The sort key, selected so the next cursor can carry it. Products without a price in
    // the currency sort after all priced ones, in both directions.
    let key_expr = match request.sort {
        ProductSort::Newest | ProductSort::Relevance => "NULL",
        ProductSort::Name => "LOWER(p.name)",
        ProductSort::PriceAsc => "COALESCE(pp.min_amount, ?)",
        ProductSort::PriceDesc => "COALESCE(pp.min_amount, -1)",
        ProductSort::Rating => RATING_RANK,
    };
    if request.sort == ProductSort::PriceAsc {
        values.push((MAX_SAFE_AMOUNT + 1).into());
    }
    sql.push_str(key_expr);
    sql.push_str(" AS sort_key FROM products p");
    if matches!(request.sort, ProductSort::PriceAsc | ProductSort::PriceDesc) {
        let currency = request.currency.ok_or_else(|| {
            CatalogError::Invalid(emporium_core::ValidationErrors::single(
                "currency",
                "required",
                "price sorts need a currency",
            ))
        })?;
        sql.push_str(" LEFT JOIN product_prices pp ON pp.product_id = p.id AND pp.currency = ?");
        values.push(currency.code().into());
    }
    if request.sort == ProductSort::Rating {
        sql.push_str(" LEFT JOIN product_ratings r ON r.product_id = p.id");
    }
    sql.push_str(" WHERE p.deleted_at IS NULL");
    match request.status {
        StatusFilter::All => {}
        StatusFilter::Draft => sql.push_str(" AND p.status = 'draft'"),
        StatusFilter::Published => sql.push_str(" AND p.status = 'published'"),
    }
    if let Some(q) = request.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        sql.push_str(" AND p.search_text LIKE ? ESCAPE '\\'");
        values.push(format!("%{}%", like_escape(&q.to_lowercase())).into());
    }
    if request.category.is_some() {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM product_categories pc WHERE pc.product_id = p.id \
             AND pc.category_id IN (SELECT id FROM tree))",
        );
    }
    if let Some(after) = &after {
        // Row-value comparisons, read the same way by SQLite and PostgreSQL.
        match (request.sort, &after.key) {
            (ProductSort::Newest | ProductSort::Relevance, _) => {
                sql.push_str(" AND p.id < ?");
            }
            (ProductSort::Name, Some(SortKey::Text(name))) => {
                sql.push_str(" AND (LOWER(p.name), p.id) > (?, ?)");
                values.push(name.clone().into());
            }
            (ProductSort::PriceAsc, Some(SortKey::Amount(amount))) => {
                sql.push_str(" AND (COALESCE(pp.min_amount, ?), p.id) > (?, ?)");
                values.push((MAX_SAFE_AMOUNT + 1).into());
                values.push((*amount).into());
            }
            (ProductSort::PriceDesc, Some(SortKey::Amount(amount))) => {
                sql.push_str(" AND (COALESCE(pp.min_amount, -1), p.id) < (?, ?)");
                values.push((*amount).into());
            }
            (ProductSort::Rating, Some(SortKey::Amount(rank))) => {
                sql.push_str(&format!(" AND ({RATING_RANK}, p.id) < (?, ?)"));
                values.push((*rank).into());
            }
            _ => return Err(CatalogError::InvalidCursor),
        }
        values.push(after.id.clone().into());
    }
    sql.push_str(match request.sort {
        ProductSort::Newest | ProductSort::Relevance => " ORDER BY p.id DESC",
        ProductSort::Name => " ORDER BY LOWER(p.name) ASC, p.id ASC",
        ProductSort::PriceAsc => " ORDER BY sort_key ASC, p.id ASC",
        ProductSort::PriceDesc | ProductSort::Rating => " ORDER BY sort_key DESC, p.id DESC",
    });
    // One row more than asked tells whether a next page exists.
    let limit = request.limit.get();
    sql.push_str(" LIMIT ?");
    values.push(((limit + 1) as i64).into());

    let rows = db.query_all_raw(statement(db.get_database_backend(), &sql, values)).await?;
    // An empty page may mean an unknown category: only then is it looked up.
    if rows.is_empty()
        && let Some(category) = &request.category
        && get_category(db, category).await?.is_none()
    {
        return Err(CatalogError::Invalid(emporium_core::ValidationErrors::single(
            "category",
            "unknown_category",
            "no category has this id or slug",
        )));
    }
    let mut page = IdPage::default();
    for row in rows.iter().take(limit as usize) {
        let id = row.try_get::<String>("", "id")?;
        let key = match request.sort {
            ProductSort::Newest | ProductSort::Relevance => None,
            ProductSort::Name => Some(SortKey::Text(row.try_get::<String>("", "sort_key")?)),
            ProductSort::PriceAsc | ProductSort::PriceDesc | ProductSort::Rating => {
                Some(SortKey::Amount(row.try_get::<i64>("", "sort_key")?))
            }
        };
        page.cursors.push(codec.encode(&PageCursor { query: fingerprint.clone(), key, id: id.clone() }));
        page.ids.push(id);
    }
    if rows.len() as u64 > limit {
        page.next_cursor = page.cursors.last().cloned();
    }
    Ok(page)
}

/// What a list's cursor binds to: its filters and sort, not its page size or position.
pub fn fingerprint(request: &ListProducts) -> String {
    format!(
        "{:?}|{:?}|{}|{}|{}",
        request.sort,
        request.status,
        request.q.as_deref().map(str::trim).unwrap_or_default().to_lowercase(),
        request.category.as_deref().unwrap_or_default(),
        request.currency.map(|c| c.code().to_owned()).unwrap_or_default(),
    )
}
