//! # liveshop-load
//!
//! The load tool for LiveShop Link Notify (issue #14): it registers (or logs
//! in again) N sellers, holds their Socket.IO connections, publishes
//! notifications through the ingest API, and checks that every accepted
//! notification reached every socket of its seller, once, and was
//! acknowledged. One async process; sockets reconnect by themselves
//! (100 ms doubling to 2 s, jittered) presenting their `last_seq`, so it
//! keeps measuring through restarts, kills and Redis outages.
//!
//! ```sh
//! # One instance on this machine: 10 sellers, 100 notifications/s for 60 s.
//! INGEST_API_KEY=secret cargo run --release -p liveshop-load -- \
//!     --publish-url http://127.0.0.1:3001 --duration 60
//!
//! # As fast as possible, batches of 100, 32 requests in flight.
//! cargo run --release -p liveshop-load -- --publish-url http://127.0.0.1:3001 \
//!     --ingest-key secret --rate 0 --concurrency 32 --batch 100 --count 100000
//!
//! # A cluster behind nginx: publish through the proxy, and give each seller
//! # one socket on each of two instances, so every notification must cross
//! # instances (Redis) to be delivered. JSON report for the fault script.
//! cargo run --release -p liveshop-load -- --publish-url http://127.0.0.1:8080 \
//!     --socket-url http://127.0.0.1:3001 --socket-url http://127.0.0.1:3002 \
//!     --sockets-per-seller 2 --sellers 50 --rate 200 --duration 120 \
//!     --ingest-key secret --json load-report.json
//! ```
//!
//! Options (`--help` prints them): `--publish-url URL` (required; `http://`
//! only), `--socket-url URL` (repeatable, sockets spread round-robin; default
//! the publish URL), `--ingest-key KEY` (or env `INGEST_API_KEY`), `--sellers
//! N` (10), `--sockets-per-seller K` (1), `--rate R` in total per second
//! (100; 0 = as fast as `--concurrency C` requests in flight allow, default
//! 16), `--count N` (1000) or `--duration SECS`, `--batch B` (1 = `POST
//! /api/notifications`; 2..=500 = `POST /api/notifications/batch`),
//! `--settle SECS` (30), `--seller-prefix P` (`load`: sellers are
//! `P-<i>@load.test`, password `load-password-1`), `--json PATH`, `--quiet`.
//!
//! Exit status: 0 when every accepted notification was delivered to every
//! socket of its seller and is acknowledged in the API (and at least one
//! was accepted); 1 otherwise; 2 for usage and setup errors (no server, a
//! wrong ingest key, sockets that never connect within 60 s).
//!
//! What it reports: accepted (and per second), rejected by reason,
//! unknown outcome (the answer was lost, so the server may have stored it:
//! never counted missing), delivered, missing (the first 20 by seller, seq
//! and socket), duplicates, publish → receive latency p50/p95/p99/max over
//! every first receipt, reconnects (total and peak per second), and the
//! acknowledgement check; the JSON adds a per-second timeline aligned on
//! `started_at_unix_ms`.
//!
//! Server settings that matter: register and login are limited per client IP
//! (`RATE_LIMIT_PER_MIN`, 60 by default); the tool waits the limit out, but
//! for hundreds of sellers start the server with `RATE_LIMIT_PER_MIN=0`.
//! Socket limits exempt this machine by default; behind a proxy set
//! `TRUSTED_PROXIES` or `SOCKET_LIMITS_EXEMPT`, or refusals (`rate_limited`,
//! `too_many_sockets`) slow the connect phase down.
//!
//! # Layout
//! - [`cli`]: arguments; [`console`]: stderr notes and progress.
//! - [`api`]: the contract's HTTP calls; [`sellers`]: sign-in and tokens.
//! - [`sockets`]: a self-reconnecting socket and its acks; [`tracker`]: the
//!   contiguous `last_seq` it presents.
//! - [`publisher`]: schedule, bodies, retries, outcomes; [`backoff`]: delays.
//! - [`run`]: the state every task shares; [`ledger`]: delivery accounting.
//! - [`ack_check`]: `received_at` in the API after settling.
//! - [`report`]: percentiles, timeline, table and JSON.

mod ack_check;
mod api;
mod backoff;
mod cli;
mod console;
mod ledger;
mod publisher;
mod report;
mod run;
mod sellers;
mod sockets;
mod tracker;

