//! SQLite connection settings.

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// Connections in the pool: one.
///
/// SQLite takes one writer at a time, and a connection that finds the file
/// locked waits in SQLite's busy handler, which *sleeps* (1, 2, 5 … 100 ms)
/// and polls again. With acks, sent marks, group commits and queue polls
/// racing for the lock, those sleeps made the slowest 1 % of pushes wait
/// 0.4 to 1.4 s (delivery bench, 1 000 sellers at 1 000 notifications/s).
/// One connection turns the race into a fair async queue in the pool: each
/// statement takes tens of microseconds, so waiting in line is short. With
/// that, and `sent_at` written in batches (`delivery::sent_marks`), the same
/// bench's p99 is under 10 ms.
const CONNECTIONS: u32 = 1;

/// Opens the file (creating it and its folder), in WAL mode, behind one
/// connection ([`CONNECTIONS`]).
///
/// `synchronous = NORMAL` is durable across a process crash in WAL mode; the
/// busy timeout is for other processes on the same file (an operator's
/// `sqlite3` shell, a second server during a deploy).
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
        .max_connections(CONNECTIONS)
        .connect_with(options)
        .await
        .with_context(|| format!("failed to open the SQLite database {url}"))
}
