//! The safety net under the retry queue: finds pending notifications that may
//! have no retry job (stored but never pushed because the process died; a
//! first push whose ack wait died with the process; a job whose insert
//! failed) and schedules one.
//!
//! At start-up every pending notification is looked at; afterwards, every
//! minute, only those older than a whole retry chain can take (anything
//! younger may still be in its normal course). A duplicate job is harmless:
//! attempts are claimed on the row.

use super::retry::RetryJob;
use super::{Delivery, chain_bound};
use crate::domain::notification::{SellerId, Seq};
use std::future::Future;
use std::time::Duration;

/// How often the periodic sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Rows looked at per query.
const PAGE: u32 = 1000;

/// Sweeps once at start, then periodically, until `stop` completes.
pub async fn run(delivery: Delivery, stop: impl Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    sweep(&delivery, Duration::ZERO).await;
    let stuck_after =
        chain_bound(delivery.ack_timeout, delivery.retry.base, delivery.retry.attempts) * 2 + SWEEP_EVERY;
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {
                sweep(&delivery, stuck_after).await;
            }
        }
    }
}

/// Schedules the next attempt of every pending notification older than
/// `older_than`, due after one ack window (so in-flight pushes can still be
/// acknowledged first). Returns how many were scheduled.
pub async fn sweep(delivery: &Delivery, older_than: Duration) -> usize {
    let cutoff = delivery.store.now() - chrono::Duration::from_std(older_than).unwrap_or_default();
    let mut after_id = 0;
    let mut scheduled = 0;
    loop {
        let page = match delivery.store.pending_deliveries(cutoff, after_id, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%error, "delivery sweep failed");
                break;
            }
        };
        let Some(last) = page.last() else { break };
        after_id = last.id;
        let jobs: Vec<_> = page
            .iter()
            .map(|p| {
                let attempt = u32::try_from(p.attempts).unwrap_or(0) + 1;
                (RetryJob::new(SellerId(p.seller_id), Seq(p.seq), attempt), delivery.ack_timeout)
            })
            .collect();
        let count = jobs.len();
        if let Err(error) = delivery.retries.schedule(jobs).await {
            tracing::error!(%error, "delivery sweep could not queue jobs");
            break;
        }
        scheduled += count;
        if count < PAGE as usize {
            break;
        }
    }
    if scheduled > 0 {
        tracing::info!(
            scheduled,
            older_than_s = older_than.as_secs(),
            "delivery sweep: pending notifications scheduled"
        );
    }
    scheduled
}
