//! Keeps each socket from pinning its connection's read buffer.
//!
//! Engine.IO keeps the request parts of every socket's handshake for the
//! socket's whole life (`Socket::req_parts`). hyper parses header values and
//! the URI as slices of the connection's read buffer (8 to 16 KiB), so keeping
//! any of them keeps the whole buffer: measured with heaptrack, that was
//! 16 KiB of a 37 KiB idle socket. Copying the few bytes they need into
//! allocations of their own lets the buffer go.
//!
//! The same parts carry the request's extensions: axum's route parameters and
//! original URI, among others, about 0.5 KiB a socket that nothing reads.
//! A socket keeps only the two the server needs: hyper's pending upgrade
//! (taken for the WebSocket) and the peer address.

use axum::extract::{ConnectInfo, Request};
use axum::http::{Extensions, HeaderMap, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use std::net::SocketAddr;

/// Middleware for the Socket.IO path: owned copies of headers and the URI,
/// and only the extensions a socket needs.
pub async fn detach_request_parts(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/socket.io" || path.starts_with("/socket.io/") {
        let headers: HeaderMap = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.clone(), HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone()))
            })
            .collect();
        *request.headers_mut() = headers;
        if let Ok(uri) = request.uri().to_string().parse::<Uri>() {
            *request.uri_mut() = uri;
        }
        *request.extensions_mut() = needed_extensions(request.extensions_mut());
    }
    next.run(request).await
}

/// The extensions a socket needs, taken out of `extensions`.
fn needed_extensions(extensions: &mut Extensions) -> Extensions {
    let mut needed = Extensions::new();
    if let Some(upgrade) = extensions.remove::<OnUpgrade>() {
        needed.insert(upgrade);
    }
    if let Some(peer) = extensions.remove::<ConnectInfo<SocketAddr>>() {
        needed.insert(peer);
    }
    needed
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    #[test]
    fn copied_header_values_no_longer_share_the_buffer() {
        let buffer = Bytes::from(vec![b'x'; 16 * 1024]);
        let shared = HeaderValue::from_maybe_shared(buffer.slice(0..8)).unwrap();
        let copied = HeaderValue::from_bytes(shared.as_bytes()).unwrap();
        assert_eq!(shared, copied);
        // The copy points into its own allocation, not into `buffer`.
        let range = buffer.as_ptr_range();
        assert!(!range.contains(&copied.as_bytes().as_ptr()));
    }

    #[test]
    fn only_the_upgrade_and_the_peer_address_are_kept() {
        let mut extensions = Extensions::new();
        let peer = SocketAddr::from(([127, 0, 0, 1], 4242));
        extensions.insert(ConnectInfo(peer));
        extensions.insert(axum::extract::OriginalUri(Uri::from_static("/socket.io/")));
        extensions.insert(7_u32);

        let needed = needed_extensions(&mut extensions);
        assert_eq!(needed.len(), 1);
        assert_eq!(needed.get::<ConnectInfo<SocketAddr>>().map(|info| info.0), Some(peer));
        assert!(needed.get::<axum::extract::OriginalUri>().is_none());
    }
}
