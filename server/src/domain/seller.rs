//! Seller accounts: email, password and shop name rules.

use super::{FieldError, bounded_text};

/// A lower-cased email address of a plausible shape. Deliverability is not
/// checked; uniqueness is the database's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let value = value.trim().to_lowercase();
        let invalid = || FieldError::new("email", "must be a valid email address");
        if value.len() > Self::MAX_LEN {
            return Err(FieldError::new("email", format!("must be at most {} characters", Self::MAX_LEN)));
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let well_formed = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && value.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if well_formed { Ok(Self(value)) } else { Err(invalid()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 8 to 128 characters (CONTRACT). Never logged or shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let length = value.chars().count();
        if length < Self::MIN_LEN {
            return Err(FieldError::new(
                "password",
                format!("must be at least {} characters", Self::MIN_LEN),
            ));
        }
        if length > Self::MAX_LEN {
            return Err(FieldError::new("password", format!("must be at most {} characters", Self::MAX_LEN)));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The shop's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopName(String);

impl ShopName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(value: &str) -> Result<Self, FieldError> {
        bounded_text("shop_name", value, 1, Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated registration.
#[derive(Debug, Clone)]
pub struct NewSeller {
    pub email: Email,
    pub password: Password,
    pub shop_name: ShopName,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Ana@Shop.Example ").unwrap().as_str(), "ana@shop.example");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@shop.io",
            "ana@shop",
            "ana@@shop.io",
            "a b@shop.io",
            "ana@.shop.io",
            "ana@shop..io",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().field, "email", "{bad:?}");
        }
    }

    #[test]
    fn password_length_is_8_to_128_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn password_never_shows_in_debug() {
        assert_eq!(format!("{:?}", Password::parse("hunter2hunter2").unwrap()), "Password(***)");
    }

    #[test]
    fn shop_name_must_have_text() {
        assert!(ShopName::parse("   ").is_err());
        assert_eq!(ShopName::parse(" Ana's ").unwrap().as_str(), "Ana's");
        assert!(ShopName::parse(&"x".repeat(101)).is_err());
    }
}
