//! Queues the emails of official updates, all-clear and retraction notices as a background job:
//! a chunk of the oldest notice whose walk is not done, whenever one is; woken early when this
//! process posts one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{Job, Progress};
use crate::clock::Clock;
use crate::db::DbPool;
use crate::incidents::notice_walk::{self, WalkSettings, Walked};

pub struct NoticesJob {
    pub clock: Arc<dyn Clock>,
    pub settings: WalkSettings,
    pub wakeup: Arc<Notify>,
    /// Woken when a chunk queued emails, so they go out at once.
    pub delivery: Arc<Notify>,
}

impl Job for NoticesJob {
    fn name(&self) -> &'static str {
        "notices"
    }

    /// Idle, it looks every 2 s: a notice posted in this process wakes it at once, one posted
    /// in another is walked within 2 s, and the pool is not asked for a connection more often
    /// than that for nothing (a waiting retraction looks again after 2 s too).
    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    fn wakeup(&self) -> Option<Arc<Notify>> {
        Some(self.wakeup.clone())
    }

    fn run_once(&self, pool: &DbPool) -> anyhow::Result<Progress> {
        let mut conn = pool.get()?;
        match notice_walk::walk_next(&mut conn, self.clock.as_ref(), &self.settings)? {
            Walked::Chunk(queued) => {
                if queued > 0 {
                    self.delivery.notify_one();
                }
                Ok(Progress::More)
            }
            Walked::Idle | Walked::Waiting => Ok(Progress::Idle),
        }
    }
}
