//! The active incidents' areas, cached in memory for late-arrival checks on every location
//! update. The cache reloads after a few seconds, so an incident activated or resolved by
//! another process over the same database is seen soon; this process invalidates it at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::incidents::IncidentRow;
use crate::db::{self, DbConn};
use crate::domain::Area;

/// An active incident with its parsed area.
pub struct ActiveIncident {
    pub row: IncidentRow,
    pub area: Area,
}

pub struct ActiveAreas {
    max_age: Duration,
    cached: Mutex<Option<(Instant, Arc<Vec<ActiveIncident>>)>>,
}

impl ActiveAreas {
    pub fn new(max_age: Duration) -> Self {
        Self { max_age, cached: Mutex::new(None) }
    }

    /// The active incidents, reloaded when the cache is older than `max_age`.
    pub fn current(&self, conn: &mut DbConn) -> diesel::QueryResult<Arc<Vec<ActiveIncident>>> {
        if let Ok(guard) = self.cached.lock()
            && let Some((loaded, incidents)) = guard.as_ref()
            && loaded.elapsed() < self.max_age
        {
            return Ok(incidents.clone());
        }
        let incidents: Vec<ActiveIncident> = db::incidents::active(conn)?
            .into_iter()
            .filter_map(|row| {
                let area = serde_json::from_str(&row.area).ok().and_then(|v| Area::parse(&v).ok());
                if area.is_none() {
                    tracing::error!(incident = %row.id, "stored area does not parse; skipped");
                }
                area.map(|area| ActiveIncident { row, area })
            })
            .collect();
        let incidents = Arc::new(incidents);
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some((Instant::now(), incidents.clone()));
        }
        Ok(incidents)
    }

    /// Forgets the cache (after this process activated or resolved an incident).
    pub fn invalidate(&self) {
        if let Ok(mut guard) = self.cached.lock() {
            *guard = None;
        }
    }
}
