//! Contacts opt in. Listing an address invites it (who listed it, what it will receive, accept
//! and never-email-me links); until it accepts, the user's check-ins reach it as fixed text with
//! their name and status only, and the accept link.
//!
//! Limits, so that listing strangers cannot make this service a spam relay:
//! - one invitation per (user, address) ever, the address in its canonical form (aliases of a
//!   mailbox are one address);
//! - at most `max_per_user_per_day` invitations per user in 24 hours (beyond: refused);
//! - at most one invitation *email* per address per `address_period`, whoever lists it. A later
//!   lister's invitation is recorded but held back (`pending`): that user's fixed-text check-in
//!   emails carry its accept link, so nobody can keep an address from accepting someone else by
//!   listing it first. Each listing is accepted on its own;
//! - an address that chose never-email-me is invited by nobody and gets nothing.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::Connection;

use crate::config::InvitationConfig;
use crate::db::contacts::ContactRow;
use crate::db::invitations::{Standing, Start};
use crate::db::notifications::NewNotification;
use crate::db::{self, DbConn};
use crate::domain::email::canonical;
use crate::domain::{ContactState, DisplayName, Email, Locale, NotificationKind};
use crate::notify::templates::InvitationPayload;

/// A contact to add.
pub struct NewContact {
    pub user_id: String,
    pub name: DisplayName,
    pub email: Email,
    /// `None`: the user's.
    pub locale: Option<Locale>,
}

/// Why a contact was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("no such user")]
    NoUser,
    #[error("at most {0} contacts per user")]
    TooMany(i64),
    /// The user lists this address already, in this spelling or another of the same mailbox.
    #[error("this email is already one of your contacts")]
    Duplicate,
    /// The user's invitations of the last 24 hours reached the cap.
    #[error("at most {max} invitations per day")]
    DailyCap { max: i64, retry_after_secs: u64 },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Adds the contact and invites the address if the limits allow, in one transaction; returns
/// the contact and where it stands. A refusal changes nothing.
pub fn add(
    conn: &mut DbConn,
    new: NewContact,
    max_contacts: i64,
    limits: InvitationConfig,
    hourly_cap: i64,
    now: NaiveDateTime,
) -> Result<(ContactRow, ContactState), AddError> {
    conn.transaction(|conn| {
        // Serialises this user's adds: the counts below hold until commit.
        db::contacts::lock_user(conn, &new.user_id)?;
        let owner = db::users::find(conn, &new.user_id)?.ok_or(AddError::NoUser)?;
        let listed = db::contacts::list(conn, &new.user_id)?;
        if i64::try_from(listed.len()).unwrap_or(i64::MAX) >= max_contacts {
            return Err(AddError::TooMany(max_contacts));
        }
        // Another spelling of a mailbox already listed is the same contact.
        let address = new.email.canonical();
        if listed.iter().any(|c| canonical(&c.email) == address) {
            return Err(AddError::Duplicate);
        }
        let row = ContactRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: new.user_id.clone(),
            name: new.name.into_inner(),
            email: new.email.as_str().to_owned(),
            // A contact without a locale gets the user's.
            locale: new.locale.unwrap_or(owner.locale),
            created_at: now,
        };
        match db::contacts::insert(conn, &row) {
            Err(e) if db::is_unique_violation(&e) => return Err(AddError::Duplicate),
            other => other?,
        }
        if db::suppressions::contains(conn, &row.email)? {
            return Ok((row, ContactState::Unsubscribed));
        }
        let earlier = db::invitations::of_user(conn, &row.user_id)?.get(&address).copied();
        match earlier {
            // Listed, removed and listed again: its invitation stands.
            Some(standing) if standing.accepted || standing.emailed => {
                return Ok((row, state_of(Some(standing))));
            }
            // Held back before: emailed now if the address's period has passed.
            Some(_) => {}
            None => {
                let day = Duration::hours(24);
                let (sent_today, oldest) = db::invitations::since(conn, &row.user_id, now - day)?;
                if sent_today >= limits.max_per_user_per_day {
                    let free_at = oldest.unwrap_or(now) + day;
                    let retry_after_secs = u64::try_from((free_at - now).num_seconds().max(1)).unwrap_or(1);
                    return Err(AddError::DailyCap { max: limits.max_per_user_per_day, retry_after_secs });
                }
            }
        }
        let emailed = db::invitations::take_address(conn, &address, now, limits.address_period)?;
        match (earlier, emailed) {
            (None, false) => {
                db::invitations::insert(conn, &row.user_id, &address, Start::HeldBack, now)?;
            }
            (None, true) => {
                db::invitations::insert(conn, &row.user_id, &address, Start::Emailed, now)?;
            }
            (Some(_), true) => db::invitations::mark_emailed(conn, &row.user_id, &address, now)?,
            (Some(_), false) => {}
        }
        if !emailed {
            return Ok((row, ContactState::Pending));
        }
        let payload = serde_json::to_string(&InvitationPayload { user_name: owner.display_name.clone() })
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        let invitation = NewNotification {
            kind: NotificationKind::Invitation,
            dedupe_key: format!("invitation:{}:{address}", row.user_id),
            recipient_email: row.email.clone(),
            // The name the user gave them is the user's own words too: not in the To: header.
            recipient_name: None,
            locale: row.locale,
            incident_id: None,
            user_id: Some(row.user_id.clone()),
            payload,
        };
        db::notifications::enqueue(conn, invitation, hourly_cap, now)?;
        Ok((row, ContactState::Invited))
    })
}

