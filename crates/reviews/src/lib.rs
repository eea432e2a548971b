//! Product reviews (API.md, "Reports, reviews and recommendations"): a customer who bought a
//! product reviews it once (a rating of 1 to 5, a title and a text); staff approve or reject
//! it; anyone reads the approved ones. Each product's rating (count, sum and histogram over
//! its approved reviews) is kept in `product_ratings`, changed in the moderation's own
//! transaction. Whether the customer bought the product is the orders' to say: the use case
//! asks them before [`submit`].

use chrono::{DateTime, Utc};
use emporium_core::db::{is_unique_violation, now, statement};
use emporium_core::{DomainError, ErrorCode, ErrorKind, ValidationErrors, id};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};
use serde::{Deserialize, Serialize};

/// Prefix of review ids.
pub const REVIEW_ID_PREFIX: &str = "rev";
/// The longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// The longest text, in characters.
pub const MAX_BODY: usize = 5_000;

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Pending,
    Approved,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// A review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: String,
    pub product_id: String,
    pub customer_id: String,
    pub rating: i32,
    pub title: String,
    pub body: String,
    /// The name shown with it (the customer's first name and last initial).
    pub author: String,
    pub verified_purchase: bool,
    pub status: ReviewStatus,
    pub created_at: DateTime<Utc>,
}

/// A review as a customer sends it, checked.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub rating: i32,
    pub title: String,
    pub body: String,
}

impl NewReview {
    /// Checks a rating (a whole number from 1 to 5), a title and a text.
    pub fn parse(rating: i64, title: &str, body: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if !(1..=5).contains(&rating) {
            errors.add("rating", "out_of_range", "must be a whole number from 1 to 5");
        }
        let title = text(&mut errors, "title", title, MAX_TITLE);
        let body = text(&mut errors, "body", body, MAX_BODY);
        errors.finish(Self { rating: rating as i32, title, body })
    }
}

fn text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    let controls = value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t');
    if value.is_empty() || value.chars().count() > max || controls {
        errors.add(field, "invalid", format!("must be 1 to {max} characters, without control characters"));
    }
    value.to_owned()
}

/// How approved reviews are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewSort {
    #[default]
    Newest,
    RatingDesc,
    RatingAsc,
}

impl ReviewSort {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "newest" => Some(Self::Newest),
            "rating_desc" => Some(Self::RatingDesc),
            "rating_asc" => Some(Self::RatingAsc),
            _ => None,
        }
    }
}

/// Where a page of reviews stopped, for the next one (signed by the gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewCursor {
    pub sort: ReviewSort,
    pub rating: i32,
    pub created_at: DateTime<Utc>,
    pub id: String,
}

/// Why a review operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    /// No such review (or product).
    #[error("No such {0}.")]
    NotFound(&'static str),
    /// Only a customer with a paid order holding the product may review it.
    #[error("Only a customer who bought this product (a paid order) may review it.")]
    PurchaseRequired,
    /// The customer already reviewed the product.
    #[error("You already reviewed this product.")]
    AlreadyReviewed,
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

/// Every code a review operation may answer.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: "purchase_required",
        kind: ErrorKind::Forbidden,
        meaning: "Only a customer with a paid order holding the product may review it.",
    },
    ErrorCode { code: "already_reviewed", kind: ErrorKind::Conflict, meaning: "One review per customer and product." },
    ErrorCode { code: "not_found", kind: ErrorKind::NotFound, meaning: "No such review or product." },
];

impl DomainError for ReviewError {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::NotFound(_) => "not_found",
            Self::PurchaseRequired => "purchase_required",
            Self::AlreadyReviewed => "already_reviewed",
            Self::Database(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::PurchaseRequired => ErrorKind::Forbidden,
            Self::AlreadyReviewed => ErrorKind::Conflict,
            Self::Database(e) => e.kind(),
        }
    }

    fn field_errors(&self) -> &[emporium_core::FieldError] {
        match self {
            Self::Invalid(errors) => errors.errors(),
            _ => &[],
        }
    }
}

