//! One routed page per file.

pub mod dashboard;
pub mod not_found;
