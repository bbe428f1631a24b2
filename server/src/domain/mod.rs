//! Validated input: each `New*`/newtype is built by a `parse` that checks every
//! rule of `docs/CONTRACT.md`, so the rest of the server never re-checks. No IO.

pub mod limit;
pub mod notification;
pub mod order;
pub mod seller;
pub mod sync;

use std::fmt;

/// One broken rule, naming the field as the client wrote it
/// (`items[2].quantity`, `notifications[7].title`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error, one level down: `items` + `[2]` → `items[2].quantity`.
    pub fn within(self, parent: &str) -> Self {
        Self { field: format!("{parent}.{}", self.field), message: self.message }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// A trimmed text of `min..=max` characters (not bytes).
pub(crate) fn bounded_text(field: &str, value: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if length > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}
