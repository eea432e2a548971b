//! The unit of work: the one way a write reaches the database.
//!
//! A write opens one ([`Writer::begin`]), does its statements in its transaction, and notes
//! as it goes what the rest of the system must hear of it: the typed events of what changed
//! ([`UnitOfWork::emit`]), the cache keys whose entries it makes stale ([`UnitOfWork::touch`])
//! and the answer a retry of its request must get ([`UnitOfWork::answer`]). [`UnitOfWork::commit`]
//! records all of them in the transaction (the events in the outbox, the keys in the change
//! log, the answer with its idempotency key), commits, and then hands the keys to this
//! instance's caches and search index ([`AfterCommit`]) so the caller's next read sees the
//! write. Other instances read the same log. A write that fails anywhere rolls back with
//! everything it noted: no event or invalidation outlives a change that did not happen, and no
//! committed change lacks its event.
//!
//! Nothing else can record an event or a change: the statements that write the outbox and the
//! log are private to this crate.
//!
//! ```compile_fail
//! // A write outside the unit of work cannot record an event.
//! async fn sneak(txn: &sea_orm::DatabaseTransaction) {
//!     emporium_core::events::append_all(txn, &[]).await.ok();
//! }
//! ```

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

use crate::changes::{self, Position};
use crate::events::{self, DomainEvent, Pending};

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The cache keys of the change log. A product is read by its id and by each slug; a variant's
/// availability is its own entry; [`Key::CATALOG`] covers every catalog-wide entry (list
/// pages, cached GraphQL answers), and [`Key::REINDEX`] makes every instance rebuild its
/// search index.
pub struct Key;

impl Key {
    /// Every catalog-wide entry: any write that changes what a catalog read can return.
    pub const CATALOG: &'static str = "catalog";
    /// Every instance rebuilds its search index.
    pub const REINDEX: &'static str = "search:reindex";
    /// What every availability key starts with.
    pub const STOCK_PREFIX: &'static str = "stock:";

    /// The key of a variant's availability.
    pub fn stock(variant_id: &str) -> String {
        format!("{}{variant_id}", Self::STOCK_PREFIX)
    }
}

/// What this instance does once a write has committed: drop its cached copies of what the
/// write touched and let its search index take the write before the caller is answered.
pub trait AfterCommit: Send + Sync {
    /// Called once per committed write that touched `keys` (never with none).
    fn committed<'a>(&'a self, position: Position, keys: &'a [String]) -> BoxFuture<'a, ()>;
}

/// Nothing to do after a commit (a command-line tool with no cache of its own: running
/// servers read the log).
pub struct NoCache;

impl AfterCommit for NoCache {
    fn committed<'a>(&'a self, _: Position, _: &'a [String]) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// The answer a retry of the write's request gets, stored in the write's own transaction.
pub trait StoredAnswer: Send + Sync {
    /// Stores the answer in `txn`; an error rolls the write back.
    fn store<'a>(&'a self, txn: &'a DatabaseTransaction) -> BoxFuture<'a, Result<(), AnswerError>>;
}

/// Why a stored answer could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The request's key is no longer this request's (taken over as abandoned).
    #[error("the idempotency key was taken over")]
    Lost,
    #[error("database error")]
    Database(#[from] DbErr),
}

/// Why a unit of work could not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the stored answer: {0}")]
    Answer(#[source] AnswerError),
    #[error("database error")]
    Database(#[from] DbErr),
}

impl From<CommitError> for DbErr {
    fn from(err: CommitError) -> Self {
        match err {
            CommitError::Database(err) | CommitError::Answer(AnswerError::Database(err)) => err,
            CommitError::Answer(AnswerError::Lost) => DbErr::Custom("the idempotency key was taken over".to_owned()),
        }
    }
}

/// Begins units of work on one database, with what this instance does after each commit.
#[derive(Clone)]
pub struct Writer {
    db: DatabaseConnection,
    after: Arc<dyn AfterCommit>,
}

impl Writer {
    /// Units of work on `db`, each followed by `after` once committed.
    pub fn new(db: DatabaseConnection, after: Arc<dyn AfterCommit>) -> Self {
        Self { db, after }
    }

    /// The connection, for reads.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A write of one statement that records nothing (no event, no stale key, no answer):
    /// atomic by itself, so it needs no transaction of its own, and costs one round trip
    /// instead of three.
    pub async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    /// Begins a unit of work (a write transaction).
    pub async fn begin(&self) -> Result<UnitOfWork, DbErr> {
        Ok(UnitOfWork {
            txn: crate::db::begin_write(&self.db).await?,
            events: Vec::new(),
            keys: BTreeSet::new(),
            answer: None,
            after: Arc::clone(&self.after),
            statements: AtomicU32::new(0),
        })
    }
}

/// One write in progress. Dropped without [`UnitOfWork::commit`], it rolls back.
pub struct UnitOfWork {
    txn: DatabaseTransaction,
    events: Vec<Pending>,
    keys: BTreeSet<String>,
    answer: Option<Box<dyn StoredAnswer>>,
    after: Arc<dyn AfterCommit>,
    /// Statements run through the unit of work so far (its own records included).
    statements: AtomicU32,
}

/// What a committed unit of work recorded.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// Its place in the change log, if it touched any key.
    pub position: Option<Position>,
    /// The ids of the events it appended, in order.
    pub events: Vec<String>,
    /// The statements it ran, its records and the commit included.
    pub statements: u32,
}

impl UnitOfWork {
    /// The transaction, for the write's statements.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Notes an event of what this write changed, appended to the outbox at commit.
    pub fn emit<E: DomainEvent>(&mut self, event: E) {
        self.events.push(events::pending(&event));
    }

