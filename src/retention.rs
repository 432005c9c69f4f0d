//! Retention: what is deleted once it is no longer of use, by housekeeping, in bounded batches
//! (each statement commits on its own, so no purge holds a long transaction, and two processes
//! purging at once each delete what the other has not).

use chrono::NaiveDateTime;

use crate::config::RetentionConfig;
use crate::db::{self, DbConn};
use crate::incidents::counts;

/// How long each kind of data is kept.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub retention: RetentionConfig,
    /// Locations older than this are never read again (no fan-out nor arrival takes them).
    pub location_staleness: chrono::Duration,
    /// An address invited longer ago than this may be invited again: its record goes.
    pub invitation_period: chrono::Duration,
}

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: usize,
    pub locations: usize,
    /// An ended incident's prompts, check-ins, answers and outbox rows.
    pub incident_rows: usize,
    /// Incidents whose last rows went in this pass.
    pub incidents_done: usize,
    /// Outbox rows of no incident (invitations), done with and older than the incident
    /// retention; counters of the hourly cap for past hours; records of addresses invited
    /// longer ago than the invitation period.
    pub invitations: usize,
    pub recipient_hours: usize,
    pub invited_addresses: usize,
    /// An incident still has rows this pass did not delete (another process was deleting the
    /// same batch).
    pub incident_rows_left: bool,
}

impl Purged {
    /// Whether a batch came back full or an incident was finished: more may be waiting.
    pub fn more_waiting(&self, batch: i64) -> bool {
        let full = |n: usize| i64::try_from(n).is_ok_and(|n| n >= batch);
        full(self.idempotency_keys)
            || full(self.locations)
            || full(self.invitations)
            || full(self.recipient_hours)
            || full(self.invited_addresses)
            || self.incident_rows > 0
            || self.incidents_done > 0
    }
}

/// One batch of each kind of purge.
pub fn purge_once(conn: &mut DbConn, policy: &Policy, now: NaiveDateTime) -> diesel::QueryResult<Purged> {
    let batch = policy.retention.batch;
    let idempotency_keys =
        db::idempotency::delete_before(conn, now - policy.retention.idempotency_key_ttl, batch)?;
    let stale_before = location_cutoff(conn, policy, now)?;
    let locations = db::locations::delete_recorded_before(conn, stale_before, batch)?;
    let incident = purge_ended_incident(conn, policy, now)?;
    let invitations = db::notifications::delete_done_without_incident_before(
        conn,
        now - policy.retention.incident_data,
        batch,
    )?;
    // The cap counts the current clock hour only; the hour before is kept for a clock skewed
    // between processes.
    let recipient_hours = db::recipient_hours::delete_before(
        conn,
        db::recipient_hours::hour_of(now) - chrono::Duration::hours(1),
        batch,
    )?;
    let invited_addresses =
        db::invitations::delete_addresses_invited_before(conn, now - policy.invitation_period, batch)?;
    Ok(Purged {
        idempotency_keys,
        locations,
        invitations,
        recipient_hours,
        invited_addresses,
        incident_rows: incident.deleted,
        incidents_done: usize::from(incident.done),
        incident_rows_left: incident.left,
    })
}

/// Locations recorded before this are stale for every reader: older than the staleness window,
/// and older than what a fan-out still walking (which took its cutoff at activation) may read.
fn location_cutoff(
    conn: &mut DbConn,
    policy: &Policy,
    now: NaiveDateTime,
) -> diesel::QueryResult<NaiveDateTime> {
    let stale_since = now - policy.location_staleness;
    Ok(match db::incidents::oldest_unfinished_fanout_cutoff(conn)? {
        Some(walking) => walking.min(stale_since),
        None => stale_since,
    })
}

/// One batch of an incident's purge.
#[derive(Default)]
struct IncidentBatch {
    deleted: usize,
    /// Its last rows are gone.
    done: bool,
    /// None deleted, yet some are left: another process is deleting them.
    left: bool,
}

/// One batch of the per-person rows of the incident that ended longest ago beyond the retention
/// time. Its counts are kept first, once: whichever process stores them first, it counted rows
/// that nobody had started deleting.
fn purge_ended_incident(
    conn: &mut DbConn,
    policy: &Policy,
    now: NaiveDateTime,
) -> diesel::QueryResult<IncidentBatch> {
    let ended_before = now - policy.retention.incident_data;
    let Some(incident_id) = db::incident_summaries::next_to_purge(conn, ended_before)? else {
        return Ok(IncidentBatch::default());
    };
    if db::incident_summaries::find(conn, &incident_id)?.is_none() {
        let kept = counts::live(conn, &incident_id)?;
        if db::incident_summaries::insert_first(conn, &counts::summary(&incident_id, &kept, now))? {
            tracing::info!(incident = %incident_id, "retention: the incident's counts are kept; deleting its per-person rows");
        }
    }
    let deleted = db::incident_summaries::delete_batch(conn, &incident_id, policy.retention.batch)?;
    if deleted > 0 {
        return Ok(IncidentBatch { deleted, ..IncidentBatch::default() });
    }
    // Deleting none does not mean none are left: on PostgreSQL another process may have just
    // deleted this batch while rows beyond it remain.
    if db::incident_summaries::any_left(conn, &incident_id)? {
        return Ok(IncidentBatch { left: true, ..IncidentBatch::default() });
    }
    db::incident_summaries::mark_purged(conn, &incident_id, now)?;
    tracing::info!(incident = %incident_id, "retention: the incident's per-person rows are deleted");
    Ok(IncidentBatch { done: true, ..IncidentBatch::default() })
}
