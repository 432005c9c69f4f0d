//! Reminders: an operator asks everyone prompted who has not answered yet, again. Each user
//! gets at most one email (prompt or reminder) per interval and a bounded number of reminders.

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::json;

use super::{Actor, audit};
use crate::config::ReminderConfig;
use crate::db::{self, DbConn};
use crate::notify::outbox;

/// What one reminder request did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reminded {
    /// Prompted users who have not answered.
    pub not_answered: i64,
    /// Reminder emails queued.
    pub queued: i64,
    /// Users reminded who unsubscribed: recorded, not sent.
    pub suppressed: i64,
    /// Users emailed (prompted or reminded) within the interval: skipped.
    pub skipped_recent: i64,
    /// Users who already had every reminder allowed: skipped.
    pub skipped_limit: i64,
}

/// Why no reminder went out.
#[derive(Debug, thiserror::Error)]
pub enum RemindError {
    #[error("no such incident")]
    NotFound,
    #[error("the incident is not active")]
    NotActive,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Queues a reminder to each prompted user of the active incident who has not answered and is
/// due one, and records the request in the audit log, in one transaction.
pub fn remind(
    conn: &mut DbConn,
    incident_id: &str,
    actor: &Actor,
    limits: ReminderConfig,
    now: NaiveDateTime,
) -> Result<Reminded, RemindError> {
    conn.transaction(|conn| {
        // Holding the incident's row lock keeps a concurrent resolve (or reminder) out.
        if !db::incidents::lock_if_active(conn, incident_id)? {
            return Err(match db::incidents::find(conn, incident_id)? {
                Some(_) => RemindError::NotActive,
                None => RemindError::NotFound,
            });
        }
        let incident = db::incidents::find(conn, incident_id)?.ok_or(RemindError::NotFound)?;
        // Past its expiry it is over, even if the expiry job has not resolved it yet.
        if incident.expires_at.is_some_and(|at| at <= now) {
            return Err(RemindError::NotActive);
        }
        let (not_answered, skipped_limit) = db::prompts::count_open(conn, incident_id, limits.max_per_user)?;
        let interval = chrono::Duration::from_std(limits.min_interval).unwrap_or(chrono::Duration::MAX);
        let quiet_since = now.checked_sub_signed(interval).unwrap_or(NaiveDateTime::MIN);
        let due = db::prompts::take_reminders(conn, incident_id, limits.max_per_user, quiet_since, now)?;
        let recipients: Vec<(String, String)> = due
            .iter()
            .map(|(user_id, n)| (user_id.clone(), format!("reminder:{incident_id}:{user_id}:{n}")))
            .collect();
        let queued = outbox::enqueue_reminders(conn, &incident, &recipients, now)?;
        let reminded = i64::try_from(due.len()).unwrap_or(i64::MAX);
        let queued = i64::try_from(queued).unwrap_or(i64::MAX);
        let outcome = Reminded {
            not_answered,
            queued,
            suppressed: reminded - queued,
            skipped_recent: not_answered - skipped_limit - reminded,
            skipped_limit,
        };
        audit(conn, Some(actor), "incident.remind", Some(incident_id), json!(outcome), now)?;
        Ok(outcome)
    })
}
