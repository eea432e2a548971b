//! Database helpers every domain needs: write transactions and constraint violations.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

/// Begins a transaction that will write (for the unit of work, [`crate::uow`], the only writer).
///
/// On SQLite it starts `IMMEDIATE`, taking the write lock up front: a deferred transaction
/// that reads and then writes can fail at once with "database is locked" under concurrency,
/// whatever the busy timeout. PostgreSQL ignores the mode.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Whether `err` is a unique-constraint violation on `table.column`.
///
/// PostgreSQL names the violated index, which our migrations call `uq_<table>_<column>`;
/// SQLite names the columns (`UNIQUE constraint failed: table.column`).
pub fn is_unique_violation(err: &DbErr, table: &str, column: &str) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db_err) = &**e else {
        return false;
    };
    if !matches!(db_err.kind(), sea_orm::sqlx::error::ErrorKind::UniqueViolation) {
        return false;
    }
    match db_err.constraint() {
        Some(name) => name == format!("uq_{table}_{column}"),
        None => db_err.message().contains(&format!("{table}.{column}")),
    }
}

/// Whether `err` means the database could not be reached (as opposed to a bad statement): the
/// pool could not connect, the connection broke, or the server refuses work for now.
pub fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_unavailable(e),
        _ => false,
    }
}

fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // PostgreSQL: connection exceptions (08), insufficient resources (53), operator
        // intervention such as a shutdown or a dropped database (57P), no such database (3D000).
        Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") || code == "3D000"
        }),
        _ => false,
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside `LIKE ... ESCAPE '\'`.
pub fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}

/// A statement written with `?` placeholders, numbered `$1, $2, ...` for PostgreSQL.
///
/// Lets hand-written SQL stay one string for both databases. `?` must not appear in literals.
pub fn statement(
    backend: sea_orm::DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> sea_orm::Statement {
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    numbered.push('$');
                    numbered.push_str(&n.to_string());
                } else {
                    numbered.push(ch);
                }
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// SQL for the UTC day (`YYYY-MM-DD`) of a timestamp column, on either database (SQLite keeps
/// UTC times as text that starts with the date).
pub fn utc_day(backend: sea_orm::DbBackend, column: &str) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        _ => format!("substr({column}, 1, 10)"),
    }
}

/// SQL ordering `expr` by its bytes on either database (PostgreSQL would otherwise use the
/// database's collation, which SQLite does not have), so ties break the same way on both.
pub fn bytewise(backend: sea_orm::DbBackend, expr: &str) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("{expr} COLLATE \"C\""),
        _ => expr.to_owned(),
    }
}

/// The current time at the precision both databases keep (microseconds), so a value answered
/// right after a write equals what a later read returns.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound as _;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Whether `text` can be looked up as a key (an id, slug, SKU, code or search text): no
/// control characters (PostgreSQL refuses a NUL byte in text outright) and at most 500 bytes.
/// Callers answer 404 (or 422 for search text) for anything else, on both databases alike.
pub fn lookupable(text: &str) -> bool {
    text.len() <= 500 && !text.chars().any(char::is_control)
}