/// What happened to a review (the payloads of API.md's event feed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ReviewEvent {
    /// A customer submitted a review (pending moderation).
    #[serde(rename = "review.submitted")]
    Submitted { review_id: String, product_id: String, customer_id: String, rating: i32 },
}

impl emporium_core::events::DomainEvent for ReviewEvent {}

const COLUMNS: &str = "id, product_id, customer_id, rating, title, body, author, verified_purchase, status, created_at";

fn review_of(row: &QueryResult) -> Result<Review, DbErr> {
    let status: String = row.try_get("", "status")?;
    Ok(Review {
        id: row.try_get("", "id")?,
        product_id: row.try_get("", "product_id")?,
        customer_id: row.try_get("", "customer_id")?,
        rating: row.try_get("", "rating")?,
        title: row.try_get("", "title")?,
        body: row.try_get("", "body")?,
        author: row.try_get("", "author")?,
        verified_purchase: row.try_get("", "verified_purchase")?,
        status: ReviewStatus::parse(&status).ok_or_else(|| DbErr::Custom(format!("review status {status}")))?,
        created_at: row.try_get("", "created_at")?,
    })
}

/// Stores a customer's review of a product they bought, pending moderation; a second review
/// of the same product by the same customer is `AlreadyReviewed` (the unique index decides).
pub async fn submit<C: ConnectionTrait>(
    db: &C,
    product_id: &str,
    customer_id: &str,
    author: &str,
    review: &NewReview,
) -> Result<Review, ReviewError> {
    let created = Review {
        id: id::new_id(REVIEW_ID_PREFIX),
        product_id: product_id.to_owned(),
        customer_id: customer_id.to_owned(),
        rating: review.rating,
        title: review.title.clone(),
        body: review.body.clone(),
        author: author.to_owned(),
        verified_purchase: true,
        status: ReviewStatus::Pending,
        created_at: now(),
    };
    db.execute_raw(statement(
        db.get_database_backend(),
        &format!("INSERT INTO reviews ({COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        [
            created.id.clone().into(),
            created.product_id.clone().into(),
            created.customer_id.clone().into(),
            created.rating.into(),
            created.title.clone().into(),
            created.body.clone().into(),
            created.author.clone().into(),
            true.into(),
            created.status.as_str().into(),
            created.created_at.into(),
            created.created_at.into(),
        ],
    ))
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "reviews", "customer_id") { ReviewError::AlreadyReviewed } else { e.into() }
    })?;
    Ok(created)
}

/// One review.
pub async fn get<C: ConnectionTrait>(db: &C, review_id: &str) -> Result<Option<Review>, DbErr> {
    if !id::is_id(REVIEW_ID_PREFIX, review_id) {
        return Ok(None);
    }
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM reviews WHERE id = ?"),
            [review_id.into()],
        ))
        .await?;
    row.as_ref().map(review_of).transpose()
}

/// A page of a product's approved reviews, after `after`, optionally of one rating.
pub async fn list_approved<C: ConnectionTrait>(
    db: &C,
    product_id: &str,
    sort: ReviewSort,
    rating: Option<i32>,
    after: Option<&ReviewCursor>,
    limit: u64,
) -> Result<Vec<Review>, DbErr> {
    let mut sql = format!("SELECT {COLUMNS} FROM reviews WHERE product_id = ? AND status = 'approved'");
    let mut values: Vec<Value> = vec![product_id.into()];
    if let Some(rating) = rating {
        sql.push_str(" AND rating = ?");
        values.push(rating.into());
    }
    // Newest first within a rating; the id breaks ties, so every review has one place.
    let (rating_order, rating_after) = match sort {
        ReviewSort::Newest => ("", ""),
        ReviewSort::RatingDesc => ("rating DESC, ", "rating < ? OR (rating = ? AND "),
        ReviewSort::RatingAsc => ("rating ASC, ", "rating > ? OR (rating = ? AND "),
    };
    if let Some(after) = after {
        let tail = "(created_at < ? OR (created_at = ? AND id < ?))";
        if rating_after.is_empty() {
            sql.push_str(&format!(" AND {tail}"));
        } else {
            sql.push_str(&format!(" AND ({rating_after}{tail}))"));
            values.push(after.rating.into());
            values.push(after.rating.into());
        }
        values.push(after.created_at.into());
        values.push(after.created_at.into());
        values.push(after.id.clone().into());
    }
    sql.push_str(&format!(" ORDER BY {rating_order}created_at DESC, id DESC LIMIT ?"));
    values.push((limit as i64).into());
    let rows = db.query_all_raw(statement(db.get_database_backend(), &sql, values)).await?;
    rows.iter().map(review_of).collect()
}

