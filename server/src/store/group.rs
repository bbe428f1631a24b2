//! The two halves every group-commit task shares ([`super::writer`] for
//! inserts, [`super::acks`] for received marks): a caller hands a job to the
//! task and awaits its reply; the task takes whatever jobs are waiting, up to
//! a size, and commits them together.

use super::StoreError;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

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

/// Waits for the next job, then takes every job already waiting, and those
/// that arrive within `linger` of the first, until their `size` adds up to
/// `limit` (one job may take it past). `None` once every sender is gone and
/// the queue is empty.
pub(super) async fn next_group<J>(
    queue: &mut mpsc::Receiver<J>,
    limit: usize,
    linger: Duration,
    size: impl Fn(&J) -> usize,
) -> Option<Vec<J>> {
    let first = queue.recv().await?;
    let lingers_until = Instant::now() + linger;
    let mut total = size(&first);
    let mut group = vec![first];
    while total < limit {
        // What is waiting is taken with `try_recv`, which spends none of the
        // task's coop budget: a `recv` under a lapsed deadline could end a
        // large group early once the budget ran out.
        let job = match queue.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Empty) if !linger.is_zero() => {
                match tokio::time::timeout_at(lingers_until, queue.recv()).await {
                    Ok(Some(job)) => job,
                    Ok(None) | Err(_) => break,
                }
            }
            Err(_) => break,
        };
        total += size(&job);
        group.push(job);
    }
    Some(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn send_apart(jobs: mpsc::Sender<u32>, count: u32, gap: Duration) {
        for job in 0..count {
            jobs.send(job).await.unwrap();
            tokio::time::sleep(gap).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_takes_what_arrives_within_its_linger_and_no_more() {
        let (jobs, mut queue) = mpsc::channel(16);
        tokio::spawn(send_apart(jobs, 8, Duration::from_millis(1)));
        let first = next_group(&mut queue, 100, Duration::from_micros(3_500), |_| 1).await.unwrap();
        assert_eq!(first, [0, 1, 2, 3], "jobs at 0, 1, 2 and 3 ms");
        let second = next_group(&mut queue, 2, Duration::from_secs(1), |_| 1).await.unwrap();
        assert_eq!(second, [4, 5], "the size limit ends a linger early");
    }

    #[tokio::test(start_paused = true)]
    async fn without_linger_a_group_is_what_was_already_waiting() {
        let (jobs, mut queue) = mpsc::channel(16);
        for job in 0..3 {
            jobs.send(job).await.unwrap();
        }
        tokio::spawn(send_apart(jobs, 2, Duration::from_millis(1)));
        let group = next_group(&mut queue, 100, Duration::ZERO, |_| 1).await.unwrap();
        assert_eq!(group, [0, 1, 2]);
    }
}
