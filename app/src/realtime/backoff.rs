//! Reconnect delays: exponential backoff with full jitter, capped.
//!
//! Full jitter (a uniform draw in `0..=ceiling`) spreads the reconnects of many
//! dashboards after a server restart instead of having them all return at
//! once. Randomness is a parameter so the bounds are testable.

use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay.
    pub base: Duration,
    /// No delay is ever longer than this.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(500), cap: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The ceiling for retry number `attempt` (0-based): `min(cap, base·2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry number `attempt`, given `unit`, a uniform draw
    /// in `[0, 1)` (values outside are clamped).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_stops_at_the_cap() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(200), Duration::from_secs(1));
    }

    #[test]
    fn delay_stays_within_zero_and_the_ceiling() {
        let b = Backoff::default();
        for attempt in 0..40 {
            for unit in [0.0, 0.25, 0.5, 0.999, 1.0, -3.0, 7.0] {
                let d = b.delay(attempt, unit);
                assert!(d <= b.ceiling(attempt), "attempt {attempt} unit {unit}: {d:?}");
            }
        }
        assert_eq!(b.delay(2, 0.0), Duration::ZERO);
        assert_eq!(b.delay(2, 0.5), b.ceiling(2) / 2);
    }
}
