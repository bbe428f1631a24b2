//! `sent_at` is written off the push's path and in batches: every emit sends
//! its notification id here, and one task writes whatever has queued up in
//! one `UPDATE` (while it writes, the next batch gathers). Under load that is
//! a few dozen writes a second instead of one per push, which matters on
//! SQLite, where every write waits for the one connection; a batch also
//! waits [`LINGER`] for more, so a steady trickle is written in handfuls.

use super::store::DeliveryStore;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Ids written by one `UPDATE` at most.
const BATCH: usize = 1000;
/// How long a batch waits for more ids after its first: at a steady 1,000
/// pushes a second, a handful per write instead of one.
const LINGER: Duration = Duration::from_millis(10);

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
        // The batch takes the time of its first emit: at most `LINGER` plus
        // one batch's write earlier than the others.
        let mut ids = vec![first];
        let lingers_until = Instant::now() + LINGER;
        while ids.len() < BATCH {
            let Ok(Some((id, _))) = tokio::time::timeout_at(lingers_until, marks.recv()).await else { break };
            ids.push(id);
        }
        if let Err(error) = store.mark_sent(&ids, at).await {
            tracing::error!(count = ids.len(), %error, "failed to record sent_at");
        }
    }
}
