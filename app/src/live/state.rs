//! What the dashboard shows, as signals.
//!
//! [`DashboardState`] is `Copy` (arena handles only), so components and the
//! browser callbacks each take their own copy; and it is `Send + Sync`, as
//! Leptos context requires. What it holds in the browser that is neither
//! (the inbox, the connection, timers) sits behind its `runtime` handle.
//! It is made only by `provide_dashboard`, so every copy belongs to a page
//! that will stop it.

use super::runtime::Runtime;
use crate::realtime::session::ConnectionStatus;
use crate::types::{Notification, Order, Seller, Stats};
use leptos::prelude::*;

/// A toast for a notification that just arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub seq: i64,
    pub title: String,
    pub body: String,
}

/// What the page knows about the current Socket.IO session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionDetails {
    pub sid: Option<String>,
    pub heartbeat_ms: Option<u64>,
}

/// Everything the dashboard shows, as signals. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct DashboardState {
    pub seller: RwSignal<Option<Seller>>,
    pub status: RwSignal<ConnectionStatus>,
    /// When the next connection attempt starts (ms since the epoch), while
    /// reconnecting.
    pub retry_at_ms: RwSignal<Option<f64>>,
    /// Ticks every second, for the "reconnecting in N s" countdown.
    pub now_ms: RwSignal<f64>,
    pub session: RwSignal<SessionDetails>,
    /// Newest first: the inbox's store, as last shown.
    pub notifications: RwSignal<Vec<Notification>>,
    /// Unread among `notifications`.
    pub unread: RwSignal<usize>,
    pub toasts: RwSignal<Vec<Toast>>,
    pub orders: RwSignal<Vec<Order>>,
    pub stats: RwSignal<Option<Stats>>,
    /// The last action that failed, in words for the seller.
    pub problem: RwSignal<Option<String>>,
    /// What feeds the signals in the browser; stopped with the page.
    pub(super) runtime: Runtime,
}

impl DashboardState {
    pub(super) fn new() -> Self {
        Self {
            seller: RwSignal::new(None),
            status: RwSignal::new(ConnectionStatus::Connecting),
            retry_at_ms: RwSignal::new(None),
            now_ms: RwSignal::new(0.0),
            session: RwSignal::new(SessionDetails::default()),
            notifications: RwSignal::new(Vec::new()),
            unread: RwSignal::new(0),
            toasts: RwSignal::new(Vec::new()),
            orders: RwSignal::new(Vec::new()),
            stats: RwSignal::new(None),
            problem: RwSignal::new(None),
            runtime: Runtime::new(),
        }
    }

    /// Seconds until the next connection attempt, while one is scheduled.
    pub fn retry_in_s(&self) -> Option<u64> {
        let at = self.retry_at_ms.get()?;
        let left = (at - self.now_ms.get()).max(0.0);
        Some((left / 1000.0).ceil() as u64)
    }

    /// Shows the inbox's store, unless the signals already show this revision
    /// of it.
    #[cfg(feature = "hydrate")]
    pub(super) fn show(self, inbox: &crate::realtime::inbox::Inbox) {
        if self.runtime.is_new_revision(inbox.revision()) {
            self.notifications.set(inbox.store().newest_first());
            self.unread.set(inbox.store().unread());
        }
    }
}