/// The user's contacts, oldest first, each with where it stands: two round trips.
pub fn listed(conn: &mut DbConn, user_id: &str) -> diesel::QueryResult<Vec<(ContactRow, ContactState)>> {
    let (contacts, invitations) = db::contacts::with_invitations(conn, user_id)?;
    let states = states_given(conn, &contacts, &invitations)?;
    Ok(contacts.into_iter().zip(states).collect())
}

/// Where each contact stands, in the order given.
fn states_given(
    conn: &mut DbConn,
    contacts: &[ContactRow],
    invitations: &HashMap<String, Standing>,
) -> diesel::QueryResult<Vec<ContactState>> {
    let emails: Vec<&str> = contacts.iter().map(|c| c.email.as_str()).collect();
    let unsubscribed = db::suppressions::among(conn, &emails)?;
    Ok(contacts
        .iter()
        .map(|c| {
            if unsubscribed.contains(&c.email) {
                ContactState::Unsubscribed
            } else {
                state_of(invitations.get(&canonical(&c.email)).copied())
            }
        })
        .collect())
}

/// A contact's state from its invitation (none: listed before invitations existed).
fn state_of(invitation: Option<Standing>) -> ContactState {
    match invitation {
        Some(Standing { accepted: true, .. }) => ContactState::Accepted,
        Some(Standing { emailed: true, .. }) => ContactState::Invited,
        _ => ContactState::Pending,
    }
}

/// Accepts the user's invitation of the address, from the invitation email or from a check-in
/// email's accept link; false if the user neither invited nor lists the address (they removed
/// it before invitations existed, or erased their account).
pub fn accept(
    conn: &mut DbConn,
    user_id: &str,
    email_canonical: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    conn.transaction(|conn| {
        if db::invitations::accept(conn, user_id, email_canonical, now)? {
            return Ok(true);
        }
        // A contact listed before invitations existed has no row: its acceptance makes one.
        if !lists(conn, user_id, email_canonical)? {
            return Ok(false);
        }
        if !db::invitations::insert(conn, user_id, email_canonical, Start::Accepted, now)? {
            // Made by a concurrent acceptance (or listing) since: accept that one.
            db::invitations::accept(conn, user_id, email_canonical, now)?;
        }
        Ok(true)
    })
}

/// The name of the user who invited an address, for the accept page; `None` if the user
/// neither invited nor lists it.
pub fn inviter(
    conn: &mut DbConn,
    user_id: &str,
    email_canonical: &str,
) -> diesel::QueryResult<Option<String>> {
    if !db::invitations::exists(conn, user_id, email_canonical)? && !lists(conn, user_id, email_canonical)? {
        return Ok(None);
    }
    Ok(db::users::find(conn, user_id)?.map(|u| u.display_name))
}

/// Whether the user lists the address (in any spelling of its mailbox).
fn lists(conn: &mut DbConn, user_id: &str, email_canonical: &str) -> diesel::QueryResult<bool> {
    Ok(db::contacts::list(conn, user_id)?.iter().any(|c| canonical(&c.email) == email_canonical))
}
