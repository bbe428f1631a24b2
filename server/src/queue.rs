//! The persistent retry queue: apalis jobs stored in the same database as the
//! notifications (the SQLite file, or PostgreSQL), so a scheduled retry
//! survives `kill -9` and runs after restart.
//!
//! A job ([`RetryJob`]) only says "look at notification (seller, seq) again,
//! as push attempt N, at this time". What the job does is
//! [`crate::delivery`]'s business ([`Delivery::run_retry`]); the notification
//! row stays the authority on whether anything is left to do. apalis lives
//! only here: delivery sees the queue as a [`RetryScheduler`].
//!
//! apalis's own migrations are run here with a migration table of their own
//! (`_apalis_migrations`), because sharing sqlx's default table with ours
//! would make each migrator see the other's versions as unknown. apalis's
//! `setup()` is not used: it would also turn off `synchronous` on SQLite.

use crate::delivery::Delivery;
use crate::delivery::retry::{RetryJob, RetryScheduler, ScheduleError};
use crate::store::Database;
use anyhow::Context;
use apalis::prelude::{
    BackendExt, BoxDynError, Data, PollSnapshot, PollStrategy, TaskBuilder, TaskSink, WorkerBuilder,
};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use std::future::Future;
use std::task::{self, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The apalis queue name: explicit, so renaming the Rust type never strands
/// stored jobs.
const QUEUE: &str = "liveshop.retry";
/// How often an idle worker looks for jobs that fell due. Jobs are scheduled
/// to the second, so this bounds how late a retry can start.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Runs of one job when its handler errs (a database hiccup), before apalis
/// gives up on it; the delivery sweep picks up anything left behind.
const JOB_RUNS: usize = 3;
/// Where apalis records its own migrations.
const MIGRATIONS_TABLE: &str = "_apalis_migrations";
/// Finished jobs are kept this long (for operators), then deleted.
const KEEP_FINISHED_JOBS: Duration = Duration::from_secs(3600);
/// How often finished jobs older than [`KEEP_FINISHED_JOBS`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A job handler's outcome: an error makes apalis run the job again.
pub type JobResult = Result<(), BoxDynError>;

/// The apalis handler: runs one retry job with the shared [`Delivery`].
///
/// # Errors
/// Database or queue failures, so apalis runs the job again.
pub async fn handle_retry_job(job: RetryJob, delivery: Data<Delivery>) -> JobResult {
    delivery.run_retry(job).await.map_err(Into::into)
}

/// The queue, on whichever database the notifications use. Cheap to clone.
#[derive(Clone)]
pub enum RetryQueue {
    Sqlite(SqliteStorage<RetryJob>),
    Postgres(PostgresStorage<RetryJob>),
}

impl std::fmt::Debug for RetryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RetryQueue({}, queue {QUEUE})", self.kind())
    }
}

impl RetryQueue {
    /// Opens the queue on `database`'s pool, applying apalis's migrations.
    ///
    /// # Errors
    /// When the migrations fail.
    pub async fn open(database: &Database) -> anyhow::Result<Self> {
        match database {
            Database::Sqlite(pool) => {
                let mut migrator = SqliteStorage::migrations();
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(pool).await.context("failed to apply the retry queue's SQLite migrations")?;
                let config = apalis_sqlite::Config::default().queue(QUEUE);
                Ok(Self::Sqlite(SqliteStorage::new(pool).with_config(config)))
            }
            Database::Postgres(pool) => {
                let mut migrator = PostgresStorage::migrations();
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator
                    .run(pool)
                    .await
                    .context("failed to apply the retry queue's PostgreSQL migrations")?;
                let config = apalis_postgres::Config::default().queue(QUEUE);
                Ok(Self::Postgres(PostgresStorage::new(pool).with_config(config)))
            }
        }
    }

