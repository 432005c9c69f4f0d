//! Delivery as a stream: claims of a few hundred due messages keep a small queue in memory
//! filled; every SMTP connection carries one message after another from it, most urgent first;
//! outcomes are recorded many at a time, while the next messages are on the wire. Claiming,
//! sending and recording overlap, so no connection waits for the database, nor the database for
//! the slowest message of a batch.
//!
//! Each claim holds its messages under a lease; a message still queued when too little of its
//! lease is left to send it is not sent, and another claim takes it over once the lease runs
//! out. A crashed worker's claims are taken over the same way; each message's Message-ID is
//! derived from its row id, so the rare duplicate after a crash is recognisable.

use std::collections::VecDeque;
use std::mem;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use rand::Rng;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::db::DbPool;
use crate::db::notifications::{NotificationRow, Outcome};
use crate::notify::Mailer;
use crate::notify::claims::{self, Ask, Claimed, Source};
use crate::notify::compose::Letterhead;
use crate::notify::links::LinkKeys;
use crate::notify::mailer::SendError;

/// While the queue holds other mail, contacts' check-in emails are claimed on their own this
/// often, so that one never waits behind a queue of prompts.
const CONTACTS_EVERY: Duration = Duration::from_millis(250);
/// Outcomes wait at most this long to be recorded together.
const RECORD_EVERY: Duration = Duration::from_millis(100);
/// A send must end this long before its lease does (a third of a shorter lease), so that its
/// outcome is recorded under it.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// How delivery behaves.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Messages one claim takes.
    pub claim: i64,
    /// Attempts before a message is marked failed.
    pub max_attempts: i32,
    /// The first retry's delay; each further one doubles, up to an hour.
    pub retry_base: Duration,
    /// How long a claim holds before another worker may take its messages over.
    pub lease: Duration,
    pub letterhead: Letterhead,
}

/// Sends what the outbox holds. Several may run at once, in one process or many.
pub struct Delivery {
    pub clock: Arc<dyn Clock>,
    pub mailer: Arc<Mailer>,
    pub settings: DeliverySettings,
    pub links: LinkKeys,
}

/// A claimed message waiting in memory, and until when it may still be sent.
struct Queued {
    source: Source,
    lease_until: NaiveDateTime,
    row: NotificationRow,
    send_by: Instant,
}

/// The claimed messages not yet sent, one queue per rank (`claims::rank`).
#[derive(Default)]
struct Queue {
    ranks: [VecDeque<Queued>; 4],
}

impl Queue {
    fn push(&mut self, queued: Queued) {
        let rank = claims::rank(&queued.source, &queued.row).min(self.ranks.len() - 1);
        self.ranks[rank].push_back(queued);
    }

    fn pop(&mut self) -> Option<Queued> {
        self.ranks.iter_mut().find_map(VecDeque::pop_front)
    }

    fn len(&self) -> usize {
        self.ranks.iter().map(VecDeque::len).sum()
    }
}

/// The queue, shared by the stream and its senders.
#[derive(Clone, Default)]
struct SharedQueue(Arc<Mutex<Queue>>);

impl SharedQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the stream's tasks report.
enum Event {
    Claimed {
        asked: Ask,
        at: Instant,
        result: anyhow::Result<Vec<Claimed>>,
    },
    Sent(Source, NaiveDateTime, Outcome),
    /// A sender found the queue empty and ended.
    SenderDone,
    Recorded(anyhow::Result<()>),
}

/// An outcome waiting to be recorded: where the message came from, its lease, what happened.
type Done = (Source, NaiveDateTime, Outcome);

/// Reports a task's end to the stream when dropped, also when the task panicked, so the stream
/// never waits for a task that is gone (what a panicked sender held waits for its lease).
struct Report {
    events: mpsc::UnboundedSender<Event>,
    event: Option<Event>,
}

impl Report {
    /// Reports `otherwise` unless `finish` says what happened.
    fn new(events: mpsc::UnboundedSender<Event>, otherwise: Event) -> Self {
        Report { events, event: Some(otherwise) }
    }

    fn finish(&mut self, event: Event) {
        self.event = Some(event);
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if let Some(event) = self.event.take() {
            let _ = self.events.send(event);
        }
    }
}

