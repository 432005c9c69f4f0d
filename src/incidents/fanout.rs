//! The fan-out: every user whose fresh location lies inside an active incident's area gets one
//! prompt. Background work in two steps. One walk over the area's grid cells collects the ids
//! of the users inside (each location read once, [`inside::walk`]); then their prompts are
//! inserted in id order, the order of the prompts' keys, so that each insert lands beside the
//! last one instead of on a random index page. Each chunk's prompts and the cursor past them
//! (the last id) commit in one transaction: after a crash or restart the next worker walks
//! again and continues after the cursor, and the (incident, user) primary key makes a repeated
//! chunk harmless.

use chrono::NaiveDateTime;
use diesel::Connection;

use super::inside::{self, SortedUserIds, UserIds};
use crate::clock::Clock;
use crate::db::incidents::IncidentRow;
use crate::db::{self, DbConn};
use crate::domain::{Area, IncidentStatus, PromptSource};

/// How much one chunk reads or writes, and how long its holder keeps the incident afterwards.
#[derive(Clone, Copy, Debug)]
pub struct ChunkSize {
    pub users: i64,
    pub lease: chrono::Duration,
}

/// What fanning out one incident took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FanOutRun {
    /// Location rows read by the walk.
    pub rows_read: u64,
    /// Reads the walk took.
    pub reads: u64,
    /// Chunks of prompts committed.
    pub chunks: u64,
}

/// Fans out the next incident that needs it, if any, while this worker holds its lease.
/// Returns `None` when no incident needed it (more incidents may be waiting otherwise).
pub fn fan_out_next(
    conn: &mut DbConn,
    clock: &dyn Clock,
    size: ChunkSize,
) -> anyhow::Result<Option<FanOutRun>> {
    let now = clock.now();
    let Some(incident) = db::incidents::claim_fanout(conn, now, now + size.lease)? else {
        return Ok(None);
    };
    let mut held = incident.fanout_lease_until.unwrap_or(now + size.lease);
    let mut run = FanOutRun::default();
    let Some(inside) = collect_inside(conn, clock, &incident, size, &mut held, &mut run)? else {
        give_up(conn, &incident)?;
        return Ok(Some(run));
    };
    let cursor = resume_after(&incident);
    let chunk = usize::try_from(size.users).unwrap_or(usize::MAX).max(1);
    let mut pending = inside.after(cursor.as_deref()).peekable();
    loop {
        let batch: Vec<String> = pending.by_ref().take(chunk).collect();
        let finished = pending.peek().is_none();
        run.chunks += 1;
        match run_chunk(conn, &incident, &batch, finished, clock.now(), held, size.lease)? {
            Chunk::Continue { lease, .. } => held = lease,
            Chunk::Finished => return Ok(Some(run)),
        }
    }
}

/// Walks the incident's area once and returns who is inside, sorted; renews the lease while it
/// walks. `None` when the lease was lost meanwhile (or the incident resolved).
pub fn collect_inside(
    conn: &mut DbConn,
    clock: &dyn Clock,
    incident: &IncidentRow,
    size: ChunkSize,
    held: &mut NaiveDateTime,
    run: &mut FanOutRun,
) -> anyhow::Result<Option<SortedUserIds>> {
    let area = parse_area(incident)?;
    let mut ids = UserIds::default();
    let walked = inside::walk(
        conn,
        &area,
        incident.location_cutoff,
        size.users,
        |id| ids.insert(id),
        |conn| {
            run.reads += 1;
            let now = clock.now();
            if now + size.lease / 2 < *held {
                return Ok(true);
            }
            let renewed = now + size.lease;
            let still_held = db::incidents::renew_fanout_lease(conn, &incident.id, *held, renewed)?;
            if still_held {
                *held = renewed;
            }
            Ok(still_held)
        },
    )?;
    run.reads += 1;
    run.rows_read += walked.rows_read;
    Ok(walked.complete.then(|| ids.sorted()))
}

/// What one chunk did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// More users follow the cursor; the lease now runs until `lease`.
    Continue { next_cursor: String, lease: NaiveDateTime },
    /// Every user was prompted, the incident was resolved meanwhile, or another worker took the
    /// fan-out over (our lease had run out).
    Finished,
}

