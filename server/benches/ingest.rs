//! Ingest throughput: notifications per second accepted **and stored**, single
//! and batch, on SQLite and PostgreSQL, next to the raw rate of the same
//! database doing one notification per transaction (what ingest would cost
//! without group commit).
//!
//! ```sh
//! cargo bench -p server --bench ingest
//! BENCH_SECONDS=10 BENCH_CONCURRENCY=128 cargo bench -p server --bench ingest
//! BENCH_POSTGRES_URL= cargo bench -p server --bench ingest   # SQLite only
//! ```
//!
//! The server runs in this process on a random port and the load comes over
//! real HTTP, so server and client share the machine, as in production on a
//! small box. Every figure is checked against a row count afterwards: a
//! notification that was answered 201 but not stored would show as a failure.

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use server::config::{Config, DatabaseUrl};
use server::startup::Application;
use server::store::Database;
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SELLERS: usize = 100;
const BATCH_SIZE: usize = 500;
const INGEST_KEY: &str = "bench-ingest-key";

struct Settings {
    seconds: u64,
    concurrency: usize,
    postgres_admin_url: Option<String>,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            std::env::var(name)
                .map_or(Ok(default), |v| v.parse().with_context(|| format!("{name} must be a number")))
        };
        let postgres_admin_url = match std::env::var("BENCH_POSTGRES_URL") {
            Ok(url) if url.is_empty() => None,
            Ok(url) => Some(url),
            Err(_) => Some("postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        };
        Ok(Self {
            seconds: number("BENCH_SECONDS", 5)?,
            concurrency: usize::try_from(number("BENCH_CONCURRENCY", 64)?)?,
            postgres_admin_url,
        })
    }
}