impl Delivery {
    /// Delivers for about `window`: claims while the window is open and mail is due, then lets
    /// what was claimed go out and records it (still claiming contacts' emails meanwhile, up to
    /// twice the window). Returns how many messages were claimed (0: none
    /// was due). The first database failure stops claiming; what was claimed still goes out,
    /// and the failure is returned. Call it from a Tokio runtime.
    pub async fn run(self: &Arc<Self>, pool: &DbPool, window: Duration) -> anyhow::Result<usize> {
        let started = Instant::now();
        let (events, mut inbox) = mpsc::unbounded_channel();
        let concurrency = self.mailer.concurrency();
        let claim_size = usize::try_from(self.settings.claim).unwrap_or(1).max(1);
        let queue = SharedQueue::default();
        let (mut claiming, mut senders, mut recording) = (false, 0usize, false);
        let mut done: Vec<Done> = Vec::new();
        let mut first_done: Option<Instant> = None;
        let mut drained = false;
        let mut last_claim = started;
        let mut claimed = 0;
        let mut failure: Option<anyhow::Error> = None;
        loop {
            let open = failure.is_none() && started.elapsed() < window;
            let waiting = queue.lock().len();
            if !claiming && failure.is_none() {
                // Contacts' emails are also claimed while what was claimed drains, for a while.
                let contacts_due = last_claim.elapsed() >= CONTACTS_EVERY
                    && (waiting > 0 || senders > 0)
                    && started.elapsed() < window * 2;
                let ask = if open && !drained && waiting < claim_size.div_ceil(2).max(concurrency) {
                    Some(Ask { limit: self.settings.claim, contacts_only: false })
                } else if contacts_due {
                    Some(Ask { limit: self.settings.claim, contacts_only: true })
                } else {
                    None
                };
                if let Some(ask) = ask {
                    self.spawn_claim(pool, ask, events.clone());
                    (claiming, last_claim) = (true, Instant::now());
                }
            }
            // Each sender takes one message after another from the queue until it is empty.
            let more = concurrency.min(senders + waiting) - senders.min(concurrency);
            for _ in 0..more {
                self.spawn_sender(queue.clone(), events.clone());
            }
            senders += more;
            if !done.is_empty() {
                let since = *first_done.get_or_insert_with(Instant::now);
                let idle = senders == 0 && !claiming;
                if !recording && (done.len() >= claim_size || since.elapsed() >= RECORD_EVERY || idle) {
                    self.spawn_record(pool, mem::take(&mut done), events.clone());
                    (recording, first_done) = (true, None);
                }
            }
            let busy = claiming || recording || senders > 0 || !done.is_empty();
            if !busy && (drained || !open) {
                break;
            }
            let Ok(Some(mut event)) = tokio::time::timeout(RECORD_EVERY / 2, inbox.recv()).await else {
                continue;
            };
            loop {
                match event {
                    Event::Claimed { asked, at, result } => {
                        claiming = false;
                        match result {
                            Ok(batch) => {
                                if !asked.contacts_only {
                                    drained = batch.len() < claim_size;
                                }
                                claimed += batch.len();
                                let margin = LEASE_MARGIN.min(self.settings.lease / 3);
                                let send_by = at + self.settings.lease.saturating_sub(margin);
                                let mut queue = queue.lock();
                                for Claimed { source, message, lease_until } in batch {
                                    match message {
                                        Ok(row) => queue.push(Queued { source, lease_until, row, send_by }),
                                        Err(outcome) => done.push((source, lease_until, outcome)),
                                    }
                                }
                            }
                            Err(error) => failure = failure.or(Some(error)),
                        }
                    }
                    Event::Sent(source, lease, outcome) => done.push((source, lease, outcome)),
                    Event::SenderDone => senders -= 1,
                    Event::Recorded(result) => {
                        recording = false;
                        if let Err(error) = result {
                            failure = failure.or(Some(error));
                        }
                    }
                }
                match inbox.try_recv() {
                    Ok(next) => event = next,
                    Err(_) => break,
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(claimed),
        }
    }

    fn spawn_claim(&self, pool: &DbPool, ask: Ask, events: mpsc::UnboundedSender<Event>) {
        let (pool, clock, lease) = (pool.clone(), self.clock.clone(), self.settings.lease);
        tokio::task::spawn_blocking(move || {
            let at = Instant::now();
            let failed =
                Event::Claimed { asked: ask, at, result: Err(anyhow::anyhow!("the claim panicked")) };
            let mut report = Report::new(events, failed);
            let result = (|| {
                let now = clock.now();
                let lease_until = now + chrono::Duration::from_std(lease)?;
                let mut conn = pool.get()?;
                claims::claim(&mut conn, now, lease_until, ask)
            })();
            report.finish(Event::Claimed { asked: ask, at, result });
        });
    }

    fn spawn_record(&self, pool: &DbPool, outcomes: Vec<Done>, events: mpsc::UnboundedSender<Event>) {
        let (pool, clock) = (pool.clone(), self.clock.clone());
        tokio::task::spawn_blocking(move || {
            let mut report = Report::new(events, Event::Recorded(Err(anyhow::anyhow!("recording panicked"))));
            let count = outcomes.len();
            let mut result = Ok(());
            // Outcomes not recorded are sent again once their lease runs out: a short outage of
            // the database is waited out.
            for pause in [Duration::ZERO, Duration::from_millis(200), Duration::from_secs(1)] {
                std::thread::sleep(pause);
                result = (|| -> anyhow::Result<()> {
                    let mut conn = pool.get()?;
                    Ok(claims::record(&mut conn, outcomes.clone(), clock.now())?)
                })();
                if result.is_ok() {
                    break;
                }
            }
            if let Err(error) = &result {
                tracing::error!(
                    error = %error,
                    count,
                    "could not record sent messages; they go out again after their lease"
                );
            }
            report.finish(Event::Recorded(result));
        });
    }

    /// A task that sends queued messages one after another, most urgent first, until the queue
    /// is empty: one connection's worth of the stream's concurrency.
    fn spawn_sender(self: &Arc<Self>, queue: SharedQueue, events: mpsc::UnboundedSender<Event>) {
        let delivery = self.clone();
        tokio::spawn(async move {
            let _done = Report::new(events.clone(), Event::SenderDone);
            loop {
                let next = queue.lock().pop();
                let Some(Queued { source, lease_until, row, send_by }) = next else { break };
                let Some(budget) = send_by.checked_duration_since(Instant::now()) else {
                    tracing::warn!(
                        message = row.id,
                        "claimed too long ago to send within its lease; left for the next claim"
                    );
                    continue;
                };
                let outcome = match tokio::time::timeout(budget, delivery.send(&row)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome::Retry {
                        at: delivery.retry_at(row.attempts),
                        error: format!("no answer from the mail server within {} s", budget.as_secs()),
                    },
                };
                let _ = events.send(Event::Sent(source, lease_until, outcome));
            }
        });
    }

    async fn send(&self, row: &NotificationRow) -> Outcome {
        let message = match self.settings.letterhead.compose(&self.links, row) {
            Ok(message) => message,
            Err(error) => return Outcome::Failed { error },
        };
        match self.mailer.send(message).await {
            Ok(()) => Outcome::Sent,
            Err(SendError::Permanent(error)) => Outcome::Failed { error },
            Err(SendError::Transient(error)) if row.attempts >= self.settings.max_attempts => {
                Outcome::Failed { error: format!("gave up after {} attempts: {error}", row.attempts) }
            }
            Err(SendError::Transient(error)) => Outcome::Retry { at: self.retry_at(row.attempts), error },
        }
    }

    /// Exponential backoff with ±20% jitter, so retries of one outage do not arrive together.
    fn retry_at(&self, attempts: i32) -> NaiveDateTime {
        let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
        let delay = self.settings.retry_base.saturating_mul(1 << exponent).min(Duration::from_secs(3600));
        let jitter = rand::rng().random_range(0.8..1.2);
        let delay = chrono::Duration::from_std(delay.mul_f64(jitter)).unwrap_or(chrono::Duration::hours(1));
        self.clock.now() + delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::notifications::NewNotification;
    use crate::domain::{Locale, NotificationKind, NotificationState};

    fn queued(kind: NotificationKind, prompt: bool) -> Queued {
        let now = chrono::NaiveDateTime::default();
        let row = NewNotification {
            kind,
            dedupe_key: String::new(),
            recipient_email: "a@example.org".into(),
            recipient_name: None,
            locale: Locale::En,
            incident_id: None,
            user_id: None,
            payload: "{}".into(),
        }
        .into_row(NotificationState::Sending, now);
        let source = if prompt {
            Source::Prompt(("incident".into(), row.id.clone()))
        } else {
            Source::Outbox(row.id.clone())
        };
        Queued { source, lease_until: now, row, send_by: Instant::now() }
    }

    #[test]
    fn a_task_that_panics_still_reports_its_end() {
        let (events, mut inbox) = mpsc::unbounded_channel();
        let ended = std::thread::spawn(move || {
            let _done = Report::new(events, Event::SenderDone);
            panic!("a template could not be rendered");
        })
        .join();
        assert!(ended.is_err());
        assert!(matches!(inbox.try_recv(), Ok(Event::SenderDone)));
        let (events, mut inbox) = mpsc::unbounded_channel();
        let mut report = Report::new(events, Event::SenderDone);
        report.finish(Event::Recorded(Ok(())));
        drop(report);
        assert!(matches!(inbox.try_recv(), Ok(Event::Recorded(Ok(())))));
        assert!(inbox.try_recv().is_err(), "one report per task");
    }

    #[test]
    fn the_queue_sends_contacts_first_then_the_people_lane_then_prompt_emails_then_invitations() {
        let mut queue = Queue::default();
        queue.push(queued(NotificationKind::Invitation, false));
        queue.push(queued(NotificationKind::Prompt, true));
        queue.push(queued(NotificationKind::Reminder, false));
        queue.push(queued(NotificationKind::CheckIn, false));
        queue.push(queued(NotificationKind::Prompt, true));
        queue.push(queued(NotificationKind::CheckIn, false));
        assert_eq!(queue.len(), 6);
        let order: Vec<(NotificationKind, bool)> = std::iter::from_fn(|| queue.pop())
            .map(|q| (q.row.kind, matches!(q.source, Source::Prompt(_))))
            .collect();
        use NotificationKind::*;
        assert_eq!(
            order,
            [
                (CheckIn, false),
                (CheckIn, false),
                (Reminder, false),
                (Prompt, true),
                (Prompt, true),
                (Invitation, false)
            ]
        );
    }
}
