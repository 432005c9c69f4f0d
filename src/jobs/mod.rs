//! The background jobs this service runs, inside `serve` and in `safecheck worker`.

mod housekeeping;

use std::sync::Arc;

use crate::config::Config;
use crate::worker::Job;

/// Every job, configured.
pub fn all(config: &Arc<Config>) -> Vec<Arc<dyn Job>> {
    vec![Arc::new(housekeeping::Housekeeping {
        login_window: config.login_throttle.window,
    })]
}