    /// Notes a cache key whose entries this write makes stale.
    pub fn touch(&mut self, key: impl Into<String>) {
        self.keys.insert(key.into());
    }

    /// Notes several cache keys.
    pub fn touch_all<K: Into<String>>(&mut self, keys: impl IntoIterator<Item = K>) {
        self.keys.extend(keys.into_iter().map(Into::into));
    }

    /// Notes the answer stored with the write for its request's retries.
    pub fn answer(&mut self, answer: Box<dyn StoredAnswer>) {
        self.answer = Some(answer);
    }

    /// Gives the write up: nothing it did or noted remains (dropping it does the same).
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }

    /// Records the events, the touched keys and the answer in the transaction, commits, then
    /// lets this instance's caches and search index take the write.
    pub async fn commit(mut self) -> Result<Committed, CommitError> {
        let ids = events::append_all(&self, &self.events).await?;
        if let Some(answer) = &self.answer {
            self.statements.fetch_add(1, Ordering::Relaxed);
            answer.store(&self.txn).await.map_err(CommitError::Answer)?;
        }
        let keys: Vec<String> = std::mem::take(&mut self.keys).into_iter().collect();
        let position = if keys.is_empty() {
            None
        } else {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            Some(changes::record(&self, &refs).await?)
        };
        let statements = self.statements.load(Ordering::Relaxed) + 1;
        let Self { txn, after, .. } = self;
        txn.commit().await?;
        if let Some(position) = position {
            after.committed(position, &keys).await;
        }
        Ok(Committed { position, events: ids, statements })
    }
}

/// The unit of work runs its write's statements: it is the connection its use case passes on,
/// and counts what it runs (statements per request are what a write costs the database).
#[async_trait::async_trait]
impl ConnectionTrait for UnitOfWork {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.txn.query_all_raw(stmt).await
    }
}

impl std::ops::Deref for UnitOfWork {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl crate::DomainError for CommitError {
    fn code(&self) -> &'static str {
        match self {
            Self::Answer(AnswerError::Lost) => "idempotency_in_progress",
            Self::Answer(AnswerError::Database(e)) | Self::Database(e) => e.code(),
        }
    }

    fn kind(&self) -> crate::ErrorKind {
        match self {
            Self::Answer(AnswerError::Lost) => crate::ErrorKind::Conflict,
            Self::Answer(AnswerError::Database(e)) | Self::Database(e) => e.kind(),
        }
    }

    fn safe_detail(&self) -> String {
        match self {
            Self::Answer(AnswerError::Lost) => {
                "A request with this Idempotency-Key is still running; retry shortly.".to_owned()
            }
            Self::Answer(AnswerError::Database(e)) | Self::Database(e) => e.safe_detail(),
        }
    }
}
