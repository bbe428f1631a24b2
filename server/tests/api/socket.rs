use crate::helpers::spawn_app;
use futures_util::FutureExt;
use rust_socketio::asynchronous::ClientBuilder;
use rust_socketio::{Event, Payload};
use std::time::Duration;
use tokio::sync::mpsc;

#[tokio::test]
async fn socketio_client_completes_the_handshake() {
    let app = spawn_app().await;
    let (connected_tx, mut connected_rx) = mpsc::unbounded_channel();

    let client = ClientBuilder::new(app.url("/"))
        .reconnect(false)
        .on(Event::Connect, move |_: Payload, _| {
            let tx = connected_tx.clone();
            async move {
                let _ = tx.send(());
            }
            .boxed()
        })
        .connect()
        .await
        .expect("the transport must open");

    tokio::time::timeout(Duration::from_secs(5), connected_rx.recv())
        .await
        .expect("no namespace connect within 5 s")
        .expect("connect callback dropped");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("liveshop_socketio_connected_sockets 1"), "{metrics}");
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn engineio_open_packet_carries_the_configured_heartbeat() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.ping_interval = Duration::from_millis(1234);
        config.ping_timeout = Duration::from_millis(567);
    })
    .await;

    // The polling transport's first answer is the Engine.IO open packet.
    let response = app.get("/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let json = text.strip_prefix('0').expect("an open packet starts with 0");
    let open: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(open["pingInterval"], 1234);
    assert_eq!(open["pingTimeout"], 567);
    assert!(open["sid"].is_string());
}
