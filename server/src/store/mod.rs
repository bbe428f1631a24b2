//! The database: SQLite (embedded default) or PostgreSQL, chosen by
//! `DATABASE_URL`, with its migrations applied on connect.
//!
//! Two native pools rather than `sqlx::Any`: under `Any`, SQLite booleans and
//! PostgreSQL timestamps/JSONB cannot be decoded, and there are no chrono or
//! JSON binds. The SQL text is shared where the dialects agree (`$n`
//! placeholders, `RETURNING`, `FILTER`), through [`on_pool!`], which runs the
//! same code against whichever pool is configured.
//!
//! Invariants (see `migrations/`):
//! - a notification's `seq` is its seller's `last_seq` bumped in the same
//!   transaction that inserts it, so seqs are per seller, gapless and in
//!   commit order: a reader that has seen `n` misses nothing by asking `after n`;
//! - every write of notifications goes through [`writer::Writer`], which
//!   commits concurrent publishes together (group commit); every ack goes
//!   through [`acks::AckWriter`], which does the same for received marks.
//!
//! This module must not depend on axum or socketioxide.

pub mod acks;
mod delivery;
mod group;
mod notifications;
mod orders;
mod postgres;
pub(crate) mod rows;
mod sellers;
mod sessions;
mod sqlite;
pub mod writer;

pub use delivery::{DeliveryTotals, PendingDelivery};
pub use sellers::Credentials;

use crate::config::{DatabaseKind, DatabaseUrl};
use crate::domain::notification::{SellerId, Seq};
use anyhow::Context;
use sqlx::{PgPool, QueryBuilder, SqlitePool};

/// Notifications named in one statement by their `(seller_id, seq)` keys.
/// Two parameters each stays below SQLite's 32 766 and PostgreSQL's 65 535
/// parameter limits.
const KEYS_PER_STATEMENT: usize = 5_000;

/// Runs `$body` with `$pool` bound to the configured pool. The body is
/// compiled once per backend, so it may use backend-specific types freely.
macro_rules! on_pool {
    ($database:expr, $pool:ident => $body:expr) => {
        match $database {
            $crate::store::Database::Sqlite($pool) => $body,
            $crate::store::Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A seller with this email exists already.
    #[error("email already registered")]
    EmailTaken,
    /// No such row for this seller (or it belongs to another seller).
    #[error("not found")]
    NotFound,
    /// Item `index` of a publish names a seller that does not exist.
    #[error("unknown seller {seller_id} (item {index})")]
    UnknownSeller { index: usize, seller_id: i64 },
    /// The writer task is gone (the server is shutting down).
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A connected, migrated database. Cheap to clone (pools are shared handles).
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Database {
    /// Connects (creating the SQLite file and its folder if missing) and
    /// applies pending migrations.
    ///
    /// PostgreSQL gets the whole URL, so its TLS options (`sslmode`,
    /// `sslrootcert`) apply as written.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails; a server
    /// certificate that does not verify says so first.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let database = match url.kind() {
            DatabaseKind::Sqlite => Self::Sqlite(sqlite::connect(url.expose()).await?),
            DatabaseKind::Postgres => Self::Postgres(
                postgres::connect(url.expose())
                    .await
                    .map_err(|error| explain_certificate_rejection(error, url))?,
            ),
        };
        database.migrate().await?;
        Ok(database)
    }

    pub fn kind(&self) -> DatabaseKind {
        match self {
            Self::Sqlite(_) => DatabaseKind::Sqlite,
            Self::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await,
            Self::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await,
        }
        .with_context(|| format!("failed to apply the {} migrations", self.kind()))
    }

    /// A round trip to the database, for health checks.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    /// Ends the subquery that picks the rows of a multi-row `UPDATE` (acks,
    /// sent marks, read-all): on PostgreSQL it locks them in id order, so two
    /// such updates of overlapping rows (an ack group and a batch of sent
    /// marks, or two instances) wait for each other instead of deadlocking.
    /// SQLite has one writer at a time and no row locks.
    pub(crate) fn lock_rows_in_id_order(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => " ORDER BY id",
            Self::Postgres(_) => " ORDER BY id FOR UPDATE",
        }
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// Puts a clear first line on `error` when it is rustls refusing the
/// server's certificate (unknown issuer, another host name, expired): a
/// configuration error, not an outage. sqlx hands rustls's error on inside
/// an `io::Error` inside its own; rustls's text, `invalid peer certificate:
/// <reason>`, is the sign that survives every wrapping.
fn explain_certificate_rejection(error: anyhow::Error, url: &DatabaseUrl) -> anyhow::Error {
    if !format!("{error:#}").contains("invalid peer certificate") {
        return error;
    }
    let against = match url.root_cert() {
        Some(root_cert) => format!("sslrootcert {root_cert} (and the built-in public roots)"),
        None => "the built-in public roots (name a private CA with sslrootcert)".to_owned(),
    };
    error.context(format!(
        "PostgreSQL TLS: the server's certificate does not verify against {against}; \
         DATABASE_URL is {url:?}"
    ))
}

/// Appends `(seller_id, seq) IN (VALUES ($1, $2), …)`: notifications by
/// their two keys (at most [`KEYS_PER_STATEMENT`]), as a row-value list both
/// databases accept.
fn push_keys_in<DB: sqlx::Database>(sql: &mut QueryBuilder<DB>, keys: &[(SellerId, Seq)])
where
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    sql.push("(seller_id, seq) IN (VALUES ");
    for (i, (seller, seq)) in keys.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.push_bind(seller.0).push(", ").push_bind(seq.0).push(")");
    }
    sql.push(")");
}

/// True when `error` is a unique-constraint violation on `constraint` (the
/// index name, which SQLite reports through the column list instead).
fn violates_unique(error: &sqlx::Error, constraint: &str, sqlite_columns: &str) -> bool {
    let Some(db_error) = error.as_database_error() else { return false };
    if !db_error.is_unique_violation() {
        return false;
    }
    db_error.constraint() == Some(constraint) || db_error.message().contains(sqlite_columns)
}
