//! A user's answer: their status and an optional short message.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user says about themselves.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, diesel::deserialize::FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
pub enum SafetyStatus {
    Safe,
    NotInArea,
    NeedHelp,
}

impl SafetyStatus {
    pub const ALL: [SafetyStatus; 3] = [SafetyStatus::Safe, SafetyStatus::NotInArea, SafetyStatus::NeedHelp];

    pub fn as_str(self) -> &'static str {
        match self {
            SafetyStatus::Safe => "safe",
            SafetyStatus::NotInArea => "not_in_area",
            SafetyStatus::NeedHelp => "need_help",
        }
    }
}

impl FromStr for SafetyStatus {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "safe" => Ok(SafetyStatus::Safe),
            "not_in_area" => Ok(SafetyStatus::NotInArea),
            "need_help" => Ok(SafetyStatus::NeedHelp),
            _ => Err("must be safe, not_in_area or need_help"),
        }
    }
}

impl fmt::Display for SafetyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The optional message sent to contacts: at most 280 characters, no control characters but
/// line breaks, no bidirectional or zero-width characters, trimmed; an empty message is no
/// message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInMessage(String);

impl CheckInMessage {
    pub const MAX_CHARS: usize = 280;

    pub fn parse(raw: &str) -> Result<Option<Self>, &'static str> {
        let message = raw.trim();
        // Counted as sent, spaces included, as the spec's maxLength counts.
        if raw.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 280 characters");
        }
        if message.is_empty() {
            return Ok(None);
        }
        if message.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 280 characters");
        }
        if message.chars().any(|c| c.is_control() && c != '\n') {
            return Err("must not contain control characters");
        }
        if let Some(why) = super::text::hidden_characters(message) {
            return Err(why);
        }
        Ok(Some(Self(message.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in SafetyStatus::ALL {
            assert_eq!(status.as_str().parse::<SafetyStatus>().unwrap(), status);
        }
        assert!("fine".parse::<SafetyStatus>().is_err());
    }

    #[test]
    fn messages_are_bounded() {
        assert_eq!(CheckInMessage::parse("  ").unwrap(), None);
        assert!(CheckInMessage::parse(&"é".repeat(280)).unwrap().is_some());
        assert!(CheckInMessage::parse(&"x".repeat(281)).is_err());
        assert!(CheckInMessage::parse("a\u{7}b").is_err());
        assert!(CheckInMessage::parse("line one\nline two").unwrap().is_some());
        assert!(CheckInMessage::parse("ok \u{202E}kcab").is_err());
        assert!(CheckInMessage::parse("ok\u{FEFF}").is_err());
    }
}
