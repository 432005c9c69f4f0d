//! The fan-out: every user whose fresh location lies inside an active incident's area gets one
//! prompt. Background work in chunks; each chunk's prompts and the cursor past them commit in
//! one transaction, so a crash or restart continues where it stopped, and the (incident, user)
//! primary key makes a repeated chunk harmless.

use chrono::NaiveDateTime;
use diesel::Connection;

use crate::clock::Clock;
use crate::db::incidents::IncidentRow;
use crate::db::locations::GridPosition;
use crate::db::{self, DbConn};
use crate::domain::{Area, IncidentStatus, PromptSource, grid};

/// Fans out the next incident that needs it, if any, chunk by chunk while this worker holds
/// its lease. Returns `None` when no incident needed it, else how many location rows it read
/// (more incidents may be waiting).
pub fn fan_out_next(conn: &mut DbConn, clock: &dyn Clock, size: ChunkSize) -> anyhow::Result<Option<u64>> {
    let now = clock.now();
    let Some(incident) = db::incidents::claim_fanout(conn, now, now + size.lease)? else {
        return Ok(None);
    };
    let area = parse_area(&incident)?;
    let mut cursor = incident.fanout_cursor.clone();
    let mut held = incident.fanout_lease_until.unwrap_or(now + size.lease);
    let mut rows_read = 0;
    // Work through the incident while we hold it; the lease is renewed with every chunk.
    loop {
        let run = run_chunk(conn, &incident, &area, cursor.as_deref(), size, clock.now(), held)?;
        rows_read += run.rows_read;
        match run.next {
            Chunk::Continue { next_cursor, lease } => {
                cursor = Some(next_cursor);
                held = lease;
            }
            Chunk::Finished => return Ok(Some(rows_read)),
        }
    }
}

/// How much one chunk reads, and how long its holder keeps the incident afterwards.
#[derive(Clone, Copy, Debug)]
pub struct ChunkSize {
    pub users: i64,
    pub lease: chrono::Duration,
}

/// What one chunk did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// More users may follow the cursor; the lease now runs until `lease`.
    Continue { next_cursor: String, lease: NaiveDateTime },
    /// Every user was visited, the incident was resolved meanwhile, or another worker took the
    /// fan-out over (our lease had run out).
    Finished,
}

/// What one chunk did, and the location rows it read to do it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRun {
    pub next: Chunk,
    pub rows_read: u64,
}

/// Where the walk stands after `cursor`, as stored on the incident. A cursor written by an
/// older version (a bare user id) starts the walk over: the prompts' primary key makes the
/// repeated part harmless.
fn position_after(incident: &IncidentRow, cursor: Option<&str>) -> Option<GridPosition> {
    let text = cursor?;
    let position = GridPosition::decode(text);
    if position.is_none() {
        tracing::warn!(incident = %incident.id, "fan-out cursor of an older version; walking the area again");
    }
    position
}

/// Reads up to `chunk` candidates after `cursor`, prompts those inside the area, and commits
/// the prompts with the new cursor, provided this worker still holds the lease `held`.
pub fn run_chunk(
    conn: &mut DbConn,
    incident: &IncidentRow,
    area: &Area,
    cursor: Option<&str>,
    size: ChunkSize,
    now: NaiveDateTime,
    held: NaiveDateTime,
) -> anyhow::Result<ChunkRun> {
    let ChunkSize { users: chunk, lease } = size;
    let runs = grid::runs(&area.bounding_box());
    let candidates =
        db::locations::in_cells_after(conn, &runs, position_after(incident, cursor).as_ref(), chunk)?;
    let rows_read = candidates.len() as u64;
    let finished = candidates.len() < usize::try_from(chunk).unwrap_or(usize::MAX);
    let next_cursor = candidates.last().map(|c| c.position().encode()).or_else(|| cursor.map(str::to_owned));
    let fresh_since = incident.location_cutoff;
    let inside: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.recorded_at >= fresh_since && area.contains(c.lat, c.lon))
        .map(|c| c.user_id)
        .collect();
    let lease = (!finished).then_some(now + lease);
    let still_held = conn.transaction::<_, diesel::result::Error, _>(|conn| {
        // The incident row is written first: it serialises with a concurrent resolve or
        // takeover, and nothing is inserted for an incident that is no longer active or ours.
        if !db::incidents::lock_if_held(conn, &incident.id, held)? {
            return Ok(false);
        }
        // Each new prompt carries its email, queued: delivery builds it when it sends it.
        let inserted = db::prompts::insert_batch(conn, &incident.id, &inside, PromptSource::Activation, now)?;
        let inserted = i64::try_from(inserted.len()).unwrap_or(i64::MAX);
        db::incidents::advance_fanout(conn, &incident.id, next_cursor.as_deref(), inserted, finished, lease)?;
        Ok(true)
    })?;
    if !still_held {
        let resolved =
            db::incidents::find(conn, &incident.id)?.is_none_or(|i| i.status != IncidentStatus::Active);
        if resolved {
            db::incidents::stop_fanout(conn, &incident.id)?;
        } else {
            tracing::warn!(incident = %incident.id, "fan-out lease lost to another worker; leaving it to them");
        }
        return Ok(ChunkRun { next: Chunk::Finished, rows_read });
    }
    match (finished, next_cursor, lease) {
        (false, Some(next_cursor), Some(lease)) => {
            Ok(ChunkRun { next: Chunk::Continue { next_cursor, lease }, rows_read })
        }
        _ => {
            tracing::info!(incident = %incident.id, "fan-out complete");
            Ok(ChunkRun { next: Chunk::Finished, rows_read })
        }
    }
}

/// The incident's stored area.
pub fn parse_area(incident: &IncidentRow) -> anyhow::Result<Area> {
    let value: serde_json::Value = serde_json::from_str(&incident.area)?;
    Area::parse(&value)
        .map_err(|errors| anyhow::anyhow!("stored area of {} is invalid: {errors:?}", incident.id))
}

/// How many users the area would prompt now (a dry run): the fan-out's walk, without writes.
pub fn count_inside(
    conn: &mut DbConn,
    area: &Area,
    fresh_since: NaiveDateTime,
    chunk: i64,
) -> diesel::QueryResult<u64> {
    let runs = grid::runs(&area.bounding_box());
    let mut after: Option<GridPosition> = None;
    let mut count = 0u64;
    loop {
        let candidates = db::locations::in_cells_after(conn, &runs, after.as_ref(), chunk)?;
        let finished = candidates.len() < usize::try_from(chunk).unwrap_or(usize::MAX);
        count +=
            candidates.iter().filter(|c| c.recorded_at >= fresh_since && area.contains(c.lat, c.lon)).count()
                as u64;
        match candidates.last() {
            Some(last) if !finished => after = Some(last.position()),
            _ => return Ok(count),
        }
    }
}
