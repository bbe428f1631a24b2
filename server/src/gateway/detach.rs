//! Keeps each socket from pinning its connection's read buffer.
//!
//! Engine.IO keeps the request parts of every socket's handshake for the
//! socket's whole life (`Socket::req_parts`). hyper parses header values and
//! the URI as slices of the connection's read buffer (8 to 16 KiB), so keeping
//! any of them keeps the whole buffer: measured with heaptrack, that was
//! 16 KiB of a 37 KiB idle socket. Copying the few bytes they need into
//! allocations of their own lets the buffer go.

use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;

/// Middleware for the Socket.IO path: owned copies of headers and URIs.
pub async fn detach_request_parts(mut request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/socket.io") {
        let headers: HeaderMap = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.clone(), HeaderValue::from_bytes(value.as_bytes()).unwrap_or(value.clone()))
            })
            .collect();
        *request.headers_mut() = headers;
        if let Ok(uri) = request.uri().to_string().parse::<Uri>() {
            *request.uri_mut() = uri;
        }
        // axum's router put a clone of the URI there before this ran.
        if let Some(OriginalUri(original)) = request.extensions_mut().get_mut::<OriginalUri>()
            && let Ok(uri) = original.to_string().parse::<Uri>()
        {
            *original = uri;
        }
    }
    next.run(request).await
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
}
