//! What every handler can reach: the application state, built once by `startup` and shared
//! by the HTTP workers.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::{PasswordPool, TokenKeys};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::DbPool;
use crate::incidents::ActiveAreas;
use crate::metrics::Metrics;
use crate::notify::unsubscribe::UnsubscribeKeys;

/// What every handler can reach.
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub tokens: TokenKeys,
    /// Hashes and verifies passwords on threads of their own.
    pub passwords: PasswordPool,
    pub clock: Arc<dyn Clock>,
    pub active_areas: ActiveAreas,
    pub wakeups: Wakeups,
    pub unsubscribe: UnsubscribeKeys,
    pub metrics: Arc<Metrics>,
}

/// Signals this process's requests give its jobs, so they start at once instead of at their
/// next poll. Other processes' jobs find the same work by polling.
#[derive(Clone, Debug, Default)]
pub struct Wakeups {
    pub fanout: Arc<Notify>,
    pub delivery: Arc<Notify>,
}
