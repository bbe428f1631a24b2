//! The run's result: computed once from the ledger, the publish counters and
//! the acknowledgement check; printed as an aligned table (stdout) and
//! written as JSON (`--json`) for scripts.
//!
//! The JSON `timeline` has one entry per second since the publish phase
//! started (`started_at_unix_ms`), so a fault-injection script can line its
//! own timestamps up with what the tool saw: accepted notifications, the
//! slowest full delivery (publish → the *last* of the seller's sockets) of
//! what was published in that second, what of it is missing, and reconnects.

use crate::ack_check::AckCheck;
use crate::cli::Options;
use crate::ledger::{AcceptedView, Missing};
use crate::publisher::Phase;
use crate::run::Run;
use crate::sellers::Seller;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// How many missing / unacknowledged notifications are listed by name.
const LISTED: usize = 20;

/// Everything the report is computed from.
#[derive(Debug)]
pub(crate) struct Inputs<'a> {
    pub(crate) options: &'a Options,
    pub(crate) run: &'a Run,
    pub(crate) sellers: &'a [Arc<Seller>],
    pub(crate) connect_s: f64,
    pub(crate) phase: Phase,
    pub(crate) settle_s: f64,
    pub(crate) acks: &'a AckCheck,
    /// Publishing was cut short by Ctrl-C.
    pub(crate) interrupted: bool,
}

/// The machine-readable report (`--json`); the table shows the same numbers.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) run_id: String,
    /// When the publish phase started: second 0 of `timeline`.
    pub(crate) started_at_unix_ms: u64,
    pub(crate) publish_url: String,
    pub(crate) socket_urls: Vec<String>,
    pub(crate) sellers: usize,
    pub(crate) sockets_per_seller: usize,
    pub(crate) sockets: usize,
    /// Notifications per second asked for; 0 = as fast as possible.
    pub(crate) rate: f64,
    pub(crate) batch: usize,
    pub(crate) concurrency: usize,
    pub(crate) connect_s: f64,
    pub(crate) publish_s: f64,
    pub(crate) settle_s: f64,
    pub(crate) interrupted: bool,
    /// Notifications the tool tried to publish.
    pub(crate) attempted: u64,
    pub(crate) requests: u64,
    pub(crate) retries: u64,
    pub(crate) accepted: u64,
    pub(crate) accepted_per_s: f64,
    pub(crate) rejected: u64,
    pub(crate) rejected_by_reason: BTreeMap<String, u64>,
    /// The server may or may not have stored these (answer lost); not missing.
    pub(crate) unknown_outcome: u64,
    /// Accepted and received by every socket of the seller.
    pub(crate) delivered: u64,
    pub(crate) delivered_pct: f64,
    pub(crate) missing: u64,
    pub(crate) missing_first: Vec<MissingEntry>,
    /// The same seq again on the same socket.
    pub(crate) duplicates: u64,
    /// This run's notifications received but never named by a publish
    /// answer (stored by an attempt whose answer was lost).
    pub(crate) extra_received: u64,
    /// The server named the same (seller, seq) for two publishes: a bug.
    pub(crate) seq_conflicts: u64,
    pub(crate) latency_ms: Latency,
    pub(crate) reconnects: u64,
    pub(crate) reconnects_peak_per_s: u64,
    pub(crate) acknowledged: u64,
    pub(crate) not_acknowledged: u64,
    pub(crate) not_acknowledged_first: Vec<SellerSeq>,
    pub(crate) ack_absent: u64,
    pub(crate) ack_unchecked: u64,
    pub(crate) ack_check_errors: Vec<String>,
    pub(crate) timeline: Vec<Second>,
    /// `missing == 0`, `not_acknowledged == 0`, `seq_conflicts == 0` (two
    /// publishes given one seq: clients would drop one) and something was
    /// accepted.
    pub(crate) ok: bool,
}

