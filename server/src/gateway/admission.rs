//! Who may open a socket, beyond holding a valid session: at most
//! `SOCKET_CONNECTS_PER_MIN` new sockets per client IP and minute (checked
//! before the token, so a flood of bad handshakes costs no signature
//! check), and at most `SOCKETS_PER_SELLER` sockets of one seller at once.
//! Both are counted per instance, in memory. Clients in
//! `SOCKET_LIMITS_EXEMPT` (the server's own machine by default) are not
//! counted. A refusal is a `connect_error` with a stable message, a log
//! line and a count in `/metrics`. A draining instance (shutting down)
//! refuses every new socket, `draining`, before any other check.
//!
//! A seller's socket holds a [`SellerSlot`] in its extensions: the slot is
//! given back when the socket is dropped, however it ends.

use crate::client_ip::client_ip;
use crate::config::{Networks, SocketConfig};
use crate::domain::notification::SellerId;
use crate::error::ApiError;
use crate::rate_limiter::RateLimiter;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Why a handshake was refused: its `connect_error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No valid session (CONTRACT: exactly `unauthorized`).
    Unauthorized,
    /// The client IP opened `SOCKET_CONNECTS_PER_MIN` sockets this minute.
    RateLimited,
    /// The seller holds `SOCKETS_PER_SELLER` sockets already.
    TooManySockets,
    /// This instance is shutting down: the client belongs on another one.
    Draining,
}

impl Refusal {
    const ALL: [Self; 4] = [Self::Unauthorized, Self::RateLimited, Self::TooManySockets, Self::Draining];

    /// The message, also the `reason` label in `/metrics`. The first two
    /// are the HTTP API's codes for the same refusals.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Unauthorized => ApiError::Unauthorized("").code(),
            Self::RateLimited => "rate_limited",
            Self::TooManySockets => "too_many_sockets",
            Self::Draining => "draining",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for Refusal {}

/// Refused handshakes by reason, for `/metrics`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RefusedSockets(Arc<[AtomicU64; Refusal::ALL.len()]>);

impl RefusedSockets {
    /// Counts one; returns how many of its kind there were before it.
    pub(super) fn add(&self, refusal: Refusal) -> u64 {
        self.0[refusal.index()].fetch_add(1, Ordering::Relaxed)
    }

    /// `(reason, count)` for every reason, zeros included.
    pub fn by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Refusal::ALL
            .into_iter()
            .map(|refusal| (refusal.code(), self.0[refusal.index()].load(Ordering::Relaxed)))
    }
}

/// The connection limits of this instance.
#[derive(Debug)]
pub(super) struct Admission {
    per_seller: u32,
    held: Mutex<HashMap<SellerId, u32>>,
    connects: RateLimiter,
    exempt: Networks,
    trusted_proxies: Networks,
    pub(super) refused: RefusedSockets,
}

/// Where a handshake comes from, and whether the limits apply to it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Client {
    /// `None` when the server was not given peer addresses (never in a
    /// running server; counted as nobody's, so not limited).
    pub(super) ip: Option<IpAddr>,
    exempt: bool,
}

impl Admission {
    pub(super) fn new(config: &SocketConfig, trusted_proxies: Networks, refused: RefusedSockets) -> Self {
        Self {
            per_seller: config.sockets_per_seller,
            held: Mutex::new(HashMap::new()),
            connects: RateLimiter::new(config.connects_per_ip_per_min),
            exempt: config.limits_exempt.clone(),
            trusted_proxies,
            refused,
        }
    }

    /// The client of a handshake, from its request's peer and headers.
    pub(super) fn client(&self, request: &axum::http::request::Parts) -> Client {
        let peer = request.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>();
        let ip = peer.map(|peer| client_ip(peer.0.ip(), &request.headers, &self.trusted_proxies));
        Client { ip, exempt: ip.is_none_or(|ip| self.exempt.contains(ip)) }
    }

    /// Counts one new socket of `client` against its IP's budget.
    ///
    /// # Errors
    /// [`Refusal::RateLimited`] when the IP is over it.
    pub(super) fn check_rate(&self, client: Client) -> Result<(), Refusal> {
        match client.ip {
            Some(ip) if !client.exempt => self
                .connects
                .check(ip, Instant::now())
                .map_err(|_| self.refuse(Refusal::RateLimited, client, None)),
            _ => Ok(()),
        }
    }

    /// Takes one of the seller's socket slots (none is needed by an exempt
    /// client or without a cap).
    ///
    /// # Errors
    /// [`Refusal::TooManySockets`] when the seller holds them all.
    pub(super) fn take_slot(
        self: &Arc<Self>,
        seller: SellerId,
        client: Client,
    ) -> Result<Option<SellerSlot>, Refusal> {
        if self.per_seller == 0 || client.exempt {
            return Ok(None);
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(seller).or_insert(0);
        if *count >= self.per_seller {
            drop(held);
            return Err(self.refuse(Refusal::TooManySockets, client, Some(seller)));
        }
        *count += 1;
        Ok(Some(SellerSlot { _slot: Arc::new(Slot { admission: Arc::clone(self), seller }) }))
    }

    /// Counts a refusal. Those of the limits are logged here: one in a
    /// hundred of an IP's rate (a flood of handshakes must not become a
    /// flood of log lines), each one of a seller's cap; `authenticate` logs
    /// its own, and a draining instance's are told by its drain log lines.
    pub(super) fn refuse(&self, refusal: Refusal, client: Client, seller: Option<SellerId>) -> Refusal {
        let before = self.refused.add(refusal);
        let logged = match refusal {
            Refusal::Unauthorized | Refusal::Draining => false,
            Refusal::RateLimited => before.is_multiple_of(100),
            Refusal::TooManySockets => true,
        };
        if logged {
            let (ip, seller_id, refused_so_far) = (client.ip, seller.map(|s| s.0), before + 1);
            tracing::warn!(
                ?ip,
                seller_id,
                reason = refusal.code(),
                refused_so_far,
                "socket refused over a limit"
            );
        }
        refusal
    }

    /// Sockets `seller` holds here, counted against the cap.
    #[cfg(test)]
    fn held(&self, seller: SellerId) -> u32 {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).get(&seller).copied().unwrap_or(0)
    }

    fn give_back(&self, seller: SellerId) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&seller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&seller);
            }
        }
    }
}

/// One of a seller's socket slots, kept in the socket's extensions (which
/// want `Clone`: clones share the slot, given back when the last goes).
#[derive(Debug, Clone)]
pub(super) struct SellerSlot {
    _slot: Arc<Slot>,
}

#[derive(Debug)]
struct Slot {
    admission: Arc<Admission>,
    seller: SellerId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.give_back(self.seller);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn admission(per_seller: u32, connects_per_min: u32) -> Arc<Admission> {
        let mut config = Config::for_tests(std::path::Path::new("/nonexistent")).socket;
        config.sockets_per_seller = per_seller;
        config.connects_per_ip_per_min = connects_per_min;
        Arc::new(Admission::new(&config, Networks::default(), RefusedSockets::default()))
    }

    fn remote(ip: &str) -> Client {
        Client { ip: Some(ip.parse().unwrap()), exempt: false }
    }

    #[test]
    fn a_seller_holds_at_most_its_cap_and_a_dropped_socket_frees_its_slot() {
        let admission = admission(2, 0);
        let (ana, bo) = (SellerId(1), SellerId(2));
        let first = admission.take_slot(ana, remote("192.0.2.1")).unwrap();
        let second = admission.take_slot(ana, remote("192.0.2.2")).unwrap();
        assert_eq!(admission.take_slot(ana, remote("192.0.2.3")).unwrap_err(), Refusal::TooManySockets);
        assert!(admission.take_slot(bo, remote("192.0.2.3")).is_ok(), "each seller has a cap of its own");

        let shared = first.clone();
        drop(first);
        assert_eq!(admission.held(ana), 2, "a clone still holds the slot");
        drop(shared);
        assert_eq!(admission.held(ana), 1);
        assert!(admission.take_slot(ana, remote("192.0.2.3")).is_ok());
        drop(second);
        let refused: Vec<_> = admission.refused.by_reason().collect();
        assert!(refused.contains(&("too_many_sockets", 1)), "{refused:?}");
    }

    #[test]
    fn exempt_clients_and_a_zero_cap_take_no_slot() {
        let admission = admission(1, 1);
        let local = Client { ip: Some("127.0.0.1".parse().unwrap()), exempt: true };
        for _ in 0..10 {
            assert!(admission.check_rate(local).is_ok());
            assert!(admission.take_slot(SellerId(1), local).unwrap().is_none());
        }
        let unlimited = self::admission(0, 0);
        let slots: Vec<_> = (0..10).map(|_| unlimited.take_slot(SellerId(1), remote("192.0.2.1"))).collect();
        assert!(slots.iter().all(|slot| matches!(slot, Ok(None))));
    }

    #[test]
    fn each_ip_opens_at_most_its_rate() {
        let admission = admission(0, 2);
        assert!(admission.check_rate(remote("192.0.2.1")).is_ok());
        assert!(admission.check_rate(remote("192.0.2.1")).is_ok());
        assert_eq!(admission.check_rate(remote("192.0.2.1")), Err(Refusal::RateLimited));
        assert!(admission.check_rate(remote("192.0.2.2")).is_ok());
    }

    #[test]
    fn refusals_read_as_stable_codes() {
        let codes: Vec<_> = Refusal::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(codes, ["unauthorized", "rate_limited", "too_many_sockets", "draining"]);
    }
}
