//! Who a request comes from: the TCP peer, or, when the peer is one of
//! `TRUSTED_PROXIES`, the address its `X-Forwarded-For` names.
//!
//! Each proxy appends the address it received the request from, so the
//! header reads `client, proxy1, proxy2` and only its right end is written
//! by hops we trust. Walking it from the right, the first address that is
//! not a trusted proxy is the client; anything left of it may be forged by
//! the client and is never read. A peer that is not trusted is the client
//! itself, whatever its headers say. Pure: the HTTP rate limiter and the
//! socket limits both ask it.

use crate::config::Networks;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address for rate limits and logs.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &Networks) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        warn_once_if_forwarded(peer, headers, trusted);
        return peer;
    }
    let mut nearest = peer;
    for hop in forwarded_hops(headers).rev() {
        // A malformed entry cannot have come from a trusted hop (they write
        // addresses): stop at the last address a trusted hop vouched for.
        let Some(hop) = hop else { return nearest };
        if !trusted.contains(hop) {
            return hop;
        }
        nearest = hop;
    }
    nearest
}

/// The entries of every `X-Forwarded-For` header, in order; `None` for one
/// that is not an address (`unknown`, garbage). Ports, which some proxies
/// add, are dropped.
fn forwarded_hops(headers: &HeaderMap) -> impl DoubleEndedIterator<Item = Option<IpAddr>> + '_ {
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpAddr>()
                .or_else(|_| entry.parse::<SocketAddr>().map(|address| address.ip()))
                .ok()
                .map(|ip| ip.to_canonical())
        })
        .collect::<Vec<_>>()
        .into_iter()
}

/// A proxy in front of the server that is not in `TRUSTED_PROXIES` makes
/// every client look like the proxy (one rate-limit budget for all): say so
/// once, so the operator knows what to set.
fn warn_once_if_forwarded(peer: IpAddr, headers: &HeaderMap, trusted: &Networks) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if trusted.is_empty() && headers.contains_key(X_FORWARDED_FOR) && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "X-Forwarded-For ignored: its sender is not in TRUSTED_PROXIES, so every client behind it \
             counts as that one address (set TRUSTED_PROXIES to the load balancer's addresses)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(value));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &str) -> Networks {
        Networks::parse("TRUSTED_PROXIES", list).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let headers = forwarded(&["1.2.3.4"]);
        assert_eq!(client_ip(ip("203.0.113.9"), &headers, &Networks::default()), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("203.0.113.9"), &headers, &proxies("10.0.0.0/8")), ip("203.0.113.9"));
    }

    #[test]
    fn through_trusted_hops_the_first_untrusted_address_from_the_right_is_the_client() {
        let trusted = proxies("10.0.0.0/8");
        // The client forged "6.6.6.6"; the load balancer appended the real peer.
        let headers = forwarded(&["6.6.6.6, 198.51.100.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &trusted), ip("198.51.100.7"));
        // Two trusted hops, one header each.
        let headers = forwarded(&["6.6.6.6, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &trusted), ip("198.51.100.7"));
        // Ports and IPv6.
        let headers = forwarded(&["[2001:db8::1]:4711"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn a_trusted_peer_without_a_usable_header_is_the_nearest_vouched_address() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        let headers = forwarded(&["unknown, 10.0.0.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &trusted), ip("10.0.0.7"));
        let headers = forwarded(&["10.0.0.9"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &trusted), ip("10.0.0.9"), "all trusted");
    }

    #[test]
    fn ipv4_mapped_peers_are_their_ipv4_address() {
        let trusted = proxies("127.0.0.1");
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), &headers, &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("::ffff:192.0.2.1"), &headers, &trusted), ip("192.0.2.1"));
    }
}
