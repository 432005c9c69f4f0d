//! Housekeeping: deletes expired refresh tokens and login failures older than the throttle
//! window, so those tables stay small.

use std::sync::Arc;
use std::time::Duration;

use super::{Job, Progress};
use crate::clock::Clock;
use crate::db::{self, DbPool};

pub struct Housekeeping {
    pub clock: Arc<dyn Clock>,
    /// Failures older than this no longer count.
    pub login_window: Duration,
}

impl Job for Housekeeping {
    fn name(&self) -> &'static str {
        "housekeeping"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(300)
    }

    fn run_once(&self, pool: &DbPool) -> anyhow::Result<Progress> {
        let mut conn = pool.get()?;
        let now = self.clock.now();
        let tokens = db::refresh_tokens::delete_expired(&mut conn, now)?;
        let failures = db::login_failures::delete_before(
            &mut conn,
            now - chrono::Duration::from_std(self.login_window)?,
        )?;
        if tokens + failures > 0 {
            tracing::info!(expired_refresh_tokens = tokens, old_login_failures = failures, "housekeeping");
        }
        Ok(Progress::Idle)
    }
}
