//! The scheduler: each background job in a loop of its own on the blocking pool, run again at
//! once while it finds work, woken early by this process's requests, stopped between items.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::db::DbPool;
use crate::state::AppState;

/// One kind of background work. `run_once` does one bounded item of work and says whether more
/// is waiting (then it runs again at once) or not (then after `interval`).
pub trait Job: Send + Sync + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Pause between runs when there is nothing to do.
    fn interval(&self) -> Duration;
    /// Does one item of work; blocking is fine, this runs on the blocking pool.
    fn run_once(&self, pool: &DbPool) -> anyhow::Result<Progress>;
    /// A signal that ends the pause early (work was just queued in this process).
    fn wakeup(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// What one run of a job found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More work is waiting: run again at once.
    More,
    /// Nothing left for now: wait for the interval.
    Idle,
}

/// The running jobs of this process.
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts every background job of this service.
    pub fn start(state: &AppState) -> anyhow::Result<Self> {
        let pool = state.pool.clone();
        if !state.config.run_workers {
            tracing::warn!("SAFECHECK_RUN_WORKERS=false: no background jobs in this process");
            return Ok(Self::start_jobs(Vec::new(), pool));
        }
        let jobs = super::all(&state.config, &state.clock, &state.wakeups, &state.metrics, &state.links)?;
        Ok(Self::start_jobs(jobs, pool))
    }

    /// Starts the given jobs, each in a loop of its own.
    pub fn start_jobs(jobs: Vec<Arc<dyn Job>>, pool: DbPool) -> Self {
        let (stop, stopped) = watch::channel(false);
        let handles =
            jobs.into_iter().map(|job| tokio::spawn(run_loop(job, pool.clone(), stopped.clone()))).collect();
        Self { stop, handles }
    }

    /// Asks every job to stop after its current item, and waits until they have.
    pub async fn stop(self) {
        // Receivers may already be gone if every loop ended; nothing to tell then.
        let _ = self.stop.send(true);
        for handle in self.handles {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "a background job ended abnormally");
            }
        }
    }
}

async fn run_loop(job: Arc<dyn Job>, pool: DbPool, mut stopped: watch::Receiver<bool>) {
    let wakeup = job.wakeup();
    tracing::info!(job = job.name(), "background job started");
    let mut failures: u32 = 0;
    loop {
        if *stopped.borrow() {
            break;
        }
        let (run_job, run_pool) = (job.clone(), pool.clone());
        let outcome = tokio::task::spawn_blocking(move || run_job.run_once(&run_pool)).await;
        let pause = match outcome {
            Ok(Ok(Progress::More)) => {
                failures = 0;
                Duration::ZERO
            }
            Ok(Ok(Progress::Idle)) => {
                failures = 0;
                job.interval()
            }
            Ok(Err(error)) => {
                failures = failures.saturating_add(1);
                tracing::warn!(
                    job = job.name(),
                    error = format!("{error:#}"),
                    "background job failed; will retry"
                );
                // Back off while the database is away, up to a minute.
                job.interval().saturating_mul(failures.min(60)).min(Duration::from_secs(60))
            }
            Err(panic) => {
                tracing::error!(job = job.name(), error = %panic, "background job panicked; will retry");
                job.interval()
            }
        };
        let woken = async {
            match &wakeup {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stopped.changed() => break,
            _ = tokio::time::sleep(pause) => {}
            _ = woken => {}
        }
    }
    tracing::info!(job = job.name(), "background job stopped");
}
