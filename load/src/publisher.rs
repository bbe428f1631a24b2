//! Publishing: the schedule (paced, or as fast as a fixed number of requests
//! in flight allows), the request bodies, and what each answer means.
//!
//! Notification `k` (0-based) goes to seller `k mod N`; a batch request
//! carries notifications `k .. k+B`, so it spreads over consecutive sellers
//! like the single requests would.
//!
//! A run goes on through faults: 429, 5xx and transport errors are retried
//! with backoff, and a request that fails for good is *not accepted*
//! (rejected, by reason) or, when the server may have stored it anyway,
//! of *unknown outcome*; neither is missing. Only answers that name a seq
//! count as accepted. Setup problems the run cannot outlast (a wrong ingest
//! key, ingest disabled, a body the server refuses) stop it instead.

use crate::api::{Api, Reply};
use crate::backoff::Backoff;
use crate::cli::Amount;
use crate::run::{Run, now_ms};
use crate::sellers::Seller;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Attempts per request, the first included.
const ATTEMPTS: u32 = 6;
/// The longest `Retry-After` honoured before retrying a 429.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(5);
/// Paced mode does not let a slow server slow the schedule (the point is to
/// see what a steady publisher meets), but bounds the requests in flight.
const PACED_IN_FLIGHT_MAX: usize = 4096;
/// The paced schedule's resolution.
const TICK: Duration = Duration::from_millis(5);
/// CONTRACT: a type is lower-case dotted words; this is the one storefronts send.
const TYPE: &str = "order.created";

/// What to publish and how fast.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Notifications per second in total; 0 = as fast as possible.
    pub(crate) rate: f64,
    /// Requests in flight when `rate` is 0.
    pub(crate) concurrency: usize,
    pub(crate) amount: Amount,
    /// 1 = the single endpoint; more = the batch endpoint.
    pub(crate) batch: usize,
}

impl Plan {
    /// How many notifications a paced run sends: `--count`, or `rate × duration`.
    pub(crate) fn paced_total(&self) -> u64 {
        match self.amount {
            Amount::Count(count) => count,
            Amount::Duration(duration) => (self.rate * duration.as_secs_f64()).round() as u64,
        }
    }
}

/// When the publish phase ran (ms since the UNIX epoch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    pub(crate) started_ms: f64,
    /// When the last request finished.
    pub(crate) ended_ms: f64,
}

/// Sends notifications to the run's sellers and records every outcome.
#[derive(Debug)]
pub(crate) struct Publisher {
    pub(crate) api: Arc<Api>,
    pub(crate) run: Arc<Run>,
    /// Seller ids, by seller index.
    pub(crate) seller_ids: Vec<i64>,
    pub(crate) batch: bool,
}

impl Publisher {
    pub(crate) fn new(api: Arc<Api>, run: Arc<Run>, sellers: &[Arc<Seller>], plan: &Plan) -> Self {
        Self { api, run, seller_ids: sellers.iter().map(|s| s.id).collect(), batch: plan.batch > 1 }
    }

    /// Runs the whole publish phase; returns when every request has finished.
    /// Stops issuing new requests early when `stop` turns true (Ctrl-C) or a
    /// fatal answer arrives.
    pub(crate) async fn run(self: Arc<Self>, plan: Plan, stop: watch::Receiver<bool>) -> Phase {
        let started_ms = now_ms();
        if plan.rate > 0.0 {
            self.paced(plan, stop).await;
        } else {
            self.flat_out(plan, stop).await;
        }
        Phase { started_ms, ended_ms: now_ms() }
    }

    /// A steady rate: each tick sends whatever has come due, so a late tick
    /// catches up and the total over time stays `rate × elapsed`.
    async fn paced(self: &Arc<Self>, plan: Plan, mut stop: watch::Receiver<bool>) {
        let total = plan.paced_total();
        let started = Instant::now();
        let in_flight = Arc::new(Semaphore::new(PACED_IN_FLIGHT_MAX));
        let mut tasks = JoinSet::new();
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut issued = 0_u64;
        'schedule: while issued < total {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() || self.run.fatal().is_some() {
                break;
            }
            let due = due(started.elapsed(), plan.rate, total);
            while issued < total {
                let size = (total - issued).min(plan.batch as u64);
                if due < issued + size {
                    break;
                }
                let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else { break 'schedule };
                let publisher = Arc::clone(self);
                let first = issued;
                tasks.spawn(async move {
                    publisher.send(first, size as usize).await;
                    drop(permit);
                });
                issued += size;
            }
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }

