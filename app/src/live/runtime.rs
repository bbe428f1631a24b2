//! What one dashboard holds in the browser besides its signals, and its end.
//!
//! The inbox, the connection and the timers are neither `Send` nor `Copy`,
//! yet the dashboard's state must be both (Leptos context needs
//! `Send + Sync`; closures take copies). So they live in a local arena value
//! owned by the page's reactive owner, and [`Runtime`] is its handle.
//!
//! Lifecycle: filled by `bootstrap`, emptied by [`Runtime::stop`] (the
//! page's cleanup, or signing out). Once stopped, anything handed to it, such
//! as a connection a slow bootstrap opens after the seller left, is dropped
//! at once, which closes it. Dropping the resources closes the connection
//! (removing its listeners) and cancels every timer.
//!
//! Re-entrancy: the arena value is locked while a method reads or changes
//! it, so nothing in that window calls into the page or the connection (a
//! nested lock would panic); dropping what it holds never does either.
//!
//! The server build has a stand-in that holds nothing: the server renders
//! the dashboard but never runs it.

#[cfg(feature = "hydrate")]
pub(super) use browser::{Runtime, now_rfc3339};
#[cfg(not(feature = "hydrate"))]
pub(super) use server::{Runtime, now_rfc3339};

#[cfg(feature = "hydrate")]
mod browser {
    use crate::live::DashboardState;
    use crate::realtime::browser::{self, Connection, SavedInbox};
    use crate::realtime::inbox::Inbox;
    use gloo_timers::callback::{Interval, Timeout};
    use leptos::prelude::*;
    use std::collections::HashMap;

    /// Everything a dashboard holds in the browser.
    #[derive(Default)]
    struct Resources {
        /// Set by [`Runtime::stop`]: from then on nothing is kept.
        stopped: bool,
        /// The seller's notifications, shared with the connection; `None`
        /// until bootstrap knows who is signed in.
        inbox: Option<SavedInbox>,
        connection: Option<Connection>,
        /// The countdown's clock and the periodic refresh.
        intervals: Vec<Interval>,
        /// The pending refresh of stats (and orders); replacing it cancels it.
        refresh: Option<Timeout>,
        /// The pending refresh includes orders.
        refresh_orders: bool,
        /// The inbox revision the signals show.
        shown_revision: Option<u64>,
        /// Each shown toast's dismissal. Leptos timeouts, not gloo ones: a
        /// toast's own timeout removes it from here, and dropping a gloo
        /// timeout from inside its callback would free the running closure.
        toast_timers: HashMap<i64, TimeoutHandle>,
    }

    impl Drop for Resources {
        fn drop(&mut self) {
            for timer in self.toast_timers.values() {
                timer.clear();
            }
        }
    }

    /// Handle to a dashboard's browser resources. Cheap to copy.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Runtime(StoredValue<Resources, LocalStorage>);

    impl Runtime {
        pub(crate) fn new() -> Self {
            Self(StoredValue::new_local(Resources::default()))
        }

        /// Closes the connection, cancels every timer, and keeps nothing
        /// from now on.
        pub(crate) fn stop(self) {
            let mut stopped = Resources::default();
            stopped.stopped = true;
            let held = self.0.try_update_value(|resources| std::mem::replace(resources, stopped));
            // Outside the lock, though dropping them never calls back.
            drop(held);
        }

        /// Stops, and forgets what this browser saved (the next person here
        /// must not see the seller's orders).
        pub(crate) fn forget_seller(self) {
            self.stop();
            browser::clear_saved();
        }

        /// Runs `put` unless stopped. When it is not run, what it captured is
        /// dropped, which stops it.
        fn keep(self, put: impl FnOnce(&mut Resources)) {
            self.0.try_update_value(|resources| {
                if !resources.stopped {
                    put(resources);
                }
            });
        }

        pub(crate) fn keep_intervals(self, intervals: impl IntoIterator<Item = Interval>) {
            self.keep(|resources| resources.intervals.extend(intervals));
        }

        pub(crate) fn keep_inbox(self, inbox: SavedInbox) {
            self.keep(|resources| resources.inbox = Some(inbox));
        }

        pub(crate) fn keep_connection(self, connection: Connection) {
            self.keep(|resources| resources.connection = Some(connection));
        }

        /// Replaces the pending refresh with `timer`. A pending refresh of
        /// orders is never downgraded to stats only.
        pub(crate) fn keep_refresh(self, timer: Timeout, with_orders: bool) {
            self.keep(|resources| {
                resources.refresh_orders |= with_orders;
                resources.refresh = Some(timer);
            });
        }

        /// Whether the refresh now due includes orders; the next one starts
        /// without.
        pub(crate) fn take_refresh_orders(self) -> bool {
            self.0
                .try_update_value(|resources| std::mem::take(&mut resources.refresh_orders))
                .unwrap_or(false)
        }

        pub(crate) fn keep_toast_timer(self, seq: i64, timer: TimeoutHandle) {
            self.keep(|resources| {
                if let Some(earlier) = resources.toast_timers.insert(seq, timer) {
                    earlier.clear();
                }
            });
        }

        /// The toast for `seq` is gone: its timeout, if still pending, is not
        /// needed.
        pub(crate) fn forget_toast_timer(self, seq: i64) {
            if let Some(timer) =
                self.0.try_update_value(|resources| resources.toast_timers.remove(&seq)).flatten()
            {
                timer.clear();
            }
        }

        /// Records `revision` as shown; true if the signals showed another.
        pub(crate) fn is_new_revision(self, revision: u64) -> bool {
            self.0
                .try_update_value(|resources| resources.shown_revision.replace(revision) != Some(revision))
                .unwrap_or(false)
        }

        /// Applies a change the server confirmed (a REST answer) to the
        /// inbox, with or without a connection; saves and shows it if the
        /// store changed.
        pub(crate) fn change_inbox(self, state: DashboardState, change: impl FnOnce(&mut Inbox) -> bool) {
            let Some(inbox) = self.0.try_with_value(|resources| resources.inbox.clone()).flatten() else {
                return;
            };
            let changed = change(&mut inbox.borrow_mut());
            if changed {
                inbox.save();
                state.show(&inbox.borrow());
            }
        }
    }

    /// Now, as the API writes times.
    pub(crate) fn now_rfc3339() -> String {
        String::from(js_sys::Date::new_0().to_iso_string())
    }
}

#[cfg(not(feature = "hydrate"))]
mod server {
    use crate::live::DashboardState;
    use crate::realtime::inbox::Inbox;

    /// Holds nothing: the server never starts a dashboard.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Runtime;

    impl Runtime {
        pub(crate) fn new() -> Self {
            Self
        }
        pub(crate) fn stop(self) {}
        pub(crate) fn forget_seller(self) {}
        pub(crate) fn forget_toast_timer(self, _seq: i64) {}
        pub(crate) fn change_inbox(self, _state: DashboardState, _change: impl FnOnce(&mut Inbox) -> bool) {}
    }

    pub(crate) fn now_rfc3339() -> String {
        String::new()
    }
}
