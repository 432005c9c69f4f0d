//! The background jobs this service runs, inside `serve` and in `safecheck worker`.

mod expiry;
mod housekeeping;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::incidents::fanout::FanOut;
use crate::worker::{Job, Wakeups};

/// Every job, configured.
pub fn all(config: &Arc<Config>, clock: &Arc<dyn Clock>, wakeups: &Wakeups) -> Vec<Arc<dyn Job>> {
    vec![
        Arc::new(housekeeping::Housekeeping { login_window: config.login_throttle.window }),
        Arc::new(FanOut { clock: clock.clone(), chunk: config.fanout_chunk, wakeup: wakeups.fanout.clone() }),
        Arc::new(expiry::Expiry { clock: clock.clone() }),
    ]
}
