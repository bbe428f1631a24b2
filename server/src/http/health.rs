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
/// same fields when the database is unreachable. Beyond the contract: `503`
/// with `"status":"draining"` while this instance shuts down, whatever its
/// dependencies say, so a load balancer stops sending it anything new.
pub(super) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let (database_up, redis_up) = tokio::join!(
        async {
            matches!(tokio::time::timeout(DATABASE_PROBE_TIMEOUT, state.database.ping()).await, Ok(Ok(())))
        },
        state.bus.probe(),
    );
    let draining = state.drain.is_draining();
    let status = match (database_up, redis_up) {
        _ if draining => HealthStatus::Draining,
        (false, _) => HealthStatus::Down,
        (true, Some(false)) => HealthStatus::Degraded,
        (true, _) => HealthStatus::Ok,
    };
    let body = HealthBody {
        status,
        database: if database_up { "ok" } else { "down" }.to_owned(),
        redis: match redis_up {
            None => "disabled",
            Some(true) => "ok",
            Some(false) => "down",
        }
        .to_owned(),
        queue: state.queue.kind().to_owned(),
        instance: state.process.instance.clone(),
        uptime_s: state.process.started.elapsed().as_secs(),
    };
    if !database_up {
        tracing::warn!("health check: database unreachable");
    }
    if redis_up == Some(false) {
        tracing::warn!(
            "health check: redis unreachable, degraded (pushes reach this instance's sockets only)"
        );
    }
    let status = if database_up && !draining { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;

    let counters = state.delivery.counters();
    let mut body = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = write!(body, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    };
    metric("liveshop_uptime_seconds", "gauge", "Seconds since this process started.", {
        state.process.started.elapsed().as_secs().to_string()
    });
    metric(
        "liveshop_socketio_connected_sockets",
        "gauge",
        "Socket.IO sockets connected to this instance.",
        state.io.sockets().len().to_string(),
    );
    metric(
        "liveshop_socket_events_refused_total",
        "counter",
        "Socket events refused because their socket was over SOCKET_EVENTS_PER_SEC.",
        state.refused_socket_events.total().to_string(),
    );
    metric(
        "liveshop_draining",
        "gauge",
        "1 while this instance drains (shutting down: refusing new sockets, closing its own), else 0.",
        u8::from(state.drain.is_draining()).to_string(),
    );
    if let Some(up) = state.bus.probe().await {
        metric(
            "liveshop_redis_up",
            "gauge",
            "1 when Redis (the bus between instances) answers, 0 when degraded.",
            u8::from(up).to_string(),
        );
    }
    for (name, help, counter) in [
        ("liveshop_notifications_pushed_total", "Notification emits by this instance.", &counters.pushed),
        ("liveshop_notifications_acked_total", "First acks recorded by this instance.", &counters.acked),
        ("liveshop_retry_jobs_queued_total", "Retry jobs stored by this instance.", &counters.retries_queued),
        ("liveshop_retry_pushes_total", "Retry pushes made by this instance.", &counters.retried),
        (
            "liveshop_notifications_failed_total",
            "Notifications this instance marked failed.",
            &counters.failed,
        ),
        (
            "liveshop_missed_pushes_resent_total",
            "Notifications sent again from the store to a live socket that missed their push.",
            &counters.missed_resent,
        ),
    ] {
        metric(name, "counter", help, counter.load(Relaxed).to_string());
    }
    // Whole-database gauges; left out (not zeroed) when the database is down.
    if let Ok(Ok(totals)) =
        tokio::time::timeout(DATABASE_PROBE_TIMEOUT, state.database.delivery_totals()).await
    {
        for (name, help, value) in [
            (
                "liveshop_notifications_pending",
                "Notifications neither acknowledged nor failed.",
                totals.pending,
            ),
            (
                "liveshop_notifications_failed",
                "Notifications failed and never acknowledged since.",
                totals.failed,
            ),
        ] {
            metric(name, "gauge", help, value.to_string());
        }
    }
    let _ = writeln!(
        body,
        "# HELP liveshop_sockets_refused_total Socket handshakes refused, by reason (unauthorized, \
         rate_limited: SOCKET_CONNECTS_PER_MIN, too_many_sockets: SOCKETS_PER_SELLER, draining: \
         shutting down).\n\
         # TYPE liveshop_sockets_refused_total counter"
    );
    for (reason, count) in state.refused_sockets.by_reason() {
        let _ = writeln!(body, "liveshop_sockets_refused_total{{reason=\"{reason}\"}} {count}");
    }
    body.push_str(&counters.ack_latency.render(
        "liveshop_ack_latency_seconds",
        "Push to first ack, per acknowledged push of this instance.",
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
