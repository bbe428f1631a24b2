//! A real Socket.IO client for the tests (`rust_socketio`), and what it saw.
//! It cannot answer a server event's ack, so it acknowledges with
//! `notifications:ack` (CONTRACT) when asked to.

use crate::helpers::{TestApp, TestSeller};
use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::Instant;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// Whether the client acknowledges the notifications it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acks {
    /// Receives and stays silent, like a client whose acks are lost.
    Never,
    /// Sends `notifications:ack {"seqs": [seq]}` for each one received.
    ByEvent,
}

/// A connected client and what it has seen.
pub(crate) struct TestSocket {
    pub(crate) client: Client,
    /// Each notification with the moment it arrived.
    pub(crate) notifications: UnboundedReceiver<(Instant, Value)>,
}

/// Connects to the server at `base_url` with `auth` and waits for the
/// namespace connection (or panics with the server's refusal).
pub(crate) async fn connect_to(base_url: &str, auth: Value, acks: Acks) -> TestSocket {
    let (connected_tx, mut connected) = unbounded_channel();
    let (errors_tx, mut errors) = unbounded_channel();
    let (notification_tx, notifications) = unbounded_channel();
    let client = ClientBuilder::new(base_url)
        .auth(auth)
        .reconnect(false)
        .on(Event::Connect, move |_: Payload, _| {
            let tx = connected_tx.clone();
            async move {
                let _ = tx.send(());
            }
            .boxed()
        })
        .on(Event::Error, move |payload: Payload, _| {
            let tx = errors_tx.clone();
            async move {
                let _ = tx.send(format!("{payload:?}"));
            }
            .boxed()
        })
        .on("notification", move |payload: Payload, client: Client| {
            let tx = notification_tx.clone();
            async move {
                let Payload::Text(values) = payload else { return };
                for value in values {
                    if acks == Acks::ByEvent {
                        let _ = client.emit("notifications:ack", json!({"seqs": [value["seq"]]})).await;
                    }
                    let _ = tx.send((Instant::now(), value));
                }
            }
            .boxed()
        })
        .connect()
        .await
        .expect("the transport must open");
    tokio::select! {
        Some(()) = connected.recv() => {}
        Some(error) = errors.recv() => panic!("connection refused: {error}"),
        () = tokio::time::sleep(WAIT) => panic!("no namespace connect within {WAIT:?}"),
    }
    TestSocket { client, notifications }
}

pub(crate) async fn connect(app: &TestApp, auth: Value) -> TestSocket {
    connect_to(&app.url("/"), auth, Acks::Never).await
}

pub(crate) async fn connect_as(app: &TestApp, seller: &TestSeller) -> TestSocket {
    connect(app, json!({"token": seller.token})).await
}

impl TestSocket {
    pub(crate) async fn next_notification(&mut self) -> Value {
        self.next_within(WAIT).await.expect("no notification within the wait").1
    }

    /// The next notification and its arrival time, or `None` after `wait`.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<(Instant, Value)> {
        tokio::time::timeout(wait, self.notifications.recv()).await.ok().map(|n| n.expect("client closed"))
    }

    pub(crate) async fn emit_with_ack(&self, event: &str, body: Value) -> Value {
        let (tx, mut rx) = unbounded_channel();
        self.client
            .emit_with_ack(event, body, WAIT, move |payload: Payload, _| {
                let tx = tx.clone();
                async move {
                    // rust_socketio hands an ack's arguments over as one array.
                    if let Payload::Text(mut values) = payload {
                        let answer = match values.pop() {
                            Some(Value::Array(mut args)) if args.len() == 1 => {
                                args.pop().unwrap_or(Value::Null)
                            }
                            other => other.unwrap_or(Value::Null),
                        };
                        let _ = tx.send(answer);
                    }
                }
                .boxed()
            })
            .await
            .expect("emit failed");
        tokio::time::timeout(WAIT, rx.recv()).await.expect("no ack within 5 s").expect("ack dropped")
    }
}

/// Polls until `check` holds on the seller's stats (acks are recorded
/// asynchronously), for at most `wait`.
pub(crate) async fn wait_for_stats_within(
    app: &TestApp,
    seller: &TestSeller,
    wait: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + wait;
    loop {
        let stats: Value = app.get_as(seller, "/api/notifications/stats").await.json().await.unwrap();
        if check(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "stats never matched: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn wait_for_stats(
    app: &TestApp,
    seller: &TestSeller,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_stats_within(app, seller, WAIT, check).await
}
