//! What operators tell the people of an incident after the prompt: official updates, the all
//! clear, and the retraction of an alert sent in error.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The longest official update or retraction reason, in characters.
pub const MAX_NOTICE_CHARS: usize = 1000;

/// What kind of notice a row is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, diesel::deserialize::FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// An official update: what the operator's organisation says now.
    Update,
    /// The incident is over (a resolution with `notify`).
    AllClear,
    /// The alert was sent in error.
    Retraction,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Update => "update",
            NoticeKind::AllClear => "all_clear",
            NoticeKind::Retraction => "retraction",
        }
    }

    /// Whether the notice goes only to those who heard of the incident (were sent an email
    /// about it, or answered), and to the contacts told of an answer: a retraction, so that
    /// nobody who heard nothing hears of it. An official update and the all clear go to
    /// everyone prompted.
    pub fn only_to_those_told(self) -> bool {
        self == NoticeKind::Retraction
    }
}

impl FromStr for NoticeKind {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "update" => Ok(NoticeKind::Update),
            "all_clear" => Ok(NoticeKind::AllClear),
            "retraction" => Ok(NoticeKind::Retraction),
            _ => Err("must be update, all_clear or retraction"),
        }
    }
}

/// An operator's text for everyone prompted (an update, or a retraction's reason), checked:
/// 1 to 1,000 characters once trimmed, counted as sent, without bidirectional or zero-width
/// characters (line breaks are allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeText(String);

impl NoticeText {
    /// `field` names the field in the error (`text`, `reason`).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || raw.chars().count() > MAX_NOTICE_CHARS {
            return Err(FieldError::new(field, format!("must be 1 to {MAX_NOTICE_CHARS} characters")));
        }
        let unreadable = |c: char| c.is_control() && c != '\n' && c != '\r' && c != '\t';
        if trimmed.chars().any(unreadable) {
            return Err(FieldError::new(field, "must not contain control characters other than line breaks"));
        }
        if let Some(why) = super::text::hidden_characters(trimmed) {
            return Err(FieldError::new(field, why));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_trimmed_and_keeps_its_line_breaks() {
        let text = NoticeText::parse("text", "  Avoid Les Halles.\nNo shooting at the Trocadéro.  ").unwrap();
        assert_eq!(text.as_str(), "Avoid Les Halles.\nNo shooting at the Trocadéro.");
    }

    #[test]
    fn empty_long_and_hidden_texts_are_refused_naming_the_field() {
        for bad in ["", "   ", &"x".repeat(MAX_NOTICE_CHARS + 1), "bell\u{7}", "over\u{202E}ride"] {
            assert_eq!(NoticeText::parse("reason", bad).unwrap_err().field, "reason", "{bad:?}");
        }
        assert!(NoticeText::parse("text", &"é".repeat(MAX_NOTICE_CHARS)).is_ok());
    }

    #[test]
    fn kinds_read_back_as_written() {
        for kind in [NoticeKind::Update, NoticeKind::AllClear, NoticeKind::Retraction] {
            assert_eq!(kind.as_str().parse::<NoticeKind>(), Ok(kind));
        }
    }
}
