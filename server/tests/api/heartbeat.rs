//! CONTRACT settings `PING_INTERVAL_MS` / `PING_TIMEOUT_MS`: a client that
//! stops answering pings is dropped within their sum.

use crate::helpers::{TestApp, TestSeller, spawn_app_with};
use crate::socket_client::connect_as;
use serde_json::Value;
use server::config::{Config, RetryPolicy};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(400);
const TIMEOUT: Duration = Duration::from_millis(300);

/// Pings every [`INTERVAL`], a client silent [`TIMEOUT`] after one is dropped.
fn short_heartbeat(config: &mut Config) {
    config.socket.ping_interval = INTERVAL;
    config.socket.ping_timeout = TIMEOUT;
}

async fn connected_sockets(app: &TestApp) -> usize {
    app.metric("liveshop_socketio_connected_sockets").await as usize
}

/// A hand-driven Engine.IO polling client: opens, joins the namespace as
/// `seller`, then goes silent (no more polls, so no pong and no ack ever
/// reaches the server). Returns when it has joined.
async fn join_then_go_silent(app: &TestApp, seller: &TestSeller) {
    let open = app.get("/socket.io/?EIO=4&transport=polling").await.text().await.unwrap();
    let handshake: Value = serde_json::from_str(open.strip_prefix('0').expect("open packet")).unwrap();
    let sid = handshake["sid"].as_str().unwrap().to_owned();
    let session = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let join = app
        .http
        .post(app.url(&session))
        .body(format!("40{{\"token\":\"{}\"}}", seller.token))
        .send()
        .await
        .unwrap();
    assert!(join.status().is_success());
    // A polling answer may carry several packets, separated by 0x1e. The
    // acceptance comes once the handshake's session is read from the store,
    // possibly after a ping: answer pings until it is there.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = app.get(&session).await.text().await.unwrap();
        let packets: Vec<&str> = answer.split('\u{1e}').collect();
        if packets.iter().any(|packet| packet.starts_with("40")) {
            return;
        }
        assert!(Instant::now() < deadline, "namespace not joined: {answer:?}");
        if packets.contains(&"2") {
            let pong = app.http.post(app.url(&session)).body("3").send().await.unwrap();
            assert!(pong.status().is_success());
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped_within_interval_plus_timeout() {
    let app = spawn_app_with(short_heartbeat).await;
    let seller = app.register("ana").await;

    join_then_go_silent(&app, &seller).await;
    let silent_since = Instant::now();
    assert_eq!(connected_sockets(&app).await, 1);

    // The slack covers metrics polling and a loaded CI machine, not the server.
    let deadline = INTERVAL + TIMEOUT + Duration::from_millis(1_500);
    loop {
        if connected_sockets(&app).await == 0 {
            break;
        }
        assert!(silent_since.elapsed() < deadline, "still connected after {:?}", silent_since.elapsed());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected_through_many_of_them() {
    let app = spawn_app_with(short_heartbeat).await;
    let seller = app.register("ana").await;
    // rust_socketio upgrades to WebSocket and answers every ping.
    let mut socket = connect_as(&app, &seller).await;

    // Five pings: a pong the server failed to record would drop the socket
    // after the first (INTERVAL + TIMEOUT).
    tokio::time::sleep(INTERVAL * 5).await;
    assert_eq!(connected_sockets(&app).await, 1, "an answering client was dropped");
    app.publish(&seller, "still connected").await;
    assert_eq!(socket.next_notification().await["title"], "still connected");
}

#[tokio::test]
async fn what_a_dropped_client_left_unacknowledged_goes_to_the_retry_queue_at_once() {
    // An ack timeout far beyond the test: only the drop can end the wait.
    let app = spawn_app_with(|c| {
        short_heartbeat(c);
        c.delivery.ack_timeout = Duration::from_secs(60);
        c.delivery.retry = RetryPolicy { attempts: 3, base: Duration::from_secs(60) };
    })
    .await;
    let seller = app.register("ana").await;
    join_then_go_silent(&app, &seller).await;
    app.publish(&seller, "pushed to a dying client").await;

    let started = Instant::now();
    while app.metric("liveshop_retry_jobs_queued_total").await == 0.0 {
        assert!(
            started.elapsed() < INTERVAL + TIMEOUT + Duration::from_secs(3),
            "no retry job after the client was dropped"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(connected_sockets(&app).await, 0);
    assert_eq!(app.metric("liveshop_notifications_pending").await, 1.0);
}
