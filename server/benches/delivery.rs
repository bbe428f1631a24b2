//! Live delivery under load, end to end: the release server binary runs as
//! its own process (so its memory can be read), many sellers connect with the
//! official Socket.IO client (`socket.io-client` in Node,
//! `end2end/contract/bench-sellers.mjs`), notifications are published through
//! the ingest API at a steady pace, and every client acknowledges what it
//! receives: half of them with the ack callback, half with
//! `notifications:ack`.
//!
//! ```sh
//! ulimit -n 20000   # 10 000 idle sockets need that many descriptors per process
//! cargo bench -p server --bench delivery
//! BENCH_SELLERS=1000 BENCH_NOTIFICATIONS=20000 BENCH_RATE=1000 BENCH_IDLE_SOCKETS=10000 \
//!     cargo bench -p server --bench delivery
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench cargo bench -p server --bench delivery
//! BENCH_BATCH=100 cargo bench -p server --bench delivery   # through the batch endpoint
//! ```
//!
//! Prints: publish throughput, end-to-end latency (publish → client receives)
//! p50/p95/p99/max, delivered / published, duplicates and notifications
//! without the publisher's `data.t` (both must be 0), acks recorded by the
//! server, and server memory per idle connected socket (resident memory
//! growth while idle sockets connect, divided by their number).
//!
//! Latency is measured on one clock: the publisher writes its send time into
//! the notification's `data`, and the receiving client subtracts it.

use anyhow::{Context, bail, ensure};
use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const INGEST_KEY: &str = "bench-ingest-key";

struct Settings {
    sellers: usize,
    notifications: usize,
    rate: u64,
    idle_sockets: usize,
    /// Notifications stored while a seller was offline, replayed at reconnect.
    backlog: usize,
    /// Notifications per publish request: 1 uses `POST /api/notifications`,
    /// more the batch endpoint (consecutive sellers in one request).
    batch: usize,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            std::env::var(name)
                .map_or(Ok(default), |v| v.parse().with_context(|| format!("{name} must be a number")))
        };
        Ok(Self {
            sellers: usize::try_from(number("BENCH_SELLERS", 1000)?)?,
            notifications: usize::try_from(number("BENCH_NOTIFICATIONS", 20_000)?)?,
            rate: number("BENCH_RATE", 1000)?.max(1),
            idle_sockets: usize::try_from(number("BENCH_IDLE_SOCKETS", 10_000)?)?,
            backlog: usize::try_from(number("BENCH_BACKLOG", 1_000)?)?,
            batch: usize::try_from(number("BENCH_BATCH", 1)?.clamp(1, 500))?,
        })
    }
}

/// The server binary as a child process on a fresh SQLite file (or
/// `BENCH_DATABASE_URL`, which should name an empty database).
struct ServerProcess {
    child: Child,
    base_url: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .current_dir(dir.path())
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", dir.path())
            .env(
                "DATABASE_URL",
                std::env::var("BENCH_DATABASE_URL")
                    .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display())),
            )
            .env("INGEST_API_KEY", INGEST_KEY)
            .env("RATE_LIMIT_PER_MIN", "0")
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start the server binary")?;
        let server = Self { child, base_url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/api/health", server.base_url)).await.is_err() {
            ensure!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(server)
    }

    /// Resident memory of the server process, in bytes.
    fn rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmRSS in /proc status")?;
        Ok(kib * 1024)
    }

    /// A gauge or counter from `/metrics`.
    async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.base_url)).await?.text().await?;
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .context(format!("{name} missing from /metrics"))?
            .parse()
            .context("not a number")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unix_micros() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros()).unwrap_or(0)
}

/// One received notification: (seller, seq, latency in µs; `None` when it
/// carried no `data.t`).
type Received = (i64, i64, Option<u64>);

