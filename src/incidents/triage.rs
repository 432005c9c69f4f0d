//! Need-help triage: an operator marks a user's `need_help` answer as handled.

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::json;

use super::{Actor, audit};
use crate::db::people::PersonRow;
use crate::db::{self, DbConn};
use crate::domain::SafetyStatus;

/// Why an answer could not be marked handled.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The incident does not exist, or the user was not prompted for it.
    #[error("no such person in this incident")]
    NotFound,
    /// The user's current answer is not `need_help` (or there is none).
    #[error("the current answer is {0}, not need_help")]
    NotNeedHelp(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Marks the user's current `need_help` answer handled by `actor` and audits it; marking it
/// again changes nothing. Returns the user's row in the people list.
pub fn mark_handled(
    conn: &mut DbConn,
    incident_id: &str,
    user_id: &str,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<PersonRow, TriageError> {
    conn.transaction(|conn| {
        // The write comes first: it takes SQLite's write lock before anything is read.
        let marked =
            db::check_ins::mark_current_need_help_handled(conn, incident_id, user_id, &actor.email, now)?;
        if db::prompts::find(conn, incident_id, user_id)?.is_none() {
            return Err(TriageError::NotFound);
        }
        let current = db::check_ins::current(conn, incident_id, user_id)?;
        let check_in_id = match current {
            Some(answer) if answer.status == SafetyStatus::NeedHelp => answer.check_in_id,
            Some(answer) => return Err(TriageError::NotNeedHelp(answer.status.to_string())),
            None => return Err(TriageError::NotNeedHelp("no_response".into())),
        };
        if marked {
            let details = json!({ "user_id": user_id, "check_in_id": check_in_id });
            audit(conn, Some(actor), "need_help.handled", Some(incident_id), details, now)?;
        }
        db::people::one(conn, incident_id, user_id, now)?.ok_or(TriageError::NotFound)
    })
}
