//! The browser shell around [`Session`]: a `web_sys::WebSocket`, timers,
//! the browser's online/offline and visibility events, and `localStorage`.
//!
//! It decides nothing. Each browser event becomes an [`Input`]; each
//! [`Command`] the session returns becomes a WebSocket call, a timer or a
//! storage write. Events from a transport that was already dropped cannot
//! reach the session, because dropping a transport detaches its handlers
//! before closing it.
//!
//! The [`Inbox`] lives in a [`SavedInbox`] that the page holds too: the
//! connection borrows it only while the session handles one input, and the
//! page changes it directly after its REST calls. Both save it under the same
//! key.
//!
//! The page hears about changes through [`Handlers`], called after the
//! session's and the inbox's borrows are released for writing; handlers must
//! not call back into the [`Connection`] or change the inbox synchronously
//! (Leptos signal updates schedule their effects for later, so setting
//! signals is fine).

use super::inbox::Inbox;
use super::session::{Command, Input, Session};
use super::store::{NotificationStore, StoredState};
use crate::types::Notification;
use gloo_timers::callback::Timeout;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::{Ref, RefCell, RefMut};
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, Event, EventTarget, MessageEvent, WebSocket};

/// Path of the Socket.IO endpoint; the transport goes straight to WebSocket.
const ENDPOINT: &str = "/socket.io/?EIO=4&transport=websocket";

/// Every key this app writes to `localStorage` starts with this.
const STORAGE_PREFIX: &str = "liveshop.";

/// The page's [`Inbox`], shared by its connection and its own REST actions,
/// and where it is saved. Cloning shares it.
#[derive(Clone)]
pub struct SavedInbox {
    inbox: Rc<RefCell<Inbox>>,
    /// The `localStorage` key (without [`STORAGE_PREFIX`]) of its store.
    key: String,
}

impl std::fmt::Debug for SavedInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedInbox").field("key", &self.key).finish_non_exhaustive()
    }
}

impl SavedInbox {
    /// Shares `inbox`, saving it under `key` on [`Self::save`].
    pub fn new(inbox: Inbox, key: String) -> Self {
        Self { inbox: Rc::new(RefCell::new(inbox)), key }
    }

    /// # Panics
    /// While the inbox is borrowed for writing (see the module docs).
    pub fn borrow(&self) -> Ref<'_, Inbox> {
        self.inbox.borrow()
    }

    /// # Panics
    /// While the inbox is borrowed (see the module docs).
    pub fn borrow_mut(&self) -> RefMut<'_, Inbox> {
        self.inbox.borrow_mut()
    }

    /// Writes the store to `localStorage`, where [`load_store`] finds it.
    pub fn save(&self) {
        save(&self.key, &self.inbox.borrow().store().snapshot());
    }
}

/// Called after every input with the session (its status) and the inbox
/// (its revision tells whether the store changed).
pub type OnChange = dyn Fn(&Session, &Inbox);

/// What the page wants to hear.
pub struct Handlers {
    pub on_change: Box<OnChange>,
    /// Notifications that just arrived and were new, oldest first.
    pub on_announce: Box<dyn Fn(Vec<Notification>)>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers").finish_non_exhaustive()
    }
}

/// A live Socket.IO connection for this page. Dropping it closes the socket,
/// cancels its timers and removes its listeners.
pub struct Connection {
    shell: Rc<RefCell<Shell>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut shell = self.shell.borrow_mut();
        if let Some(transport) = shell.transport.take() {
            transport.retire();
        }
        shell.heartbeat = None;
        shell.retry = None;
        shell.stable = None;
        for listener in shell.listeners.drain(..) {
            listener.remove();
        }
    }
}

struct Shell {
    session: Session,
    /// What the session hands notifications to; the page holds it too.
    inbox: SavedInbox,
    transport: Option<Transport>,
    heartbeat: Option<Timeout>,
    /// When the heartbeat timer is due (ms since the epoch): browsers delay
    /// timers in hidden tabs, so a tab waking up checks the clock itself.
    heartbeat_due_ms: Option<f64>,
    retry: Option<Timeout>,
    stable: Option<Timeout>,
    handlers: Rc<Handlers>,
    listeners: Vec<Listener>,
}

