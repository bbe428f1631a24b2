//! The JSON API under `/api`, plus `/metrics`.
//!
//! Every answer is JSON, errors included: unknown `/api` paths and wrong
//! methods get the contract's error body, never the HTML app or an empty body.
//! Bodies are limited to 64 KiB (1 MiB for a notification batch), and a body
//! above the limit is read to its end before the `413`, so the client can
//! read the answer ([`body_limit`]).

mod auth;
mod body_limit;
pub(crate) mod extract;
mod health;
pub mod notifications;
mod orders;
mod rate_limit;
pub(crate) mod security;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use body_limit::refuse_declared_above;

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

    // Its own limit: merged after the others' `route_layer`.
    let batch = Router::new()
        .route(
            "/notifications/batch",
            post(notifications::ingest_batch).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route_layer(from_fn(refuse_declared_above::<BATCH_BODY_LIMIT>));

    let api = Router::new()
        .merge(public)
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-everywhere", post(auth::logout_everywhere))
        .route("/auth/password", post(auth::change_password))
        .route("/auth/me", get(auth::me))
        .route("/shops/{seller_id}", get(orders::shop))
        .route("/orders", get(orders::list))
        .route("/notifications", post(notifications::ingest).get(notifications::list))
        .route("/notifications/test", post(notifications::test))
        .route("/notifications/delta", get(notifications::delta))
        .route("/notifications/ack", post(notifications::ack))
        .route("/notifications/read-all", post(notifications::read_all))
        .route("/notifications/stats", get(notifications::stats))
        .route("/notifications/{seq}/read", post(notifications::read))
        .route("/health", get(health::health))
        .route_layer(from_fn(refuse_declared_above::<BODY_LIMIT>))
        .merge(batch)
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));

    Router::new().nest("/api", api).route("/metrics", get(health::metrics))
}

/// The response for a handler that panicked: a JSON 500, the panic logged.
pub(crate) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_a_json_500_without_its_detail() {
        let response = panic_response(Box::new("index out of bounds"));
        assert_eq!(response.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: app::types::ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.error, "internal");
        assert!(!body.message.contains("index"));
    }
}
