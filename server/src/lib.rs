//! The LiveShop Link Notify server: Leptos SSR, the REST API of
//! `docs/CONTRACT.md` and the Socket.IO gateway, in one axum application.
//!
//! # Layout
//! How one notification travels: a publisher's request enters at [`http`]
//! (or a storefront order does), which calls [`delivery::Delivery::publish`];
//! delivery stores it through [`store`] (the group-commit writer), then
//! pushes it through its `Fanout` seam, which [`gateway`] implements over
//! Socket.IO (this instance's sockets) and a Redis relay (the other
//! instances, which push to theirs). Acks come back through the gateway (ack
//! callback, `notifications:ack`) or [`http`] (`POST /api/notifications/ack`)
//! and are all recorded by delivery; retries come due in [`queue`] (apalis),
//! which hands them back to delivery.
//!
//! - [`config`]: every setting, read once from the environment, in sections.
//! - [`domain`]: validated input and the rules both doors share; no IO.
//! - [`auth`]: passwords, session tokens, where a request carries them.
//! - [`store`]: the database (SQLite or PostgreSQL), its migrations, the writer.
//! - [`delivery`]: the policy (first push, acks, retries, catch-up, sweep),
//!   behind three seams: `Fanout`, `DeliveryStore`, `RetryScheduler`.
//! - [`queue`]: the persistent retry queue (apalis) and its worker.
//! - [`gateway`]: the Socket.IO edge: handshake auth, rooms, events, fanout.
//! - [`http`]: the JSON API edge: routes, extractors, `/metrics`.
//! - [`rate_limiter`]: per-IP request budgets.
//! - [`state`], [`startup`]: what handlers share, and the one place that
//!   picks backends and wires everything; [`ssr`]: the Leptos pages.
//! - [`drain`]: leaving on SIGTERM: the draining flag, and sockets closed
//!   spread over `DRAIN_MS` (their TCP connections, tracked by the listener).
//!
//! Dependencies point inwards: `http`, `gateway` and `queue` → `delivery` →
//! `store` → `domain`. `delivery` imports neither axum, socketioxide, apalis
//! nor sqlx; `store` knows nothing of axum or socketioxide. There is no
//! import cycle among the modules (`../shared/tools/modcycles.py` checks).

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod drain;
pub mod error;
pub mod gateway;
pub mod http;
pub mod queue;
pub mod rate_limiter;
pub mod sessions;
pub mod ssr;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
