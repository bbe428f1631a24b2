//! Delivery's [`Fanout`] over Socket.IO: emits to this instance's sockets,
//! and hands new notifications to the other instances through the
//! [`Relay`].
//!
//! The rules of the socket edge live here, not in delivery:
//! - any answer to an ack is an ack: the official client's `ack()` sends no
//!   arguments, which socketioxide reports as a decode error;
//! - a full outgoing buffer is [`SocketSendError::Full`], never "gone".

use super::relay::Relay;
use super::{SocketIo, seller_room};
use crate::delivery::fanout::{Answer, Answers, Fanout, SocketId, SocketSendError};
use crate::domain::notification::SellerId;
use app::types::Notification;
use app::types::events::NOTIFICATION;
use futures_util::StreamExt;
use serde::de::IgnoredAny;
use socketioxide::socket::Sid;
use socketioxide::{AckError, SendError, SocketError};
use std::time::Duration;

/// Emits notifications to sockets with acks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SocketIoFanout {
    io: SocketIo,
    relay: Relay,
    /// socketioxide ends each ack wait after this (delivery keeps its own
    /// deadline too).
    ack_timeout: Duration,
}

impl SocketIoFanout {
    pub fn new(io: SocketIo, relay: Relay, ack_timeout: Duration) -> Self {
        Self { io, relay, ack_timeout }
    }
}

#[async_trait::async_trait]
impl Fanout for SocketIoFanout {
    fn sockets_of(&self, seller: SellerId) -> Vec<SocketId> {
        let sockets = self.io.local().to(seller_room(seller)).sockets();
        sockets.into_iter().map(|socket| SocketId(socket.id.to_string())).collect()
    }

    fn to_socket(&self, socket: &SocketId, notification: &Notification) -> Result<Answers, SocketSendError> {
        let sid = socket.0.parse::<Sid>().map_err(|_| SocketSendError::Gone)?;
        let socket = self.io.get_socket(sid).ok_or(SocketSendError::Gone)?;
        match socket.timeout(self.ack_timeout).emit_with_ack::<_, IgnoredAny>(NOTIFICATION, notification) {
            Ok(acks) => Ok(Box::pin(acks.map(|(_, result)| answer(&result)))),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(SocketSendError::Full),
            Err(SendError::Socket(SocketError::Closed)) => Err(SocketSendError::Gone),
            Err(error) => {
                tracing::error!(sid = %sid, %error, "BUG: a notification could not be encoded");
                Err(SocketSendError::Gone)
            }
        }
    }

    fn to_other_instances(&self, seller: SellerId, notifications: &[Notification]) {
        self.relay.send(seller, notifications);
    }

    fn reaches_other_instances(&self) -> bool {
        self.relay.reaches_other_instances()
    }
}

/// Any answer counts as an ack, whatever it carries (see the module docs).
fn answer(result: &Result<IgnoredAny, AckError>) -> Answer {
    match result {
        Ok(_) | Err(AckError::Decode(_)) => Answer::Acked,
        Err(_) => Answer::Silent,
    }
}
