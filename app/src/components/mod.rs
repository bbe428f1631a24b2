//! Small reusable pieces of the dashboard.

pub mod connection_badge;
