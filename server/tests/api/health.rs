use crate::helpers::{on_both_backends, spawn_app};
use app::types::{HealthBody, HealthStatus};

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

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app().await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("# TYPE liveshop_socketio_connected_sockets gauge"), "{text}");
}
