//! The seam between delivery and the sockets: what delivery needs to reach a
//! seller's sockets, and nothing of how (Socket.IO, the Redis relay and its
//! breaker live in `gateway`).
//!
//! Each instance emits only to its own sockets. Other instances are handed
//! new notifications in groups ([`Fanout::to_other_instances`]): each pushes
//! to its own sockets and records their acks in the shared database, so no
//! ack travels back between instances, and the instance that stored a
//! notification decides on retries from the database.
//!
//! An emit answers with a stream of [`Answer`]s, ending when the socket has
//! answered or given up. Delivery decides what an answer means for the
//! notification (first ack recorded, retry scheduled); the fanout only
//! reports. A fake in the delivery tests stands in for it.

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

/// The answers to an emit, as they come (one per socket reached).
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
    /// The sockets of `seller` connected to this instance.
    fn sockets_of(&self, seller: SellerId) -> Vec<SocketId>;

    /// Emits `notification` to one socket of this instance, with an ack.
    ///
    /// # Errors
    /// [`SocketSendError::Full`] when its buffer is full (try again),
    /// [`SocketSendError::Gone`] when it disconnected.
    fn to_socket(&self, socket: &SocketId, notification: &Notification) -> Result<Answers, SocketSendError>;

    /// Hands new notifications of `seller` to the other instances (when
    /// there are any and they can be reached), which push them to their own
    /// sockets. Returns at once; what does not arrive is retried, replayed
    /// or synced like any unacknowledged notification.
    fn to_other_instances(&self, seller: SellerId, notifications: &[Notification]);

    /// Whether other instances (and their sockets) can be reached now: then
    /// an ack may still come from one of them until the ack window ends.
    fn reaches_other_instances(&self) -> bool;
}