#[derive(Debug)]
struct Figures {
    backend: &'static str,
    raw_per_txn: f64,
    single: f64,
    batch: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    println!(
        "ingest benchmark: {} s per run, {} concurrent publishers, {SELLERS} sellers, batches of {BATCH_SIZE}, {} cores",
        settings.seconds,
        settings.concurrency,
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let dir = tempfile::tempdir()?;
    let mut results = Vec::new();
    results.push(
        run_backend("sqlite", &settings, || async {
            Ok(DatabaseUrl::sqlite_file(&dir.path().join(format!("bench-{}.db", unique()))))
        })
        .await?,
    );
    if let Some(admin) = &settings.postgres_admin_url {
        let mut created = Vec::new();
        let result = run_backend("postgres", &settings, || {
            let admin = admin.clone();
            let name = format!("liveshop_bench_{}_{}", std::process::id(), unique());
            created.push(name.clone());
            async move { create_postgres_database(&admin, &name).await }
        })
        .await;
        for name in created {
            drop_postgres_database(admin, &name).await;
        }
        results.push(result?);
    }

    println!();
    println!(
        "| backend  | raw: 1 notification per transaction | ingest, single (/s) | ingest, batch of {BATCH_SIZE} (/s) |"
    );
    println!(
        "|----------|------------------------------------:|--------------------:|---------------------:|"
    );
    for f in &results {
        println!("| {:<8} | {:>35.0} | {:>19.0} | {:>20.0} |", f.backend, f.raw_per_txn, f.single, f.batch);
    }
    Ok(())
}

fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

async fn run_backend<F, Fut>(
    backend: &'static str,
    settings: &Settings,
    mut new_database: F,
) -> anyhow::Result<Figures>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<DatabaseUrl>>,
{
    println!("\n== {backend}");
    let raw_per_txn = raw_insert_rate(&new_database().await?, settings).await?;
    println!("raw, one notification per transaction (1 connection): {raw_per_txn:.0}/s");

    let single = ingest_rate(&new_database().await?, settings, false).await?;
    println!("ingest, single notifications: {single:.0}/s");

    let batch = ingest_rate(&new_database().await?, settings, true).await?;
    println!("ingest, batches of {BATCH_SIZE}: {batch:.0}/s");
    Ok(Figures { backend, raw_per_txn, single, batch })
}

/// The database alone: bump the seller's seq and insert the row, one
/// transaction each, back to back on one connection.
async fn raw_insert_rate(url: &DatabaseUrl, settings: &Settings) -> anyhow::Result<f64> {
    let database = Database::connect(url).await?;
    let deadline = Duration::from_secs(settings.seconds);
    let started = Instant::now();
    let mut count: u64 = 0;
    macro_rules! raw_loop {
        ($pool:expr) => {{
            sqlx::query("INSERT INTO sellers (email, password_hash, shop_name, last_seq, created_at) VALUES ('raw@bench', 'x', 'raw', 0, $1)")
                .bind(chrono::Utc::now())
                .execute($pool)
                .await?;
            while started.elapsed() < deadline {
                let mut tx = $pool.begin().await?;
                let seq: i64 = sqlx::query_scalar("UPDATE sellers SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq")
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO notifications (seller_id, seq, type, title, body, data, created_at, attempts) VALUES (1, $1, 'test', 't', 'b', $2, $3, 0)")
                    .bind(seq)
                    .bind(sqlx::types::Json(json!({})))
                    .bind(chrono::Utc::now())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                count += 1;
            }
        }};
    }
    match &database {
        Database::Sqlite(pool) => raw_loop!(pool),
        Database::Postgres(pool) => raw_loop!(pool),
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    database.close().await;
    Ok(rate)
}

/// Publishers hammer the ingest API for the configured time; the rate counts
/// notifications answered 201, and the database must hold exactly as many.
async fn ingest_rate(url: &DatabaseUrl, settings: &Settings, batch: bool) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_tests(dir.path());
    config.database_url = url.clone();
    config.security.ingest_api_key = Some(secrecy::SecretString::from(INGEST_KEY.to_owned()));
    config.security.rate_limit_per_min = 0;
    let app = Application::build(config).await?;
    let base = format!("http://{}", app.local_addr());
    let database = app.database().clone();
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));

    let http = reqwest::Client::builder().pool_max_idle_per_host(settings.concurrency).build()?;
    let mut sellers = Vec::with_capacity(SELLERS);
    for i in 0..SELLERS {
        let body = json!({"email": format!("bench{i}@shop.example"), "password": "bench password", "shop_name": "bench"});
        let response = http.post(format!("{base}/api/auth/register")).json(&body).send().await?;
        ensure!(response.status() == 201, "register failed: {}", response.status());
        sellers.push(response.json::<Value>().await?["seller"]["id"].as_i64().context("seller id")?);
    }
    let sellers = Arc::new(sellers);

    let accepted = Arc::new(AtomicU64::new(0));
    let workers = if batch { (settings.concurrency / 8).max(2) } else { settings.concurrency };
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let (http, base, sellers, accepted) =
                (http.clone(), base.clone(), sellers.clone(), accepted.clone());
            tokio::spawn(async move {
                let mut n = worker;
                while Instant::now() < deadline {
                    let (path, body, count) = if batch {
                        let items: Vec<Value> =
                            (0..BATCH_SIZE).map(|i| notification(sellers[(n + i) % sellers.len()])).collect();
                        ("/api/notifications/batch", json!({"notifications": items}), BATCH_SIZE as u64)
                    } else {
                        ("/api/notifications", notification(sellers[n % sellers.len()]), 1)
                    };
                    n += 1;
                    let response = http
                        .post(format!("{base}{path}"))
                        .header("X-Api-Key", INGEST_KEY)
                        .json(&body)
                        .send()
                        .await?;
                    ensure!(response.status() == 201, "ingest answered {}", response.status());
                    accepted.fetch_add(count, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);

    let stored: i64 = match &database {
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM notifications").fetch_one(pool).await?
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM notifications").fetch_one(pool).await?
        }
    };
    ensure!(stored == i64::try_from(accepted)?, "{accepted} accepted but {stored} stored");
    server.abort();
    database.close().await;
    Ok(accepted as f64 / elapsed)
}

fn notification(seller_id: i64) -> Value {
    json!({"seller_id": seller_id, "type": "order.created", "title": "New order", "body": "2 items · 39.99", "data": {"order_id": 1}})
}

async fn create_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<DatabaseUrl> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await.context("PostgreSQL is unreachable")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut admin).await?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
    Ok(DatabaseUrl::parse(&format!("{base}/{name}"))?)
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
            .execute(&mut admin)
            .await;
    }
}
