//! The dashboard's live state and what the seller can do with it.
//!
//! [`DashboardState`] is a bundle of signals the page renders. In the browser,
//! [`start`] fills it: who is signed in, the saved notifications (or the
//! newest page of history when nothing is saved), then the Socket.IO
//! connection, whose store is the source of truth for the notification centre.
//! Stats and orders come from the REST API and are refreshed shortly after
//! notifications arrive (by then their acks are recorded).
//!
//! The server renders the same page with empty signals; everything that
//! needs the browser sits in `imp`, with stand-ins for the server build.

use crate::api;
use crate::realtime::session::ConnectionStatus;
use crate::types::{Notification, Order, Seller, Stats};
use leptos::prelude::*;

/// How many notifications the dashboard keeps and shows.
pub const KEPT_NOTIFICATIONS: usize = 200;
/// How many orders the list shows.
pub const SHOWN_ORDERS: u32 = 50;

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
    /// Newest first.
    pub notifications: RwSignal<Vec<Notification>>,
    /// Unread among `notifications`.
    pub unread: RwSignal<usize>,
    pub toasts: RwSignal<Vec<Toast>>,
    pub orders: RwSignal<Vec<Order>>,
    pub stats: RwSignal<Option<Stats>>,
    /// The last action that failed, in words for the seller.
    pub problem: RwSignal<Option<String>>,
}

impl DashboardState {
    pub fn new() -> Self {
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
        }
    }

    /// Seconds until the next connection attempt, while one is scheduled.
    pub fn retry_in_s(&self) -> Option<u64> {
        let at = self.retry_at_ms.get()?;
        let left = (at - self.now_ms.get()).max(0.0);
        Some((left / 1000.0).ceil() as u64)
    }

    pub fn dismiss(&self, seq: i64) {
        self.toasts.update(|toasts| toasts.retain(|t| t.seq != seq));
    }
}

impl Default for DashboardState {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts the dashboard in the browser (a no-op on the server).
pub fn start(state: DashboardState) {
    imp::start(state);
}

/// Marks one notification read, on the server and then in the store.
pub fn mark_read(state: DashboardState, seq: i64) {
    leptos::task::spawn_local(async move {
        match api::mark_read(seq).await {
            Ok(notification) => {
                imp::update_store(move |store| store.update(notification));
                refresh_stats(state).await;
            }
            Err(e) => state.problem.set(Some(format!("Could not mark it read. {e}"))),
        }
    });
}

/// Marks everything read, on the server and then in the store.
pub fn read_all(state: DashboardState) {
    leptos::task::spawn_local(async move {
        match api::read_all().await {
            Ok(_) => {
                let now = imp::now_rfc3339();
                imp::update_store(move |store| {
                    store.mark_all_read(&now);
                });
                refresh_stats(state).await;
            }
            Err(e) => state.problem.set(Some(format!("Could not mark them read. {e}"))),
        }
    });
}

/// Sends the seller a `test` notification through the whole delivery path.
pub fn send_test(state: DashboardState) {
    leptos::task::spawn_local(async move {
        if let Err(e) = api::send_test().await {
            state.problem.set(Some(format!("Could not send a test notification. {e}")));
        }
    });
}

/// Ends the session and forgets what this browser saved for it.
pub fn logout() {
    leptos::task::spawn_local(async move {
        // Even if the server cannot be told, this browser forgets the seller.
        let _ = api::logout().await;
        imp::forget_and_go("/login");
    });
}

async fn refresh_stats(state: DashboardState) {
    if let Ok(stats) = api::stats().await {
        state.stats.set(Some(stats));
    }
}

#[cfg(feature = "hydrate")]
mod imp {
    use super::{DashboardState, KEPT_NOTIFICATIONS, SHOWN_ORDERS, Toast, refresh_stats};
    use crate::api;
    use crate::realtime::browser::{self, Connection, Handlers};
    use crate::realtime::session::{ConnectionStatus, Session, SessionOptions};
    use crate::realtime::store::NotificationStore;
    use crate::types::Notification;
    use gloo_timers::callback::{Interval, Timeout};
    use leptos::prelude::*;
    use std::cell::{Cell, RefCell};

    /// How long a toast stays.
    const TOAST_MS: u32 = 6_000;
    /// Toasts on screen at once; older ones make room.
    const MAX_TOASTS: usize = 3;
    /// Stats and orders are fetched this long after the last arrival, so a
    /// burst costs one fetch and its acks are already recorded.
    const REFRESH_DELAY_MS: u32 = 400;
    /// And every this often while the page is open, for changes made elsewhere.
    const REFRESH_EVERY_MS: u32 = 15_000;
    /// Saved seller, so the dashboard opens offline.
    const SELLER_KEY: &str = "seller";

    thread_local! {
        // One dashboard per page: its connection and timers live as long as it.
        static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
        static REFRESH: RefCell<Option<Timeout>> = const { RefCell::new(None) };
        static TIMERS: RefCell<Vec<Interval>> = const { RefCell::new(Vec::new()) };
        static ORDERS_PENDING: Cell<bool> = const { Cell::new(false) };
        static REVISION: Cell<u64> = const { Cell::new(u64::MAX) };
    }

    pub(super) fn start(state: DashboardState) {
        state.now_ms.set(js_sys::Date::now());
        let tick = Interval::new(1_000, move || state.now_ms.set(js_sys::Date::now()));
        let poll = Interval::new(REFRESH_EVERY_MS, move || refresh_soon(state, false));
        TIMERS.with(|timers| timers.borrow_mut().extend([tick, poll]));
        leptos::task::spawn_local(bootstrap(state));
    }

