//! The contract through the official JavaScript `socket.io-client` (the
//! existing mobile app's client), run from Node against the real server.

use crate::helpers::{INGEST_KEY, run_contract_script, spawn_app};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn the_official_socketio_client_is_refused_pushed_acked_synced_and_replayed() {
    let app = spawn_app().await;
    let seller = app.register("ana").await;
    let (base, seller_id) = (app.url(""), seller.id.to_string());
    let stdout = run_contract_script(
        "socket-contract.mjs",
        &[&base, &seller.token, &seller_id, INGEST_KEY],
        Duration::from_secs(30),
    )
    .await;
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
