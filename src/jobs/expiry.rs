//! Resolves incidents whose `expires_at` has passed.

use std::sync::Arc;
use std::time::Duration;

use super::{Job, Progress};
use crate::clock::Clock;
use crate::db::DbPool;
use crate::incidents;

pub struct Expiry {
    pub clock: Arc<dyn Clock>,
}

impl Job for Expiry {
    fn name(&self) -> &'static str {
        "expiry"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn run_once(&self, pool: &DbPool) -> anyhow::Result<Progress> {
        let mut conn = pool.get()?;
        incidents::expire_due(&mut conn, self.clock.now())?;
        Ok(Progress::Idle)
    }
}