/// A missing notification and the sockets that lack it.
#[derive(Debug, Serialize)]
pub(crate) struct MissingEntry {
    pub(crate) seller_id: i64,
    pub(crate) seq: i64,
    pub(crate) sockets: Vec<SocketRef>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SocketRef {
    pub(crate) index: usize,
    pub(crate) url: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SellerSeq {
    pub(crate) seller_id: i64,
    pub(crate) seq: i64,
}

/// Publish → receive over every first receipt on every socket.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Latency {
    pub(crate) samples: usize,
    pub(crate) p50: Option<f64>,
    pub(crate) p95: Option<f64>,
    pub(crate) p99: Option<f64>,
    pub(crate) max: Option<f64>,
}

/// One second of the timeline.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Second {
    pub(crate) second: u64,
    /// Accepted notifications whose (successful) request was sent in this second.
    pub(crate) accepted: u64,
    /// The slowest publish → last-socket delivery among them.
    pub(crate) max_full_delivery_ms: Option<f64>,
    /// Those of them some socket never received.
    pub(crate) missing: u64,
    pub(crate) reconnects: u64,
}

impl Report {
    pub(crate) fn build(inputs: &Inputs<'_>) -> Self {
        let Inputs { options, run, sellers, connect_s, phase, settle_s, acks, interrupted } = *inputs;
        let stats = run.publish().clone();
        let ledger = run.ledger();
        let seller_id = |index: usize| sellers.get(index).map_or(-1, |s| s.id);
        let socket_url = |index: usize| options.socket_urls[index % options.socket_urls.len()].clone();

        let accepted = ledger.accepted();
        let delivered = ledger.delivered();
        let missing = ledger.missing();
        let mut latencies = ledger.latencies_ms().to_vec();
        latencies.sort_by(f64::total_cmp);
        let views: Vec<AcceptedView> = ledger.accepted_views().collect();
        let reconnect_times = run.reconnect_times();
        let publish_s = ((phase.ended_ms - phase.started_ms) / 1000.0).max(0.0);

        let missing_first = missing
            .iter()
            .take(LISTED)
            .map(|m| MissingEntry {
                seller_id: seller_id(m.seller),
                seq: m.seq,
                sockets: m.sockets.iter().map(|&index| SocketRef { index, url: socket_url(index) }).collect(),
            })
            .collect();
        let not_acknowledged_first = acks
            .not_acknowledged
            .iter()
            .take(LISTED)
            .map(|&(seller, seq)| SellerSeq { seller_id: seller_id(seller), seq })
            .collect();
        let not_acknowledged = acks.not_acknowledged.len() as u64;
        let missing_count = missing.len() as u64;

        Self {
            run_id: run.id.clone(),
            started_at_unix_ms: phase.started_ms.round() as u64,
            publish_url: options.publish_url.clone(),
            socket_urls: options.socket_urls.clone(),
            sellers: options.sellers,
            sockets_per_seller: options.sockets_per_seller,
            sockets: options.sellers * options.sockets_per_seller,
            rate: options.rate,
            batch: options.batch,
            concurrency: options.concurrency,
            connect_s: round3(connect_s),
            publish_s: round3(publish_s),
            settle_s: round3(settle_s),
            interrupted,
            attempted: stats.attempted,
            requests: stats.requests,
            retries: stats.retries,
            accepted,
            accepted_per_s: if publish_s > 0.0 { round3(accepted as f64 / publish_s) } else { 0.0 },
            rejected: stats.rejected.values().sum(),
            rejected_by_reason: stats.rejected,
            unknown_outcome: stats.unknown,
            delivered,
            delivered_pct: if accepted > 0 {
                round3(100.0 * delivered as f64 / accepted as f64)
            } else {
                0.0
            },
            missing: missing_count,
            missing_first,
            duplicates: ledger.duplicates(),
            extra_received: ledger.extra(),
            seq_conflicts: ledger.conflicts(),
            latency_ms: Latency {
                samples: latencies.len(),
                p50: percentile(&latencies, 0.50).map(round3),
                p95: percentile(&latencies, 0.95).map(round3),
                p99: percentile(&latencies, 0.99).map(round3),
                max: latencies.last().copied().map(round3),
            },
            reconnects: reconnect_times.len() as u64,
            reconnects_peak_per_s: peak_per_second(&reconnect_times),
            acknowledged: acks.acknowledged,
            not_acknowledged,
            not_acknowledged_first,
            ack_absent: acks.absent,
            ack_unchecked: acks.unchecked,
            ack_check_errors: acks.errors.clone(),
            timeline: timeline(phase.started_ms, &views, &missing, &reconnect_times),
            ok: missing_count == 0 && not_acknowledged == 0 && ledger.conflicts() == 0 && accepted > 0,
        }
    }

