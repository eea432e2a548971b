//! Shared building blocks of Emporium: ids, money, pagination, validation and error kinds.
//!
//! The values (`id`, `money`, `page`, `patch`, `sku`, `slug`, `error`) perform no I/O. Two modules
//! do, always on a connection or transaction their caller passes and never on their own:
//! `db` (beginning write transactions, statements, mapping database errors), `uow` (the unit
//! of work every write goes through) and the logs it writes: `events` (the outbox) and
//! `changes` (the cache keys each write touched).

pub mod changes;
pub mod db;
pub mod error;
pub mod events;
pub mod id;
pub mod money;
pub mod page;
pub mod patch;
pub mod report;
pub mod sku;
pub mod slug;
pub mod uow;
pub mod version;

pub use error::{COMMON_CODES, DomainError, ErrorCode, ErrorKind, FieldError, ProblemExtra, ValidationErrors};
pub use money::{Currency, Money, MoneyError};
pub use page::{Cursor, CursorCodec, Limit};
pub use patch::Patch;
pub use sku::Sku;
pub use slug::Slug;
pub use version::Expected;
