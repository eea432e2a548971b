//! Shared building blocks of Emporium: ids, money, pagination, validation and error kinds.
//!
//! Nothing here performs I/O; `db` only inspects and prepares database values.

pub mod db;
pub mod error;
pub mod events;
pub mod id;
pub mod money;
pub mod page;
pub mod patch;
pub mod slug;

pub use error::{COMMON_CODES, DomainError, ErrorCode, ErrorKind, FieldError, ProblemExtra, ValidationErrors};
pub use money::{Currency, Money, MoneyError};
pub use page::{Cursor, CursorCodec, Limit};
pub use patch::Patch;
