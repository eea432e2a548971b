//! Inventory: locations, stock per variant per location changed only by conditional
//! statements, a movement ledger that always sums to on-hand, reorder points, backorder
//! settings and the low-stock report.
//!
//! Reservations hold units for a checkout: `reserve`, then `commit` (sold) or `release`, and
//! `expire_due` gives back what no request finished. A variant that allows backorders can be
//! reserved past its stock, up to its limit.

mod events;
mod locations;
pub mod report;
mod reservations;
mod stock;

pub use events::{StockEvent, record_change};
pub use locations::{
    LOCATION_ID_PREFIX, Location, LocationChange, NewLocation, change_location, create_location, ensure_location,
    list_locations, location_by_code,
};
pub use reservations::{
    Backordered, MAX_LINES, MAX_QUANTITY, Reservation, ReservedLine, Settled, active_for, commit, commit_held,
    expire_due, held_units, release, reserve, settle_backorder,
};
pub use stock::{
    Adjusted, Adjustment, Backorder, Level, LowStock, MAX_DELTA, MAX_LOW_STOCK, Moved, Movement, Reason,
    ReorderCrossing, StockSummary, UNLIMITED_BACKORDER, adjust, available, backorder, low_stock, movements,
    set_backorder, set_reorder, sold_from, sold_under, stock, variants_at,
};

use emporium_core::{DomainError, ErrorCode, ErrorKind, ValidationErrors};
use sea_orm::DbErr;

/// Why an inventory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The adjustment would take on-hand stock below zero, or below what is reserved.
    #[error("Not enough stock: {available} available at the location, {requested} requested.")]
    InsufficientStock { requested: i64, available: i64 },
    /// Some variants do not have the units asked for (after summing lines of one variant).
    #[error("Not enough stock for {} variant(s).", variant_ids.len())]
    OutOfStock { variant_ids: Vec<String> },
    /// The reservation was already committed, released or expired.
    #[error("The reservation is no longer active.")]
    ReservationNotActive,
    /// No location with that code.
    #[error("No location has this code.")]
    LocationNotFound,
    /// A location already has the code.
    #[error("A location already has this code.")]
    LocationCodeTaken,
    /// The location changed since the version the caller expected (`If-Match`).
    #[error("The location changed since the version given in If-Match (or expectedVersion); nothing was changed.")]
    Stale,
    /// The input broke one or more rules.
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

/// Every code an inventory operation may answer.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: "insufficient_stock",
        kind: ErrorKind::Conflict,
        meaning: "On-hand would go below zero or below what is reserved.",
    },
    ErrorCode {
        code: "out_of_stock",
        kind: ErrorKind::Conflict,
        meaning: "Not enough units to reserve; the SKUs are named.",
    },
    ErrorCode {
        code: "reservation_not_active",
        kind: ErrorKind::Conflict,
        meaning: "The reservation was already committed, released or expired.",
    },
    ErrorCode { code: "location_code_taken", kind: ErrorKind::Conflict, meaning: "A location already has this code." },
    ErrorCode { code: "not_found", kind: ErrorKind::NotFound, meaning: "No such location or SKU." },
];

impl DomainError for InventoryError {
    fn code(&self) -> &'static str {
        match self {
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::OutOfStock { .. } => "out_of_stock",
            Self::ReservationNotActive => "reservation_not_active",
            Self::LocationNotFound => "not_found",
            Self::LocationCodeTaken => "location_code_taken",
            Self::Invalid(_) => "validation_failed",
            Self::Stale => "precondition_failed",
            Self::Database(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::InsufficientStock { .. }
            | Self::OutOfStock { .. }
            | Self::ReservationNotActive
            | Self::LocationCodeTaken => ErrorKind::Conflict,
            Self::LocationNotFound => ErrorKind::NotFound,
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Stale => ErrorKind::PreconditionFailed,
            Self::Database(e) => e.kind(),
        }
    }

    fn field_errors(&self) -> &[emporium_core::FieldError] {
        match self {
            Self::Invalid(errors) => errors.errors(),
            _ => &[],
        }
    }

    fn safe_detail(&self) -> String {
        match self {
            Self::Database(e) => e.safe_detail(),
            other => other.to_string(),
        }
    }
}