/// A page of every review in a status (all when `None`), newest first, after the review
/// `after` (an id).
pub async fn list_for_staff<C: ConnectionTrait>(
    db: &C,
    status: Option<ReviewStatus>,
    after: Option<&ReviewCursor>,
    limit: u64,
) -> Result<Vec<Review>, DbErr> {
    let mut sql = format!("SELECT {COLUMNS} FROM reviews WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    if let Some(status) = status {
        sql.push_str(" AND status = ?");
        values.push(status.as_str().into());
    }
    if let Some(after) = after {
        sql.push_str(" AND (created_at < ? OR (created_at = ? AND id < ?))");
        values.push(after.created_at.into());
        values.push(after.created_at.into());
        values.push(after.id.clone().into());
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
    values.push((limit as i64).into());
    let rows = db.query_all_raw(statement(db.get_database_backend(), &sql, values)).await?;
    rows.iter().map(review_of).collect()
}

/// Approves or rejects a review and moves its product's rating with it, in the caller's
/// transaction. Moderating a review to the status it has changes nothing.
pub async fn moderate<C: ConnectionTrait>(db: &C, review_id: &str, to: ReviewStatus) -> Result<Review, ReviewError> {
    let backend = db.get_database_backend();
    if !id::is_id(REVIEW_ID_PREFIX, review_id) {
        return Err(ReviewError::NotFound("review"));
    }
    // The row is taken first, so two moderations of one review apply one after the other.
    let taken = db
        .execute_raw(statement(backend, "UPDATE reviews SET status = status WHERE id = ?", [review_id.into()]))
        .await?
        .rows_affected();
    if taken == 0 {
        return Err(ReviewError::NotFound("review"));
    }
    let before = get(db, review_id).await?.ok_or(ReviewError::NotFound("review"))?;
    if before.status == to {
        return Ok(before);
    }
    db.execute_raw(statement(
        backend,
        "UPDATE reviews SET status = ?, updated_at = ? WHERE id = ?",
        [to.as_str().into(), now().into(), review_id.into()],
    ))
    .await?;
    let delta: i64 = match (before.status == ReviewStatus::Approved, to == ReviewStatus::Approved) {
        (false, true) => 1,
        (true, false) => -1,
        _ => 0,
    };
    if delta != 0 {
        let star = format!("stars_{}", before.rating);
        db.execute_raw(statement(
            backend,
            "INSERT INTO product_ratings (product_id, count, total, stars_1, stars_2, stars_3, stars_4, stars_5) \
             VALUES (?, 0, 0, 0, 0, 0, 0, 0) ON CONFLICT (product_id) DO NOTHING",
            [before.product_id.clone().into()],
        ))
        .await?;
        db.execute_raw(statement(
            backend,
            &format!(
                "UPDATE product_ratings SET count = count + ?, total = total + ?, {star} = {star} + ? WHERE product_id = ?"
            ),
            [delta.into(), (delta * i64::from(before.rating)).into(), delta.into(), before.product_id.clone().into()],
        ))
        .await?;
        // The score follows the figures it is computed from, in the same transaction.
        let rating = ratings(db, std::slice::from_ref(&before.product_id)).await?.pop().unwrap_or_default();
        db.execute_raw(statement(
            backend,
            "UPDATE product_ratings SET score = ? WHERE product_id = ?",
            [rating.score().into(), before.product_id.clone().into()],
        ))
        .await?;
    }
    Ok(Review { status: to, ..before })
}

/// A product's rating over its approved reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rating {
    pub count: i64,
    /// The sum of the ratings (the average is `total / count`).
    pub total: i64,
    /// How many reviews gave 1, 2, 3, 4 and 5.
    pub histogram: [i64; 5],
}

