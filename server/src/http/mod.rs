//! The JSON API under `/api`, plus `/metrics`.
//!
//! Every answer is JSON, errors included: unknown `/api` paths and wrong
//! methods get the contract's error body, never the HTML app or an empty body.
//! Bodies are limited to 64 KiB (1 MiB for a notification batch).

mod auth;
pub(crate) mod extract;
mod health;
pub mod notifications;
mod orders;
pub mod rate_limit;
pub(crate) mod security;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

/// CONTRACT: bodies above 64 KiB get 413…
pub const BODY_LIMIT: usize = 64 * 1024;
/// …and above 1 MiB for the batch endpoint.
pub const BATCH_BODY_LIMIT: usize = 1024 * 1024;

/// Every API route, to be merged at the root of the app.
pub fn router(state: &AppState) -> Router<AppState> {
    // Anyone can call these: rate limited per client IP.
    let public = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/shops/{seller_id}/orders", post(orders::place))
        .route_layer(from_fn_with_state(state.clone(), rate_limit::limit));

    let api = Router::new()
        .merge(public)
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/orders", get(orders::list))
        .route("/notifications", post(notifications::ingest).get(notifications::list))
        .route(
            "/notifications/batch",
            post(notifications::ingest_batch).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route("/notifications/test", post(notifications::test))
        .route("/notifications/delta", get(notifications::delta))
        .route("/notifications/ack", post(notifications::ack))
        .route("/notifications/read-all", post(notifications::read_all))
        .route("/notifications/stats", get(notifications::stats))
        .route("/notifications/{seq}/read", post(notifications::read))
        .route("/health", get(health::health))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));

    Router::new().nest("/api", api).route("/metrics", get(health::metrics))
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