/// One WebSocket and the handlers attached to it.
struct Transport {
    socket: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Transport {
    /// Detaches the handlers and closes the socket now, but frees the handler
    /// closures only on a later turn of the event loop: this may run inside one
    /// of them, and freeing a wasm-bindgen closure while it runs is an error.
    fn retire(self) {
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        self.socket.set_onerror(None);
        let _ = self.socket.close();
        Timeout::new(0, move || drop(self)).forget();
    }
}

/// A window or document event listener, removed when the connection goes.
struct Listener {
    target: EventTarget,
    event: &'static str,
    closure: Closure<dyn FnMut(Event)>,
}

impl Listener {
    fn remove(self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.event, self.closure.as_ref().unchecked_ref());
    }
}

/// Starts `session` connecting to this page's server, handing it `inbox`.
pub fn connect(session: Session, inbox: SavedInbox, handlers: Handlers) -> Connection {
    let shell = Rc::new(RefCell::new(Shell {
        session,
        inbox,
        transport: None,
        heartbeat: None,
        heartbeat_due_ms: None,
        retry: None,
        stable: None,
        handlers: Rc::new(handlers),
        listeners: Vec::new(),
    }));
    let listeners = browser_listeners(&shell);
    shell.borrow_mut().listeners = listeners;
    dispatch(&shell, Input::Start);
    if !is_online() {
        dispatch(&shell, Input::Offline);
    }
    Connection { shell }
}

/// False only when the browser is sure there is no network.
pub fn is_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// The store saved under `key`, if there is a readable one.
pub fn load_store(key: &str, capacity: usize) -> Option<NotificationStore> {
    load::<StoredState>(key).map(|state| NotificationStore::restore(state, capacity))
}

/// Reads a JSON value this app saved; anything unreadable counts as absent.
pub fn load<T: DeserializeOwned>(key: &str) -> Option<T> {
    let text = storage()?.get_item(&format!("{STORAGE_PREFIX}{key}")).ok()??;
    serde_json::from_str(&text).ok()
}

/// Saves a JSON value; a full or disabled storage is only logged.
pub fn save<T: Serialize>(key: &str, value: &T) {
    let Some(storage) = storage() else { return };
    match serde_json::to_string(value) {
        Ok(text) => {
            if let Err(e) = storage.set_item(&format!("{STORAGE_PREFIX}{key}"), &text) {
                log::warn!("cannot save {key}: {e:?}");
            }
        }
        Err(e) => log::warn!("cannot encode {key}: {e}"),
    }
}

