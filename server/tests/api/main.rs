//! End-to-end tests of the server: each starts the real application on a
//! random port with a fresh SQLite file, and talks to it over HTTP or
//! Socket.IO like any client would.

mod health;
mod helpers;
mod routing;
mod socket;
