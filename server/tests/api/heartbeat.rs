//! CONTRACT settings `PING_INTERVAL_MS` / `PING_TIMEOUT_MS`: a client that
//! stops answering pings is dropped within their sum.

use crate::helpers::spawn_app_with;
use serde_json::Value;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(400);
const TIMEOUT: Duration = Duration::from_millis(300);

async fn connected_sockets(app: &crate::helpers::TestApp) -> usize {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("liveshop_socketio_connected_sockets "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the connected sockets gauge")
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped_within_interval_plus_timeout() {
    let app = spawn_app_with(|c| {
        c.ping_interval = INTERVAL;
        c.ping_timeout = TIMEOUT;
    })
    .await;
    let seller = app.register("ana").await;

    // A hand-driven Engine.IO polling client: open, join the namespace, then
    // go silent (no more polls, so no pong ever reaches the server).
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
    // A polling answer may carry several packets, separated by 0x1e (a ping
    // may come with the namespace acceptance).
    let accepted = app.get(&session).await.text().await.unwrap();
    assert!(
        accepted.split('\u{1e}').any(|packet| packet.starts_with("40")),
        "namespace not joined: {accepted:?}"
    );
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
