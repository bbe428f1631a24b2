//! The browser shell around [`Session`]: a `web_sys::WebSocket` and timers.
//!
//! It decides nothing. Each browser event becomes an [`Input`]; each
//! [`Command`] the session returns becomes a WebSocket call or a timer. Events
//! from a transport that was already dropped cannot reach the session, because
//! dropping a transport detaches its handlers before closing it.

use super::backoff::Backoff;
use super::session::{Command, Input, Session};
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

/// Path of the Socket.IO endpoint; the transport goes straight to WebSocket.
const ENDPOINT: &str = "/socket.io/?EIO=4&transport=websocket";

/// A live Socket.IO connection for this page. Dropping it closes the socket
/// and cancels its timers.
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
    }
}

type Observer = Box<dyn Fn(&Session)>;

struct Shell {
    session: Session,
    transport: Option<Transport>,
    heartbeat: Option<Timeout>,
    retry: Option<Timeout>,
    /// Told after every input, so the page can show the session's state.
    observer: Observer,
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

/// Starts connecting to this page's server. `observer` is called with the
/// session after every change.
pub fn connect(auth: Option<serde_json::Value>, observer: impl Fn(&Session) + 'static) -> Connection {
    let shell = Rc::new(RefCell::new(Shell {
        session: Session::new(Backoff::default(), auth),
        transport: None,
        heartbeat: None,
        retry: None,
        observer: Box::new(observer),
    }));
    dispatch(&shell, Input::Start);
    Connection { shell }
}

fn dispatch(shell: &Rc<RefCell<Shell>>, input: Input) {
    let jitter = js_sys::Math::random();
    let commands = shell.borrow_mut().session.on(input, jitter);
    for command in commands {
        execute(shell, command);
    }
    let state = shell.borrow();
    (state.observer)(&state.session);
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
            let weak = Rc::downgrade(shell);
            let timer = Timeout::new(millis(after), move || redispatch(&weak, Input::HeartbeatExpired));
            shell.borrow_mut().heartbeat = Some(timer);
        }
        Command::DisarmHeartbeat => shell.borrow_mut().heartbeat = None,
        Command::ScheduleRetry(after) => {
            let weak = Rc::downgrade(shell);
            let timer = Timeout::new(millis(after), move || redispatch(&weak, Input::RetryDue));
            shell.borrow_mut().retry = Some(timer);
        }
        Command::Warn(message) => log::warn!("realtime: {message}"),
    }
}

fn redispatch(shell: &Weak<RefCell<Shell>>, input: Input) {
    if let Some(shell) = shell.upgrade() {
        dispatch(&shell, input);
    }
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
