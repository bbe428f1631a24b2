//! The seam between delivery and the sockets: what delivery needs to reach a
//! seller's sockets, and nothing of how (Socket.IO, the Redis adapter, its
//! breaker and local fallback all live in `gateway::fanout`).
//!
//! An emit answers with a stream of [`Answer`]s, one per socket it reached,
//! ending when every socket has answered or given up. Delivery decides what
//! an answer means for the notification (first ack recorded, retry scheduled);
//! the fanout only reports. A fake in the delivery tests stands in for it.

use crate::domain::notification::SellerId;
use app::types::Notification;
use futures_util::Stream;
use std::fmt;
use std::pin::Pin;

/// One socket's answer to one emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The client acknowledged (with or without arguments).
    Acked,
    /// No ack: timed out, or the socket went away.
    Silent,
}

/// The answers to one emit, as they come.
pub type Answers = Pin<Box<dyn Stream<Item = Answer> + Send>>;

/// Identifies one connected socket (the Socket.IO session id, as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SocketId(pub String);

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an emit to one socket did not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SocketSendError {
    /// The socket's outgoing buffer is full: it is alive, try again shortly.
    #[error("the socket's outgoing buffer is full")]
    Full,
    /// The socket is disconnected (or never existed here).
    #[error("the socket is gone")]
    Gone,
}

/// Reaches sockets. Implementations report; they never retry or record.
#[async_trait::async_trait]
pub trait Fanout: Send + Sync + fmt::Debug + 'static {
    /// Emits `notification` to every socket of `seller` (on every instance
    /// while cross-instance routing is up, else on this one), each with an
    /// ack. `None` when nothing went out: no socket could be reached.
    async fn to_seller(&self, seller: SellerId, notification: &Notification) -> Option<Answers>;

    /// Emits `notification` to one socket of this instance, with an ack.
    ///
    /// # Errors
    /// [`SocketSendError::Full`] when its buffer is full (try again),
    /// [`SocketSendError::Gone`] when it disconnected.
    fn to_socket(&self, socket: &SocketId, notification: &Notification) -> Result<Answers, SocketSendError>;

    /// Whether emits reach the sockets of every instance now (the Redis
    /// adapter is configured and up). When not, only retries, replay and
    /// sync reach sockets on other instances.
    fn is_routing(&self) -> bool;
}
