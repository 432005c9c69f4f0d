//! Where a contact stands with the user who listed them.

use serde::Serialize;

/// Where a contact stands. Only an `accepted` contact reads the user's own words (their
/// message, the incident's title); the others get the user's name and status only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// Not invited: the address was invited by someone within the invitation period (or listed
    /// before invitations existed). Removing and adding it again after the period invites it.
    Pending,
    /// Invited; no answer yet.
    Invited,
    /// Followed the invitation's accept link.
    Accepted,
    /// The address asked never to be emailed (by an invitation's link or any unsubscribe link):
    /// it gets nothing, from anyone.
    Unsubscribed,
}

impl ContactState {
    /// Whether the contact reads the user's own words.
    pub fn accepted(self) -> bool {
        self == ContactState::Accepted
    }
}
