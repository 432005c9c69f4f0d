//! Account values: roles, locales, display names and passwords.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user may do. Each role includes the ones before it: user < operator < admin.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    diesel::deserialize::FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

impl FromStr for Role {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err("must be one of user, operator, admin"),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The languages emails and texts come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, diesel::deserialize::FromSqlRow)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    En,
    Fr,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Fr];

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
        }
    }
}

impl FromStr for Locale {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "en" => Ok(Locale::En),
            "fr" => Ok(Locale::Fr),
            _ => Err("must be `en` or `fr`"),
        }
    }
}

/// A name shown to contacts and operators: 1 to 100 characters after trimming, no control
/// characters (they would break email headers and CSV), no invisible characters that reorder or
/// hide text, and no web address (a name is in every email's subject).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty");
        }
        // Counted as sent, spaces included, as the spec's maxLength counts.
        if raw.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        if let Some(why) = super::text::hidden_characters(name).or_else(|| super::text::link_in_name(name)) {
            return Err(why);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A new password: 8 to 128 characters (NIST SP 800-63B: long passphrases allowed, no
/// composition rules).
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < 8 {
            return Err("must be at least 8 characters");
        }
        if chars > 128 {
            return Err("must be at most 128 characters");
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_lower_ones() {
        assert!(Role::Admin.includes(Role::Operator));
        assert!(Role::Operator.includes(Role::User));
        assert!(!Role::User.includes(Role::Operator));
        assert!(!Role::Operator.includes(Role::Admin));
    }

    #[test]
    fn password_length_bounds() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("é".repeat(128)).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        // Counted as sent, as the spec's maxLength is.
        assert!(DisplayName::parse(&format!(" {}", "x".repeat(100))).is_err());
        assert!(DisplayName::parse("a\nb").is_err());
        assert!(DisplayName::parse("Ada \u{202E}evil").is_err());
        assert!(DisplayName::parse("Ada\u{200B}").is_err());
        assert!(DisplayName::parse("Ada https://evil.example").is_err());
        assert!(DisplayName::parse("www.evil.example").is_err());
    }
}