    async fn bootstrap(state: DashboardState) {
        let seller = match api::me().await {
            Ok(seller) => {
                browser::save(SELLER_KEY, &seller);
                seller
            }
            Err(e) if e.is_unauthorized() => return forget_and_go("/login"),
            // Offline: the saved seller lets the dashboard show what it has.
            Err(e) => match browser::load(SELLER_KEY) {
                Some(seller) => seller,
                None => {
                    state.status.set(ConnectionStatus::Offline);
                    state.problem.set(Some(e.to_string()));
                    return;
                }
            },
        };
        let key = format!("store.{}", seller.id);
        state.seller.set(Some(seller));

        let saved = browser::load_store(&key, KEPT_NOTIFICATIONS);
        let had_saved = saved.is_some();
        let mut store = saved.unwrap_or_else(|| NotificationStore::new(KEPT_NOTIFICATIONS));
        let mut unreceived = Vec::new();
        if !had_saved {
            // Nothing saved: start from the newest page of history, so the
            // connection asks only for what follows it, and tell the server
            // this browser now has what it had not acknowledged.
            if let Ok(history) = api::notifications(50).await {
                unreceived = history.iter().filter(|n| n.received_at.is_none()).map(|n| n.seq).collect();
                store.anchor(history);
            }
        }
        show_store(state, &store, 0);
        let session = Session::new(SessionOptions::default(), None, store).acknowledging(unreceived);
        let connection = browser::connect(session, Some(key), handlers(state));
        CONNECTION.with(|slot| *slot.borrow_mut() = Some(connection));

        if had_saved {
            // Saved copies may be stale (read elsewhere): merge the server's.
            if let Ok(history) = api::notifications(50).await {
                update_store(move |store| {
                    for notification in history {
                        store.update(notification);
                    }
                });
            }
        }
        refresh_soon(state, true);
    }

    fn handlers(state: DashboardState) -> Handlers {
        Handlers {
            on_change: Box::new(move |session: &Session| observe(state, session)),
            on_announce: Box::new(move |arrived: Vec<Notification>| {
                announce(state, &arrived);
                let orders_changed = arrived.iter().any(|n| n.kind == "order.created");
                refresh_soon(state, orders_changed);
            }),
        }
    }

    fn observe(state: DashboardState, session: &Session) {
        let status = session.status();
        if state.status.get_untracked() != status {
            if let ConnectionStatus::Reconnecting { delay, .. } = status {
                state.retry_at_ms.set(Some(js_sys::Date::now() + delay.as_millis() as f64));
            } else {
                state.retry_at_ms.set(None);
            }
            if status.is_live() {
                refresh_soon(state, true);
            }
            state.status.set(status);
        }
        let details = super::SessionDetails {
            sid: session.handshake().map(|h| h.sid.clone()),
            heartbeat_ms: session.handshake().map(|h| h.ping_interval),
        };
        if state.session.with_untracked(|d| *d != details) {
            state.session.set(details);
        }
        let revision = session.revision();
        if REVISION.with(|r| r.replace(revision)) != revision {
            show_store(state, session.store(), revision);
        }
    }

    fn show_store(state: DashboardState, store: &NotificationStore, revision: u64) {
        REVISION.with(|r| r.set(revision));
        state.notifications.set(store.newest_first());
        state.unread.set(store.unread());
    }

    /// Fetches stats (and orders) a moment from now, once for a burst.
    fn refresh_soon(state: DashboardState, with_orders: bool) {
        // A pending refresh of orders is never downgraded to stats only.
        ORDERS_PENDING.with(|pending| pending.set(pending.get() || with_orders));
        let timer = Timeout::new(REFRESH_DELAY_MS, move || {
            let with_orders = ORDERS_PENDING.with(|pending| pending.replace(false));
            leptos::task::spawn_local(async move {
                refresh_stats(state).await;
                if with_orders && let Ok(orders) = api::orders(SHOWN_ORDERS).await {
                    state.orders.set(orders);
                }
            });
        });
        // Replacing the pending timer cancels it.
        REFRESH.with(|slot| *slot.borrow_mut() = Some(timer));
    }

    pub(super) fn update_store(change: impl FnOnce(&mut NotificationStore)) {
        CONNECTION.with(|slot| {
            if let Some(connection) = slot.borrow().as_ref() {
                connection.update_store(change);
            }
        });
    }

    /// Shows toasts for `arrived`, newest on top, each for [`TOAST_MS`].
    fn announce(state: DashboardState, arrived: &[Notification]) {
        state.toasts.update(|toasts| {
            for n in arrived {
                toasts.insert(0, Toast { seq: n.seq, title: n.title.clone(), body: n.body.clone() });
            }
            toasts.truncate(MAX_TOASTS);
        });
        for seq in arrived.iter().map(|n| n.seq) {
            Timeout::new(TOAST_MS, move || state.dismiss(seq)).forget();
        }
    }

    pub(super) fn now_rfc3339() -> String {
        String::from(js_sys::Date::new_0().to_iso_string())
    }

    pub(super) fn forget_and_go(path: &str) {
        CONNECTION.with(|slot| slot.borrow_mut().take());
        browser::clear_saved();
        crate::navigate::full_page_load(path);
    }
}

/// The server renders the page and never runs what follows.
#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::DashboardState;
    use crate::realtime::store::NotificationStore;

    pub(super) fn start(_state: DashboardState) {}
    pub(super) fn update_store(_change: impl FnOnce(&mut NotificationStore)) {}
    pub(super) fn now_rfc3339() -> String {
        String::new()
    }
    pub(super) fn forget_and_go(_path: &str) {}
}
