//! What goes into the outbox for the people prompted: their reminders and notices, each
//! rendered later from the payload stored here.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::clock::rfc3339;
use crate::db::incidents::IncidentRow;
use crate::db::notifications::NewNotification;
use crate::db::{self, DbConn};
use crate::domain::{Locale, NotificationKind, NotificationState};
use crate::notify::templates::PromptPayload;

/// Queues a reminder email to each `(user id, dedupe key)`, in the caller's transaction;
/// unsubscribed users get a `suppressed` row. These go to the users themselves, so the
/// per-recipient hourly cap (an anti-relay limit on contacts) does not apply. Returns how many
/// were queued to send. (A prompt's first email is carried by the prompt itself:
/// `db::prompt_emails`.)
pub fn enqueue_reminders(
    conn: &mut DbConn,
    incident: &IncidentRow,
    recipients: &[(String, String)],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let payload = |user: &db::users::Recipient| {
        serde_json::to_string(&PromptPayload {
            user_name: user.display_name.clone(),
            incident_title: incident.title.clone(),
            incident_description: incident.description.clone(),
            activated_at: rfc3339(incident.created_at),
            exercise: incident.exercise,
        })
    };
    enqueue_to_users(conn, NotificationKind::Reminder, &incident.id, recipients, payload, now)
}

/// Queues a message of `kind` about the incident to each `(user id, dedupe key)` that still
/// exists, in the caller's transaction, its payload made by `payload`; unsubscribed users get
/// a `suppressed` row, users whose stored language is unknown a `failed` one. A key used before
/// adds nothing. Returns how many were queued to send. The per-recipient hourly cap (an
/// anti-relay limit on contacts) does not apply: these go to the users themselves.
pub fn enqueue_to_users(
    conn: &mut DbConn,
    kind: NotificationKind,
    incident_id: &str,
    recipients: &[(String, String)],
    payload: impl Fn(&db::users::Recipient) -> serde_json::Result<String>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mut queued = 0;
    // Bounded lists keep every `IN (...)` under SQLite's bind limit.
    for batch in recipients.chunks(5_000) {
        let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
        let dedupe: HashMap<&str, &str> = batch.iter().map(|(id, key)| (id.as_str(), key.as_str())).collect();
        let users = db::users::recipients(conn, &ids)?;
        let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
        let suppressed = db::notifications::suppressed_among(conn, &emails)?;
        let mut rows = Vec::with_capacity(users.len());
        let mut to_send = std::collections::HashSet::new();
        for user in users {
            let payload =
                payload(&user).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
            let (locale, state, error) = match user.language() {
                Ok(locale) if suppressed.contains(&user.email) => {
                    (locale, NotificationState::Suppressed, None)
                }
                Ok(locale) => (locale, NotificationState::Queued, None),
                // Recorded as failed, visibly, and never sent: its placeholder locale is unused.
                Err(error) => (Locale::En, NotificationState::Failed, Some(error)),
            };
            let new = NewNotification {
                kind,
                dedupe_key: dedupe.get(user.id.as_str()).copied().unwrap_or_default().to_owned(),
                recipient_email: user.email,
                // The name is whatever its owner typed at registration, and the address was never
                // verified: it could be someone else's mailbox. Nothing of it in the header.
                recipient_name: None,
                locale,
                incident_id: Some(incident_id.to_owned()),
                user_id: Some(user.id),
                payload,
            };
            let mut row = new.into_row(state, now);
            row.last_error = error;
            if state == NotificationState::Queued {
                to_send.insert(row.id.clone());
            }
            rows.push(row);
        }
        queued += db::notifications::insert_new(conn, rows)?.intersection(&to_send).count();
    }
    Ok(queued)
}
