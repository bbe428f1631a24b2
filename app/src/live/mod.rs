//! The seller dashboard's live state, provided through the component tree.
//!
//! [`provide_dashboard`] creates one [`DashboardState`] for the dashboard page
//! and provides it as context; the components under the page take it with
//! `expect_context::<DashboardState>()`. The state is a bundle of signals the
//! page renders (see `state`), the seller's actions on it (`actions`), and,
//! in the browser, the resources that feed it (`runtime`): the notification
//! inbox, the Socket.IO connection, timers and listeners. `bootstrap` starts
//! them once the page is hydrated: who is signed in, the saved notifications
//! (or the newest page of history when nothing is saved), then the connection.
//!
//! Invariants:
//! - the [`Inbox`](crate::realtime::inbox::Inbox) is the source of truth for
//!   the notification centre. The connection and the seller's REST actions
//!   both change it directly, and every change is saved in `localStorage`
//!   and then shown;
//! - stats and orders come from the REST API, refreshed shortly after
//!   notifications arrive (by then their acks are recorded);
//! - everything the dashboard holds belongs to the owner of the page that
//!   provided it. Its cleanup closes the connection, cancels the timers and
//!   removes the listeners, so nothing outlives the page, and no global state
//!   ties the dashboard to one per page.
//!
//! The server renders the same page with empty signals and never starts it:
//! the browser-only parts are compiled for the `hydrate` feature only, with
//! stand-ins for the server build.

mod actions;
#[cfg(feature = "hydrate")]
mod bootstrap;
mod runtime;
mod state;

pub use state::{DashboardState, SessionDetails, Toast};

use leptos::prelude::*;

/// How many orders the list shows.
pub const SHOWN_ORDERS: u32 = 50;

/// Creates the dashboard's state for the calling component and the
/// components under it, and starts it once the page is hydrated. The
/// component's cleanup stops it.
pub fn provide_dashboard() -> DashboardState {
    let state = DashboardState::new();
    provide_context(state);
    on_cleanup(move || state.runtime.stop());
    // Effects run only in the browser, after hydration.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| bootstrap::start(state));
    state
}
