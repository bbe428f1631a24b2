//! Per-client-IP rate limiting for the endpoints anyone can call (register,
//! login, storefront orders): a fixed one-minute window per IP. No IO: the
//! HTTP edge (`http::rate_limit`) asks it and answers 429.
//!
//! In memory, per instance: behind a load balancer each instance counts its
//! own share, which errs on the generous side and needs no shared store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked IPs, expired windows are swept on the next check.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    /// Requests allowed per IP per window; 0 disables limiting.
    per_window: u32,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_window: per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one request from `ip` at `now`.
    ///
    /// # Errors
    /// How long until the window resets, when `ip` is over its limit.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_window == 0 {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update of
        // a counter: the counts are still usable.
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        let window = windows.entry(ip).or_insert(Window { started: now, count: 0 });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window { started: now, count: 0 };
        }
        if window.count >= self.per_window {
            return Err(WINDOW.saturating_sub(now.duration_since(window.started)));
        }
        window.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_ends() {
        let limiter = RateLimiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(A, t0).is_ok());
        }
        let retry = limiter.check(A, t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(retry, Duration::from_secs(40));
        assert!(limiter.check(A, t0 + WINDOW).is_ok());
    }

    #[test]
    fn each_ip_has_its_own_window() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        assert!(limiter.check(A, t0).is_ok());
        assert!(limiter.check(A, t0).is_err());
        assert!(limiter.check(B, t0).is_ok());
    }

    #[test]
    fn zero_disables_limiting() {
        let limiter = RateLimiter::new(0);
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.check(A, t0).is_ok()));
    }
}
