//! An incident's counts: who was prompted, who answered what, how its emails fared. Counted
//! from its rows while it has them; once retention has started deleting them, the counts kept
//! just before.

use chrono::NaiveDateTime;

use crate::db::incident_summaries::SummaryRow;
use crate::db::{self, DbConn};
use crate::domain::{NotificationState, SafetyStatus};

/// Every email of an incident (prompts, reminders, contacts' emails) by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmailCounts {
    pub queued: i64,
    pub sending: i64,
    pub retrying: i64,
    pub sent: i64,
    pub failed: i64,
    pub suppressed: i64,
    pub dropped: i64,
}

impl EmailCounts {
    fn add(&mut self, state: NotificationState, count: i64) {
        let field = match state {
            NotificationState::Queued => &mut self.queued,
            NotificationState::Sending => &mut self.sending,
            NotificationState::Retrying => &mut self.retrying,
            NotificationState::Sent => &mut self.sent,
            NotificationState::Failed => &mut self.failed,
            NotificationState::Suppressed => &mut self.suppressed,
            NotificationState::Dropped => &mut self.dropped,
        };
        *field += count;
    }
}

/// An incident's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncidentCounts {
    pub prompted: i64,
    pub safe: i64,
    pub not_in_area: i64,
    pub need_help: i64,
    /// Of `need_help`, how many an operator marked handled.
    pub need_help_handled: i64,
    /// Prompted users who have not answered.
    pub no_response: i64,
    pub emails: EmailCounts,
    /// When retention started deleting the incident's per-person rows (the counts are the ones
    /// kept then); `None` while they are all kept.
    pub purged_at: Option<NaiveDateTime>,
}

/// The incident's counts: the kept ones once its rows are being purged, else counted now.
pub fn of(conn: &mut DbConn, incident_id: &str) -> diesel::QueryResult<IncidentCounts> {
    match db::incident_summaries::find(conn, incident_id)? {
        Some(kept) => Ok(from_summary(&kept)),
        None => live(conn, incident_id),
    }
}

/// Counted from the incident's rows.
pub fn live(conn: &mut DbConn, incident_id: &str) -> diesel::QueryResult<IncidentCounts> {
    let prompted = db::prompts::count(conn, incident_id)?;
    let answered = db::prompts::count_answered(conn, incident_id)?;
    let mut counts = IncidentCounts {
        prompted,
        need_help_handled: db::check_ins::count_need_help_handled(conn, incident_id)?,
        no_response: prompted - answered,
        ..IncidentCounts::default()
    };
    for (status, n) in db::check_ins::count_by_status(conn, incident_id)? {
        match status {
            SafetyStatus::Safe => counts.safe = n,
            SafetyStatus::NotInArea => counts.not_in_area = n,
            SafetyStatus::NeedHelp => counts.need_help = n,
        }
    }
    // The outbox's rows (contacts' emails, reminders) and the emails prompts carry.
    let outbox = db::notifications::count_by_state(conn, Some(incident_id))?;
    for (state, n) in outbox.into_iter().chain(db::prompt_emails::count_by_state(conn, Some(incident_id))?) {
        counts.emails.add(state, n);
    }
    Ok(counts)
}

/// The row that keeps `counts` for the incident, taken at `now`.
pub fn summary(incident_id: &str, counts: &IncidentCounts, now: NaiveDateTime) -> SummaryRow {
    let e = counts.emails;
    SummaryRow {
        incident_id: incident_id.to_owned(),
        prompted: counts.prompted,
        safe: counts.safe,
        not_in_area: counts.not_in_area,
        need_help: counts.need_help,
        need_help_handled: counts.need_help_handled,
        no_response: counts.no_response,
        emails_queued: e.queued,
        emails_sending: e.sending,
        emails_retrying: e.retrying,
        emails_sent: e.sent,
        emails_failed: e.failed,
        emails_suppressed: e.suppressed,
        emails_dropped: e.dropped,
        summarized_at: now,
        purged_at: None,
    }
}

fn from_summary(row: &SummaryRow) -> IncidentCounts {
    IncidentCounts {
        prompted: row.prompted,
        safe: row.safe,
        not_in_area: row.not_in_area,
        need_help: row.need_help,
        need_help_handled: row.need_help_handled,
        no_response: row.no_response,
        emails: EmailCounts {
            queued: row.emails_queued,
            sending: row.emails_sending,
            retrying: row.emails_retrying,
            sent: row.emails_sent,
            failed: row.emails_failed,
            suppressed: row.emails_suppressed,
            dropped: row.emails_dropped,
        },
        purged_at: Some(row.summarized_at),
    }
}