    /// `concurrency` workers, each sending its next request as soon as its
    /// previous one is answered.
    async fn flat_out(self: &Arc<Self>, plan: Plan, stop: watch::Receiver<bool>) {
        let (total, deadline) = match plan.amount {
            Amount::Count(count) => (Some(count), None),
            Amount::Duration(duration) => (None, Some(Instant::now() + duration)),
        };
        let next = Arc::new(AtomicU64::new(0));
        let mut workers = JoinSet::new();
        for _ in 0..plan.concurrency {
            let (publisher, next, stop) = (Arc::clone(self), Arc::clone(&next), stop.clone());
            workers.spawn(async move {
                loop {
                    let expired = deadline.is_some_and(|deadline| Instant::now() >= deadline);
                    if expired || *stop.borrow() || publisher.run.fatal().is_some() {
                        break;
                    }
                    let first = next.fetch_add(plan.batch as u64, Ordering::Relaxed);
                    let size = match total {
                        Some(total) if first >= total => break,
                        Some(total) => (total - first).min(plan.batch as u64),
                        None => plan.batch as u64,
                    };
                    publisher.send(first, size as usize).await;
                }
            });
        }
        while workers.join_next().await.is_some() {}
    }

    /// Publishes notifications `first .. first + size` in one request (with
    /// retries) and records the outcome of each.
    async fn send(&self, first: u64, size: usize) {
        let sellers: Vec<usize> = (first..first + size as u64).map(|k| self.seller_of(k)).collect();
        self.run.publish().attempted += size as u64;
        let mut ambiguous = false;
        let mut last_reason = String::new();
        for attempt in 0..ATTEMPTS {
            let sent_ms = now_ms();
            let bodies: Vec<Value> =
                sellers.iter().zip(first..).map(|(&seller, k)| self.body(seller, k, sent_ms)).collect();
            let result = if self.batch {
                self.api.publish_batch(&bodies).await
            } else {
                self.api.publish(&bodies[0]).await
            };
            {
                let mut stats = self.run.publish();
                stats.requests += 1;
                if attempt > 0 {
                    stats.retries += 1;
                }
            }
            let verdict = match result {
                Ok(reply) => judge(&reply, size, self.batch),
                Err(error) => judge_error(&error),
            };
            match verdict {
                Verdict::Accepted(seqs) => {
                    let mut ledger = self.run.ledger();
                    for (&seller, seq) in sellers.iter().zip(seqs) {
                        ledger.accept(seller, seq, sent_ms);
                    }
                    return;
                }
                Verdict::StoredUnknown => {
                    self.run.publish().unknown += size as u64;
                    return;
                }
                Verdict::Refused(reason) => {
                    *self.run.publish().rejected.entry(reason).or_default() += size as u64;
                    return;
                }
                Verdict::Fatal(message) => {
                    self.run.set_fatal(message);
                    *self.run.publish().rejected.entry("fatal".to_owned()).or_default() += size as u64;
                    return;
                }
                Verdict::Retry { reason, maybe_stored, wait } => {
                    ambiguous |= maybe_stored;
                    last_reason = reason;
                    if attempt + 1 < ATTEMPTS {
                        tokio::time::sleep(wait.unwrap_or_else(|| Backoff::QUICK.delay(attempt))).await;
                    }
                }
            }
        }
        let mut stats = self.run.publish();
        if ambiguous {
            stats.unknown += size as u64;
        } else {
            *stats.rejected.entry(last_reason).or_default() += size as u64;
        }
    }

    fn seller_of(&self, k: u64) -> usize {
        (k % self.seller_ids.len() as u64) as usize
    }

    /// CONTRACT: `{"seller_id","type","title","body","data"?}`. `data.t` is
    /// this attempt's send time, so latency is measured from the request
    /// that stored it, not from a first attempt that failed.
    fn body(&self, seller: usize, k: u64, sent_ms: f64) -> Value {
        json!({
            "seller_id": self.seller_ids[seller],
            "type": TYPE,
            "title": format!("Load order {k}"),
            "body": "liveshop-load test notification",
            "data": {"t": sent_ms, "load": self.run.id, "k": k},
        })
    }
}

/// How many notifications are due `elapsed` into a paced run: notification
/// `k` is due at `k / rate`, so the first goes at once.
fn due(elapsed: Duration, rate: f64, total: u64) -> u64 {
    let due = (elapsed.as_secs_f64() * rate).floor() as u64 + 1;
    due.min(total)
}

/// What one attempt's outcome means.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// Stored, with these seqs in request order.
    Accepted(Vec<i64>),
    /// Stored (2xx) but the answer did not say which seq: never retried,
    /// since a retry would store it twice.
    StoredUnknown,
    /// Refused for good, with the reason to count it under.
    Refused(String),
    /// A problem the run cannot outlast: stop publishing, exit 2.
    Fatal(String),
    /// Worth another attempt. `maybe_stored`: the request may have been
    /// committed before its answer was lost.
    Retry { reason: String, maybe_stored: bool, wait: Option<Duration> },
}

