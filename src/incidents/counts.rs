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
    pub cancelled: i64,
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
            NotificationState::Cancelled => &mut self.cancelled,
        };
        *field += count;
    }

    /// How many there are in `state`.
    pub fn of(&self, state: NotificationState) -> i64 {
        match state {
            NotificationState::Queued => self.queued,
            NotificationState::Sending => self.sending,
            NotificationState::Retrying => self.retrying,
            NotificationState::Sent => self.sent,
            NotificationState::Failed => self.failed,
            NotificationState::Suppressed => self.suppressed,
            NotificationState::Dropped => self.dropped,
            NotificationState::Cancelled => self.cancelled,
        }
    }

    /// As kept in a summary: a JSON object by state name.
    fn to_json(self) -> String {
        let by_state: serde_json::Map<String, serde_json::Value> =
            NotificationState::ALL.iter().map(|&s| (s.as_str().to_owned(), self.of(s).into())).collect();
        serde_json::Value::Object(by_state).to_string()
    }

    /// Read back from a summary; a state it does not name (kept before the state existed) is 0.
    fn from_json(kept: &str) -> Self {
        let mut counts = Self::default();
        if let Ok(serde_json::Value::Object(by_state)) = serde_json::from_str(kept) {
            for (name, n) in by_state {
                if let (Ok(state), Some(n)) = (name.parse::<NotificationState>(), n.as_i64()) {
                    counts.add(state, n);
                }
            }
        }
        counts
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
    SummaryRow {
        incident_id: incident_id.to_owned(),
        prompted: counts.prompted,
        safe: counts.safe,
        not_in_area: counts.not_in_area,
        need_help: counts.need_help,
        need_help_handled: counts.need_help_handled,
        no_response: counts.no_response,
        emails: counts.emails.to_json(),
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
        emails: EmailCounts::from_json(&row.emails),
        purged_at: Some(row.summarized_at),
    }
}
