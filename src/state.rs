//! What every handler can reach: the application state, built once by `startup` and shared
//! by the HTTP workers.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::{PasswordPool, TokenKeys};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::DbPool;
use crate::db::group_commit::GroupWriter;
use crate::incidents::ActiveAreas;
use crate::limits::UserLimiters;
use crate::metrics::Metrics;
use crate::notify::links::LinkKeys;

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
    /// Signs and checks the links in emails (unsubscribe, accept an invitation).
    pub links: LinkKeys,
    pub metrics: Arc<Metrics>,
    /// Per-user limits on check-ins and location updates (counted in the database, shared by
    /// every process).
    pub user_limits: UserLimiters,
    /// On SQLite, the one writer that commits answers several to a transaction; none on
    /// PostgreSQL, where each answer has a connection and a transaction of its own.
    pub answer_writer: Option<GroupWriter>,
}

/// Signals this process's requests give its jobs, so they start at once instead of at their
/// next poll. Other processes' jobs find the same work by polling.
#[derive(Clone, Debug, Default)]
pub struct Wakeups {
    pub fanout: Arc<Notify>,
    /// The walk queueing a notice's emails.
    pub notices: Arc<Notify>,
    pub delivery: Arc<Notify>,
}
