//! Draining: how an instance leaves without dropping its clients on the
//! floor. On SIGTERM (`startup`) the instance [`Drain::begin`]s: `/api/health`
//! answers `503 "draining"`, so the load balancer stops routing to it, and
//! no new socket is taken. Then [`disconnect_spread`] closes the sockets it
//! holds a slice at a time over `DRAIN_MS`, so their clients reconnect (with
//! their `last_seq`) to the other instances spread out, not all in the same
//! second. HTTP is served all along; the server stops taking requests only
//! after the drain.
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
//! upgraded to a WebSocket for `/socket.io/` for good, one on long polling
//! while a poll is in flight (so a request of the JSON API that happens to
//! reuse the connection is never cut). The cost: a map entry and a small
//! allocation per open connection (about 150 bytes), a lock when one opens
//! or closes and per Socket.IO poll, and an atomic load per read and write.
//!
//! Depends on nothing of the application's: the gateway reads [`Drain`], and
//! `startup` wires the listener, the middleware and the sequence.

use axum::extract::{ConnectInfo, Request};
use axum::http::header;
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

/// Whether this instance is draining. Set once, never cleared: a draining
/// process only exits. Cheap to clone; every clone is the same flag.
#[derive(Debug, Clone, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    /// Starts draining; `false` when it had already started.
    pub fn begin(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
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
    /// It upgraded to a WebSocket for Socket.IO: it carries nothing else.
    websocket: bool,
    /// Socket.IO polling requests in flight on it.
    polls: u32,
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

    /// Notes a Socket.IO request on `peer`'s connection: for good when it is
    /// a WebSocket upgrade, else until the returned guard is dropped.
    fn carrying(&self, peer: SocketAddr, websocket: bool) -> Option<InFlightPoll> {
        let mut open = self.lock();
        let tracked = open.get_mut(&peer)?;
        if websocket {
            tracked.websocket = true;
            return None;
        }
        tracked.polls += 1;
        Some(InFlightPoll { connections: self.clone(), peer, id: tracked.id })
    }

    /// The connections carrying Socket.IO now, and not closed yet.
    fn socket_io(&self) -> Vec<Arc<Switch>> {
        self.lock()
            .values()
            .filter(|tracked| tracked.websocket || tracked.polls > 0)
            .filter(|tracked| !tracked.switch.closed.load(Ordering::Acquire))
            .map(|tracked| Arc::clone(&tracked.switch))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Tracked>> {
        self.0.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A Socket.IO poll in flight on a connection.
#[derive(Debug)]
struct InFlightPoll {
    connections: Connections,
    peer: SocketAddr,
    id: u64,
}

impl Drop for InFlightPoll {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        if let Some(tracked) = open.get_mut(&self.peer).filter(|tracked| tracked.id == self.id) {
            tracked.polls = tracked.polls.saturating_sub(1);
        }
    }
}

/// Middleware in front of the Socket.IO endpoint: notes which connections
/// carry Socket.IO, so that the drain closes those and no other.
pub async fn track_socket_io(connections: Connections, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let socket_io = path == "/socket.io" || path.starts_with("/socket.io/");
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let _poll = match peer {
        Some(peer) if socket_io => {
            let websocket = request
                .headers()
                .get(header::UPGRADE)
                .is_some_and(|upgrade| upgrade.as_bytes().eq_ignore_ascii_case(b"websocket"));
            connections.carrying(peer, websocket)
        }
        _ => None,
    };
    next.run(request).await
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
/// those open at its time, and the last takes all that are left, so a
/// socket on long polling that was between two polls is not missed. No new
/// socket comes meanwhile: while draining, the gateway refuses them. When
/// `hurry` completes first (a second SIGTERM), the rest go at once.
pub async fn disconnect_spread(
    connections: &Connections,
    period: Duration,
    hurry: impl Future<Output = ()>,
) -> Spread {
    let started = Instant::now();
    let plan = slices(connections.socket_io().len().max(1), period);
    let last = plan.len() - 1;
    let mut hurry = pin!(hurry);
    let mut spread = Spread { closed: 0, hurried: false };
    for (i, (size, at)) in plan.into_iter().enumerate() {
        if !spread.hurried {
            tokio::select! {
                () = tokio::time::sleep_until(started + at) => {}
                () = &mut hurry => {
                    spread.hurried = true;
                    tracing::info!("asked again to stop: closing the remaining sockets at once");
                }
            }
        }
        let open = connections.socket_io();
        let size = if i == last || spread.hurried { open.len() } else { size.min(open.len()) };
        open.iter().take(size).for_each(|switch| switch.close());
        spread.closed += size;
        if spread.hurried {
            break;
        }
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
        assert!(connections.socket_io().is_empty(), "nothing carries Socket.IO yet");
        connections.carrying(peer, true);
        let open = connections.socket_io();
        assert_eq!(open.len(), 1);

        // A read parked on the connection wakes when it is closed.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            let n = served.read(&mut buf).await.unwrap();
            (n, served)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        open[0].close();
        let (n, mut served) = tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
        assert_eq!(n, 0, "the server side reads the end");
        assert!(served.write_all(b"late").await.is_err());
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await.unwrap().unwrap();
        assert_eq!(n, 0, "the client sees the connection end");

        drop(served);
        assert!(connections.lock().is_empty(), "a dropped connection is forgotten");
    }
}
