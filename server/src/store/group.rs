//! The two halves every group-commit task shares ([`super::writer`] for
//! inserts, [`super::acks`] for received marks): a caller hands a job to the
//! task and awaits its reply; the task takes whatever jobs are waiting, up to
//! a size, and commits them together.

use super::StoreError;
use tokio::sync::{mpsc, oneshot};

/// A job's reply channel.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Sends the job `make` builds around a reply channel, and awaits the reply.
///
/// # Errors
/// The task's answer; [`StoreError::WriterStopped`] when the task is gone
/// (the server is shutting down).
pub(super) async fn ask<J, T>(
    jobs: &mpsc::Sender<J>,
    make: impl FnOnce(Reply<T>) -> J,
) -> Result<T, StoreError> {
    let (reply, answer) = oneshot::channel();
    jobs.send(make(reply)).await.map_err(|_| StoreError::WriterStopped)?;
    answer.await.map_err(|_| StoreError::WriterStopped)?
}

/// Waits for the next job, then takes every job already waiting until their
/// `size` adds up to `limit` (one job may take it past). `None` once every
/// sender is gone and the queue is empty.
pub(super) async fn next_group<J>(
    queue: &mut mpsc::Receiver<J>,
    limit: usize,
    size: impl Fn(&J) -> usize,
) -> Option<Vec<J>> {
    let first = queue.recv().await?;
    let mut total = size(&first);
    let mut group = vec![first];
    while total < limit {
        match queue.try_recv() {
            Ok(job) => {
                total += size(&job);
                group.push(job);
            }
            Err(_) => break,
        }
    }
    Some(group)
}
