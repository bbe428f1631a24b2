//! Draining: how an instance leaves without dropping its clients on the
//! floor. On SIGTERM (`startup`) the instance [`Drain::begin`]s: `/api/health`
//! answers `503 "draining"`, so the load balancer stops routing to it, and
//! no new socket is taken. Then [`disconnect_spread`] closes the sockets it
//! holds a slice at a time over `DRAIN_MS`, so their clients reconnect (with
//! their `last_seq`) to the other instances spread out, not all in the same
//! second. Once it is over ([`Drain::sockets_closed`]) every further
//! Socket.IO request of a session (one with a `sid`: the next poll of a
//! client on long polling that was between two polls) is answered `503`
//! and its connection closed, so that client reconnects elsewhere too. HTTP
//! is served all along; the server stops taking requests only after the
//! drain.
//!
//! A socket is closed by closing its TCP connection, not with a Socket.IO
//! disconnect: a client told `io server disconnect` does not reconnect by
//! itself (the official `socket.io-client`, which the mobile app uses,
//! leaves that to the application), while a closed transport is reconnected
//! at once. socketioxide closes transports only all at once (`SocketIo::close`,
//! which also removes the namespace every later push needs), so the server's
//! listener is wrapped: every accepted connection is a [`TrackedStream`] that
//! can be closed from outside, found by its peer address in [`Connections`].
//! [`track_socket_io`] tells which connections carry Socket.IO: one that
//! upgraded to a WebSocket for `/socket.io/` (answered `101`) for good, any
//! other while a Socket.IO request (a poll, an upgrade not answered yet) is
//! in flight on it. A connection whose upgrade was refused (`400` unknown
//! session, `503` draining) stays an HTTP connection, which a proxy's
//! keep-alive pool may reuse for the JSON API: a request of the API is never
//! cut. Connections are picked and closed under the registry's lock, so one
//! cannot end its poll and take an API request in between. The cost: a map
//! entry and a small allocation per open connection (about 150 bytes), a
//! lock when one opens or closes and twice per Socket.IO request, and an
//! atomic load per read and write.
//!
//! Depends on nothing of the application's: the gateway reads [`Drain`], and
//! `startup` wires the listener, the middleware and the sequence.

use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::task::AtomicWaker;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// At most this many slices: enough for an even spread, few enough timers.
const SLICES: usize = 20;

/// Whether this instance is draining, and whether its sockets are closed.
/// Set once each, never cleared: a draining process only exits. Cheap to
/// clone; every clone is the same flags.
#[derive(Debug, Clone, Default)]
pub struct Drain(Arc<DrainFlags>);

#[derive(Debug, Default)]
struct DrainFlags {
    draining: AtomicBool,
    sockets_closed: AtomicBool,
}

impl Drain {
    /// Starts draining; `false` when it had already started.
    pub fn begin(&self) -> bool {
        !self.0.draining.swap(true, Ordering::SeqCst)
    }

    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Whether [`disconnect_spread`] has come to its last slice: no
    /// Socket.IO session is served here any more, a request naming one is
    /// refused (the gateway's middleware) and its connection closed.
    pub fn sockets_closed(&self) -> bool {
        self.0.sockets_closed.load(Ordering::SeqCst)
    }

    /// Set before the last slice closes what is left. A request is noted
    /// in flight ([`track_socket_io`], under the registry's lock) before the
    /// gateway reads this flag, so a request either sees it and is refused,
    /// or is in flight when that slice takes the lock, and is closed.
    fn close_sockets(&self) {
        self.0.sockets_closed.store(true, Ordering::SeqCst);
    }
}

/// The open connections of the server, by peer address, and which of them
/// carry Socket.IO. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Connections(Arc<Registry>);

#[derive(Debug, Default)]
struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<SocketAddr, Tracked>>,
}