/// Forgets everything this app saved (at logout: the next person on this
/// browser must not see the seller's orders).
pub fn clear_saved() {
    let Some(storage) = storage() else { return };
    let keys: Vec<String> = (0..storage.length().unwrap_or(0))
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter(|key| key.starts_with(STORAGE_PREFIX))
        .collect();
    for key in keys {
        let _ = storage.remove_item(&key);
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn dispatch(shell: &Rc<RefCell<Shell>>, input: Input) {
    let jitter = js_sys::Math::random();
    let commands = {
        let Shell { session, inbox, .. } = &mut *shell.borrow_mut();
        session.on(input, jitter, &mut inbox.borrow_mut())
    };
    run(shell, commands);
}

/// Carries out `commands` in order, then tells the page.
fn run(shell: &Rc<RefCell<Shell>>, commands: Vec<Command>) {
    let mut announced = Vec::new();
    for command in commands {
        match command {
            Command::Announce(notifications) => announced.extend(notifications),
            other => execute(shell, other),
        }
    }
    let handlers = shell.borrow().handlers.clone();
    {
        let shell = shell.borrow();
        (handlers.on_change)(&shell.session, &shell.inbox.borrow());
    }
    if !announced.is_empty() {
        (handlers.on_announce)(announced);
    }
}

fn execute(shell: &Rc<RefCell<Shell>>, command: Command) {
    match command {
        Command::OpenTransport => {
            let transport = open_transport(Rc::downgrade(shell));
            if transport.is_none() {
                // The URL or the browser refused outright: treat it like a
                // transport that closed at once, so backoff still applies.
                let weak = Rc::downgrade(shell);
                let retry = Timeout::new(0, move || redispatch(&weak, Input::TransportClosed));
                shell.borrow_mut().retry = Some(retry);
            }
            let previous = std::mem::replace(&mut shell.borrow_mut().transport, transport);
            if let Some(previous) = previous {
                previous.retire();
            }
        }
        Command::Send(frame) => {
            if let Some(transport) = &shell.borrow().transport
                && let Err(e) = transport.socket.send_with_str(&frame)
            {
                log::warn!("socket send failed: {e:?}");
            }
        }
        Command::CloseTransport => {
            let transport = shell.borrow_mut().transport.take();
            if let Some(transport) = transport {
                transport.retire();
            }
        }
        Command::ArmHeartbeat(after) => {
            let timer = timer(shell, after, Input::HeartbeatExpired);
            let mut state = shell.borrow_mut();
            state.heartbeat = Some(timer);
            state.heartbeat_due_ms = Some(js_sys::Date::now() + after.as_millis() as f64);
        }
        Command::DisarmHeartbeat => {
            let mut state = shell.borrow_mut();
            state.heartbeat = None;
            state.heartbeat_due_ms = None;
        }
        Command::ScheduleRetry(after) => {
            let timer = timer(shell, after, Input::RetryDue);
            shell.borrow_mut().retry = Some(timer);
        }
        Command::CancelRetry => shell.borrow_mut().retry = None,
        Command::ArmStable(after) => {
            let timer = timer(shell, after, Input::StableFor);
            shell.borrow_mut().stable = Some(timer);
        }
        Command::DisarmStable => shell.borrow_mut().stable = None,
        Command::Persist => shell.borrow().inbox.save(),
        Command::Announce(_) => {}
        Command::Warn(message) => log::warn!("realtime: {message}"),
    }
}

/// Reports `input` after `after`; dropping the timer cancels it.
fn timer(shell: &Rc<RefCell<Shell>>, after: Duration, input: Input) -> Timeout {
    let weak = Rc::downgrade(shell);
    Timeout::new(millis(after), move || redispatch(&weak, input))
}

fn redispatch(shell: &Weak<RefCell<Shell>>, input: Input) {
    if let Some(shell) = shell.upgrade() {
        dispatch(&shell, input);
    }
}

/// `online`, `offline` and `visibilitychange`: the network coming back or the
/// tab waking up retries at once instead of at the next backoff step.
fn browser_listeners(shell: &Rc<RefCell<Shell>>) -> Vec<Listener> {
    let Some(window) = web_sys::window() else { return Vec::new() };
    let document = window.document();
    let mut listeners = Vec::with_capacity(3);
    let mut listen = |target: EventTarget, event: &'static str, input: fn(&Shell) -> Option<Input>| {
        let weak = Rc::downgrade(shell);
        let closure = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let Some(shell) = weak.upgrade() else { return };
            let input = input(&shell.borrow());
            if let Some(input) = input {
                dispatch(&shell, input);
            }
        });
        if target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref()).is_ok() {
            listeners.push(Listener { target, event, closure });
        }
    };
    listen(window.clone().into(), "online", |_| Some(Input::Online));
    listen(window.into(), "offline", |_| Some(Input::Offline));
    if let Some(document) = document {
        listen(document.into(), "visibilitychange", on_visible);
    }
    listeners
}

/// A tab that becomes visible again: if its heartbeat deadline passed while
/// the browser held the timer back, the connection is dead now, not later.
fn on_visible(shell: &Shell) -> Option<Input> {
    let visible = web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
    if !visible {
        return None;
    }
    let overdue = shell.heartbeat_due_ms.is_some_and(|due| js_sys::Date::now() > due);
    Some(if overdue { Input::HeartbeatExpired } else { Input::Wake })
}

fn open_transport(shell: Weak<RefCell<Shell>>) -> Option<Transport> {
    let url = endpoint_url()?;
    let socket = match WebSocket::new(&url) {
        Ok(socket) => socket,
        Err(e) => {
            log::warn!("cannot open {url}: {e:?}");
            return None;
        }
    };

    let weak = shell.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(text) = event.data().as_string() {
            redispatch(&weak, Input::Frame(text));
        }
    });
    let weak = shell.clone();
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
        if let Some(shell) = weak.upgrade() {
            // The socket is already closed; retiring it only frees its handlers.
            let transport = shell.borrow_mut().transport.take();
            if let Some(transport) = transport {
                transport.retire();
            }
            dispatch(&shell, Input::TransportClosed);
        }
    });
    // An error is always followed by a close event, which does the work.
    let on_error = Closure::<dyn FnMut(Event)>::new(|_: Event| {});

    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    socket.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Some(Transport { socket, _on_message: on_message, _on_close: on_close, _on_error: on_error })
}

/// `ws(s)://<this page's host>/socket.io/...`: same origin as the page.
fn endpoint_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}{ENDPOINT}", location.host().ok()?))
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}
