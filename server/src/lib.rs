//! The LiveShop Link Notify server: Leptos SSR, the REST API of `CONTRACT.md`
//! and the Socket.IO gateway, in one axum application.
//!
//! # Layout
//! - [`config`]: every setting, read once from the environment and validated.
//! - [`startup`]: the only place that picks backends and wires the app;
//!   [`startup::Application`] binds, serves and shuts down gracefully.
//! - [`store`]: the database (SQLite or PostgreSQL) and its migrations.
//! - [`http`]: the JSON API routes and their error type.
//! - [`gateway`]: the Socket.IO endpoint: handshake auth, rooms, ack/sync events.
//! - [`delivery`]: pushes stored notifications to sockets, records acks,
//!   retries through [`queue`] (apalis, persisted in the same database).
//! - [`ssr`]: serves the Leptos pages and their static assets.
//!
//! Dependencies point inwards: `http` and `gateway` use `store`; `store` knows
//! nothing of axum or socketioxide.

pub mod auth;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod http;
pub mod queue;
pub mod ssr;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
