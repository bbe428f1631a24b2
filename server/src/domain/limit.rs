//! Page sizes: CONTRACT says above 500 is clamped to 500, below 1 is 422.

use super::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const MAX: u32 = 500;
    /// The largest page, for server-side walks over many rows.
    pub const MAX_LIMIT: Self = Self(Self::MAX);

    /// `value` as the client sent it (absent → `default`).
    pub fn parse(value: Option<i64>, default: u32) -> Result<Self, FieldError> {
        match value {
            None => Ok(Self(default.min(Self::MAX))),
            Some(n) if n < 1 => Err(FieldError::new("limit", "must be at least 1")),
            Some(n) => Ok(Self(u32::try_from(n).unwrap_or(Self::MAX).min(Self::MAX))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_clamps_and_refuses_below_one() {
        assert_eq!(Limit::parse(None, 50).unwrap().get(), 50);
        assert_eq!(Limit::parse(Some(1), 50).unwrap().get(), 1);
        assert_eq!(Limit::parse(Some(501), 50).unwrap().get(), 500);
        assert_eq!(Limit::parse(Some(i64::MAX), 50).unwrap().get(), 500);
        assert_eq!(Limit::parse(Some(0), 50).unwrap_err().field, "limit");
        assert!(Limit::parse(Some(-4), 50).is_err());
    }
}