    /// The aligned table printed at the end.
    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("run", self.run_id.clone()),
            (
                "sockets",
                format!(
                    "{} ({} sellers × {}, over {} URL(s)), connected in {:.2} s",
                    self.sockets,
                    self.sellers,
                    self.sockets_per_seller,
                    self.socket_urls.len(),
                    self.connect_s
                ),
            ),
            (
                "published",
                format!(
                    "{} in {} requests ({} retries) over {:.2} s{}",
                    self.attempted,
                    self.requests,
                    self.retries,
                    self.publish_s,
                    if self.interrupted { ", interrupted" } else { "" }
                ),
            ),
            ("accepted", format!("{} ({:.1}/s)", self.accepted, self.accepted_per_s)),
            ("rejected", format!("{}{}", self.rejected, by_reason(&self.rejected_by_reason))),
            ("unknown outcome", self.unknown_outcome.to_string()),
            ("delivered", format!("{} ({:.2} %)", self.delivered, self.delivered_pct)),
            ("missing", self.missing.to_string()),
            ("duplicates", self.duplicates.to_string()),
            ("extra received", self.extra_received.to_string()),
            (
                "latency ms p50/p95/p99/max",
                [self.latency_ms.p50, self.latency_ms.p95, self.latency_ms.p99, self.latency_ms.max]
                    .iter()
                    .map(|v| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")))
                    .collect::<Vec<_>>()
                    .join(" / "),
            ),
            ("reconnects", format!("{} (peak {}/s)", self.reconnects, self.reconnects_peak_per_s)),
            ("acknowledged", self.acknowledged.to_string()),
            ("not acknowledged", self.not_acknowledged.to_string()),
            ("settled in", format!("{:.2} s", self.settle_s)),
        ];
        if self.seq_conflicts > 0 {
            rows.push(("seq conflicts", self.seq_conflicts.to_string()));
        }
        rows.push(("result", if self.ok { "OK".to_owned() } else { "FAILED".to_owned() }));

        let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &rows {
            let _ = writeln!(out, "{label:<width$}  {value}");
        }
        for m in &self.missing_first {
            let sockets: Vec<String> = m.sockets.iter().map(|s| format!("#{} {}", s.index, s.url)).collect();
            let _ =
                writeln!(out, "  missing: seller {} seq {} on {}", m.seller_id, m.seq, sockets.join(", "));
        }
        for n in &self.not_acknowledged_first {
            let _ = writeln!(out, "  not acknowledged: seller {} seq {}", n.seller_id, n.seq);
        }
        for error in &self.ack_check_errors {
            let _ = writeln!(out, "  ack check failed: {error}");
        }
        out
    }
}