use crate::api::Api;
use crate::cli::{Command, Options};
use crate::publisher::{Plan, Publisher};
use crate::report::{Inputs, Report};
use crate::run::{Run, now_ms};
use crate::sockets::SocketPlan;
use anyhow::{Context as _, bail};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Every socket must have connected once within this, or the run cannot start.
const CONNECT_DEADLINE: Duration = Duration::from_secs(60);
/// How often progress is printed while publishing and settling.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Sockets send their acks every 50 ms; this lets the last ones leave
/// before the acknowledgement check reads the API.
const ACK_GRACE: Duration = Duration::from_millis(300);
/// Stopped sockets get this long to send their last acks and close.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    let parsed = cli::parse(std::env::args().skip(1), std::env::var("INGEST_API_KEY").ok());
    let options = match parsed {
        Ok(Command::Run(options)) => *options,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}\n\nRun liveshop-load --help for the options.");
            return ExitCode::from(2);
        }
    };
    console::set_quiet(options.quiet);
    match run(options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The whole run: setup, connect, publish, settle, check, report. `Ok`
/// carries whether it passed; `Err` is a setup problem (exit 2).
async fn run(options: Options) -> anyhow::Result<bool> {
    let run_id = format!("{:x}-{:04x}", now_ms() as u64, rand::random::<u16>());
    let api = Arc::new(Api::new(options.publish_url.clone(), options.ingest_key.clone())?);
    console::note(format_args!(
        "liveshop-load run {run_id}: signing in {} sellers at {}",
        options.sellers, options.publish_url
    ));
    let sellers = sellers::prepare(&api, &options.seller_prefix, options.sellers).await?;
    let run = Arc::new(Run::new(run_id, options.sellers, options.sockets_per_seller));

    let sockets_total = options.sellers * options.sockets_per_seller;
    let (stop_tx, stop_rx) = watch::channel(false);
    let connect_started = Instant::now();
    let mut socket_tasks = Vec::with_capacity(sockets_total);
    for seller in &sellers {
        for k in 0..options.sockets_per_seller {
            let index = seller.index * options.sockets_per_seller + k;
            let url = options.socket_urls[index % options.socket_urls.len()].clone();
            let plan = SocketPlan { index, url, seller: Arc::clone(seller) };
            socket_tasks.push(sockets::spawn(plan, Arc::clone(&api), Arc::clone(&run), stop_rx.clone()));
        }
    }
    if let Err(error) = wait_for_sockets(&run, sockets_total).await {
        let _ = stop_tx.send(true);
        return Err(error);
    }
    let connect_s = connect_started.elapsed().as_secs_f64();
    console::note(format_args!("{sockets_total} sockets connected in {connect_s:.2} s; publishing"));

    let (interrupt_tx, interrupt_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            console::warn("Ctrl-C: publishing stops, then the run settles and reports (Ctrl-C again quits)");
            let _ = interrupt_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let progress = tokio::spawn(progress(Arc::clone(&run), sockets_total));
    let plan = Plan {
        rate: options.rate,
        concurrency: options.concurrency,
        amount: options.amount,
        batch: options.batch,
    };
    let publisher = Arc::new(Publisher::new(Arc::clone(&api), Arc::clone(&run), &sellers, &plan));
    let phase = publisher.run(plan, interrupt_rx.clone()).await;
    if let Some(fatal) = run.fatal() {
        progress.abort();
        let _ = stop_tx.send(true);
        bail!("publishing stopped: {fatal}");
    }

    let settle_started = Instant::now();
    settle(&run, options.settle).await;
    let settle_s = settle_started.elapsed().as_secs_f64();
    progress.abort();
    tokio::time::sleep(ACK_GRACE).await;
    console::note("checking acknowledgements in the API");
    let acks = ack_check::check(&api, &sellers, &run).await;

    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(STOP_GRACE, futures_util::future::join_all(socket_tasks)).await;

    let report = Report::build(&Inputs {
        options: &options,
        run: &run,
        sellers: &sellers,
        connect_s,
        phase,
        settle_s,
        acks: &acks,
        interrupted: *interrupt_rx.borrow(),
    });
    print!("{}", report.table());
    if let Some(path) = &options.json {
        let json = serde_json::to_string_pretty(&report).context("failed to encode the report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("failed to write the report to {}", path.display()))?;
    }
    Ok(report.ok)
}

/// Waits until every socket has connected once.
///
/// # Errors
/// When some have not within [`CONNECT_DEADLINE`].
async fn wait_for_sockets(run: &Run, total: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + CONNECT_DEADLINE;
    let mut said = Instant::now();
    while run.ever_connected() < total {
        if Instant::now() >= deadline {
            bail!(
                "only {} of {total} sockets connected within {} s (is the socket URL right, and the \
                 server's socket limits out of the way?)",
                run.ever_connected(),
                CONNECT_DEADLINE.as_secs()
            );
        }
        if said.elapsed() >= PROGRESS_EVERY {
            console::note(format_args!("connecting: {} of {total} sockets", run.ever_connected()));
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until everything accepted has reached every socket of its seller,
/// or `limit` has passed.
async fn settle(run: &Run, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !run.ledger().is_all_delivered() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A line on stderr every [`PROGRESS_EVERY`] until aborted.
async fn progress(run: Arc<Run>, sockets: usize) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
    let mut accepted_before = 0;
    loop {
        ticks.tick().await;
        let (accepted, delivered) = {
            let ledger = run.ledger();
            (ledger.accepted(), ledger.delivered())
        };
        let (rejected, unknown) = {
            let stats = run.publish();
            (stats.rejected.values().sum::<u64>(), stats.unknown)
        };
        let per_s = (accepted - accepted_before) as f64 / PROGRESS_EVERY.as_secs_f64();
        accepted_before = accepted;
        console::note(format_args!(
            "[{:>4} s] accepted {accepted} ({per_s:.0}/s)  delivered {delivered}  rejected {rejected}  \
             unknown {unknown}  sockets {}/{sockets}  reconnects {}",
            started.elapsed().as_secs(),
            run.connected(),
            run.reconnect_times().len(),
        ));
    }
}