/// One open connection.
#[derive(Debug)]
struct Tracked {
    /// Tells two connections from one peer address apart (the first may be
    /// forgotten after the second was accepted).
    id: u64,
    switch: Arc<Switch>,
    /// It upgraded to a WebSocket for Socket.IO (answered `101`): it
    /// carries nothing else.
    websocket: bool,
    /// Socket.IO requests in flight on it: polls, and upgrades until they
    /// are answered. Named `polls` for what they nearly all are.
    polls: u32,
}

impl Tracked {
    /// Whether the drain closes it: it carries Socket.IO now, and is still open.
    fn carries_socket_io(&self) -> bool {
        (self.websocket || self.polls > 0) && !self.switch.closed.load(Ordering::Acquire)
    }
}

impl Connections {
    fn open(&self, peer: SocketAddr) -> (u64, Arc<Switch>) {
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let switch = Arc::new(Switch::default());
        let tracked = Tracked { id, switch: Arc::clone(&switch), websocket: false, polls: 0 };
        self.lock().insert(peer, tracked);
        (id, switch)
    }

    fn forget(&self, peer: SocketAddr, id: u64) {
        let mut open = self.lock();
        if open.get(&peer).is_some_and(|tracked| tracked.id == id) {
            open.remove(&peer);
        }
    }

    /// Notes a Socket.IO request in flight on `peer`'s connection, until the
    /// returned guard is dropped; [`InFlight::upgraded`] keeps it marked.
    fn carrying(&self, peer: SocketAddr) -> Option<InFlight> {
        let mut open = self.lock();
        let tracked = open.get_mut(&peer)?;
        tracked.polls += 1;
        Some(InFlight { connections: self.clone(), peer, id: tracked.id, upgraded: false })
    }

    /// How many connections carry Socket.IO now, and are not closed yet.
    fn count_socket_io(&self) -> usize {
        self.lock().values().filter(|tracked| tracked.carries_socket_io()).count()
    }

    /// Closes up to `limit` of the connections carrying Socket.IO; returns
    /// how many. Picked and closed under the lock: a poll cannot end (its
    /// guard takes the lock) between the moment its connection is picked
    /// and the moment it is closed, so the connection is never one that
    /// went back to carrying the JSON API.
    fn close_socket_io(&self, limit: usize) -> usize {
        let open = self.lock();
        let mut closed = 0;
        for tracked in open.values().filter(|tracked| tracked.carries_socket_io()).take(limit) {
            tracked.switch.close();
            closed += 1;
        }
        closed
    }

