//! What goes into the outbox for the people prompted: their reminders, each rendered later from
//! the payload stored here.

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
    let mut queued = 0;
    // Bounded lists keep every `IN (...)` under SQLite's bind limit.
    for batch in recipients.chunks(5_000) {
        let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
        let dedupe: HashMap<&str, &str> = batch.iter().map(|(id, key)| (id.as_str(), key.as_str())).collect();
        let users = db::users::recipients(conn, &ids)?;
        let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
        let suppressed = db::notifications::suppressed_among(conn, &emails)?;
        let mut rows = Vec::with_capacity(users.len());
        for user in users {
            let payload = PromptPayload {
                user_name: user.display_name.clone(),
                incident_title: incident.title.clone(),
                incident_description: incident.description.clone(),
                activated_at: rfc3339(incident.created_at),
            };
            let (locale, state, error) = match user.language() {
                Ok(locale) if suppressed.contains(&user.email) => {
                    (locale, NotificationState::Suppressed, None)
                }
                Ok(locale) => {
                    queued += 1;
                    (locale, NotificationState::Queued, None)
                }
                // Recorded as failed, visibly, and never sent: its placeholder locale is unused.
                Err(error) => (Locale::En, NotificationState::Failed, Some(error)),
            };
            let new = NewNotification {
                kind: NotificationKind::Reminder,
                dedupe_key: dedupe.get(user.id.as_str()).copied().unwrap_or_default().to_owned(),
                recipient_email: user.email,
                // The name is whatever its owner typed at registration, and the address was never
                // verified: it could be someone else's mailbox. Nothing of it in the header.
                recipient_name: None,
                locale,
                incident_id: Some(incident.id.clone()),
                user_id: Some(user.id),
                payload: serde_json::to_string(&payload)
                    .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
            };
            let mut row = new.into_row(state, now);
            row.last_error = error;
            rows.push(row);
        }
        db::notifications::insert_new(conn, rows)?;
    }
    Ok(queued)
}
