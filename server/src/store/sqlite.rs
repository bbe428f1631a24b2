//! SQLite connection settings.

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// Opens the file (creating it and its folder), in WAL mode.
///
/// WAL lets readers (delta, list, stats) run while a writer commits;
/// `synchronous = NORMAL` is durable across a process crash in WAL mode, and a
/// busy timeout makes concurrent writers wait for the lock instead of failing.
pub(super) async fn connect(url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid SQLite URL {url:?}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);

    if let Some(folder) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(folder)
            .await
            .with_context(|| format!("failed to create the database folder {}", folder.display()))?;
    }

    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("failed to open the SQLite database {url}"))
}
