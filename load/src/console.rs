//! Messages for the person running the tool. Notes and progress go to
//! stderr and are silenced by `--quiet`; warnings and errors always go to
//! stderr; only the final report goes to stdout, so it can be piped.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once by `main` from `--quiet`, read everywhere: a flag every task
/// would otherwise have to carry.
static QUIET: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// A progress line or a note about what the tool is doing.
pub(crate) fn note(message: impl Display) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("{message}");
    }
}

/// Something the operator should know even with `--quiet`.
pub(crate) fn warn(message: impl Display) {
    eprintln!("warning: {message}");
}