impl Rating {
    /// The average in hundredths, rounded half to even (`4.50` is 450); 0 without reviews.
    pub fn score(&self) -> i64 {
        if self.count == 0 {
            return 0;
        }
        let scaled = self.total * 100;
        let (quotient, remainder) = (scaled / self.count, scaled % self.count);
        match (remainder * 2).cmp(&self.count) {
            std::cmp::Ordering::Greater => quotient + 1,
            std::cmp::Ordering::Equal if quotient % 2 == 1 => quotient + 1,
            _ => quotient,
        }
    }

    /// The average as a decimal string with two places (`"4.50"`), rounded half to even;
    /// `"0.00"` without reviews.
    pub fn average(&self) -> String {
        let score = self.score();
        format!("{}.{:02}", score / 100, score % 100)
    }

    /// What `sort=rating` orders by, highest first: the shown average, then the number of
    /// reviews. The catalog's listing computes the same from `product_ratings`
    /// (`score * RANK_SCALE + count`).
    pub fn rank(&self) -> i64 {
        self.score() * RANK_SCALE + self.count.clamp(0, RANK_SCALE - 1)
    }
}

/// How [`Rating::rank`] weighs the score against the count: a count never reaches it.
pub const RANK_SCALE: i64 = 1_000_000_000_000;

/// The ratings of products, aligned with `product_ids` (no reviews: zeros).
pub async fn ratings<C: ConnectionTrait>(db: &C, product_ids: &[String]) -> Result<Vec<Rating>, DbErr> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; product_ids.len()].join(", ");
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT product_id, count, total, stars_1, stars_2, stars_3, stars_4, stars_5 FROM product_ratings \
                 WHERE product_id IN ({marks})"
            ),
            product_ids.iter().map(|id| id.clone().into()).collect::<Vec<Value>>(),
        ))
        .await?;
    let mut found = std::collections::HashMap::new();
    for row in &rows {
        let product_id: String = row.try_get("", "product_id")?;
        let mut histogram = [0i64; 5];
        for (stars, slot) in histogram.iter_mut().enumerate() {
            *slot = row.try_get("", &format!("stars_{}", stars + 1))?;
        }
        found.insert(
            product_id,
            Rating { count: row.try_get("", "count")?, total: row.try_get("", "total")?, histogram },
        );
    }
    Ok(product_ids.iter().map(|id| found.get(id).copied().unwrap_or_default()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_checked_and_averages_round_half_to_even() {
        assert!(NewReview::parse(0, "t", "b").is_err());
        assert!(NewReview::parse(6, "t", "b").is_err());
        assert!(NewReview::parse(5, " ", "b").is_err());
        assert!(NewReview::parse(5, "Great", "Fits well.").is_ok());
        let rating = |count, total| Rating { count, total, histogram: [0; 5] };
        assert_eq!(rating(0, 0).average(), "0.00");
        assert_eq!(rating(2, 9).average(), "4.50");
        assert_eq!(rating(3, 13).average(), "4.33");
        assert_eq!(rating(3, 14).average(), "4.67");
        // 4.125 → 4.12 (half to even), 4.375 → 4.38.
        assert_eq!(rating(8, 33).average(), "4.12");
        assert_eq!(rating(8, 35).average(), "4.38");
        assert_eq!((rating(8, 33).score(), rating(0, 0).score()), (412, 0));
        // A higher average ranks first whatever the counts; between equal averages, more reviews.
        assert!(rating(2, 9).rank() > rating(300, 1340).rank());
        assert!(rating(4, 18).rank() > rating(2, 9).rank());
    }

    #[test]
    fn every_code_is_in_the_published_table() {
        let errors = [
            ReviewError::NotFound("review"),
            ReviewError::PurchaseRequired,
            ReviewError::AlreadyReviewed,
            ReviewError::Invalid(ValidationErrors::single("rating", "out_of_range", "1 to 5")),
        ];
        for error in errors {
            let entry = ERROR_CODES.iter().chain(emporium_core::COMMON_CODES).find(|c| c.code == error.code());
            assert_eq!(entry.map(|c| c.kind), Some(error.kind()), "{}", error.code());
        }
    }
}
