//! After settling: does the server agree? Every accepted notification a
//! socket received was acknowledged (`notifications:ack`), so its row must
//! have `received_at` set; this reads each seller's log through the API
//! (CONTRACT: `GET /api/notifications/delta`, with the seller's token) and
//! counts the ones that do not. Acks are recorded asynchronously, so the
//! stragglers are read again for a few seconds before they count.

use crate::api::Api;
use crate::backoff::Backoff;
use crate::run::Run;
use crate::sellers::Seller;
use futures_util::{StreamExt as _, stream};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long stragglers are read again before they count as not acknowledged.
const PATIENCE: Duration = Duration::from_secs(10);
const ROUND_PAUSE: Duration = Duration::from_secs(1);
/// CONTRACT: `limit` ≤ 500.
const PAGE: u32 = 500;
const CONCURRENCY: usize = 8;
const ATTEMPTS: u32 = 4;

/// What the server says about the accepted notifications.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct AckCheck {
    /// Accepted notifications with `received_at` set.
    pub(crate) acknowledged: u64,
    /// Accepted (seller index, seq) without it, including those below.
    pub(crate) not_acknowledged: Vec<(usize, i64)>,
    /// Of which: accepted, yet not in the seller's log at all.
    pub(crate) absent: u64,
    /// Of which: not checked because the API could not be read.
    pub(crate) unchecked: u64,
    /// Why some sellers could not be checked (one line each).
    pub(crate) errors: Vec<String>,
}

/// What one seller's log says about some of its seqs.
#[derive(Debug, Default)]
struct SellerCheck {
    seller: usize,
    acknowledged: u64,
    unacknowledged: Vec<i64>,
    absent: Vec<i64>,
    error: Option<(String, Vec<i64>)>,
}

/// Checks every accepted notification of the run.
pub(crate) async fn check(api: &Api, sellers: &[Arc<Seller>], run: &Run) -> AckCheck {
    let mut pending: Vec<(usize, Vec<i64>)> = {
        let ledger = run.ledger();
        sellers
            .iter()
            .map(|seller| (seller.index, ledger.accepted_seqs_of(seller.index)))
            .filter(|(_, seqs)| !seqs.is_empty())
            .collect()
    };
    let deadline = Instant::now() + PATIENCE;
    let mut result = AckCheck::default();
    loop {
        let checks: Vec<SellerCheck> = stream::iter(std::mem::take(&mut pending))
            .map(|(seller, seqs)| check_seller(api, &sellers[seller], seqs))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let last_round = Instant::now() + ROUND_PAUSE > deadline;
        for check in checks {
            result.acknowledged += check.acknowledged;
            result.absent += check.absent.len() as u64;
            result.not_acknowledged.extend(check.absent.iter().map(|&seq| (check.seller, seq)));
            if let Some((error, seqs)) = check.error {
                result.errors.push(format!("{}: {error}", sellers[check.seller].email));
                result.unchecked += seqs.len() as u64;
                result.not_acknowledged.extend(seqs.iter().map(|&seq| (check.seller, seq)));
            }
            if check.unacknowledged.is_empty() {
                continue;
            }
            if last_round {
                result.not_acknowledged.extend(check.unacknowledged.iter().map(|&seq| (check.seller, seq)));
            } else {
                pending.push((check.seller, check.unacknowledged));
            }
        }
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(ROUND_PAUSE).await;
    }
    result.not_acknowledged.sort_unstable();
    result
}

/// Reads the part of one seller's log that holds `seqs` (ascending).
async fn check_seller(api: &Api, seller: &Seller, seqs: Vec<i64>) -> SellerCheck {
    let mut check = SellerCheck { seller: seller.index, ..SellerCheck::default() };
    let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else { return check };
    let log = match read_log(api, seller, first - 1, last).await {
        Ok(log) => log,
        Err(error) => {
            check.error = Some((format!("{error:#}"), seqs));
            return check;
        }
    };
    for seq in seqs {
        match log.get(&seq) {
            Some(true) => check.acknowledged += 1,
            Some(false) => check.unacknowledged.push(seq),
            None => check.absent.push(seq),
        }
    }
    check
}

/// seq → whether `received_at` is set, for the seller's seqs after `after`
/// up to at least `upto`.
async fn read_log(
    api: &Api,
    seller: &Seller,
    mut after: i64,
    upto: i64,
) -> anyhow::Result<HashMap<i64, bool>> {
    let mut log = HashMap::new();
    loop {
        let page = page(api, seller, after).await?;
        let notifications = page.get("notifications").and_then(Value::as_array).cloned().unwrap_or_default();
        for notification in &notifications {
            if let Some(seq) = notification.get("seq").and_then(Value::as_i64) {
                let received = notification.get("received_at").is_some_and(|at| !at.is_null());
                log.insert(seq, received);
            }
        }
        let has_more = page.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        let Some(last) = notifications.last().and_then(|n| n.get("seq")).and_then(Value::as_i64) else {
            break;
        };
        if !has_more || last >= upto {
            break;
        }
        after = last;
    }
    Ok(log)
}

/// One delta page, retried through transport errors and 5xx, logging in
/// again once on 401.
async fn page(api: &Api, seller: &Seller, after: i64) -> anyhow::Result<Value> {
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        let (generation, token) = seller.token();
        match api.delta(&token, after, PAGE).await {
            Ok(reply) if reply.is_success() => {
                return reply.body.ok_or_else(|| anyhow::anyhow!("delta answered without a JSON body"));
            }
            Ok(reply) if reply.status == 401 => {
                last_error = reply.describe();
                seller.refresh(api, generation).await?;
                continue;
            }
            Ok(reply) if reply.status == 429 || reply.status >= 500 => last_error = reply.describe(),
            Ok(reply) => anyhow::bail!("delta answered {}", reply.describe()),
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Backoff::QUICK.delay(attempt)).await;
    }
    anyhow::bail!("delta failed {ATTEMPTS} times, last: {last_error}")
}
