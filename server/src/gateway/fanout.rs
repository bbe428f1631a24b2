//! Delivery's [`Fanout`] over Socket.IO: emits through socketioxide's Redis
//! adapter to every instance while Redis routes, and falls back to this
//! instance's sockets when it does not.
//!
//! The rules of the socket edge live here, not in delivery:
//! - a failed emit through Redis trips the bus's breaker and is emitted
//!   again locally at once, so this instance's sockets never wait on an
//!   outage; other instances' sockets get it by retry, replay or sync;
//! - any answer to an ack is an ack: the official client's `ack()` sends no
//!   arguments, which socketioxide reports as a decode error;
//! - a full outgoing buffer is [`SocketSendError::Full`], never "gone".

use super::bus::Bus;
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
    /// Whether emits can reach other instances now (Redis up).
    bus: Bus,
    /// socketioxide ends each ack wait after this (delivery keeps its own
    /// deadline too).
    ack_timeout: Duration,
}

impl SocketIoFanout {
    pub fn new(io: SocketIo, bus: Bus, ack_timeout: Duration) -> Self {
        Self { io, bus, ack_timeout }
    }

    /// One emit with an ack to `room`: through the adapter to every instance
    /// (`clustered`), or to this instance's sockets only.
    async fn emit_to_room(
        &self,
        room: &str,
        notification: &Notification,
        clustered: bool,
    ) -> Result<Answers, String> {
        let operators =
            if clustered { self.io.to(room.to_owned()) } else { self.io.local().to(room.to_owned()) };
        operators
            .timeout(self.ack_timeout)
            .emit_with_ack::<_, IgnoredAny>(NOTIFICATION, notification)
            .await
            .map(|acks| Box::pin(acks.map(|(_, result)| answer(&result))) as Answers)
            // A string: the adapter's error is not `Send`, and only logged.
            .map_err(|error| error.to_string())
    }
}

#[async_trait::async_trait]
impl Fanout for SocketIoFanout {
    async fn to_seller(&self, seller: SellerId, notification: &Notification) -> Option<Answers> {
        let room = seller_room(seller);
        let clustered = self.bus.is_routing();
        if !clustered && self.io.local().to(room.clone()).sockets().is_empty() {
            return None;
        }
        let mut result = self.emit_to_room(&room, notification, clustered).await;
        if clustered && let Err(error) = &result {
            // Redis failed: this instance's sockets must still get it.
            tracing::warn!(seller_id = seller.0, error, "redis emit failed; emitting locally (degraded)");
            self.bus.trip();
            result = self.emit_to_room(&room, notification, false).await;
        }
        match result {
            Ok(answers) => Some(answers),
            Err(error) => {
                tracing::warn!(seller_id = seller.0, seq = notification.seq, %error, "push failed");
                None
            }
        }
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

    fn is_routing(&self) -> bool {
        self.bus.is_routing()
    }
}

/// Any answer counts as an ack, whatever it carries (see the module docs).
fn answer(result: &Result<IgnoredAny, AckError>) -> Answer {
    match result {
        Ok(_) | Err(AckError::Decode(_)) => Answer::Acked,
        Err(_) => Answer::Silent,
    }
}
