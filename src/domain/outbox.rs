//! The outbox's words: what kind of message a row is, and where it stands.

use std::str::FromStr;

use serde::Serialize;

/// What a queued message is, which decides its template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, diesel::deserialize::FromSqlRow)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A user's answer, to one of their contacts.
    CheckIn,
    /// "Are you safe?", to a prompted user.
    Prompt,
    /// The same question again, to a user who has not answered.
    Reminder,
    /// To an address a user listed as a contact: who listed it, what it will receive, and the
    /// links to accept or never be emailed.
    Invitation,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 4] = [
        NotificationKind::CheckIn,
        NotificationKind::Prompt,
        NotificationKind::Reminder,
        NotificationKind::Invitation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::CheckIn => "check_in",
            NotificationKind::Prompt => "prompt",
            NotificationKind::Reminder => "reminder",
            NotificationKind::Invitation => "invitation",
        }
    }
}

impl FromStr for NotificationKind {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "check_in" => Ok(NotificationKind::CheckIn),
            "prompt" => Ok(NotificationKind::Prompt),
            "reminder" => Ok(NotificationKind::Reminder),
            "invitation" => Ok(NotificationKind::Invitation),
            _ => Err("must be check_in, prompt, reminder or invitation"),
        }
    }
}

/// The outbox's lanes, first to last (`notify::delivery` claims the emails prompts carry between
/// `People` and `Invitations`): every due message of a lane is claimed before any of the
/// next one. A contact waiting for news comes first, then the prompts of a large activation;
/// invitations last: nobody is waiting on one in a disaster, and a burst of new contacts (or of
/// scripted accounts listing strangers) must never delay the check-in emails of anyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// A contact's check-in email.
    Contacts,
    /// Prompts and reminders to the people prompted.
    People,
    /// Invitations to newly listed contacts.
    Invitations,
}

impl Lane {
    /// Every lane, first to last.
    pub const ALL: [Lane; 3] = [Lane::Contacts, Lane::People, Lane::Invitations];

    /// The kinds of message the lane carries.
    pub fn kinds(self) -> &'static [NotificationKind] {
        match self {
            Lane::Contacts => &[NotificationKind::CheckIn],
            Lane::People => &[NotificationKind::Prompt, NotificationKind::Reminder],
            Lane::Invitations => &[NotificationKind::Invitation],
        }
    }
}

/// Where a message stands. `queued`, `retrying` and `sending` are on their way; the rest are
/// final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, diesel::deserialize::FromSqlRow)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    /// Waiting for its first attempt.
    Queued,
    /// Claimed by a worker, under a lease.
    Sending,
    /// Refused for now; tried again at `next_attempt_at`.
    Retrying,
    Sent,
    /// Refused for good, or too many attempts.
    Failed,
    /// The address unsubscribed: recorded, never sent.
    Suppressed,
    /// Over the recipient's hourly cap: recorded, never sent.
    Dropped,
}

impl NotificationState {
    /// Every state, in the order people read them: what arrived, then what is on its way, then
    /// what will not.
    pub const ALL: [NotificationState; 7] = [
        NotificationState::Sent,
        NotificationState::Queued,
        NotificationState::Sending,
        NotificationState::Retrying,
        NotificationState::Failed,
        NotificationState::Suppressed,
        NotificationState::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Queued => "queued",
            NotificationState::Sending => "sending",
            NotificationState::Retrying => "retrying",
            NotificationState::Sent => "sent",
            NotificationState::Failed => "failed",
            NotificationState::Suppressed => "suppressed",
            NotificationState::Dropped => "dropped",
        }
    }
}

impl std::fmt::Display for NotificationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationState {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationState::ALL.into_iter().find(|state| state.as_str() == s).ok_or("not a notification state")
    }
}
