//! One seller's socket that stays connected through anything, and what it
//! received.
//!
//! # How a socket survives
//! rust_socketio 0.6 raises no event when a transport ends without a
//! Socket.IO `disconnect` packet (an instance killed, a proxy closing the
//! WebSocket, a server closing its Engine.IO sessions on SIGTERM); only its
//! own reconnect loop sees that. So each client runs with that loop on, and
//! its `on_reconnect` hook supplies what a fresh handshake needs: the
//! backoff (100 ms doubling to 2 s, jittered), the seller's current token
//! and `last_seq` = the highest seq this socket holds contiguously
//! ([`SeqTracker`]), so the server replays exactly what was missed.
//!
//! A handshake the server *refuses* (`connect_error`) leaves the transport
//! open and the library waiting forever, so the supervisor task
//! ([`supervise`]) takes over: it abandons that client, logs the seller in
//! again on `unauthorized`, backs off longer on `rate_limited` /
//! `too_many_sockets`, and builds a new client. An abandoned client's
//! reconnect hook parks forever, so it can never come back as a second,
//! unacknowledging socket.
//!
//! # Receiving
//! The `notification` callback runs on the library's task, in arrival
//! order: it updates the tracker (so a reconnect right after sees every seq
//! that arrived before it), records this run's notifications in the ledger,
//! and queues the seq for `notifications:ack`. rust_socketio cannot answer a
//! server event's ack callback; the CONTRACT's `notifications:ack` event has
//! the same effect, and the supervisor sends the queue every 50 ms.
//!
//! # Lifecycle
//! Spawned by `main` before publishing; ends when the `stop` watch turns
//! true (after the acknowledgement check), flushing its last acks first.

use crate::api::Api;
use crate::backoff::Backoff;
use crate::console;
use crate::run::{Run, now_ms};
use crate::sellers::Seller;
use crate::tracker::SeqTracker;
use futures_util::FutureExt as _;
use rust_socketio::asynchronous::{Client, ClientBuilder, ReconnectSettings};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// CONTRACT: server → client event, one notification per event.
const NOTIFICATION: &str = "notification";
/// CONTRACT: client → server `notifications:ack {"seqs": [...]}`.
const ACK: &str = "notifications:ack";
/// CONTRACT: `seqs` holds 1 to 500 integers.
const ACK_SEQS_MAX: usize = 500;
/// How often queued acks are sent: often enough that a replay (at most 64
/// unacknowledged emits in flight) streams, rarely enough to stay far below
/// the per-socket event budget (`SOCKET_EVENTS_PER_SEC`).
const ACK_FLUSH: Duration = Duration::from_millis(50);
/// Opening a transport (Engine.IO handshake and upgrade) must finish within this.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// One ack emit; a dead connection must not stall the supervisor.
const EMIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where one socket connects and for whom.
#[derive(Debug)]
pub(crate) struct SocketPlan {
    /// Global socket index: socket `k` of seller `s` is `s · K + k`.
    pub(crate) index: usize,
    pub(crate) url: String,
    pub(crate) seller: Arc<Seller>,
}

/// Starts a socket's supervisor.
pub(crate) fn spawn(
    plan: SocketPlan,
    api: Arc<Api>,
    run: Arc<Run>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(supervise(plan, api, run, stop))
}

/// What the library's callbacks share with the supervisor.
#[derive(Debug)]
struct Shared {
    index: usize,
    seller: Arc<Seller>,
    run: Arc<Run>,
    tracker: Mutex<SeqTracker>,
    /// Seqs received and not yet acknowledged.
    acks: Mutex<Vec<i64>>,
    /// Failed attempts since the last successful connect: the backoff step.
    attempts: AtomicU32,
}

impl Shared {
    fn acks(&self) -> MutexGuard<'_, Vec<i64>> {
        self.acks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn contiguous(&self) -> i64 {
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner).contiguous()
    }

    fn next_attempt(&self) -> u32 {
        self.attempts.fetch_add(1, Ordering::Relaxed)
    }

    /// CONTRACT: `auth: {"token": "<JWT>", "last_seq"?: n}`.
    fn handshake(&self) -> Value {
        json!({"token": self.seller.token().1, "last_seq": self.contiguous()})
    }

    fn on_notification(&self, payload: Payload) {
        let received_ms = now_ms();
        let Payload::Text(values) = payload else { return };
        for notification in values {
            let Some(seq) = notification.get("seq").and_then(Value::as_i64) else { continue };
            self.tracker.lock().unwrap_or_else(PoisonError::into_inner).observe(seq);
            // Everything is acknowledged, earlier runs' notifications too:
            // unacknowledged ones would only keep the server retrying.
            self.acks().push(seq);
            let data = notification.get("data");
            let load = data.and_then(|d| d.get("load")).and_then(Value::as_str);
            if load == Some(self.run.id.as_str()) {
                let sent_ms = data.and_then(|d| d.get("t")).and_then(Value::as_f64);
                self.run.ledger().receive(self.index, seq, sent_ms, received_ms);
            }
        }
    }
}

