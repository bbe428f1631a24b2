//! First pushes whose ack window ended with no ack seen by this instance.
//!
//! Another instance's socket may have acknowledged (each instance records
//! its own sockets' acks in the shared database), and an ack may have come
//! by event or over HTTP, so the database decides what is retried. The
//! windows of pushes made close together end close together: they are
//! checked with one query, a short [`GATHER`] after the first of them ends,
//! instead of one query per push. A process that is about to exit checks
//! every window at once ([`Unconfirmed::check_all_now`]), so its pushes'
//! retries are in the persistent queue before it goes.

use crate::domain::notification::{SellerId, Seq};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How long after the first due window the check waits for others to join
/// it. Checking late only makes the retry that late; checking early would
/// retry what is about to be acknowledged.
pub(super) const GATHER: Duration = Duration::from_millis(20);

/// One push's ack window: when it ends, and what it carried.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Window {
    ends: Instant,
    seller: SellerId,
    seq: Seq,
}

#[derive(Debug)]
enum Message {
    Window(Window),
    /// Check every window now; answer how many there were.
    CheckAll(oneshot::Sender<usize>),
}

/// Where delivery hands the windows it saw end unacknowledged. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub(super) struct Unconfirmed {
    sender: mpsc::UnboundedSender<Message>,
}

/// The receiving end, for [`run`].
pub(super) struct Inbox(mpsc::UnboundedReceiver<Message>);

pub(super) fn channel() -> (Unconfirmed, Inbox) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (Unconfirmed { sender }, Inbox(receiver))
}

impl Unconfirmed {
    /// Checks these seqs of `seller` once `ends` has passed.
    pub(super) fn check_at(&self, ends: Instant, seller: SellerId, seqs: Vec<Seq>) {
        for seq in seqs {
            // Fails only once the checking task is gone (the process is
            // ending, or a check panicked): the sweep finds what is pending.
            let _ = self.sender.send(Message::Window(Window { ends, seller, seq }));
        }
    }

    /// Checks every window now, ended or not (the process is about to
    /// exit); returns how many were checked once they have been.
    pub(super) async fn check_all_now(&self) -> usize {
        let (reply, checked) = oneshot::channel();
        if self.sender.send(Message::CheckAll(reply)).is_err() {
            return 0;
        }
        checked.await.unwrap_or(0)
    }
}

/// Hands `check` every window that has ended, in groups, for as long as
/// windows can arrive.
pub(super) async fn run<F, Fut>(mut inbox: Inbox, check: F)
where
    F: Fn(Vec<(SellerId, Seq)>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut waiting: BinaryHeap<Reverse<Window>> = BinaryHeap::new();
    let mut open = true;
    loop {
        let first_ends = waiting.peek().map(|Reverse(window)| window.ends);
        let Some(first_ends) = first_ends.or(open.then(far_future)) else { return };
        tokio::select! {
            message = inbox.0.recv(), if open => match message {
                Some(Message::Window(window)) => waiting.push(Reverse(window)),
                Some(Message::CheckAll(reply)) => {
                    let due: Vec<(SellerId, Seq)> =
                        waiting.drain().map(|Reverse(window)| (window.seller, window.seq)).collect();
                    let count = due.len();
                    if count > 0 {
                        check(due).await;
                    }
                    let _ = reply.send(count);
                }
                None => open = false,
            },
            () = tokio::time::sleep_until(first_ends + GATHER) => {
                let now = Instant::now();
                let mut due = Vec::new();
                while waiting.peek().is_some_and(|Reverse(window)| window.ends <= now) {
                    let Some(Reverse(window)) = waiting.pop() else { break };
                    due.push((window.seller, window.seq));
                }
                if !due.is_empty() {
                    check(due).await;
                }
            }
        }
    }
}

/// A deadline that never comes while the process runs: nothing waits.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
