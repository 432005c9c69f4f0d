//! Prompt emails claimed from their prompts, made into the messages delivery sends: the
//! person's address, name and language, and the incident's words, read when the email goes out
//! (a prompt row carries no copy of them).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::clock::rfc3339;
use crate::db::incidents::IncidentRow;
use crate::db::notifications::{NotificationRow, Outcome};
use crate::db::prompt_emails::{ClaimedPromptEmail, PromptKey};
use crate::db::{self, DbConn};
use crate::domain::{NotificationKind, NotificationState};
use crate::notify::templates::PromptPayload;

/// Each claimed prompt email as a message to send (in the outbox's row shape, in memory only),
/// or how it is settled unsent: cancelled when its incident ended meanwhile, failed when its
/// person or incident is gone or the person's stored language is unknown. Its id,
/// `prompt.<incident>.<user>`, becomes its Message-ID.
pub fn prepare(
    conn: &mut DbConn,
    claimed: Vec<ClaimedPromptEmail>,
    now: NaiveDateTime,
) -> QueryResult<Vec<(PromptKey, Result<NotificationRow, Outcome>)>> {
    let user_ids: Vec<&str> = claimed.iter().map(|c| c.user_id.as_str()).collect();
    let users: HashMap<String, db::users::Recipient> =
        db::users::recipients(conn, &user_ids)?.into_iter().map(|u| (u.id.clone(), u)).collect();
    let mut incidents: HashMap<String, Option<IncidentRow>> = HashMap::new();
    for c in &claimed {
        if !incidents.contains_key(&c.incident_id) {
            incidents.insert(c.incident_id.clone(), db::incidents::find(conn, &c.incident_id)?);
        }
    }
    Ok(claimed
        .into_iter()
        .map(|c| {
            let incident = incidents.get(&c.incident_id).and_then(Option::as_ref);
            let message = match (users.get(&c.user_id), incident) {
                (_, Some(incident)) if NotificationKind::Prompt.cancelled_when(incident.status) => {
                    Err(Outcome::Cancelled)
                }
                (Some(user), Some(incident)) => {
                    message(&c, user, incident, now).map_err(|error| Outcome::Failed { error })
                }
                _ => Err(Outcome::Failed {
                    error: "the prompt's person or incident no longer exists".to_owned(),
                }),
            };
            ((c.incident_id, c.user_id), message)
        })
        .collect())
}

fn message(
    claimed: &ClaimedPromptEmail,
    user: &db::users::Recipient,
    incident: &IncidentRow,
    now: NaiveDateTime,
) -> Result<NotificationRow, String> {
    let locale = user.language()?;
    let payload = PromptPayload {
        user_name: user.display_name.clone(),
        incident_title: incident.title.clone(),
        incident_description: incident.description.clone(),
        activated_at: rfc3339(incident.created_at),
        exercise: incident.exercise,
    };
    Ok(NotificationRow {
        id: format!("prompt.{}.{}", claimed.incident_id, claimed.user_id),
        kind: NotificationKind::Prompt,
        recipient_email: user.email.clone(),
        // The name is whatever its owner typed at registration, and the address was never
        // verified: it could be someone else's mailbox. Nothing of it in the header.
        recipient_name: None,
        locale,
        incident_id: Some(claimed.incident_id.clone()),
        user_id: Some(claimed.user_id.clone()),
        payload: serde_json::to_string(&payload).map_err(|e| e.to_string())?,
        state: NotificationState::Sending,
        attempts: claimed.email_attempts,
        next_attempt_at: now,
        lease_until: None,
        last_error: None,
        created_at: incident.created_at,
        sent_at: None,
        dedupe_key: String::new(),
    })
}
