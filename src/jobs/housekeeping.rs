//! Housekeeping: deletes expired refresh tokens, throttling counters whose window is over and
//! per-user allowances that are whole again, so those tables stay small, and whatever retention
//! says is no longer of use (old idempotency keys, stale locations, the per-person rows of
//! incidents long over, old invitations and the counters that limit emails).

use std::sync::Arc;
use std::time::Duration;

use super::{Job, Progress};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{self, DbPool};
use crate::retention::{self, Policy};

pub struct Housekeeping {
    pub clock: Arc<dyn Clock>,
    /// Throttling counters whose window began longer ago than this count nothing.
    pub login_window: Duration,
    pub retention: Policy,
    pub interval: Duration,
}

impl Housekeeping {
    /// The job as `config` sets it up.
    pub fn new(config: &Config, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            login_window: config.login_throttle.window,
            retention: Policy {
                retention: config.retention,
                location_staleness: config.location_staleness,
                invitation_period: config.invitations.address_period,
            },
            interval: config.retention.housekeeping_interval,
        }
    }
}

impl Job for Housekeeping {
    fn name(&self) -> &'static str {
        "housekeeping"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn run_once(&self, pool: &DbPool) -> anyhow::Result<Progress> {
        let mut conn = pool.get()?;
        let now = self.clock.now();
        let tokens = db::refresh_tokens::delete_expired(&mut conn, now)?;
        let batch = self.retention.retention.batch;
        let counters = db::throttle_counters::delete_expired(
            &mut conn,
            now - chrono::Duration::from_std(self.login_window)?,
            batch,
        )?;
        let allowances =
            db::user_allowances::delete_whole(&mut conn, now.and_utc().timestamp_micros(), batch)?;
        if tokens + counters + allowances > 0 {
            tracing::info!(
                expired_refresh_tokens = tokens,
                throttle_counters = counters,
                user_allowances = allowances,
                "housekeeping"
            );
        }
        let purged = retention::purge_once(&mut conn, &self.retention, now)?;
        if purged != retention::Purged::default() {
            tracing::info!(
                idempotency_keys = purged.idempotency_keys,
                locations = purged.locations,
                incident_rows = purged.incident_rows,
                incidents_done = purged.incidents_done,
                invitations = purged.invitations,
                recipient_hours = purged.recipient_hours,
                invited_addresses = purged.invited_addresses,
                "retention"
            );
        }
        // A full batch: run again at once, each batch in statements of its own.
        let full = |n: usize| i64::try_from(n).is_ok_and(|n| n >= batch);
        let more = purged.more_waiting(batch) || full(counters) || full(allowances);
        Ok(if more { Progress::More } else { Progress::Idle })
    }
}
