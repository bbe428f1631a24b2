//! New notifications handed to the other instances, many to one Redis
//! message.
//!
//! Every instance emits only to its own sockets and records their acks in
//! the shared database, so nothing has to come back to the instance that
//! stored a notification: it decides on retries from the database. One
//! PUBLISH carries whatever was stored since the last one (up to
//! [`MAX_BATCH`] notifications), one PUBLISH at a time, so under load a
//! message carries many notifications, and when idle nothing waits. Emitting
//! through the Socket.IO Redis adapter instead costs every notification a
//! cluster-wide request and response (a PUBSUB NUMSUB and two PUBLISH); the
//! adapter stays for what it does well, rooms and disconnects across
//! instances.
//!
//! Lost messages (Redis down, a full inbox) lose nothing: what no socket
//! acknowledged is retried, replayed or synced.

use super::bus::{Bus, BusError};
use crate::delivery::Delivery;
use crate::domain::notification::SellerId;
use app::types::Notification;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide_redis::drivers::Driver;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Notifications in one message at most (about 0.5 MiB of typical ones).
const MAX_BATCH: usize = 500;
/// Messages received and not yet handed to delivery; beyond, Redis messages
/// are dropped (and left to the retries).
const INBOX: usize = 4096;

/// One Redis message: notifications by seller, from one instance.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    /// The sending process, which ignores its own messages.
    from: String,
    groups: Vec<Group>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Group {
    seller: i64,
    notifications: Vec<Notification>,
}

/// Hands notifications to the publishing task. Cheap to clone; does nothing
/// without Redis.
#[derive(Debug, Clone)]
pub struct Relay {
    outbox: Option<mpsc::UnboundedSender<Group>>,
    /// This process, in its messages.
    origin: Arc<str>,
    bus: Bus,
}

impl Relay {
    /// Starts publishing when `bus` has Redis; off otherwise.
    pub fn start(bus: &Bus) -> Self {
        let origin: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
        if !bus.is_configured() {
            return Self { outbox: None, origin, bus: bus.clone() };
        }
        let (outbox, pending) = mpsc::unbounded_channel();
        tokio::spawn(publish_batches(bus.clone(), Arc::clone(&origin), pending));
        Self { outbox: Some(outbox), origin, bus: bus.clone() }
    }

    /// Whether what is sent now can reach the other instances (Redis
    /// configured and not failing).
    pub fn reaches_other_instances(&self) -> bool {
        // Never without Redis: then there is no outbox either.
        self.bus.is_routing()
    }

    /// Queues `notifications` of `seller` for the next message.
    pub fn send(&self, seller: SellerId, notifications: &[Notification]) {
        if let Some(outbox) = &self.outbox {
            // Fails only when the task is gone (the runtime is ending).
            let _ = outbox.send(Group { seller: seller.0, notifications: notifications.to_vec() });
        }
    }

    /// Subscribes to the other instances' messages and pushes what they
    /// carry to this instance's sockets.
    ///
    /// # Errors
    /// Redis refused the subscription (when it is unreachable, the
    /// subscription is made once it is reachable).
    pub async fn listen(&self, bus: &Bus, delivery: Delivery) -> Result<(), BusError> {
        if self.outbox.is_none() {
            return Ok(());
        }
        let mut messages = bus.subscribe(channel(bus), INBOX).await?;
        let origin = Arc::clone(&self.origin);
        tokio::spawn(async move {
            while let Some((_, payload)) = messages.next().await {
                let batch: Batch = match serde_json::from_slice(&payload) {
                    Ok(batch) => batch,
                    Err(error) => {
                        tracing::error!(%error, "relay message ignored: not a batch of notifications");
                        continue;
                    }
                };
                if *batch.from == *origin {
                    continue;
                }
                for (seller, notifications) in by_seller(batch.groups) {
                    let delivery = delivery.clone();
                    tokio::spawn(async move { delivery.push_relayed(seller, notifications).await });
                }
            }
        });
        Ok(())
    }
}

/// One list per seller, in seq order and each seq once (two publishes, or a
/// retry, may have queued a seller's groups in any order), so a seller's
/// sockets get a message's notifications in one push, in order. Messages
/// are pushed side by side: across messages the order is not kept, as it is
/// not between two publishes on one instance either (clients order by seq).
fn by_seller(groups: Vec<Group>) -> Vec<(SellerId, Vec<Notification>)> {
    let mut sellers: Vec<(SellerId, Vec<Notification>)> = Vec::new();
    for group in groups {
        let seller = SellerId(group.seller);
        match sellers.iter_mut().find(|(known, _)| *known == seller) {
            Some((_, notifications)) => notifications.extend(group.notifications),
            None => sellers.push((seller, group.notifications)),
        }
    }
    for (_, notifications) in &mut sellers {
        notifications.sort_by_key(|n| n.seq);
        notifications.dedup_by_key(|n| n.seq);
    }
    sellers
}

fn channel(bus: &Bus) -> String {
    bus.channel("relay")
}

/// Publishes everything queued, one message at a time: what is queued while
/// a PUBLISH is in flight goes out together in the next.
async fn publish_batches(bus: Bus, origin: Arc<str>, mut pending: mpsc::UnboundedReceiver<Group>) {
    let channel = channel(&bus);
    while let Some(first) = pending.recv().await {
        let mut count = first.notifications.len();
        let mut groups = vec![first];
        while count < MAX_BATCH
            && let Ok(group) = pending.try_recv()
        {
            count += group.notifications.len();
            groups.push(group);
        }
        let batch = Batch { from: origin.to_string(), groups };
        if !bus.is_routing() {
            // Redis is failing: the retries bring these to other instances.
            continue;
        }
        let payload = match serde_json::to_vec(&batch) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(%error, "BUG: a relay batch could not be encoded");
                continue;
            }
        };
        if let Err(error) = bus.publish(channel.clone(), payload).await {
            tracing::warn!(%error, count, "relay publish failed; other instances get these by retry");
            bus.trip();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(seller: i64, seqs: &[i64]) -> Group {
        let notifications = seqs
            .iter()
            .map(|&seq| Notification {
                id: seller * 1000 + seq,
                seq,
                kind: "order.created".to_owned(),
                title: String::new(),
                body: String::new(),
                data: serde_json::Map::new(),
                created_at: String::new(),
                sent_at: None,
                received_at: None,
                read_at: None,
            })
            .collect();
        Group { seller, notifications }
    }

    fn seqs(sellers: &[(SellerId, Vec<Notification>)]) -> Vec<(i64, Vec<i64>)> {
        sellers.iter().map(|(seller, n)| (seller.0, n.iter().map(|n| n.seq).collect())).collect()
    }

    #[test]
    fn a_batch_is_pushed_once_per_seller_in_seq_order() {
        let sellers = by_seller(vec![
            group(1, &[3, 4]),
            group(2, &[7]),
            group(1, &[1, 2]),
            group(2, &[8, 9]),
            group(1, &[3]),
        ]);
        assert_eq!(seqs(&sellers), [(1, vec![1, 2, 3, 4]), (2, vec![7, 8, 9])]);
    }
}
