//! A reconnecting seller's backlog, at scale, through the official
//! `socket.io-client`: 1 000 and 10 000 notifications stored while the seller
//! was offline arrive after `auth.last_seq`, in seq order, none missing, none
//! twice, and every ack callback is recorded. (The replay streams through a
//! window of emits awaiting acks; a full buffer must never end it early.)

use crate::helpers::{TestApp, TestSeller, run_contract_script, spawn_app_with};
use crate::socket_client::wait_for_stats_within;
use serde_json::{Value, json};
use std::time::Duration;

/// Stores `count` notifications for `seller`, in batches of 500.
async fn store_backlog(app: &TestApp, seller: &TestSeller, count: usize) {
    for start in (0..count).step_by(500) {
        let items: Vec<Value> = (start..(start + 500).min(count))
            .map(|i| json!({"seller_id": seller.id, "type": "order.created", "title": format!("#{i}"), "body": "b"}))
            .collect();
        let response = app.ingest_batch(&json!({ "notifications": items })).await;
        assert_eq!(response.status(), 201);
    }
}

/// Runs the official client with `last_seq` and returns the seqs it saw.
async fn replay(app: &TestApp, seller: &TestSeller, last_seq: i64, expected: usize) -> (Vec<i64>, u64) {
    let (base, last_seq, expected) = (app.url(""), last_seq.to_string(), expected.to_string());
    let stdout = run_contract_script(
        "backlog.mjs",
        &[&base, &seller.token, &last_seq, &expected],
        Duration::from_secs(90),
    )
    .await;
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let seqs = report["seqs"].as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
    (seqs, report["elapsed_ms"].as_u64().unwrap())
}

async fn a_backlog_arrives_whole_in_order_and_acknowledged(count: usize) {
    // Retries far off: whatever arrives comes from the replay, and a retry
    // racing it cannot pass for a duplicate.
    let app = spawn_app_with(|config| config.delivery.retry.base = Duration::from_secs(120)).await;
    let seller = app.register("ana").await;
    // The phone had seen the first 10 before it lost signal.
    let seen = 10;
    store_backlog(&app, &seller, seen + count).await;
    let (seqs, elapsed_ms) = replay(&app, &seller, seen as i64, count).await;

    let expected: Vec<i64> = (seen as i64 + 1..=(seen + count) as i64).collect();
    assert_eq!(seqs.len(), count, "{} of {count} arrived in {elapsed_ms} ms", seqs.len());
    assert!(
        seqs == expected,
        "out of order, missing or twice (first seqs {:?})",
        &seqs[..seqs.len().min(20)]
    );
    println!("backlog of {count} replayed in {elapsed_ms} ms (debug build)");
    wait_for_stats_within(&app, &seller, Duration::from_secs(15), |s| s["received"] == count as i64).await;
}

#[tokio::test]
async fn a_backlog_of_1_000_arrives_whole_in_order_and_acknowledged() {
    a_backlog_arrives_whole_in_order_and_acknowledged(1_000).await;
}

#[tokio::test]
async fn a_backlog_of_10_000_arrives_whole_in_order_and_acknowledged() {
    a_backlog_arrives_whole_in_order_and_acknowledged(10_000).await;
}
