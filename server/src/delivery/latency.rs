//! Push → ack latency as a Prometheus histogram, for `/metrics`.
//!
//! The deployment guide asks operators to keep ack latency under 500 ms; a
//! histogram lets them alert on a quantile instead of reading logs. Fixed
//! buckets and atomics: recording is lock-free and costs nothing per socket.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the buckets, in milliseconds (the last bucket, `+Inf`,
/// is implied).
const BOUNDS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// Counts of acks by latency since this process started.
#[derive(Debug, Default)]
pub struct AckLatency {
    /// `buckets[i]` counts latencies in `(BOUNDS_MS[i-1], BOUNDS_MS[i]]`; the
    /// extra last slot counts those above every bound.
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl AckLatency {
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let slot = BOUNDS_MS.iter().position(|&bound| micros <= bound * 1_000).unwrap_or(BOUNDS_MS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// The histogram in Prometheus text format, under `name` (in seconds).
    pub fn render(&self, name: &str, help: &str) -> String {
        let mut out = format!("# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS_MS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", *bound as f64 / 1_000.0);
        }
        cumulative += self.buckets[BOUNDS_MS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Relaxed) as f64 / 1_000_000.0);
        let _ = writeln!(out, "{name}_count {}", self.count.load(Relaxed));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_cumulative_buckets() {
        let histogram = AckLatency::default();
        for ms in [3, 5, 7, 480, 20_000] {
            histogram.record(Duration::from_millis(ms));
        }
        let text = histogram.render("ack", "Ack latency.");
        assert!(text.contains("# TYPE ack histogram\n"), "{text}");
        assert!(text.contains("ack_bucket{le=\"0.005\"} 2\n"), "3 and 5 ms are at most 5 ms: {text}");
        assert!(text.contains("ack_bucket{le=\"0.01\"} 3\n"), "{text}");
        assert!(text.contains("ack_bucket{le=\"0.25\"} 3\n"), "{text}");
        assert!(text.contains("ack_bucket{le=\"0.5\"} 4\n"), "{text}");
        assert!(text.contains("ack_bucket{le=\"10\"} 4\n"), "{text}");
        assert!(text.contains("ack_bucket{le=\"+Inf\"} 5\n"), "{text}");
        assert!(text.contains("ack_sum 20.495\n"), "{text}");
        assert!(text.contains("ack_count 5\n"), "{text}");
    }

    #[test]
    fn an_empty_histogram_still_renders_every_series() {
        let text = AckLatency::default().render("ack", "Ack latency.");
        assert_eq!(text.matches("_bucket{").count(), BOUNDS_MS.len() + 1);
        assert!(text.contains("ack_count 0\n"));
    }
}
