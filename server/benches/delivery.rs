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
//! BENCH_SERVER_BIN=/tmp/server-before cargo bench -p server --bench delivery   # another build
//! BENCH_CLUSTER=1 BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench \
//!     cargo bench -p server --bench delivery   # two instances and a private redis-server
//! ```
//!
//! With `BENCH_CLUSTER=1` two server processes share the database and a
//! private `redis-server` (started on a free port, so its command count is
//! the servers' alone): the sellers connect to the first, notifications are
//! published through the second, so every one crosses instances.
//!
//! Prints: publish throughput, end-to-end latency (publish → client receives)
//! p50/p95/p99/max, delivered / published, duplicates and notifications
//! without the publisher's `data.t` (both must be 0), acks recorded by the
//! server, CPU per notification (the servers', and PostgreSQL's and Redis's:
//! every `postgres` and `redis-server` process on the machine, so run it on
//! an otherwise idle one), Redis commands per notification in cluster mode,
//! and server memory per idle connected socket (resident memory growth while
//! idle sockets connect, divided by their number, 3 s and 15 s after).
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
    /// Two instances and Redis instead of one instance.
    cluster: bool,
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
            cluster: number("BENCH_CLUSTER", 0)? != 0,
        })
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The server binary as a child process, working in `dir`, on
/// `database_url`, with Redis when given.
struct ServerProcess {
    child: Child,
    base_url: String,
}

impl ServerProcess {
    async fn start(
        dir: &std::path::Path,
        database_url: &str,
        redis_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        // `BENCH_SERVER_BIN`: another build of the server (an older commit's,
        // for a before/after on the same machine and load).
        let binary =
            std::env::var("BENCH_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_server").to_owned());
        let mut command = Command::new(binary);
        command
            .current_dir(dir)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", dir)
            .env("DATABASE_URL", database_url)
            .env("INGEST_API_KEY", INGEST_KEY)
            .env("RATE_LIMIT_PER_MIN", "0")
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null());
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url).env("REDIS_PREFIX", "bench");
        }
        let child = command.spawn().context("cannot start the server binary")?;
        let server = Self { child, base_url: format!("http://127.0.0.1:{port}") };
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

/// A private `redis-server` on a free port, killed on drop.
struct RedisProcess {
    child: Child,
    url: String,
}

impl RedisProcess {
    async fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start redis-server (Debian package redis-server)")?;
        let redis = Self { child, url: format!("redis://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            ensure!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(redis)
    }

    /// Commands processed so far (`INFO stats`), this one included.
    async fn commands(&self) -> anyhow::Result<u64> {
        let mut connection =
            redis::Client::open(self.url.as_str())?.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO").arg("stats").query_async(&mut connection).await?;
        info.lines()
            .find_map(|line| line.strip_prefix("total_commands_processed:"))
            .and_then(|count| count.trim().parse().ok())
            .context("no total_commands_processed in INFO stats")
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) a process has used, in clock ticks (100 per
/// second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // Fields after the command name (which may hold spaces) start at state.
    let Some((_, after_name)) = stat.rsplit_once(')') else { return 0 };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// CPU ticks of every PostgreSQL and Redis process on the machine.
fn services_cpu_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| matches!(comm.trim(), "postgres" | "redis-server"))
        })
        .map(cpu_ticks)
        .sum()
}

/// Microseconds per notification from clock ticks.
fn micros_per(ticks: u64, notifications: usize) -> f64 {
    ticks as f64 * 10_000.0 / notifications.max(1) as f64
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
    let dir = tempfile::tempdir()?;
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let redis = if settings.cluster { Some(RedisProcess::start().await?) } else { None };
    let redis_url = redis.as_ref().map(|redis| redis.url.as_str());
    // Sellers connect to `server`; notifications are published through
    // `publisher` (the second instance in cluster mode).
    let server = ServerProcess::start(dir.path(), &database_url, redis_url).await?;
    let second = match redis_url {
        Some(url) => Some(ServerProcess::start(dir.path(), &database_url, Some(url)).await?),
        None => None,
    };
    let publisher = second.as_ref().unwrap_or(&server);
    let base = server.base_url.clone();
    let publish_base = publisher.base_url.clone();
    let http = reqwest::Client::new();
    println!(
        "delivery bench: {} sellers, {} notifications at {}/s ({} per request), {} idle sockets; {}; server pid {}",
        settings.sellers,
        settings.notifications,
        settings.rate,
        settings.batch,
        settings.idle_sockets,
        if settings.cluster {
            "two instances and Redis: sellers on the first, published through the second"
        } else {
            "one instance, no Redis"
        },
        server.child.id()
    );
    let server_pids: Vec<u32> =
        [Some(&server), second.as_ref()].into_iter().flatten().map(|s| s.child.id()).collect();
    let servers_cpu = || server_pids.iter().map(|pid| cpu_ticks(*pid)).sum::<u64>();

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
    let redis_before = match &redis {
        Some(redis) => Some(redis.commands().await?),
        None => None,
    };
    let (servers_cpu_before, services_cpu_before) = (servers_cpu(), services_cpu_ticks());

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
            (format!("{publish_base}/api/notifications"), item(first))
        } else {
            let items: Vec<Value> = (first..first + count).map(item).collect();
            (format!("{publish_base}/api/notifications/batch"), json!({ "notifications": items }))
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
    let servers_cpu_used = servers_cpu() - servers_cpu_before;
    let services_cpu_used = services_cpu_ticks().saturating_sub(services_cpu_before);
    let redis_commands = match (&redis, redis_before) {
        (Some(redis), Some(before)) => Some(redis.commands().await? - before),
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
    if let Some(commands) = redis_commands {
        println!(
            "redis      {commands} commands from the first publish to the last ack: {:.3} per notification (INFO stats)",
            commands as f64 / published.max(1) as f64
        );
    }
    println!(
        "cpu        servers {:.0} µs per notification; postgres + redis-server {:.0} µs (/proc, the publishing phase and its acks)",
        micros_per(servers_cpu_used, published),
        micros_per(services_cpu_used, published)
    );
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
        // Long enough for the allocator to hand back what the live run freed
        // (about ten seconds), or that would hide part of the sockets' cost.
        tokio::time::sleep(Duration::from_secs(12)).await;
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
        let soon = server.rss()?;
        // What connecting cost (catch-up queries, handshakes) is freed by
        // then, but the allocator returns freed pages to the system over
        // about ten seconds: the settled figure is the idle sockets' own.
        tokio::time::sleep(Duration::from_secs(12)).await;
        let settled = server.rss()?;
        let idle = (sockets as usize).saturating_sub(sellers.len());
        let per_socket = |after: u64| (after.saturating_sub(before)) as f64 / 1024.0 / idle.max(1) as f64;
        println!("\n== idle sockets ==");
        println!(
            "{report} in {:.1} s; server counts {sockets} sockets ({idle} idle)",
            connect_time.as_secs_f64()
        );
        println!(
            "memory     RSS {:.1} MiB before; 3 s after: {:.1} MiB, {:.2} KiB per idle socket; 15 s after: {:.1} MiB, {:.2} KiB per idle socket",
            before as f64 / 1048576.0,
            soon as f64 / 1048576.0,
            per_socket(soon),
            settled as f64 / 1048576.0,
            per_socket(settled)
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
