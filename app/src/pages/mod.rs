//! One routed page per file.

pub mod auth;
pub mod dashboard;
pub mod not_found;
pub mod shop;
