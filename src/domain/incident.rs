//! An incident's words: whether it is active, and how each prompt came about.

use std::str::FromStr;

use serde::Serialize;

/// Whether an incident still prompts and takes answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, diesel::deserialize::FromSqlRow)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Active,
    /// Resolved by an operator, or expired.
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Active => "active",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

impl FromStr for IncidentStatus {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(IncidentStatus::Active),
            "resolved" => Ok(IncidentStatus::Resolved),
            _ => Err("must be active or resolved"),
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