/// What the library's callbacks tell the supervisor.
#[derive(Debug)]
enum Lifecycle {
    /// The namespace connect succeeded (first time or after a reconnect).
    Connected,
    /// The connection is gone; the library is reconnecting.
    Dropped,
    /// The handshake was refused (`connect_error`), with the server's reason.
    Refused(String),
    /// A transport error; the library reconnects by itself.
    Failed,
}

/// Why a client was given up.
#[derive(Debug)]
enum Ended {
    Stopped,
    Refused(String),
}

/// What a refusal asks of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A bad or ended session: log in again.
    Unauthorized,
    /// Over a connection limit: wait longer.
    Limited,
    Other,
}

fn refusal(reason: &str) -> Refusal {
    if reason.contains("unauthorized") {
        Refusal::Unauthorized
    } else if reason.contains("rate_limited") || reason.contains("too_many_sockets") {
        Refusal::Limited
    } else {
        Refusal::Other
    }
}

/// Whether this socket counts as connected, for the run's counters.
#[derive(Debug, Default)]
struct Link {
    connected: bool,
    ever: bool,
}

impl Link {
    fn up(&mut self, run: &Run) {
        if !self.connected {
            self.connected = true;
            run.socket_connected(!self.ever);
            self.ever = true;
        }
    }

    fn lost(&mut self, run: &Run) {
        if self.connected {
            self.connected = false;
            run.socket_disconnected();
        }
    }
}

async fn supervise(plan: SocketPlan, api: Arc<Api>, run: Arc<Run>, mut stop: watch::Receiver<bool>) {
    let shared = Arc::new(Shared {
        index: plan.index,
        seller: Arc::clone(&plan.seller),
        run: Arc::clone(&run),
        tracker: Mutex::new(SeqTracker::starting_at(plan.seller.start_seq)),
        acks: Mutex::new(Vec::new()),
        attempts: AtomicU32::new(0),
    });
    let mut link = Link::default();
    while !*stop.borrow() {
        let generation = shared.seller.token().0;
        let (events_tx, mut events) = unbounded_channel();
        let abandoned = Arc::new(AtomicBool::new(false));
        let builder = client_builder(&plan.url, &shared, events_tx, &abandoned);
        let opened = tokio::select! {
            opened = tokio::time::timeout(OPEN_TIMEOUT, builder.connect()) => opened,
            _ = stop.changed() => break,
        };
        let Ok(Ok(client)) = opened else {
            // No transport (instance down, proxy answering 502): try again.
            if !pause(Backoff::QUICK.delay(shared.next_attempt()), &mut stop).await {
                break;
            }
            continue;
        };
        let ended = drive(&client, &mut events, &shared, &mut link, &mut stop).await;
        abandoned.store(true, Ordering::Relaxed);
        link.lost(&run);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(EMIT_TIMEOUT, client.disconnect()).await;
        });
        let Ended::Refused(reason) = ended else { break };
        let backoff = match refusal(&reason) {
            Refusal::Unauthorized => {
                if let Err(error) = shared.seller.refresh(&api, generation).await {
                    console::warn(format_args!("{}: login again failed: {error:#}", shared.seller.email));
                }
                Backoff::QUICK
            }
            Refusal::Limited => Backoff::LIMITED,
            Refusal::Other => Backoff::QUICK,
        };
        if !pause(backoff.delay(shared.next_attempt()), &mut stop).await {
            break;
        }
    }
    link.lost(&run);
}

/// Runs one client until it is refused or the run stops, sending acks.
async fn drive(
    client: &Client,
    events: &mut UnboundedReceiver<Lifecycle>,
    shared: &Shared,
    link: &mut Link,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let mut flush = tokio::time::interval(ACK_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Lifecycle::Connected) => {
                    shared.attempts.store(0, Ordering::Relaxed);
                    link.up(&shared.run);
                }
                Some(Lifecycle::Dropped) => link.lost(&shared.run),
                Some(Lifecycle::Refused(reason)) => return Ended::Refused(reason),
                Some(Lifecycle::Failed) => {}
                // The callbacks live as long as the client: cannot happen.
                None => return Ended::Refused("client callbacks dropped".to_owned()),
            },
            _ = flush.tick() => {
                if link.connected {
                    flush_acks(client, shared).await;
                }
            }
            _ = stop.changed() => {
                if link.connected {
                    flush_acks(client, shared).await;
                }
                return Ended::Stopped;
            }
        }
    }
}

