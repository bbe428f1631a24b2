//! When the next push of an unacknowledged notification is due.

use std::time::Duration;

/// The wait after push attempt `attempt` (1-based) went unanswered:
/// `base × 2^(attempt-1)`, stretched by up to half again by `jitter` (a
/// fraction in `[0, 1)`), so sellers whose pushes failed together (a network
/// blip) are not all retried in the same instant. Never shorter than the
/// exponential step itself, so `RETRY_BASE_MS` is a floor operators can rely on.
pub fn retry_delay(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let step = base.saturating_mul(1 << attempt.saturating_sub(1).min(30));
    step + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// [`retry_delay`] with a random jitter.
pub fn random_retry_delay(base: Duration, attempt: u32) -> Duration {
    retry_delay(base, attempt, rand::random::<f64>())
}

/// The longest a whole retry chain can take: every push waits `ack_timeout`,
/// every backoff step at its longest, plus a second of scheduling slack
/// (jobs are due to the second) and polling per step.
pub fn chain_bound(ack_timeout: Duration, base: Duration, attempts: u32) -> Duration {
    (1..=attempts).map(|attempt| ack_timeout + retry_delay(base, attempt, 1.0) + Duration::from_secs(2)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_per_attempt_without_jitter() {
        let delays: Vec<_> = (1..=4).map(|a| retry_delay(BASE, a, 0.0).as_millis()).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000]);
    }

    #[test]
    fn jitter_stretches_by_at_most_half() {
        assert_eq!(retry_delay(BASE, 2, 0.5), Duration::from_millis(2500));
        assert_eq!(retry_delay(BASE, 2, 1.0), Duration::from_millis(3000));
        assert_eq!(retry_delay(BASE, 2, 7.0), Duration::from_millis(3000), "out-of-range jitter is clamped");
        for _ in 0..1000 {
            let delay = random_retry_delay(BASE, 3);
            assert!(delay >= Duration::from_secs(4) && delay <= Duration::from_secs(6), "{delay:?}");
        }
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        assert!(retry_delay(BASE, u32::MAX, 1.0) > Duration::from_secs(1 << 29));
    }

    #[test]
    fn chain_bound_covers_every_step() {
        // 3 × (10 s ack + 2 s slack) + (1.5 + 3 + 6) s of backoff.
        let bound = chain_bound(Duration::from_secs(10), BASE, 3);
        assert_eq!(bound, Duration::from_millis(36_000 + 10_500));
    }
}
