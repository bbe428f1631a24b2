//! Retry delays: exponential with a cap and jitter. Pure (the random part
//! is passed in), so the tests pin the numbers.
//!
//! Jitter matters here: when one instance of a cluster stops, a third of all
//! sockets drop in the same millisecond, and without it they would all knock
//! on the survivors at the same moments.

use std::time::Duration;

/// A delay policy: `base · 2^attempt`, at most `cap`, of which the upper half
/// is random ("equal jitter": never zero, so a failing peer is not hammered,
/// yet spread out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
}

impl Backoff {
    /// Reconnecting a socket, and retrying a publish: 100 ms doubling to 2 s.
    pub(crate) const QUICK: Self = Self { base: Duration::from_millis(100), cap: Duration::from_secs(2) };
    /// A handshake refused for being over a connection limit
    /// (`rate_limited`, `too_many_sockets`): retrying fast only makes it worse.
    pub(crate) const LIMITED: Self = Self { base: Duration::from_secs(1), cap: Duration::from_secs(10) };

    /// The delay before retry number `attempt` (0 for the first retry), with
    /// `unit_random` drawn from `0.0..=1.0`.
    pub(crate) fn delay_with(self, attempt: u32, unit_random: f64) -> Duration {
        let doubled = self.base.saturating_mul(2_u32.saturating_pow(attempt.min(20)));
        let ceiling = doubled.min(self.cap);
        let half = ceiling / 2;
        half + half.mul_f64(unit_random.clamp(0.0, 1.0))
    }

    /// [`Self::delay_with`] with a fresh random draw.
    pub(crate) fn delay(self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn quick_backoff_doubles_from_100_ms_to_2_s() {
        let b = Backoff::QUICK;
        let highs: Vec<_> = (0..7).map(|attempt| b.delay_with(attempt, 1.0)).collect();
        assert_eq!(highs, [MS(100), MS(200), MS(400), MS(800), MS(1600), MS(2000), MS(2000)]);
    }

    #[test]
    fn jitter_keeps_at_least_half_the_delay() {
        let b = Backoff::QUICK;
        assert_eq!(b.delay_with(0, 0.0), MS(50));
        assert_eq!(b.delay_with(0, 0.5), MS(75));
        assert_eq!(b.delay_with(10, 0.0), MS(1000));
        assert_eq!(b.delay_with(3, 7.0), MS(800), "out-of-range draws are clamped");
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        assert_eq!(Backoff::LIMITED.delay_with(u32::MAX, 1.0), Duration::from_secs(10));
    }
}