/// Sends the queued acks; what cannot be sent stays queued for the next
/// connection (acks are per seller, any socket of theirs may send them).
async fn flush_acks(client: &Client, shared: &Shared) {
    let mut seqs = std::mem::take(&mut *shared.acks());
    if seqs.is_empty() {
        return;
    }
    seqs.sort_unstable();
    seqs.dedup();
    for (chunk_index, chunk) in seqs.chunks(ACK_SEQS_MAX).enumerate() {
        let sent = tokio::time::timeout(EMIT_TIMEOUT, client.emit(ACK, json!({ "seqs": chunk }))).await;
        if !matches!(sent, Ok(Ok(()))) {
            shared.acks().extend_from_slice(&seqs[chunk_index * ACK_SEQS_MAX..]);
            return;
        }
    }
}

/// Sleeps `delay` unless the run stops first; `false` when it stopped.
async fn pause(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

/// A client for one connection attempt, with the callbacks that feed
/// `events` and the reconnect hook described in the module doc.
fn client_builder(
    url: &str,
    shared: &Arc<Shared>,
    events: UnboundedSender<Lifecycle>,
    abandoned: &Arc<AtomicBool>,
) -> ClientBuilder {
    let (on_connect, on_close, on_error) = (events.clone(), events.clone(), events.clone());
    let receiver = Arc::clone(shared);
    let reconnecting = Arc::clone(shared);
    let abandoned = Arc::clone(abandoned);
    ClientBuilder::new(url)
        // WebSocket from the start, as the dashboard connects: no polling
        // session to keep on one instance, so behind a load balancer the
        // sockets spread over the instances (deploy/nginx/liveshop.conf).
        .transport_type(TransportType::Websocket)
        .auth(shared.handshake())
        .reconnect(true)
        .reconnect_on_disconnect(true)
        // The real backoff runs inside `on_reconnect`; the library's own
        // (not jittered the way we want, unbounded in time) is kept minimal.
        .reconnect_delay(1, 1)
        .on(Event::Connect, move |_: Payload, _: Client| {
            let _ = on_connect.send(Lifecycle::Connected);
            async {}.boxed()
        })
        .on(Event::Close, move |_: Payload, _: Client| {
            let _ = on_close.send(Lifecycle::Dropped);
            async {}.boxed()
        })
        .on(Event::Error, move |payload: Payload, _: Client| {
            let text = describe(&payload);
            let event =
                if text.contains("ConnectError") { Lifecycle::Refused(text) } else { Lifecycle::Failed };
            let _ = on_error.send(event);
            async {}.boxed()
        })
        .on(NOTIFICATION, move |payload: Payload, _: Client| {
            receiver.on_notification(payload);
            async {}.boxed()
        })
        .on_reconnect(move || {
            let (shared, abandoned, events) =
                (Arc::clone(&reconnecting), Arc::clone(&abandoned), events.clone());
            async move {
                if abandoned.load(Ordering::Relaxed) {
                    std::future::pending::<()>().await;
                }
                let _ = events.send(Lifecycle::Dropped);
                tokio::time::sleep(Backoff::QUICK.delay(shared.next_attempt())).await;
                if abandoned.load(Ordering::Relaxed) {
                    std::future::pending::<()>().await;
                }
                let mut settings = ReconnectSettings::new();
                settings.auth(shared.handshake());
                settings
            }
            .boxed()
        })
}

/// An error event's text (rust_socketio hands it over as a JSON string).
fn describe(payload: &Payload) -> String {
    match payload {
        Payload::Text(values) => values
            .iter()
            .map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(" "),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_apart_by_the_servers_message() {
        let error = |message: &str| format!("Received an ConnectError frame: {{\"message\":\"{message}\"}}");
        assert_eq!(refusal(&error("unauthorized")), Refusal::Unauthorized);
        assert_eq!(refusal(&error("rate_limited")), Refusal::Limited);
        assert_eq!(refusal(&error("too_many_sockets")), Refusal::Limited);
        assert_eq!(refusal(&error("Invalid namespace")), Refusal::Other);
    }

    #[test]
    fn error_payloads_read_as_their_text() {
        let payload = Payload::Text(vec![json!("Received an ConnectError frame: x")]);
        assert_eq!(describe(&payload), "Received an ConnectError frame: x");
    }
}
