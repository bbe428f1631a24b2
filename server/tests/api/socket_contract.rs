//! The contract through the official JavaScript `socket.io-client` (the
//! existing mobile app's client), run from Node against the real server.

use crate::helpers::{INGEST_KEY, spawn_app};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test]
async fn the_official_socketio_client_is_refused_pushed_acked_synced_and_replayed() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../end2end/contract/socket-contract.mjs");

    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("node")
            .arg(&script)
            .arg(app.url(""))
            .arg(&seller.token)
            .arg(seller.id.to_string())
            .arg(INGEST_KEY)
            .output(),
    )
    .await
    .expect("the contract script hung")
    .expect("node must be installed (scripts/setup.sh installs it, and socket.io-client with npm ci)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "contract script failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("\"ok\":true"), "{stdout}");

    // The ack callbacks were recorded: the notification is received.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats: Value = app.get_as(&seller, "/api/notifications/stats").await.json().await.unwrap();
        if stats["received"] == 1 && stats["sent"] == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ack callback not recorded: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and timed, for operators.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("# TYPE liveshop_ack_latency_seconds histogram"), "{metrics}");
    let timed: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("liveshop_ack_latency_seconds_count "))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no ack latency count: {metrics}"));
    assert!(timed >= 1, "the acknowledged pushes were not timed: {metrics}");
}
