//! Runs the fan-out as a background job: the next incident that needs prompts, whenever one
//! does; woken early when this process activates one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{Job, Progress};
use crate::clock::Clock;
use crate::db::DbPool;
use crate::incidents::fanout::{self, ChunkSize};
use crate::metrics::Metrics;

pub struct FanOutJob {
    pub clock: Arc<dyn Clock>,
    /// Candidate users read per chunk, and how long a chunk's lease holds.
    pub size: ChunkSize,
    pub wakeup: Arc<Notify>,
    pub metrics: Arc<Metrics>,
}

impl Job for FanOutJob {
    fn name(&self) -> &'static str {
        "fanout"
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(250)
    }

    fn wakeup(&self) -> Option<Arc<Notify>> {
        Some(self.wakeup.clone())
    }

    fn run_once(&self, pool: &DbPool) -> anyhow::Result<Progress> {
        let mut conn = pool.get()?;
        match fanout::fan_out_next(&mut conn, self.clock.as_ref(), self.size)? {
            Some(run) => {
                self.metrics.count_fanout_rows_read(run.rows_read);
                Ok(Progress::More)
            }
            None => Ok(Progress::Idle),
        }
    }
}