async fn register(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<(i64, String)> {
    let body = json!({"email": format!("bench{n}@shop.example"), "password": "bench password", "shop_name": "Bench"});
    let response = http.post(format!("{base}/api/auth/register")).json(&body).send().await?;
    ensure!(response.status() == 201, "register answered {}", response.status());
    let body: Value = response.json().await?;
    Ok((
        body["seller"]["id"].as_i64().context("seller.id")?,
        body["token"].as_str().context("token")?.to_owned(),
    ))
}

/// Connects one official client per seller (in one Node process) and
/// forwards every notification they receive to `received`. The process is
/// killed when the returned handle is dropped.
async fn connect_sellers(
    base: &str,
    sellers: &[(i64, String)],
    received: mpsc::UnboundedSender<Received>,
) -> anyhow::Result<tokio::process::Child> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/contract/bench-sellers.mjs");
    let mut node = tokio::process::Command::new("node")
        .args([script, base])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start node (needed for the sellers' clients)")?;
    let mut stdin = node.stdin.take().context("node stdin")?;
    stdin.write_all(format!("{}\n", serde_json::to_string(sellers)?).as_bytes()).await?;
    let mut lines = BufReader::new(node.stdout.take().context("node stdout")?).lines();
    let report = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .context("the sellers did not connect within 120 s")??
        .context("node exited early")?;
    ensure!(report.ends_with(" failed 0"), "sellers: {report}");
    tokio::spawn(async move {
        // Kept open: node reads nothing more, but a closed stdin is not a signal to it.
        let _stdin = stdin;
        while let Ok(Some(line)) = lines.next_line().await {
            let mut fields = line.split(' ').skip(1).map(str::parse::<i64>);
            if let (Some(Ok(seller)), Some(Ok(seq)), Some(Ok(latency))) =
                (fields.next(), fields.next(), fields.next())
            {
                let _ = received.send((seller, seq, u64::try_from(latency).ok()));
            }
        }
    });
    Ok(node)
}

/// Acks the server recorded: `received` summed over every seller's stats.
async fn received_total(
    http: &reqwest::Client,
    base: &str,
    sellers: &[(i64, String)],
) -> anyhow::Result<usize> {
    let stats = stream::iter(sellers)
        .map(|(_, token)| async move {
            let stats: Value = http
                .get(format!("{base}/api/notifications/stats"))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(stats["received"].as_u64().context("stats.received")?)
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let mut total = 0;
    for received in stats {
        total += usize::try_from(received?)?;
    }
    Ok(total)
}

/// A seller offline while `count` notifications are stored reconnects with
/// `last_seq = 0` (the official client, `end2end/contract/backlog.mjs`):
/// how long from its connect to the last one received, all in order.
async fn backlog_replay(http: &reqwest::Client, base: &str, count: usize) -> anyhow::Result<u64> {
    let (seller, token) = register(http, base, usize::MAX).await?;
    for start in (0..count).step_by(500) {
        let items: Vec<Value> = (start..(start + 500).min(count))
            .map(|i| json!({"seller_id": seller, "type": "order.created", "title": format!("#{i}"), "body": "b"}))
            .collect();
        let response = http
            .post(format!("{base}/api/notifications/batch"))
            .header("X-Api-Key", INGEST_KEY)
            .json(&json!({ "notifications": items }))
            .send()
            .await?;
        ensure!(response.status() == 201, "batch answered {}", response.status());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/contract/backlog.mjs");
    let output = tokio::process::Command::new("node")
        .args([script, base, &token, "0", &count.to_string()])
        .output()
        .await
        .context("cannot start node (needed for the backlog client)")?;
    ensure!(output.status.success(), "backlog client failed: {}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout)?;
    let seqs: Vec<i64> =
        report["seqs"].as_array().context("seqs")?.iter().filter_map(Value::as_i64).collect();
    let expected: Vec<i64> = (1..=i64::try_from(count)?).collect();
    ensure!(seqs == expected, "backlog: {} of {count} arrived, or out of order or twice", seqs.len());
    report["elapsed_ms"].as_u64().context("elapsed_ms")
}

/// Transactions committed or rolled back in the benchmark's PostgreSQL
/// database so far (`pg_stat_database`; `None` on SQLite). Statistics reach
/// that view up to a second late: callers wait before reading.
async fn pg_transactions() -> anyhow::Result<Option<i64>> {
    use sqlx::Connection;
    let Some(url) = std::env::var("BENCH_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) else {
        return Ok(None);
    };
    let mut connection = sqlx::PgConnection::connect(&url).await?;
    let count: i64 = sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut connection)
    .await?;
    connection.close().await?;
    Ok(Some(count))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let server = ServerProcess::start().await?;
    let base = server.base_url.clone();
    let http = reqwest::Client::new();
    println!(
        "delivery bench: {} sellers, {} notifications at {}/s ({} per request), {} idle sockets; server pid {}",
        settings.sellers,
        settings.notifications,
        settings.rate,
        settings.batch,
        settings.idle_sockets,
        server.child.id()
    );

    if settings.backlog > 0 {
        let elapsed_ms = backlog_replay(&http, &base, settings.backlog).await?;
        println!("\n== backlog replay ==");
        println!(
            "{} missed notifications: connect → last received in {elapsed_ms} ms, in seq order, none missing or twice",
            settings.backlog
        );
    }

    // Sellers, each with one acknowledging client.
    let started = Instant::now();
    let sellers: Vec<(i64, String)> = stream::iter(0..settings.sellers)
        .map(|n| register(&http, &base, n))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    println!("registered {} sellers in {:.1} s", sellers.len(), started.elapsed().as_secs_f64());
    let (received_tx, mut received_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let mut seller_clients = connect_sellers(&base, &sellers, received_tx).await?;
    println!(
        "connected {} seller clients in {:.1} s; server RSS {:.1} MiB",
        sellers.len(),
        started.elapsed().as_secs_f64(),
        server.rss()? as f64 / 1048576.0
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let transactions_before = pg_transactions().await?;

    // Publish at a steady pace (in notifications per second), each request
    // on its own task; a failed request counts all of its notifications.
    let failures = Arc::new(Mutex::new(0usize));
    let period = Duration::from_secs_f64(settings.batch as f64 / settings.rate as f64);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut requests = Vec::with_capacity(settings.notifications / settings.batch + 1);
    for first in (0..settings.notifications).step_by(settings.batch) {
        ticks.tick().await;
        let count = settings.batch.min(settings.notifications - first);
        let item = |i: usize| {
            let (seller, _) = sellers[i % sellers.len()];
            json!({"seller_id": seller, "type": "order.created", "title": "Order", "body": "bench",
                   "data": {"t": unix_micros()}})
        };
        let (url, body) = if settings.batch == 1 {
            (format!("{base}/api/notifications"), item(first))
        } else {
            let items: Vec<Value> = (first..first + count).map(item).collect();
            (format!("{base}/api/notifications/batch"), json!({ "notifications": items }))
        };
        let http = http.clone();
        let failures = Arc::clone(&failures);
        requests.push(tokio::spawn(async move {
            let ok = match http.post(url).header("X-Api-Key", INGEST_KEY).json(&body).send().await {
                Ok(response) => response.status() == 201,
                Err(_) => false,
            };
            if !ok {
                *failures.lock().unwrap() += count;
            }
        }));
    }
    for request in requests {
        request.await?;
    }
    let publish_elapsed = started.elapsed();
    let failed_publishes = *failures.lock().unwrap();
    let published = settings.notifications - failed_publishes;

    // Collect what arrived, for at most 30 s more, then a moment for
    // duplicates to show.
    let mut seen = HashSet::with_capacity(published);
    let mut latencies = Vec::with_capacity(published);
    let (mut duplicates, mut without_t) = (0_usize, 0_usize);
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut all_in = false;
    loop {
        match tokio::time::timeout_at(deadline, received_rx.recv()).await {
            Ok(Some((seller, seq, micros))) => {
                if !seen.insert((seller, seq)) {
                    duplicates += 1;
                    continue;
                }
                match micros {
                    Some(micros) => latencies.push(micros),
                    None => without_t += 1,
                }
            }
            _ => break,
        }
        if !all_in && seen.len() >= published {
            all_in = true;
            deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        }
    }
    latencies.sort_unstable();
    // Acks travel after the last receipt, and statistics after them: read
    // the transaction count before the stats polls below add their own.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let transactions = match (transactions_before, pg_transactions().await?) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    // Acks travel after the last receipt: give them a moment.
    let mut acked = 0;
    for _ in 0..50 {
        acked = received_total(&http, &base, &sellers).await?;
        if acked >= published {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("\n== live delivery ==");
    println!(
        "published  {published} in {:.2} s = {:.0}/s (target pace {}/s; {failed_publishes} failed)",
        publish_elapsed.as_secs_f64(),
        published as f64 / publish_elapsed.as_secs_f64(),
        settings.rate
    );
    println!(
        "delivered  {} / {published} ({:.2} %)",
        seen.len(),
        100.0 * seen.len() as f64 / published.max(1) as f64
    );
    println!("duplicates {duplicates} (same seller and seq twice); without data.t {without_t}");
    println!("acked      {acked} recorded by the server (ack callback and notifications:ack, half each)");
    if let Some(transactions) = transactions {
        println!(
            "database   {transactions} PostgreSQL transactions from the first publish to the last ack: {:.3} per notification (pg_stat_database; the queue's polls included)",
            transactions as f64 / published.max(1) as f64
        );
    }
    println!(
        "latency    publish → receive: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0)
    );
    println!("server RSS {:.1} MiB with {} sockets", server.rss()? as f64 / 1048576.0, sellers.len());

    // Idle sockets: memory per connected socket. They come from the official
    // socket.io-client in Node: thousands of rust_socketio clients cost this
    // process more CPU than the server spends on them.
    if settings.idle_sockets > 0 {
        let (_, token) = &sellers[0];
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = server.rss()?;
        let started = Instant::now();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/contract/idle-sockets.mjs");
        let mut node = tokio::process::Command::new("node")
            .args([script, &base, token, &settings.idle_sockets.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start node (needed for the idle sockets)")?;
        let stdout = node.stdout.take().context("node stdout")?;
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let report = tokio::time::timeout(Duration::from_secs(300), lines.next_line())
            .await
            .context("idle sockets did not settle within 300 s")??
            .context("node exited early")?;
        let connect_time = started.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let sockets = server.metric("liveshop_socketio_connected_sockets").await?;
        let after = server.rss()?;
        let idle = (sockets as usize).saturating_sub(sellers.len());
        println!("\n== idle sockets ==");
        println!(
            "{report} in {:.1} s; server counts {sockets} sockets ({idle} idle)",
            connect_time.as_secs_f64()
        );
        println!(
            "memory     RSS {:.1} → {:.1} MiB: {:.2} KiB per idle socket",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            (after.saturating_sub(before)) as f64 / 1024.0 / idle.max(1) as f64
        );
        node.kill().await.ok();
    }
    seller_clients.kill().await.ok();
    if seen.len() != published || acked < published {
        bail!("not everything was delivered and acknowledged");
    }
    if duplicates > 0 || without_t > 0 {
        bail!("{duplicates} duplicates and {without_t} notifications without data.t");
    }
    Ok(())
}
