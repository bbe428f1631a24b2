//! What the seller can do on the dashboard.
//!
//! Each action calls the REST API first and changes what the page shows only
//! once the server agreed: marking read updates the inbox directly (saved and
//! shown at once, connection or not), so the page never claims a state the
//! server does not have. A refusal becomes `problem`, in words for the seller.

use super::DashboardState;
use super::runtime::now_rfc3339;
use crate::{api, navigate};
use leptos::prelude::*;

impl DashboardState {
    /// Marks one notification read, on the server and then in the inbox.
    pub fn mark_read(self, seq: i64) {
        leptos::task::spawn_local(async move {
            match api::mark_read(seq).await {
                Ok(notification) => {
                    self.runtime.change_inbox(self, |inbox| inbox.update([notification]));
                    self.refresh_stats().await;
                }
                Err(e) => self.problem.set(Some(format!("Could not mark it read. {e}"))),
            }
        });
    }

    /// Marks everything read, on the server and then in the inbox.
    pub fn read_all(self) {
        leptos::task::spawn_local(async move {
            match api::read_all().await {
                Ok(_) => {
                    let now = now_rfc3339();
                    self.runtime.change_inbox(self, |inbox| inbox.mark_all_read(&now));
                    self.refresh_stats().await;
                }
                Err(e) => self.problem.set(Some(format!("Could not mark them read. {e}"))),
            }
        });
    }

    /// Sends the seller a `test` notification through the whole delivery
    /// path; it arrives over the connection like any other.
    pub fn send_test(self) {
        leptos::task::spawn_local(async move {
            if let Err(e) = api::send_test().await {
                self.problem.set(Some(format!("Could not send a test notification. {e}")));
            }
        });
    }

    /// Ends the session and forgets what this browser saved for it.
    pub fn logout(self) {
        leptos::task::spawn_local(async move {
            // Even if the server cannot be told, this browser forgets the seller.
            let _ = api::logout().await;
            self.leave();
        });
    }

    /// Ends every session of the seller (every device), then leaves.
    pub fn logout_everywhere(self) {
        leptos::task::spawn_local(async move {
            match api::logout_everywhere().await {
                Ok(()) => self.leave(),
                Err(e) if e.is_unauthorized() => self.leave(),
                Err(e) => self.problem.set(Some(format!("Could not sign out everywhere. {e}"))),
            }
        });
    }

    /// After the server refused the socket as `unauthorized`: when the
    /// session has ended (signed out elsewhere, password changed), leave
    /// for the sign-in page instead of retrying forever.
    #[cfg(feature = "hydrate")]
    pub(super) fn leave_if_signed_out(self) {
        leptos::task::spawn_local(async move {
            if matches!(api::me().await, Err(e) if e.is_unauthorized()) {
                self.leave();
            }
        });
    }

    /// Takes a toast away, by hand or when its time is up.
    pub fn dismiss(self, seq: i64) {
        self.toasts.update(|toasts| toasts.retain(|t| t.seq != seq));
        self.runtime.forget_toast_timer(seq);
    }

    /// Stops the dashboard, forgets the seller in this browser and goes to
    /// the sign-in page.
    pub(super) fn leave(self) {
        self.runtime.forget_seller();
        navigate::full_page_load("/login");
    }

    pub(super) async fn refresh_stats(self) {
        if let Ok(stats) = api::stats().await {
            self.stats.set(Some(stats));
        }
    }
}
