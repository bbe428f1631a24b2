//! End-to-end tests of the server: each starts the real application on a
//! random port with a fresh database (SQLite, and PostgreSQL for the tests
//! defined with `on_both_backends!`), and talks to it over HTTP or Socket.IO
//! like any client would.

mod auth;
mod backlog;
mod concurrency;
mod crash;
mod drain;
mod health;
mod heartbeat;
mod helpers;
mod ingest;
mod limits;
mod notifications;
mod orders;
mod pages;
mod redis;
mod retry;
mod routing;
mod security;
mod sessions;
mod socket;
mod socket_client;
mod socket_contract;
mod tls;
