//! The database: SQLite (embedded default) or PostgreSQL, chosen by
//! `DATABASE_URL`, with its migrations applied on connect.
//!
//! Two native pools rather than `sqlx::Any`: under `Any`, SQLite booleans and
//! PostgreSQL timestamps/JSONB cannot be decoded, and there are no chrono or
//! JSON binds. Each backend keeps its own migrations folder.
//!
//! This module must not depend on axum or socketioxide.

mod postgres;
mod sqlite;

use crate::config::{DatabaseKind, DatabaseUrl};
use anyhow::Context;
use sqlx::{PgPool, SqlitePool};

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
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let database = match url.kind() {
            DatabaseKind::Sqlite => Self::Sqlite(sqlite::connect(url.expose()).await?),
            DatabaseKind::Postgres => Self::Postgres(postgres::connect(url.expose()).await?),
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
        match self {
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}
