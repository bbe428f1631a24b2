//! CONTRACT: `GET /api/health` and `GET /metrics`.

use crate::state::AppState;
use app::types::{HealthBody, HealthStatus};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::time::Duration;

/// A database that does not answer within this is reported down: a health
/// check must answer quickly even when the database hangs.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// CONTRACT: `200` with `"status":"ok"`; `503` with `"status":"down"` and the
/// same fields when the database is unreachable.
pub(super) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let database_up =
        matches!(tokio::time::timeout(DATABASE_PROBE_TIMEOUT, state.database.ping()).await, Ok(Ok(())));
    let body = HealthBody {
        status: if database_up { HealthStatus::Ok } else { HealthStatus::Down },
        database: if database_up { "ok" } else { "down" }.to_owned(),
        redis: "disabled".to_owned(),
        queue: state.database.kind().to_string(),
        instance: state.process.instance.clone(),
        uptime_s: state.process.started.elapsed().as_secs(),
    };
    if !database_up {
        tracing::warn!("health check: database unreachable");
    }
    let status = if database_up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let sockets = state.io.sockets().len();
    let uptime = state.process.started.elapsed().as_secs();
    let body = format!(
        "# HELP liveshop_uptime_seconds Seconds since this process started.\n\
         # TYPE liveshop_uptime_seconds gauge\n\
         liveshop_uptime_seconds {uptime}\n\
         # HELP liveshop_socketio_connected_sockets Socket.IO sockets connected to this instance.\n\
         # TYPE liveshop_socketio_connected_sockets gauge\n\
         liveshop_socketio_connected_sockets {sockets}\n"
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
