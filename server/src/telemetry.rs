//! Structured logs through `tracing`.

use crate::config::LogConfig;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, from `main`; tests keep the
/// default (silent) subscriber unless they install their own.
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|e| {
        eprintln!("RUST_LOG {:?} is not a valid filter ({e}); using \"info\"", log.filter);
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    if log.json {
        builder.json().init();
    } else {
        builder.init();
    }
}
