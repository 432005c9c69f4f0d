//! Recording an answer: the check-in, the user's current answer, the closed prompt and one
//! outbox row per contact, all in one transaction, so an accepted answer never loses its
//! notifications.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::Connection;

use crate::clock::{Clock, rfc3339};
use crate::community;
use crate::db::check_ins::CheckInRow;
use crate::db::notifications::{Enqueued, NewNotification};
use crate::db::{self, Backend, DbConn};
use crate::domain::{CheckInMessage, ContactState, IncidentStatus, NotificationKind, SafetyStatus};
use crate::limits::{LimitError, RateLimiter, Refused};
use crate::notify::templates::CheckInPayload;

/// An answer to record.
#[derive(Clone)]
pub struct Answer {
    pub incident_id: String,
    pub user_id: String,
    pub status: SafetyStatus,
    pub message: Option<CheckInMessage>,
}

/// Why an answer was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum CheckInError {
    #[error("no such incident")]
    NotFound,
    #[error("the incident is resolved")]
    Resolved,
    /// The transaction took too long after taking its time; it is rolled back and retried.
    #[error("the answer took too long to commit")]
    Late,
    /// Over the user's per-user limit: nothing was recorded.
    #[error("over the {} limit", .0.limit)]
    Limited(Refused),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// The recorded check-in and how many contacts will be told.
#[derive(Debug)]
pub struct Recorded {
    pub check_in: CheckInRow,
    pub notifications_queued: usize,
}

/// An answer's time is taken once its transaction holds the write lock, and the answer is
/// committed within this long of it or written again with a fresh time. The operators' list of
/// people reads statuses as of a time at least twice this long ago, so it never sees an answer
/// appear in its past.
pub const MAX_COMMIT_DELAY: chrono::Duration = chrono::Duration::seconds(1);

/// Records the answer. `limit`, if any, counts it against the user's allowance first, in the
/// same transaction (one commit an answer, and an answer that fails counts nothing). `also` runs
/// inside the same transaction once the answer is written (the caller stores its idempotent
/// response there), so both commit or neither does.
pub fn record<F>(
    conn: &mut DbConn,
    answer: Answer,
    hourly_cap: i64,
    limit: Option<RateLimiter>,
    clock: &dyn Clock,
    mut also: F,
) -> Result<Recorded, CheckInError>
where
    F: FnMut(&mut DbConn, &Recorded) -> Result<(), diesel::result::Error>,
{
    // SQLite reads the incident first: its answer's statements would otherwise refuse an unknown
    // incident with a foreign-key error. PostgreSQL's one statement says it (`NotFound`).
    if conn.backend() == Backend::Sqlite && db::incidents::find(conn, &answer.incident_id)?.is_none() {
        return Err(CheckInError::NotFound);
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let attempt = conn.transaction(|conn| {
            if let Some(limit) = limit {
                // A write: on SQLite it takes the write lock before anything is read.
                limit.check(conn, &answer.user_id, clock.now()).map_err(|e| match e {
                    LimitError::Refused(refused) => CheckInError::Limited(refused),
                    LimitError::Database(e) => CheckInError::Db(e),
                })?;
            }
            write(conn, &answer, hourly_cap, clock, &mut also)
        });
        match attempt {
            Err(CheckInError::Late) if attempts < 3 => continue,
            outcome => return outcome,
        }
    }
}

/// One attempt, inside the caller's transaction.
fn write<F>(
    conn: &mut DbConn,
    answer: &Answer,
    hourly_cap: i64,
    clock: &dyn Clock,
    also: &mut F,
) -> Result<Recorded, CheckInError>
where
    F: FnMut(&mut DbConn, &Recorded) -> Result<(), diesel::result::Error>,
{
    let now = clock.now();
    let check_in = CheckInRow {
        id: uuid::Uuid::now_v7().to_string(),
        incident_id: answer.incident_id.clone(),
        user_id: answer.user_id.clone(),
        status: answer.status,
        message: answer.message.as_ref().map(|m| m.as_str().to_owned()),
        created_at: now,
    };
    // A user who answers without having been prompted gets a prompt row, so operators find
    // them in the list of people like everyone else.
    let written = db::answers::write(conn, &check_in)?.ok_or(CheckInError::NotFound)?;
    if written.status != IncidentStatus::Active.as_str() {
        return Err(CheckInError::Resolved);
    }
    let changed = written.previous.as_deref() != Some(check_in.status.as_str());
    // A drill's answers reach contacts only when its operator asked for it.
    let notifications_queued = match (&written.user_name, changed && written.notify_contacts) {
        (Some(user_name), true) => notify_contacts(conn, &check_in, user_name, &written, hourly_cap, now)?,
        _ => 0,
    };
    let recorded = Recorded { check_in, notifications_queued };
    also(conn, &recorded)?;
    // Waiting on a lock after taking the time (a large reminder, say) would commit an answer
    // dated well before its commit: write it again with a fresh time instead.
    if clock.now() - now > MAX_COMMIT_DELAY {
        return Err(CheckInError::Late);
    }
    Ok(recorded)
}

/// One outbox row per contact; each contact hears of each (incident, status) at most once. A
/// contact who has not accepted the user's invitation gets the user's name and status only.
fn notify_contacts(
    conn: &mut DbConn,
    check_in: &CheckInRow,
    user_name: &str,
    incident: &db::answers::Written,
    hourly_cap: i64,
    now: NaiveDateTime,
) -> Result<usize, diesel::result::Error> {
    let payload = |accepted: bool| {
        serde_json::to_string(&CheckInPayload {
            user_name: user_name.to_owned(),
            status: check_in.status,
            // Only an accepted contact reads the user's own words.
            message: check_in.message.clone().filter(|_| accepted),
            incident_title: if accepted { incident.title.clone() } else { String::new() },
            answered_at: rfc3339(check_in.created_at),
            accepted,
            exercise: incident.exercise,
        })
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
    };
    let (accepted, fixed) = (payload(true)?, payload(false)?);
    let contacts = community::contacts::listed(conn, &check_in.user_id)?;
    let unsubscribed: HashSet<String> = contacts
        .iter()
        .filter(|(_, state)| *state == ContactState::Unsubscribed)
        .map(|(contact, _)| contact.email.clone())
        .collect();
    let news: Vec<NewNotification> = contacts
        .into_iter()
        .map(|(contact, state)| NewNotification {
            kind: NotificationKind::CheckIn,
            dedupe_key: format!(
                "check_in:{}:{}:{}:{}",
                check_in.incident_id, check_in.user_id, contact.email, check_in.status
            ),
            recipient_email: contact.email,
            // The name the user gave them is the user's own words: only once they accepted.
            recipient_name: state.accepted().then_some(contact.name),
            locale: contact.locale,
            incident_id: Some(check_in.incident_id.clone()),
            user_id: Some(check_in.user_id.clone()),
            payload: if state.accepted() { accepted.clone() } else { fixed.clone() },
        })
        .collect();
    // The contacts' states said already who unsubscribed.
    let outcomes = db::notifications::enqueue_all_knowing(conn, news, &unsubscribed, hourly_cap, now)?;
    Ok(outcomes.into_iter().filter(|o| *o == Enqueued::Queued).count())
}