    /// `sqlite` or `postgres`, for `/api/health`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Stores jobs to run after their delays (rounded up to the second).
    ///
    /// # Errors
    /// When the database refuses the insert.
    pub async fn schedule(&self, jobs: Vec<(RetryJob, Duration)>) -> Result<(), BoxDynError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let tasks = jobs.into_iter().map(|(job, delay)| {
            TaskBuilder::new(job).run_at_timestamp(due_at(delay)).max_attempts(JOB_RUNS).build()
        });
        let tasks = futures_util::stream::iter(tasks);
        match self.clone() {
            Self::Sqlite(mut storage) => storage.push_all(tasks).await?,
            Self::Postgres(mut storage) => storage.push_all(tasks).await?,
        }
        Ok(())
    }

    /// Runs a worker that hands every due job to `handler` until `stop`
    /// completes, and deletes old finished jobs meanwhile. `name` must be
    /// unique among live workers of this queue.
    ///
    /// # Errors
    /// When the worker cannot start (its registration fails) or dies.
    pub async fn run_worker<C, H, F>(
        self,
        name: String,
        context: C,
        handler: H,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()>
    where
        C: Clone + Send + Sync + 'static,
        H: Fn(RetryJob, Data<C>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = JobResult> + Send + 'static,
    {
        let pruning = tokio::spawn(self.clone().prune_periodically());
        let stop = async move {
            stop.await;
            pruning.abort();
            Ok::<(), std::io::Error>(())
        };
        // The same worker over two storage types: one body, two expansions.
        macro_rules! run_on {
            ($storage:expr) => {
                WorkerBuilder::new(name)
                    .backend($storage.poll_with_strategy(Every::new(POLL_INTERVAL)))
                    .data(context)
                    .build(handler)
                    .run_until(stop)
                    .await
            };
        }
        match self {
            Self::Sqlite(storage) => run_on!(storage),
            Self::Postgres(storage) => run_on!(storage),
        }
        .context("the retry worker stopped with an error")
    }

    async fn prune_periodically(self) {
        let mut ticks = tokio::time::interval(PRUNE_EVERY);
        loop {
            ticks.tick().await;
            match self.prune(KEEP_FINISHED_JOBS).await {
                Ok(0) => {}
                Ok(pruned) => tracing::debug!(pruned, "finished retry jobs deleted"),
                Err(error) => tracing::warn!(%error, "failed to prune finished retry jobs"),
            }
        }
    }

    /// Deletes finished jobs older than `age`, so the table does not grow
    /// without bound. Returns how many were deleted.
    ///
    /// # Errors
    /// Database failures.
    pub async fn prune(&self, age: Duration) -> Result<u64, sqlx::Error> {
        let cutoff = i64::try_from(due_at(Duration::ZERO).saturating_sub(age.as_secs())).unwrap_or(0);
        match self {
            Self::Sqlite(storage) => sqlx::query(
                "DELETE FROM Jobs WHERE job_type = ?1 AND status IN ('Done', 'Killed', 'Failed') \
                 AND run_at < ?2",
            )
            .bind(QUEUE)
            .bind(cutoff)
            .execute(storage.pool())
            .await
            .map(|r| r.rows_affected()),
            Self::Postgres(storage) => sqlx::query(
                "DELETE FROM apalis.jobs WHERE job_type = $1 AND status IN ('Done', 'Killed', 'Failed') \
                 AND run_at < to_timestamp($2)",
            )
            .bind(QUEUE)
            .bind(cutoff)
            .execute(storage.pool())
            .await
            .map(|r| r.rows_affected()),
        }
    }
}

#[async_trait::async_trait]
impl RetryScheduler for RetryQueue {
    async fn schedule(&self, jobs: Vec<(RetryJob, Duration)>) -> Result<(), ScheduleError> {
        RetryQueue::schedule(self, jobs).await.map_err(|error| ScheduleError(error.to_string()))
    }
}

/// Wakes the worker every period so it fetches jobs that fell due.
///
/// apalis's own interval strategy (1.0.0) stops waking an idle worker after
/// its first ticks: a tick that fires is not polled again, so no timer is
/// armed for the next one. Draining every due tick leaves the interval
/// pending, which arms its timer with the worker's waker.
struct Every(tokio::time::Interval);

impl Every {
    fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(interval)
    }
}

impl PollStrategy for Every {
    fn poll_drive(&mut self, cx: &mut task::Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut ticked = false;
        while self.0.poll_tick(cx).is_ready() {
            ticked = true;
        }
        if ticked { Poll::Ready(Some(())) } else { Poll::Pending }
    }
}

/// Unix seconds at which a job delayed by `delay` is due, rounded up so a
/// retry never runs before its delay.
fn due_at(delay: Duration) -> u64 {
    let due = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + delay;
    due.as_secs() + u64::from(due.subsec_nanos() > 0)
}
