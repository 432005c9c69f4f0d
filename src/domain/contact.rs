//! Where a contact stands with the user who listed them.

use serde::Serialize;

/// Where a contact stands. Only an `accepted` contact reads the user's own words (their
/// message, the incident's title); the others get the user's name and status only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// No invitation email was sent: the address was invited by someone within the invitation
    /// period (one invitation email per address per period), or it was listed before
    /// invitations existed. The user's check-in emails to it carry the accept link instead.
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
