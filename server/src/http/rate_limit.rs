//! The HTTP edge of the per-IP [`crate::rate_limiter::RateLimiter`]: 429
//! `rate_limited` with `Retry-After`.

use crate::client_ip::client_ip;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Instant;

/// Middleware: 429 with `Retry-After` once the client's IP (through
/// `TRUSTED_PROXIES`) is over its limit.
pub(crate) async fn limit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(peer.ip(), request.headers(), &state.trusted_proxies);
    match state.rate_limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            tracing::info!(%ip, path = %request.uri().path(), "rate limited");
            ApiError::RateLimited { retry_after }.into_response()
        }
    }
}