/// The cursor stored after prompting `user_id`: the walk's users up to it are prompted.
pub fn cursor_after(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Where to continue, from the incident's stored cursor. A cursor of an older version (a cell
/// position or a bare user id, from walks in another order) starts over: the prompts' primary
/// key makes the repeated part harmless.
fn resume_after(incident: &IncidentRow) -> Option<String> {
    let text = incident.fanout_cursor.as_deref()?;
    let resumed = text.strip_prefix("user:").map(str::to_owned);
    if resumed.is_none() {
        tracing::warn!(incident = %incident.id, "fan-out cursor of an older version; prompting from the start");
    }
    resumed
}

/// Prompts `batch` (the next users in id order) and commits them with the cursor past them,
/// provided this worker still holds the lease `held`. `finished`: no user follows.
pub fn run_chunk(
    conn: &mut DbConn,
    incident: &IncidentRow,
    batch: &[String],
    finished: bool,
    now: NaiveDateTime,
    held: NaiveDateTime,
    lease: chrono::Duration,
) -> anyhow::Result<Chunk> {
    let next_cursor = batch.last().map(|id| cursor_after(id));
    let lease = (!finished).then_some(now + lease);
    let still_held = conn.transaction::<_, diesel::result::Error, _>(|conn| {
        // The incident row is written first: it serialises with a concurrent resolve or
        // takeover, and nothing is inserted for an incident that is no longer active or ours.
        if !db::incidents::lock_if_held(conn, &incident.id, held)? {
            return Ok(false);
        }
        // Each new prompt carries its email, queued: delivery builds it when it sends it.
        let inserted = db::prompts::insert_batch(conn, &incident.id, batch, PromptSource::Activation, now)?;
        let inserted = i64::try_from(inserted.len()).unwrap_or(i64::MAX);
        db::incidents::advance_fanout(conn, &incident.id, next_cursor.as_deref(), inserted, finished, lease)?;
        Ok(true)
    })?;
    if !still_held {
        give_up(conn, incident)?;
        return Ok(Chunk::Finished);
    }
    match (finished, next_cursor, lease) {
        (false, Some(next_cursor), Some(lease)) => Ok(Chunk::Continue { next_cursor, lease }),
        _ => {
            tracing::info!(incident = %incident.id, "fan-out complete");
            Ok(Chunk::Finished)
        }
    }
}

/// After this worker lost the incident: ends the fan-out if the incident was resolved, else
/// leaves it to the worker that took it over.
fn give_up(conn: &mut DbConn, incident: &IncidentRow) -> anyhow::Result<()> {
    let resolved =
        db::incidents::find(conn, &incident.id)?.is_none_or(|i| i.status != IncidentStatus::Active);
    if resolved {
        db::incidents::stop_fanout(conn, &incident.id)?;
    } else {
        tracing::warn!(incident = %incident.id, "fan-out lease lost to another worker; leaving it to them");
    }
    Ok(())
}

/// The incident's stored area.
pub fn parse_area(incident: &IncidentRow) -> anyhow::Result<Area> {
    let value: serde_json::Value = serde_json::from_str(&incident.area)?;
    Area::parse(&value)
        .map_err(|errors| anyhow::anyhow!("stored area of {} is invalid: {errors:?}", incident.id))
}

/// How many users the area would prompt now (a dry run): the fan-out's walk, without writes.
/// As [`count_inside`], stopping once `cap` are counted (after the chunk that reached it).
pub fn count_inside_up_to(
    conn: &mut DbConn,
    area: &Area,
    fresh_since: NaiveDateTime,
    chunk: i64,
    cap: u64,
) -> diesel::QueryResult<u64> {
    let counted = std::cell::Cell::new(0u64);
    inside::walk(
        conn,
        area,
        fresh_since,
        chunk,
        |_| counted.set(counted.get() + 1),
        |_| Ok(counted.get() < cap),
    )?;
    Ok(counted.get().min(cap))
}

pub fn count_inside(
    conn: &mut DbConn,
    area: &Area,
    fresh_since: NaiveDateTime,
    chunk: i64,
) -> diesel::QueryResult<u64> {
    count_inside_up_to(conn, area, fresh_since, chunk, u64::MAX)
}