fn by_reason(reasons: &BTreeMap<String, u64>) -> String {
    if reasons.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = reasons.iter().map(|(reason, n)| format!("{reason}: {n}")).collect();
    format!(" ({})", parts.join(", "))
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// The nearest-rank percentile of ascending `sorted` (`q` in 0..=1): the
/// smallest sample with at least `q` of all samples at or below it.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The most events in any one wall-clock second.
fn peak_per_second(times_ms: &[f64]) -> u64 {
    let mut per_second: BTreeMap<i64, u64> = BTreeMap::new();
    for &t in times_ms {
        *per_second.entry((t / 1000.0).floor() as i64).or_default() += 1;
    }
    per_second.into_values().max().unwrap_or(0)
}

/// One entry per second from `start_ms` to the last second anything happened in.
fn timeline(
    start_ms: f64,
    accepted: &[AcceptedView],
    missing: &[Missing],
    reconnects: &[f64],
) -> Vec<Second> {
    let second_of = |t: f64| (t >= start_ms).then(|| ((t - start_ms) / 1000.0).floor() as usize);
    let missing: std::collections::HashSet<(usize, i64)> =
        missing.iter().map(|m| (m.seller, m.seq)).collect();
    let mut seconds: Vec<Second> = Vec::new();
    for view in accepted {
        let Some(index) = second_of(view.sent_ms) else { continue };
        let entry = slot(&mut seconds, index);
        entry.accepted += 1;
        if let Some(full) = view.full_delivery_ms {
            entry.max_full_delivery_ms = Some(entry.max_full_delivery_ms.map_or(full, |m| m.max(full)));
        }
        if missing.contains(&(view.seller, view.seq)) {
            entry.missing += 1;
        }
    }
    for &t in reconnects {
        if let Some(index) = second_of(t) {
            slot(&mut seconds, index).reconnects += 1;
        }
    }
    for entry in &mut seconds {
        entry.max_full_delivery_ms = entry.max_full_delivery_ms.map(round3);
    }
    seconds
}

/// The timeline's entry for second `index`, created (with the ones before
/// it) on first use.
fn slot(seconds: &mut Vec<Second>, index: usize) -> &mut Second {
    while seconds.len() <= index {
        let second = seconds.len() as u64;
        seconds.push(Second { second, accepted: 0, max_full_delivery_ms: None, missing: 0, reconnects: 0 });
    }
    &mut seconds[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.50), Some(50.0));
        assert_eq!(percentile(&samples, 0.95), Some(95.0));
        assert_eq!(percentile(&samples, 0.99), Some(99.0));
        assert_eq!(percentile(&samples, 1.0), Some(100.0));
        assert_eq!(percentile(&samples, 0.0), Some(1.0));
    }

    #[test]
    fn percentiles_of_few_samples_pick_a_real_sample() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        let three = [1.0, 2.0, 10.0];
        assert_eq!(percentile(&three, 0.50), Some(2.0));
        assert_eq!(percentile(&three, 0.95), Some(10.0));
    }

    #[test]
    fn the_reconnect_peak_is_per_wall_clock_second() {
        assert_eq!(peak_per_second(&[]), 0);
        assert_eq!(peak_per_second(&[1000.0, 1999.0, 2000.0, 2500.0, 2999.9, 5000.0]), 3);
    }

    #[test]
    fn the_timeline_buckets_by_publish_second() {
        let view = |seq, sent_ms, full| AcceptedView { seller: 0, seq, sent_ms, full_delivery_ms: full };
        let accepted = [
            view(1, 10_100.0, Some(4.0)),
            view(2, 10_900.0, Some(9.0)),
            view(3, 12_000.0, None),
            view(4, 9_000.0, Some(1.0)), // before the start: not in the timeline
        ];
        let missing = [Missing { seller: 0, seq: 3, sockets: vec![0] }];
        let t = timeline(10_000.0, &accepted, &missing, &[11_500.0, 11_600.0, 3_000.0]);
        assert_eq!(
            t,
            vec![
                Second { second: 0, accepted: 2, max_full_delivery_ms: Some(9.0), missing: 0, reconnects: 0 },
                Second { second: 1, accepted: 0, max_full_delivery_ms: None, missing: 0, reconnects: 2 },
                Second { second: 2, accepted: 1, max_full_delivery_ms: None, missing: 1, reconnects: 0 },
            ]
        );
    }
}
