//! The outbox's words: what kind of message a row is, and where it stands.

use std::str::FromStr;

use serde::Serialize;

use super::IncidentStatus;

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
    /// An official update from the operator's organisation, to a prompted user.
    OfficialUpdate,
    /// "The incident is over", to a user who was told of it.
    AllClear,
    /// "The alert was sent in error", to a user or contact who was told of it.
    Retraction,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 7] = [
        NotificationKind::CheckIn,
        NotificationKind::Prompt,
        NotificationKind::Reminder,
        NotificationKind::Invitation,
        NotificationKind::OfficialUpdate,
        NotificationKind::AllClear,
        NotificationKind::Retraction,
    ];

    /// Whether a message of this kind, not yet sent, is cancelled once its incident stands at
    /// `status`: after a resolution nobody is asked "are you safe?" again (prompts, reminders);
    /// after a retraction only the retraction notice itself still goes out.
    pub fn cancelled_when(self, status: IncidentStatus) -> bool {
        match status {
            IncidentStatus::Active => false,
            IncidentStatus::Resolved => matches!(self, NotificationKind::Prompt | NotificationKind::Reminder),
            IncidentStatus::Retracted => self != NotificationKind::Retraction,
            // Nothing is queued before approval, and nothing after a rejection.
            IncidentStatus::PendingApproval | IncidentStatus::Rejected => true,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::CheckIn => "check_in",
            NotificationKind::Prompt => "prompt",
            NotificationKind::Reminder => "reminder",
            NotificationKind::Invitation => "invitation",
            NotificationKind::OfficialUpdate => "official_update",
            NotificationKind::AllClear => "all_clear",
            NotificationKind::Retraction => "retraction",
        }
    }
}

impl FromStr for NotificationKind {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or("must be check_in, prompt, reminder, invitation, official_update, all_clear or retraction")
    }
}

/// The outbox's lanes, first to last (`notify::delivery` claims the emails prompts carry between
/// `People` and `Notices`): every due message of a lane is claimed before any of the
/// next one. A contact waiting for news comes first, then the prompts of a large activation,
/// then what operators say after the prompt (a person hears "are you safe?" before an update
/// about it); invitations last: nobody is waiting on one in a disaster, and a burst of new contacts (or of
/// scripted accounts listing strangers) must never delay the check-in emails of anyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// A contact's check-in email.
    Contacts,
    /// Prompts and reminders to the people prompted.
    People,
    /// Official updates, all-clear and retraction notices.
    Notices,
    /// Invitations to newly listed contacts.
    Invitations,
}

impl Lane {
    /// Every lane, first to last.
    pub const ALL: [Lane; 4] = [Lane::Contacts, Lane::People, Lane::Notices, Lane::Invitations];

    /// The kinds of message the lane carries.
    pub fn kinds(self) -> &'static [NotificationKind] {
        match self {
            Lane::Contacts => &[NotificationKind::CheckIn],
            Lane::People => &[NotificationKind::Prompt, NotificationKind::Reminder],
            Lane::Notices => {
                &[NotificationKind::OfficialUpdate, NotificationKind::AllClear, NotificationKind::Retraction]
            }
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
    /// Not sent because its incident ended first (a prompt or reminder after the incident was
    /// resolved; anything but the retraction notice after it was retracted).
    Cancelled,
}

impl NotificationState {
    /// Every state, in the order people read them: what arrived, then what is on its way, then
    /// what will not.
    pub const ALL: [NotificationState; 8] = [
        NotificationState::Sent,
        NotificationState::Queued,
        NotificationState::Sending,
        NotificationState::Retrying,
        NotificationState::Failed,
        NotificationState::Suppressed,
        NotificationState::Dropped,
        NotificationState::Cancelled,
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
            NotificationState::Cancelled => "cancelled",
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
