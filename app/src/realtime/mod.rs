//! The dashboard's Socket.IO client, written by hand because no Rust crate
//! speaks Socket.IO from wasm32.
//!
//! The pure parts decide everything and are tested natively: [`protocol`]
//! (packets), [`backoff`] (reconnect delays), [`session`] (the transport state
//! machine), [`inbox`] (what the connection means for the notifications: the
//! [`store`], acks and sync). [`browser`] (feature `hydrate`) only turns the
//! session's [`session::Command`]s into WebSocket calls, timers and storage
//! writes, and feeds what the browser reports back in as [`session::Input`]s.
//!
//! The inbox is not inside the session: the page changes it after its own REST
//! calls, with or without a connection, and the session is handed it with
//! each input.

pub mod backoff;
#[cfg(feature = "hydrate")]
pub mod browser;
#[cfg(test)]
mod fixtures;
pub mod inbox;
pub mod protocol;
pub mod session;
pub mod store;