    /// Closes every connection carrying Socket.IO now; returns how many.
    /// What [`disconnect_spread`]'s last slice does, and `startup` once
    /// more right before the server stops taking requests.
    pub fn close_all_socket_io(&self) -> usize {
        self.close_socket_io(usize::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Tracked>> {
        self.0.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A Socket.IO request in flight on a connection.
#[derive(Debug)]
struct InFlight {
    connections: Connections,
    peer: SocketAddr,
    id: u64,
    /// It was answered `101`: the connection is a WebSocket from now on.
    upgraded: bool,
}

impl InFlight {
    /// The request was answered `101 Switching Protocols`: the connection
    /// stays marked for good, in the same step that ends the request (no
    /// moment when it is neither).
    fn upgraded(mut self) {
        self.upgraded = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        if let Some(tracked) = open.get_mut(&self.peer).filter(|tracked| tracked.id == self.id) {
            tracked.polls = tracked.polls.saturating_sub(1);
            tracked.websocket |= self.upgraded;
        }
    }
}

/// Middleware in front of the Socket.IO endpoint: notes which connections
/// carry Socket.IO, so that the drain closes those and no other. A request
/// counts while it is in flight; its connection is a WebSocket for good
/// only once the answer is `101` (an `Upgrade` header alone says nothing:
/// a refused upgrade leaves a plain keep-alive connection). It runs before
/// the gateway's drain check (`refuse_new_sessions_while_draining`), which
/// [`Drain::close_sockets`] relies on.
pub async fn track_socket_io(connections: Connections, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let socket_io = path == "/socket.io" || path.starts_with("/socket.io/");
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let Some(in_flight) = peer.filter(|_| socket_io).and_then(|peer| connections.carrying(peer)) else {
        return next.run(request).await;
    };
    let response = next.run(request).await;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        in_flight.upgraded();
    }
    response
}

/// Closes a connection from outside its task: the flag, and the wakers of
/// whoever waits on it, so a parked read or write sees it at once.
#[derive(Debug, Default)]
struct Switch {
    closed: AtomicBool,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl Switch {
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.reader.wake();
        self.writer.wake();
    }

    /// Whether the connection was closed, registering `cx` to hear of it.
    fn is_closed(&self, waker: &AtomicWaker, cx: &Context<'_>) -> bool {
        waker.register(cx.waker());
        self.closed.load(Ordering::Acquire)
    }
}

/// The server's listener: a TCP listener whose connections are tracked.
#[derive(Debug)]
pub struct TrackedListener {
    listener: TcpListener,
    connections: Connections,
}

impl TrackedListener {
    pub fn new(listener: TcpListener, connections: Connections) -> Self {
        Self { listener, connections }
    }
}

impl axum::serve::Listener for TrackedListener {
    type Io = TrackedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop: it logs and retries failed accepts.
        let (stream, peer) = axum::serve::Listener::accept(&mut self.listener).await;
        let (id, switch) = self.connections.open(peer);
        (TrackedStream { stream, switch, connections: self.connections.clone(), peer, id }, peer)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// An accepted connection that [`disconnect_spread`] can close. Once
/// closed, it sends its FIN, reads end (EOF) and writes fail, so whoever
/// serves it (hyper, or the WebSocket behind an upgrade) ends and drops it.
#[derive(Debug)]
pub struct TrackedStream {
    stream: TcpStream,
    switch: Arc<Switch>,
    connections: Connections,
    peer: SocketAddr,
    id: u64,
}

impl TrackedStream {
    fn shut(&mut self, cx: &mut Context<'_>) {
        // Half-closing is enough for the peer to see the end; an error only
        // means the connection was already gone.
        let _ = Pin::new(&mut self.stream).poll_shutdown(cx);
    }
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        self.connections.forget(self.peer, self.id);
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the drain")
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.switch.is_closed(&this.switch.reader, cx) {
            this.shut(cx);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.switch.is_closed(&this.switch.writer, cx) {
            this.shut(cx);
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.switch.is_closed(&this.switch.writer, cx) {
            this.shut(cx);
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.switch.closed.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How [`disconnect_spread`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// Connections closed (a WebSocket each, or a poll in flight).
    pub closed: usize,
    /// The rest were closed at once, on `hurry`.
    pub hurried: bool,
}

/// Closes the connections carrying Socket.IO: as many as there are when it
/// is called, in up to 20 even slices, the first at once and the last
/// `period` later (all at once when `period` is zero). Each slice takes
/// those open at its time (picked and closed in one pass under the
/// registry's lock). No new socket comes meanwhile: while draining, the
/// gateway refuses them. When `hurry` completes first (a second SIGTERM),
/// the rest go at once.
///
/// Before the last slice (or the hurried one) it sets
/// [`Drain::sockets_closed`], then closes all that are left: a client on
/// long polling that was between two polls then has its next request
/// refused (`503`, connection closed) instead of starting a long poll the
/// shutdown would have to wait for.
pub async fn disconnect_spread(
    drain: &Drain,
    connections: &Connections,
    period: Duration,
    hurry: impl Future<Output = ()>,
) -> Spread {
    let started = Instant::now();
    let plan = slices(connections.count_socket_io().max(1), period);
    let last = plan.len() - 1;
    let mut hurry = pin!(hurry);
    let mut spread = Spread { closed: 0, hurried: false };
    for (i, (size, at)) in plan.into_iter().enumerate() {
        tokio::select! {
            () = tokio::time::sleep_until(started + at) => {}
            () = &mut hurry => {
                spread.hurried = true;
                tracing::info!("asked again to stop: closing the remaining sockets at once");
            }
        }
        if i == last || spread.hurried {
            drain.close_sockets();
            spread.closed += connections.close_all_socket_io();
            break;
        }
        spread.closed += connections.close_socket_io(size);
    }
    spread
}

/// `count` connections cut into slices: `(size, offset from the start)`,
/// sizes as even as can be, offsets evenly from zero to `period`.
fn slices(count: usize, period: Duration) -> Vec<(usize, Duration)> {
    let slices = if period.is_zero() { count.min(1) } else { count.min(SLICES) };
    (0..slices)
        .map(|i| {
            let size = count / slices + usize::from(i < count % slices);
            // At most 20 slices: the casts cannot truncate.
            let at = if slices == 1 { Duration::ZERO } else { period * i as u32 / (slices - 1) as u32 };
            (size, at)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_every_connection_evenly_from_now_to_the_period() {
        let period = Duration::from_millis(1000);
        let cut = slices(45, period);
        assert_eq!(cut.len(), 20);
        assert_eq!(cut.iter().map(|(size, _)| size).sum::<usize>(), 45);
        assert!(cut.iter().all(|(size, _)| (2..=3).contains(size)), "{cut:?}");
        assert_eq!(cut[0].1, Duration::ZERO);
        assert_eq!(cut[19].1, period);
        assert!(cut.windows(2).all(|pair| pair[0].1 < pair[1].1));

        assert_eq!(slices(3, period), [(1, Duration::ZERO), (1, period / 2), (1, period)]);
        assert_eq!(slices(1, period), [(1, Duration::ZERO)]);
        assert_eq!(slices(0, period), []);
        assert_eq!(slices(500, Duration::ZERO), [(500, Duration::ZERO)]);
    }

    #[test]
    fn draining_begins_once() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        assert!(drain.begin());
        assert!(!drain.clone().begin(), "clones share the flag");
        assert!(drain.is_draining());
    }

    #[tokio::test]
    async fn a_closed_connection_ends_for_both_sides() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let connections = Connections::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut listener = TrackedListener::new(listener, connections.clone());
        let mut client = TcpStream::connect(address).await.unwrap();
        let (mut served, peer) = axum::serve::Listener::accept(&mut listener).await;
        assert_eq!(connections.count_socket_io(), 0, "nothing carries Socket.IO yet");
        connections.carrying(peer).unwrap().upgraded();
        assert_eq!(connections.count_socket_io(), 1);

        // A read parked on the connection wakes when it is closed.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            let n = served.read(&mut buf).await.unwrap();
            (n, served)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(connections.close_all_socket_io(), 1);
        assert_eq!(connections.close_all_socket_io(), 0, "a closed connection is not closed again");
        let (n, mut served) = tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
        assert_eq!(n, 0, "the server side reads the end");
        assert!(served.write_all(b"late").await.is_err());
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await.unwrap().unwrap();
        assert_eq!(n, 0, "the client sees the connection end");

        drop(served);
        assert!(connections.lock().is_empty(), "a dropped connection is forgotten");
    }

    /// Accepts `count` connections on a tracked listener: the clients (kept
    /// open), the served ends and their peer addresses.
    async fn accepted(
        connections: &Connections,
        count: usize,
    ) -> (Vec<TcpStream>, Vec<TrackedStream>, Vec<SocketAddr>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut listener = TrackedListener::new(listener, connections.clone());
        let (mut clients, mut served, mut peers) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..count {
            clients.push(TcpStream::connect(address).await.unwrap());
            let (stream, peer) = axum::serve::Listener::accept(&mut listener).await;
            served.push(stream);
            peers.push(peer);
        }
        (clients, served, peers)
    }

    #[tokio::test]
    async fn only_a_101_or_a_request_in_flight_marks_a_connection() {
        let connections = Connections::default();
        let (_clients, served, peers) = accepted(&connections, 3).await;
        let [refused, polling, upgraded] = [peers[0], peers[1], peers[2]];

        // An upgrade refused (400 unknown session, 503 draining): counted
        // while in flight, a plain HTTP connection again once answered.
        let in_flight = connections.carrying(refused).unwrap();
        assert_eq!(connections.count_socket_io(), 1);
        drop(in_flight);
        assert_eq!(connections.count_socket_io(), 0, "a refused upgrade leaves no mark");

        // A poll counts while in flight only.
        let poll = connections.carrying(polling).unwrap();
        assert_eq!(connections.count_socket_io(), 1);
        drop(poll);
        assert_eq!(connections.count_socket_io(), 0);

        // An upgrade answered 101 is a WebSocket for good.
        connections.carrying(upgraded).unwrap().upgraded();
        assert_eq!(connections.count_socket_io(), 1);
        let open = connections.lock();
        assert!(open[&upgraded].websocket && open[&upgraded].polls == 0);
        assert!(!open[&refused].websocket && !open[&polling].websocket);
        drop(open);

        // The drain closes that one and no other.
        assert_eq!(connections.close_all_socket_io(), 1);
        let open = connections.lock();
        assert!(open[&upgraded].switch.closed.load(Ordering::Acquire));
        assert!(!open[&refused].switch.closed.load(Ordering::Acquire));
        assert!(!open[&polling].switch.closed.load(Ordering::Acquire));
        drop(open);
        drop(served);
    }

    #[tokio::test]
    async fn a_slice_closes_at_most_its_size_and_only_what_carries_socket_io() {
        let connections = Connections::default();
        let (_clients, served, peers) = accepted(&connections, 4).await;
        for &peer in &peers[..3] {
            connections.carrying(peer).unwrap().upgraded();
        }
        assert_eq!(connections.count_socket_io(), 3);
        assert_eq!(connections.close_socket_io(2), 2);
        assert_eq!(connections.count_socket_io(), 1);
        assert_eq!(connections.close_socket_io(2), 1);
        assert_eq!(connections.close_socket_io(2), 0);
        assert!(!connections.lock()[&peers[3]].switch.closed.load(Ordering::Acquire), "idle HTTP stays");
        drop(served);
    }

    #[tokio::test]
    async fn the_spread_closes_the_sockets_and_says_so_before_its_last_slice() {
        let (drain, connections) = (Drain::default(), Connections::default());
        let (_clients, served, peers) = accepted(&connections, 3).await;
        connections.carrying(peers[0]).unwrap().upgraded();
        connections.carrying(peers[1]).unwrap().upgraded();
        drain.begin();

        let period = Duration::from_millis(300);
        let started = Instant::now();
        let spread = disconnect_spread(&drain, &connections, period, std::future::pending()).await;
        assert_eq!(spread, Spread { closed: 2, hurried: false });
        assert!(started.elapsed() >= period, "the last slice comes `period` after the first");
        assert!(drain.sockets_closed());
        assert_eq!(connections.count_socket_io(), 0);
        assert!(!connections.lock()[&peers[2]].switch.closed.load(Ordering::Acquire));

        // Hurried: the rest at once, and the sockets are closed just the same.
        let (drain, connections) = (Drain::default(), Connections::default());
        let (_clients, hurried_served, peers) = accepted(&connections, 3).await;
        for &peer in &peers {
            connections.carrying(peer).unwrap().upgraded();
        }
        let started = Instant::now();
        let hurry = tokio::time::sleep(Duration::from_millis(50));
        let spread = disconnect_spread(&drain, &connections, Duration::from_secs(60), hurry).await;
        assert_eq!(spread, Spread { closed: 3, hurried: true });
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(drain.sockets_closed());
        drop((served, hurried_served));
    }
}
