//! Contacts opt in. Listing an address sends it one invitation (who listed it, what it will
//! receive, accept and never-email-me links); until it accepts, the user's check-ins reach it as
//! fixed text with their name and status only.
//!
//! Limits, so that listing strangers cannot make this service a spam relay:
//! - one invitation per (user, address) ever, the address in its canonical form (aliases of a
//!   mailbox are one address);
//! - at most `max_per_user_per_day` invitations per user in 24 hours (beyond: refused);
//! - at most one invitation per address per `address_period`, whoever lists it. A later lister's
//!   contact stays `pending` (never covered by another user's invitation being accepted: each
//!   listing is accepted on its own); removing and adding it after the period invites it;
//! - an address that chose never-email-me is invited by nobody and gets nothing.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::Connection;

use crate::config::InvitationConfig;
use crate::db::contacts::ContactRow;
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
        if let Some(&accepted) = db::invitations::of_user(conn, &row.user_id)?.get(&address) {
            let state = if accepted { ContactState::Accepted } else { ContactState::Invited };
            return Ok((row, state));
        }
        let day = Duration::hours(24);
        let (sent_today, oldest) = db::invitations::since(conn, &row.user_id, now - day)?;
        if sent_today >= limits.max_per_user_per_day {
            let free_at = oldest.unwrap_or(now) + day;
            let retry_after_secs = u64::try_from((free_at - now).num_seconds().max(1)).unwrap_or(1);
            return Err(AddError::DailyCap { max: limits.max_per_user_per_day, retry_after_secs });
        }
        if !db::invitations::take_address(conn, &address, now, limits.address_period)? {
            return Ok((row, ContactState::Pending));
        }
        db::invitations::insert(conn, &row.user_id, &address, now)?;
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

/// Where each of the user's contacts stands, in the order given.
pub fn states(
    conn: &mut DbConn,
    user_id: &str,
    contacts: &[ContactRow],
) -> diesel::QueryResult<Vec<ContactState>> {
    let invitations: HashMap<String, bool> = db::invitations::of_user(conn, user_id)?;
    let emails: Vec<&str> = contacts.iter().map(|c| c.email.as_str()).collect();
    let unsubscribed = db::suppressions::among(conn, &emails)?;
    Ok(contacts
        .iter()
        .map(|c| {
            if unsubscribed.contains(&c.email) {
                ContactState::Unsubscribed
            } else {
                match invitations.get(&canonical(&c.email)) {
                    Some(true) => ContactState::Accepted,
                    Some(false) => ContactState::Invited,
                    None => ContactState::Pending,
                }
            }
        })
        .collect())
}

/// Accepts the user's invitation of the address; false if there is no such invitation (the
/// user erased their account since).
pub fn accept(
    conn: &mut DbConn,
    user_id: &str,
    email_canonical: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    db::invitations::accept(conn, user_id, email_canonical, now)
}

/// The name of the user who sent an invitation, for the accept page; `None` if there is no
/// such invitation.
pub fn inviter(
    conn: &mut DbConn,
    user_id: &str,
    email_canonical: &str,
) -> diesel::QueryResult<Option<String>> {
    if !db::invitations::exists(conn, user_id, email_canonical)? {
        return Ok(None);
    }
    Ok(db::users::find(conn, user_id)?.map(|u| u.display_name))
}
