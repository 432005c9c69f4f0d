//! An incident's words: what the operator wrote, whether it is active, and how each prompt came
//! about.

use std::str::FromStr;

use serde::Serialize;

use super::FieldError;

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest description or resolution note, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// What an operator writes about an incident, checked: a title of 1 to 200 characters without
/// control, bidirectional or zero-width characters, and an optional description (without
/// bidirectional or zero-width characters) of at most 2,000 (empty means none). Lengths
/// are counted as sent, spaces included, as the spec's `maxLength` counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentText {
    pub title: String,
    pub description: Option<String>,
}

impl IncidentText {
    pub fn parse(title: &str, description: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let trimmed = title.trim();
        if trimmed.is_empty()
            || title.chars().count() > MAX_TITLE_CHARS
            || trimmed.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "title",
                format!("must be 1 to {MAX_TITLE_CHARS} characters, without control characters"),
            ));
        } else if let Some(why) = super::text::hidden_characters(trimmed) {
            errors.push(FieldError::new("title", why));
        }
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            errors.push(FieldError::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        } else if let Some(why) = description.and_then(super::text::hidden_characters) {
            errors.push(FieldError::new("description", why));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let description = description.map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned);
        Ok(Self { title: trimmed.to_owned(), description })
    }
}

/// Whether an incident still prompts and takes answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, diesel::deserialize::FromSqlRow)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Active,
    /// Resolved by an operator, or expired.
    Resolved,
    /// Ended by an operator as sent in error.
    Retracted,
    /// Waits for a second operator's approval: nobody is prompted yet.
    PendingApproval,
    /// Rejected by a second operator, or not approved in time: nobody was prompted.
    Rejected,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Active => "active",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Retracted => "retracted",
            IncidentStatus::PendingApproval => "pending_approval",
            IncidentStatus::Rejected => "rejected",
        }
    }
}

impl FromStr for IncidentStatus {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(IncidentStatus::Active),
            "resolved" => Ok(IncidentStatus::Resolved),
            "retracted" => Ok(IncidentStatus::Retracted),
            "pending_approval" => Ok(IncidentStatus::PendingApproval),
            "rejected" => Ok(IncidentStatus::Rejected),
            _ => Err("must be active, resolved, retracted, pending_approval or rejected"),
        }
    }
}

/// How a user came to be prompted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, diesel::deserialize::FromSqlRow)]
#[serde(rename_all = "snake_case")]
pub enum PromptSource {
    /// The fan-out found them inside the area at activation.
    Activation,
    /// A later location update put them inside.
    Arrival,
    /// They answered without having been prompted.
    CheckIn,
}

impl PromptSource {
    /// Whether a prompt of this source is emailed: one made at activation or on arrival is; one
    /// made because the person answered without having been prompted is not.
    pub fn emails(self) -> bool {
        matches!(self, PromptSource::Activation | PromptSource::Arrival)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PromptSource::Activation => "activation",
            PromptSource::Arrival => "arrival",
            PromptSource::CheckIn => "check_in",
        }
    }
}

impl FromStr for PromptSource {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "activation" => Ok(PromptSource::Activation),
            "arrival" => Ok(PromptSource::Arrival),
            "check_in" => Ok(PromptSource::CheckIn),
            _ => Err("must be activation, arrival or check_in"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_trimmed_and_an_empty_description_is_none() {
        let text = IncidentText::parse("  Flood  ", Some("   ")).unwrap();
        assert_eq!(text, IncidentText { title: "Flood".into(), description: None });
    }

    #[test]
    fn each_bad_field_is_named() {
        let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
        let errors = IncidentText::parse("bell\u{7}", Some(&long)).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "description"]);
        assert!(IncidentText::parse(" ", None).is_err());
        let errors = IncidentText::parse("Fire\u{202E}", Some("zero\u{200B}width")).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["title", "description"]);
        assert!(IncidentText::parse(&"t".repeat(MAX_TITLE_CHARS + 1), None).is_err());
    }
}
