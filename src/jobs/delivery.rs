//! Runs a [`Delivery`] as a background job: again at once while messages are due, woken early
//! when this process queues some.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::{Job, Progress};
use crate::db::DbPool;
use crate::notify::delivery::Delivery;

pub struct DeliveryJob {
    pub delivery: Delivery,
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
        let claimed = self.delivery.deliver_batch(pool)?;
        Ok(if claimed == 0 { Progress::Idle } else { Progress::More })
    }
}
