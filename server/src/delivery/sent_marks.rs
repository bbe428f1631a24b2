//! `sent_at` is written off the push's path and in batches: every emit sends
//! its notification id here, and one task writes whatever has queued up in
//! one `UPDATE` (while it writes, the next batch gathers). Under load that is
//! a few dozen writes a second instead of one per push, which matters on
//! SQLite, where every write waits for the one connection.

use super::store::DeliveryStore;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Ids written by one `UPDATE` at most.
const BATCH: usize = 1000;

/// Handle to the batching task; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct SentMarks {
    queue: mpsc::UnboundedSender<(i64, DateTime<Utc>)>,
}

impl SentMarks {
    pub(super) fn spawn(store: Arc<dyn DeliveryStore>) -> Self {
        let (queue, marks) = mpsc::unbounded_channel();
        tokio::spawn(run(store, marks));
        Self { queue }
    }

    /// Notification `id` went out at `at`.
    pub(super) fn record(&self, id: i64, at: DateTime<Utc>) {
        // Only fails once the task stopped (shutdown): the row keeps its
        // NULL `sent_at`, and an ack still sets it.
        let _ = self.queue.send((id, at));
    }
}

async fn run(store: Arc<dyn DeliveryStore>, mut marks: mpsc::UnboundedReceiver<(i64, DateTime<Utc>)>) {
    while let Some((first, at)) = marks.recv().await {
        // The batch takes the time of its first emit: at most one batch's
        // write (milliseconds) earlier than the others.
        let mut ids = vec![first];
        while ids.len() < BATCH {
            match marks.try_recv() {
                Ok((id, _)) => ids.push(id),
                Err(_) => break,
            }
        }
        if let Err(error) = store.mark_sent(&ids, at).await {
            tracing::error!(count = ids.len(), %error, "failed to record sent_at");
        }
    }
}
