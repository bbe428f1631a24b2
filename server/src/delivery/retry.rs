//! The seam between delivery and the persistent retry queue: a job says
//! "look at notification (seller, seq) again, as push attempt N, at this
//! time"; delivery decides what to do when it comes due. The queue (apalis,
//! in `queue`) only stores and hands back jobs.

use crate::domain::notification::{SellerId, Seq};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Look again at one notification, as push attempt `attempt` (the first push
/// is attempt 1; `attempts + 1` means "mark failed if still unacknowledged").
/// Stored as JSON by the queue: renaming a field strands stored jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryJob {
    pub seller_id: i64,
    pub seq: i64,
    pub attempt: u32,
}

impl RetryJob {
    pub fn new(seller: SellerId, seq: Seq, attempt: u32) -> Self {
        Self { seller_id: seller.0, seq: seq.0, attempt }
    }

    pub fn seller(&self) -> SellerId {
        SellerId(self.seller_id)
    }

    pub fn seq(&self) -> Seq {
        Seq(self.seq)
    }
}

/// Why jobs could not be stored (the queue's own error, as text: only logged).
#[derive(Debug, thiserror::Error)]
#[error("the retry queue refused: {0}")]
pub struct ScheduleError(pub String);

/// Stores retry jobs to run later.
#[async_trait::async_trait]
pub trait RetryScheduler: Send + Sync + fmt::Debug + 'static {
    /// Stores each job to come due after its delay.
    ///
    /// # Errors
    /// When the queue's storage refuses them (none may have been stored).
    async fn schedule(&self, jobs: Vec<(RetryJob, Duration)>) -> Result<(), ScheduleError>;
}
