use crate::helpers::{metric_in, on_both_backends, spawn_app_with};
use crate::socket_client::{Acks, connect_as, connect_to, wait_for_stats_within};
use app::types::{HealthBody, HealthStatus};
use serde_json::{Value, json};
use server::config::RetryPolicy;
use std::time::Duration;

on_both_backends! {
    async fn health_reports_ok_with_every_contract_field(app) {
        let response = app.get("/api/health").await;
        assert_eq!(response.status(), 200);
        let raw: serde_json::Value = response.json().await.unwrap();
        for field in ["status", "database", "redis", "queue", "instance", "uptime_s"] {
            assert!(raw.get(field).is_some(), "missing {field} in {raw}");
        }
        let body: HealthBody = serde_json::from_value(raw).unwrap();
        assert_eq!(body.status, HealthStatus::Ok);
        assert_eq!(body.database, "ok");
        assert_eq!(body.instance, "test");
    }

    async fn health_is_503_down_when_the_database_is_unreachable(app) {
        app.database.close().await;
        let response = app.get("/api/health").await;
        assert_eq!(response.status(), 503);
        let body: HealthBody = response.json().await.unwrap();
        assert_eq!(body.status, HealthStatus::Down);
        assert_eq!(body.database, "down");
    }
}

#[tokio::test]
async fn server_creates_the_sqlite_file_and_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("nested/folder/liveshop.db");
    let path = db_path.clone();
    let app = crate::helpers::spawn_app_with(move |config| {
        config.database_url = server::config::DatabaseUrl::sqlite_file(&path);
    })
    .await;

    assert_eq!(app.get("/api/health").await.status(), 200);
    assert!(db_path.exists(), "{} was not created", db_path.display());
}

/// Every series the README lists, each moved by what the test does: a push
/// acknowledged by event, one acknowledged over HTTP before any push, and one
/// nobody acknowledges, retried, then failed.
#[tokio::test]
async fn metrics_list_every_series_and_each_moves() {
    let app = spawn_app_with(|config| {
        // Long enough for an event ack on a loaded machine; short enough for
        // the silent seller's retry and failure to come within the test.
        config.delivery.ack_timeout = Duration::from_millis(1500);
        config.delivery.retry = RetryPolicy { attempts: 2, base: Duration::from_millis(100) };
    })
    .await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let before = response.text().await.unwrap();
    for (series, kind) in [
        ("liveshop_uptime_seconds", "gauge"),
        ("liveshop_socketio_connected_sockets", "gauge"),
        ("liveshop_notifications_pushed_total", "counter"),
        ("liveshop_notifications_acked_total", "counter"),
        ("liveshop_retry_jobs_queued_total", "counter"),
        ("liveshop_retry_pushes_total", "counter"),
        ("liveshop_notifications_failed_total", "counter"),
        ("liveshop_notifications_pending", "gauge"),
        ("liveshop_notifications_failed", "gauge"),
        ("liveshop_ack_latency_seconds", "histogram"),
        ("liveshop_socket_events_refused_total", "counter"),
    ] {
        assert!(before.contains(&format!("# TYPE {series} {kind}\n")), "{series} {kind}:\n{before}");
    }
    assert!(!before.contains("liveshop_redis_up"), "no Redis configured, no Redis gauge");

    let acking = app.register("acking").await;
    let silent = app.register("silent").await;
    let offline = app.register("offline").await;
    let mut acking_socket = connect_to(&app.url("/"), json!({"token": acking.token}), Acks::ByEvent).await;
    let mut silent_socket = connect_as(&app, &silent).await;
    assert_eq!(app.metric("liveshop_socketio_connected_sockets").await, 2.0);

    app.publish(&acking, "acknowledged by event").await;
    acking_socket.next_notification().await;
    let published = app.publish(&offline, "acknowledged over HTTP").await;
    let answer =
        app.post_as(&offline, "/api/notifications/ack", Some(&json!({"seqs": [published["seq"]]}))).await;
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"acknowledged": 1}));
    wait_for_stats_within(&app, &acking, Duration::from_secs(5), |s| s["received"] == 1).await;
    app.publish(&silent, "never acknowledged").await;
    silent_socket.next_notification().await;
    assert_eq!(app.metric("liveshop_notifications_pending").await, 1.0, "the silent seller's, for now");

    wait_for_stats_within(&app, &silent, Duration::from_secs(20), |s| s["failed"] == 1).await;
    let after = app.get("/metrics").await.text().await.unwrap();
    let value = |name: &str| metric_in(&after, name).unwrap_or_else(|| panic!("{name}:\n{after}"));
    assert_eq!(value("liveshop_notifications_pushed_total"), 3.0, "two first pushes and one retry:\n{after}");
    assert_eq!(value("liveshop_notifications_acked_total"), 2.0, "the event and the HTTP ack:\n{after}");
    assert_eq!(value("liveshop_ack_latency_seconds_count"), 1.0, "only the pushed one is timed:\n{after}");
    assert!(value("liveshop_ack_latency_seconds_sum") > 0.0, "{after}");
    // Attempt 2 of the silent seller's and its failure check; the one
    // acknowledged over HTTP was no longer pending when its window ended.
    assert_eq!(value("liveshop_retry_jobs_queued_total"), 2.0, "{after}");
    assert_eq!(value("liveshop_retry_pushes_total"), 1.0, "{after}");
    assert_eq!(value("liveshop_notifications_failed_total"), 1.0, "{after}");
    assert_eq!(value("liveshop_notifications_failed"), 1.0, "{after}");
    assert_eq!(value("liveshop_notifications_pending"), 0.0, "{after}");
    assert!(value("liveshop_uptime_seconds") >= 0.0);
}
