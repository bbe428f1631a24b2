//! The JSON API under `/api`, plus `/metrics`.
//!
//! Unknown `/api` paths and wrong methods answer with the contract's JSON
//! error body, never with the HTML app or an empty body.

mod health;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::routing::get;

/// Every API route, to be merged at the root of the app.
pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/health", get(health::health))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api", api)
        .route("/metrics", get(health::metrics))
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
