//! Runs a [`Delivery`] stream as a background job: in windows of a few seconds (the scheduler
//! can stop it between two), again at once while messages are due, woken early when this
//! process queues some.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{Job, Progress};
use crate::db::DbPool;
use crate::notify::delivery::Delivery;

/// How long one run claims before it lets what it claimed go out and returns.
const WINDOW: Duration = Duration::from_secs(2);

pub struct DeliveryJob {
    pub delivery: Arc<Delivery>,
    pub wakeup: Arc<Notify>,
}

impl Job for DeliveryJob {
    fn name(&self) -> &'static str {
        "delivery"
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(250)
    }

    fn wakeup(&self) -> Option<Arc<Notify>> {
        Some(self.wakeup.clone())
    }

    fn run_once(&self, pool: &DbPool) -> anyhow::Result<Progress> {
        // On the blocking pool, where waiting for async work is allowed.
        let claimed = tokio::runtime::Handle::current().block_on(self.delivery.run(pool, WINDOW))?;
        Ok(if claimed == 0 { Progress::Idle } else { Progress::More })
    }
}
