//! The dashboard's Socket.IO client, written by hand because no Rust crate
//! speaks Socket.IO from wasm32.
//!
//! The pure parts ([`protocol`], [`backoff`], [`session`]) decide everything and
//! are tested natively; [`browser`] (feature `hydrate`) only turns the session's
//! [`session::Command`]s into WebSocket calls and timers, and feeds what the
//! browser reports back in as [`session::Input`]s.

pub mod backoff;
#[cfg(feature = "hydrate")]
pub mod browser;
pub mod protocol;
pub mod session;
pub mod store;