fn judge(reply: &Reply, size: usize, batch: bool) -> Verdict {
    let status = reply.status;
    if reply.is_success() {
        return match seqs(reply, size, batch) {
            Some(seqs) => Verdict::Accepted(seqs),
            None => Verdict::StoredUnknown,
        };
    }
    let code = reply.error_code();
    match (status, code) {
        (401, _) => Verdict::Fatal(format!("the ingest key was refused ({})", reply.describe())),
        (503, Some("ingest_disabled")) => Verdict::Fatal(format!(
            "ingest is disabled on the server: set INGEST_API_KEY ({})",
            reply.describe()
        )),
        (400 | 413 | 415 | 422, _) => {
            Verdict::Fatal(format!("the server refused the body: {}", reply.describe()))
        }
        (429, _) => Verdict::Retry {
            reason: "429".to_owned(),
            maybe_stored: false,
            wait: reply.retry_after.map(|after| after.min(RETRY_AFTER_MAX)),
        },
        // A proxy's "bad gateway" / "gateway timeout": the instance may have
        // committed before the connection broke.
        (502 | 504, _) => Verdict::Retry { reason: status.to_string(), maybe_stored: true, wait: None },
        // The server answered itself (`internal`, `shutting_down`): not stored.
        (500..=599, _) => Verdict::Retry { reason: status.to_string(), maybe_stored: false, wait: None },
        _ => Verdict::Refused(status.to_string()),
    }
}

fn judge_error(error: &reqwest::Error) -> Verdict {
    if error.is_connect() {
        // Never reached the server.
        Verdict::Retry { reason: "connect".to_owned(), maybe_stored: false, wait: None }
    } else if error.is_timeout() {
        Verdict::Retry { reason: "timeout".to_owned(), maybe_stored: true, wait: None }
    } else {
        Verdict::Retry { reason: "transport".to_owned(), maybe_stored: true, wait: None }
    }
}

/// CONTRACT: `{"notification": {"seq", …}}`, or for the batch endpoint
/// `{"notifications": [...]}` in request order.
fn seqs(reply: &Reply, size: usize, batch: bool) -> Option<Vec<i64>> {
    let body = reply.body.as_ref()?;
    let seqs: Vec<i64> = if batch {
        let items = body.get("notifications")?.as_array()?;
        items.iter().map(|n| n.get("seq").and_then(Value::as_i64)).collect::<Option<_>>()?
    } else {
        vec![body.pointer("/notification/seq")?.as_i64()?]
    };
    (seqs.len() == size).then_some(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: Value) -> Reply {
        Reply { status, retry_after: None, body: Some(body) }
    }

    #[test]
    fn the_schedule_sends_the_first_at_once_and_catches_up() {
        assert_eq!(due(Duration::ZERO, 100.0, 6000), 1);
        assert_eq!(due(Duration::from_millis(995), 100.0, 6000), 100);
        assert_eq!(due(Duration::from_secs(60), 100.0, 6000), 6000);
        assert_eq!(due(Duration::from_secs(3600), 100.0, 6000), 6000, "never past the total");
    }

    #[test]
    fn a_duration_becomes_a_count_when_paced() {
        let plan = |amount| Plan { rate: 100.0, concurrency: 1, amount, batch: 1 };
        assert_eq!(plan(Amount::Duration(Duration::from_secs(60))).paced_total(), 6000);
        assert_eq!(plan(Amount::Count(7)).paced_total(), 7);
    }

    #[test]
    fn accepted_answers_give_their_seqs_in_order() {
        let single = reply(201, json!({"notification": {"seq": 4}}));
        assert_eq!(judge(&single, 1, false), Verdict::Accepted(vec![4]));
        let batch = reply(201, json!({"notifications": [{"seq": 9}, {"seq": 2}]}));
        assert_eq!(judge(&batch, 2, true), Verdict::Accepted(vec![9, 2]));
        let short = reply(201, json!({"notifications": [{"seq": 9}]}));
        assert_eq!(judge(&short, 2, true), Verdict::StoredUnknown);
        let unreadable = Reply { status: 201, retry_after: None, body: None };
        assert_eq!(judge(&unreadable, 1, false), Verdict::StoredUnknown);
    }

    #[test]
    fn failures_are_retried_rejected_or_fatal() {
        let error = |status, code: &str| reply(status, json!({"error": code, "message": "m"}));
        assert!(matches!(judge(&error(401, "unauthorized"), 1, false), Verdict::Fatal(_)));
        assert!(matches!(judge(&error(503, "ingest_disabled"), 1, false), Verdict::Fatal(_)));
        assert!(matches!(judge(&error(422, "validation_failed"), 1, false), Verdict::Fatal(_)));
        assert_eq!(
            judge(&error(503, "shutting_down"), 1, false),
            Verdict::Retry { reason: "503".to_owned(), maybe_stored: false, wait: None }
        );
        assert_eq!(
            judge(&error(502, "x"), 1, false),
            Verdict::Retry { reason: "502".to_owned(), maybe_stored: true, wait: None }
        );
        let limited = Reply { retry_after: Some(Duration::from_secs(30)), ..error(429, "rate_limited") };
        assert_eq!(
            judge(&limited, 1, false),
            Verdict::Retry { reason: "429".to_owned(), maybe_stored: false, wait: Some(RETRY_AFTER_MAX) }
        );
        assert_eq!(judge(&error(404, "not_found"), 1, false), Verdict::Refused("404".to_owned()));
    }
}
