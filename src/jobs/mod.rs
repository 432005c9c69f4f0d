//! The background jobs this service runs, inside `serve` and in `safecheck worker`.

mod delivery;
mod expiry;
mod fanout;
pub mod housekeeping;
mod notices;
mod scheduler;

pub use scheduler::{Job, Progress, Workers};

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::incidents::fanout::ChunkSize;
use crate::incidents::notice_walk::WalkSettings;
use crate::metrics::Metrics;
use crate::notify::Mailer;
use crate::notify::compose::Letterhead;
use crate::notify::delivery::{Delivery, DeliverySettings};
use crate::notify::links::LinkKeys;
use crate::state::Wakeups;

/// The jobs `SAFECHECK_JOBS` names (all of them by default), configured.
pub fn all(
    config: &Arc<Config>,
    clock: &Arc<dyn Clock>,
    wakeups: &Wakeups,
    metrics: &Arc<Metrics>,
    links: &LinkKeys,
) -> anyhow::Result<Vec<Arc<dyn Job>>> {
    let mailer = Mailer::from_config(config)?;
    tracing::info!(mail = %mailer.describe(config), "email delivery");
    let settings = DeliverySettings {
        claim: config.delivery.batch,
        max_attempts: config.delivery.max_attempts,
        retry_base: config.delivery.retry_base,
        lease: config.delivery.lease,
        letterhead: Letterhead {
            public_url: config.public_url.clone(),
            mail_from: config.mail_from.parse()?,
        },
    };
    let jobs: Vec<Arc<dyn Job>> = vec![
        Arc::new(housekeeping::Housekeeping::new(config, clock.clone())),
        Arc::new(fanout::FanOutJob {
            clock: clock.clone(),
            size: ChunkSize { users: config.fanout_chunk, lease: config.fanout_lease },
            wakeup: wakeups.fanout.clone(),
            metrics: metrics.clone(),
        }),
        Arc::new(notices::NoticesJob {
            clock: clock.clone(),
            settings: WalkSettings {
                chunk: config.fanout_chunk,
                lease: config.fanout_lease,
                organisation: config.org_name.clone(),
            },
            wakeup: wakeups.notices.clone(),
            delivery: wakeups.delivery.clone(),
        }),
        Arc::new(expiry::Expiry { clock: clock.clone() }),
    ];
    let delivery: Arc<dyn Job> = Arc::new(delivery::DeliveryJob {
        delivery: Arc::new(Delivery {
            clock: clock.clone(),
            mailer: Arc::new(mailer),
            settings,
            links: links.clone(),
        }),
        wakeup: wakeups.delivery.clone(),
    });
    let jobs = jobs.into_iter().chain([delivery]);
    Ok(jobs.filter(|job| config.jobs.iter().any(|name| name == job.name())).collect())
}
