//! Group commit for acks: the one path by which `received_at` is written.
//!
//! Every door's acks (the ack callback, `notifications:ack`, `POST
//! /api/notifications/ack`) come here as an [`AckJob`]. One task takes every
//! job waiting or arriving within [`LINGER`] (up to [`MAX_GROUP_PAIRS`] seqs)
//! and marks them all in **one**
//! `UPDATE … RETURNING` (rows locked in id order), then tells each job which
//! of its seqs it moved to received. Under load that is a few transactions a
//! second instead of one per ack (and on SQLite, one wait for the single
//! connection instead of hundreds).
//!
//! Each seq is credited once: if two jobs of a group acknowledge the same
//! notification, the first one asked for it moved it; the other did not.
//! If the group's transaction fails, its jobs are tried one by one, so one
//! bad job never fails the others.

use super::group::{Reply, ask, next_group};
use super::{Database, StoreError};
use crate::domain::notification::{SellerId, Seq};
use std::time::Duration;
use tokio::sync::mpsc;

/// Seqs one group may hold; a larger backlog is split over several groups.
pub const MAX_GROUP_PAIRS: usize = 4_000;
/// How long a group waits for more acks after its first. Nobody waits on an
/// ack's commit but the door that sent it (and never the seller's screen),
/// so a few milliseconds cost nothing and, at a steady 1,000 acks a second,
/// turn one transaction per ack into one per handful.
const LINGER: Duration = Duration::from_millis(5);
/// Jobs waiting before callers wait to enqueue.
const QUEUE_CAPACITY: usize = 8_192;

struct AckJob {
    seller: SellerId,
    seqs: Vec<Seq>,
    reply: Reply<Vec<Seq>>,
}

/// Handle to the ack task. Cloning shares the task; it stops when every
/// handle is dropped and its queue is drained.
#[derive(Debug, Clone)]
pub struct AckWriter {
    jobs: mpsc::Sender<AckJob>,
}

impl std::fmt::Debug for AckJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AckJob(seller {}, {} seqs)", self.seller.0, self.seqs.len())
    }
}

impl AckWriter {
    /// Starts the ack task for `database`.
    pub fn spawn(database: Database) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(database, queue));
        Self { jobs }
    }

    /// Marks these seqs of `seller` received; returns those that moved now,
    /// in seq order.
    ///
    /// # Errors
    /// Database failures; [`StoreError::WriterStopped`] at shutdown.
    pub async fn acknowledge(&self, seller: SellerId, seqs: &[Seq]) -> Result<Vec<Seq>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        ask(&self.jobs, |reply| AckJob { seller, seqs: seqs.to_vec(), reply }).await
    }
}

async fn run(database: Database, mut queue: mpsc::Receiver<AckJob>) {
    while let Some(group) = next_group(&mut queue, MAX_GROUP_PAIRS, LINGER, |job| job.seqs.len()).await {
        commit_group(&database, group).await;
    }
    tracing::debug!("ack writer stopped");
}

async fn commit_group(database: &Database, group: Vec<AckJob>) {
    let asked: Vec<(SellerId, Seq)> =
        group.iter().flat_map(|job| job.seqs.iter().map(|seq| (job.seller, *seq))).collect();
    match database.acknowledge_many(&asked).await {
        Ok(mut moved) => {
            for job in group {
                let mut mine: Vec<Seq> =
                    job.seqs.iter().copied().filter(|seq| moved.remove(&(job.seller, *seq))).collect();
                mine.sort_unstable();
                let _ = job.reply.send(Ok(mine));
            }
        }
        Err(error) if group.len() > 1 => {
            tracing::warn!(%error, jobs = group.len(), "ack group failed; retrying its jobs one by one");
            for job in group {
                let result = database.acknowledge(job.seller, &job.seqs).await;
                let _ = job.reply.send(result);
            }
        }
        Err(error) => {
            tracing::error!(%error, "ack failed");
            if let Some(job) = group.into_iter().next() {
                let _ = job.reply.send(Err(error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;
    use crate::domain::notification::NewNotification;
    use crate::domain::seller::{Email, ShopName};
    use crate::store::writer::Writer;

    async fn seller_with(database: &Database, writer: &Writer, name: &str, count: usize) -> SellerId {
        let email = Email::parse(&format!("{name}@shop.example")).unwrap();
        let seller = database.create_seller(&email, "hash", &ShopName::parse(name).unwrap()).await.unwrap();
        let seller = SellerId(seller.id);
        let items = (0..count)
            .map(|i| NewNotification::parse(seller.0, "test", &format!("n{i}"), "b", None).unwrap())
            .collect();
        writer.publish(items).await.unwrap();
        seller
    }

    #[tokio::test]
    async fn concurrent_acks_share_a_group_and_each_seq_is_credited_once() {
        let dir = tempfile::tempdir().unwrap();
        let database =
            Database::connect(&DatabaseUrl::sqlite_file(&dir.path().join("acks.db"))).await.unwrap();
        let writer = Writer::spawn(database.clone());
        let ana = seller_with(&database, &writer, "ana", 6).await;
        let ben = seller_with(&database, &writer, "ben", 3).await;
        let acks = AckWriter::spawn(database.clone());

        // Sent together, so they queue up behind the first and share a group.
        let (first, second, third, fourth) = tokio::join!(
            acks.acknowledge(ana, &[Seq(1), Seq(2), Seq(3)]),
            acks.acknowledge(ana, &[Seq(3), Seq(4), Seq(99)]),
            acks.acknowledge(ben, &[Seq(2), Seq(2)]),
            acks.acknowledge(ben, &[Seq(5)]),
        );
        assert_eq!(first.unwrap(), [Seq(1), Seq(2), Seq(3)]);
        assert_eq!(second.unwrap(), [Seq(4)], "3 was the first job's; 99 does not exist");
        assert_eq!(third.unwrap(), [Seq(2)], "once, though asked twice");
        assert_eq!(fourth.unwrap(), Vec::<Seq>::new(), "ben has no seq 5");

        let again = acks.acknowledge(ana, &[Seq(1), Seq(5)]).await.unwrap();
        assert_eq!(again, [Seq(5)], "1 was received already");
        let stats = database.stats(ana).await.unwrap();
        assert_eq!((stats.received, stats.pending), (5, 1));
        let stats = database.stats(ben).await.unwrap();
        assert_eq!(stats.received, 1, "another seller's seqs are its own");
    }
}
