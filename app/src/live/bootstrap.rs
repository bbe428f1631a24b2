//! Starting the dashboard in the browser, and keeping its signals in step
//! with the connection.
//!
//! Order matters: the seller first (the inbox is saved per seller), then the
//! inbox (saved, or anchored on the newest page of history so the connection
//! asks only for what follows it), shown at once, then the connection, which
//! reports every change through [`Handlers`]. A saved inbox may be stale (read
//! elsewhere), so the server's history is merged into it afterwards.
//!
//! Offline with a saved seller, the dashboard shows what it saved; with
//! none, it says it cannot reach the server. A session the server no longer
//! knows signs the seller out.

use super::{DashboardState, SHOWN_ORDERS, SessionDetails, Toast};
use crate::api;
use crate::realtime::browser::{self, Handlers, SavedInbox};
use crate::realtime::inbox::Inbox;
use crate::realtime::session::{ConnectionStatus, Session, SessionOptions};
use crate::realtime::store::NotificationStore;
use crate::types::{Notification, STORE_CAPACITY};
use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::*;
use std::time::Duration;

/// How many notifications a fresh inbox is anchored on.
const HISTORY_PAGE: u32 = 50;
/// How long a toast stays.
const TOAST_FOR: Duration = Duration::from_secs(6);
/// Toasts on screen at once; older ones make room.
const MAX_TOASTS: usize = 3;
/// Stats and orders are fetched this long after the last arrival, so a
/// burst costs one fetch and its acks are already recorded.
const REFRESH_DELAY_MS: u32 = 400;
/// And every this often while the page is open, for changes made elsewhere.
const REFRESH_EVERY_MS: u32 = 15_000;
/// Saved seller, so the dashboard opens offline.
const SELLER_KEY: &str = "seller";

/// Starts the clocks and, in the background, everything else.
pub(super) fn start(state: DashboardState) {
    state.now_ms.set(js_sys::Date::now());
    let tick = Interval::new(1_000, move || state.now_ms.set(js_sys::Date::now()));
    let poll = Interval::new(REFRESH_EVERY_MS, move || refresh_soon(state, false));
    state.runtime.keep_intervals([tick, poll]);
    leptos::task::spawn_local(bootstrap(state));
}

async fn bootstrap(state: DashboardState) {
    let seller = match api::me().await {
        Ok(seller) => {
            browser::save(SELLER_KEY, &seller);
            seller
        }
        Err(e) if e.is_unauthorized() => return state.leave(),
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

    let saved = browser::load_store(&key, STORE_CAPACITY);
    let had_saved = saved.is_some();
    let mut store = saved.unwrap_or_else(|| NotificationStore::new(STORE_CAPACITY));
    let mut unreceived = Vec::new();
    if !had_saved {
        // Nothing saved: start from the newest page of history, so the
        // connection asks only for what follows it, and tell the server
        // this browser now has what it had not acknowledged.
        if let Ok(history) = api::notifications(HISTORY_PAGE).await {
            unreceived = history.iter().filter(|n| n.received_at.is_none()).map(|n| n.seq).collect();
            store.anchor(history);
        }
    }
    let inbox = SavedInbox::new(Inbox::new(store).acknowledging(unreceived), key);
    state.show(&inbox.borrow());
    state.runtime.keep_inbox(inbox.clone());
    let session = Session::new(SessionOptions::default(), None);
    state.runtime.keep_connection(browser::connect(session, inbox, handlers(state)));

    // Saved copies may be stale (read elsewhere): merge the server's.
    if had_saved && let Ok(history) = api::notifications(HISTORY_PAGE).await {
        state.runtime.change_inbox(state, |inbox| inbox.update(history));
    }
    refresh_soon(state, true);
}

fn handlers(state: DashboardState) -> Handlers {
    Handlers {
        on_change: Box::new(move |session: &Session, inbox: &Inbox| observe(state, session, inbox)),
        on_announce: Box::new(move |arrived: Vec<Notification>| {
            announce(state, &arrived);
            let orders_changed = arrived.iter().any(|n| n.kind == "order.created");
            refresh_soon(state, orders_changed);
        }),
    }
}

fn observe(state: DashboardState, session: &Session, inbox: &Inbox) {
    let status = session.status();
    if state.status.get_untracked() != status {
        if let ConnectionStatus::Reconnecting { delay, .. } = status {
            state.retry_at_ms.set(Some(js_sys::Date::now() + delay.as_millis() as f64));
        } else {
            state.retry_at_ms.set(None);
        }
        if status.is_live() {
            refresh_soon(state, true);
        } else if session.last_refusal() == Some("unauthorized") {
            state.leave_if_signed_out();
        }
        state.status.set(status);
    }
    let details = SessionDetails {
        sid: session.handshake().map(|h| h.sid.clone()),
        heartbeat_ms: session.handshake().map(|h| h.ping_interval),
    };
    if state.session.with_untracked(|d| *d != details) {
        state.session.set(details);
    }
    state.show(inbox);
}

/// Fetches stats (and orders) a moment from now, once for a burst.
fn refresh_soon(state: DashboardState, with_orders: bool) {
    let timer = Timeout::new(REFRESH_DELAY_MS, move || {
        let with_orders = state.runtime.take_refresh_orders();
        leptos::task::spawn_local(async move {
            state.refresh_stats().await;
            if with_orders && let Ok(orders) = api::orders(SHOWN_ORDERS).await {
                state.orders.set(orders);
            }
        });
    });
    state.runtime.keep_refresh(timer, with_orders);
}

/// Shows toasts for `arrived`, newest on top, each for [`TOAST_FOR`].
fn announce(state: DashboardState, arrived: &[Notification]) {
    state.toasts.update(|toasts| {
        for n in arrived {
            toasts.insert(0, Toast { seq: n.seq, title: n.title.clone(), body: n.body.clone() });
        }
        toasts.truncate(MAX_TOASTS);
    });
    for seq in arrived.iter().map(|n| n.seq) {
        match set_timeout_with_handle(move || state.dismiss(seq), TOAST_FOR) {
            Ok(timer) => state.runtime.keep_toast_timer(seq, timer),
            Err(e) => log::warn!("cannot time a toast: {e:?}"),
        }
    }
}
