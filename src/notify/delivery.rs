//! The delivery job: claims due outbox rows and prompt emails in batches (a lease each), sends
//! them concurrently over the pooled transport, and records each outcome. A crashed worker's claims are taken over
//! when their lease runs out; each message's Message-ID is derived from its row id, so the rare
//! duplicate after a crash is recognisable.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::Connection;
use futures_util::future::join_all;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use rand::Rng;

use crate::clock::Clock;
use crate::db::notifications::{NotificationRow, Outcome};
use crate::db::prompt_emails::PromptKey;
use crate::db::{self, DbPool};
use crate::domain::email::canonical;
use crate::domain::{Lane, NotificationKind};
use crate::notify::links::LinkKeys;
use crate::notify::mailer::SendError;
use crate::notify::templates::{self, CheckInPayload, InvitationPayload, PromptPayload};
use crate::notify::{Mailer, prompt_messages};

/// Where a message to send was claimed from, so its outcome is recorded there.
enum Source {
    /// An outbox row, by id.
    Outbox(String),
    /// A prompt's email, by prompt.
    Prompt(PromptKey),
}

/// How delivery behaves.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Rows claimed at once.
    pub batch: i64,
    /// Attempts before a message is marked failed.
    pub max_attempts: i32,
    /// The first retry's delay; each further one doubles, up to an hour.
    pub retry_base: Duration,
    /// How long a claim holds before another worker may take the row over.
    pub lease: Duration,
    pub public_url: String,
    pub mail_from: Mailbox,
}

/// Sends what the outbox holds. Several may run at once, in one process or many.
pub struct Delivery {
    pub clock: Arc<dyn Clock>,
    pub mailer: Arc<Mailer>,
    pub settings: DeliverySettings,
    pub links: LinkKeys,
}

impl Delivery {
    /// Claims one batch of due messages, sends them and records each outcome; returns how many
    /// were claimed (0: nothing is due). The outbox's rows come first, lane by lane (contacts'
    /// check-in emails before anything else, then prompts' and reminders' rows); prompt emails,
    /// carried by their prompts, fill what is left of the batch, and invitations what is left
    /// after them. Blocks: call it from the blocking pool, inside a Tokio runtime.
    pub fn deliver_batch(&self, pool: &DbPool) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let lease_until = now + chrono::Duration::from_std(self.settings.lease)?;
        let (rows, prompts) = {
            let mut conn = pool.get()?;
            let mut rows = db::notifications::claim(
                &mut conn,
                now,
                lease_until,
                self.settings.batch,
                &[Lane::Contacts, Lane::People],
            )?;
            let left = self.settings.batch - i64::try_from(rows.len()).unwrap_or(self.settings.batch);
            let prompts = if left > 0 {
                // The outbox rows just claimed (a contact's email among them) go out even if
                // this fails; prompt emails claimed before the failure wait for their lease.
                db::prompt_emails::claim(&mut conn, now, lease_until, left)
                    .and_then(|claimed| prompt_messages::prepare(&mut conn, claimed, now))
                    .unwrap_or_else(|error| {
                        tracing::warn!(error = %error, "could not claim prompt emails; will retry");
                        Vec::new()
                    })
            } else {
                Vec::new()
            };
            // Invitations last, after the prompts' own emails: nobody waits on one in a disaster.
            // What was claimed above goes out even if this fails.
            let left = left - i64::try_from(prompts.len()).unwrap_or(left);
            if left > 0 {
                match db::notifications::claim(&mut conn, now, lease_until, left, &[Lane::Invitations]) {
                    Ok(invitations) => rows.extend(invitations),
                    Err(error) => tracing::warn!(error = %error, "could not claim invitations; will retry"),
                }
            }
            (rows, prompts)
        };
        let claimed = rows.len() + prompts.len();
        if claimed == 0 {
            return Ok(0);
        }
        // Prompt emails' outcomes, those that could not be built (failed) first.
        let mut prompt_outcomes: Vec<(PromptKey, Outcome)> = Vec::new();
        let mut messages: Vec<(Source, NotificationRow)> =
            rows.into_iter().map(|row| (Source::Outbox(row.id.clone()), row)).collect();
        for (key, message) in prompts {
            match message {
                Ok(row) => messages.push((Source::Prompt(key), row)),
                Err(error) => prompt_outcomes.push((key, Outcome::Failed { error })),
            }
        }
        let outcomes = self.send_all(pool, messages)?;
        let mut outbox = Vec::new();
        for (source, outcome) in outcomes {
            match source {
                Source::Outbox(id) => outbox.push((id, outcome)),
                Source::Prompt(key) => prompt_outcomes.push((key, outcome)),
            }
        }
        let mut conn = pool.get()?;
        let recorded_at = self.clock.now();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            db::notifications::record(conn, &outbox, lease_until, recorded_at)?;
            db::prompt_emails::record(conn, &prompt_outcomes, lease_until, recorded_at)
        })?;
        Ok(claimed)
    }

    /// Sends the messages concurrently (those to unsubscribed addresses not at all); each one's
    /// outcome beside its source.
    fn send_all(
        &self,
        pool: &DbPool,
        messages: Vec<(Source, NotificationRow)>,
    ) -> anyhow::Result<Vec<(Source, Outcome)>> {
        let emails: Vec<&str> = messages.iter().map(|(_, row)| row.recipient_email.as_str()).collect();
        let suppressed = {
            let mut conn = pool.get()?;
            db::notifications::suppressed_among(&mut conn, &emails)?
        };
        // This runs on the blocking pool, where waiting on async sends is allowed.
        // Every send must end well inside the lease, or another worker could take the row over
        // while it is still in flight.
        let budget = self.settings.lease.saturating_sub(Duration::from_secs(10)).max(Duration::from_secs(1));
        let handle = tokio::runtime::Handle::current();
        Ok(handle.block_on(join_all(messages.into_iter().map(|(source, row)| {
            let suppressed = suppressed.contains(&row.recipient_email);
            async move {
                let outcome = if suppressed {
                    Outcome::Suppressed
                } else {
                    match tokio::time::timeout(budget, self.deliver(&row)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Outcome::Retry {
                            at: self.retry_at(row.attempts),
                            error: format!("no answer from the mail server within {} s", budget.as_secs()),
                        },
                    }
                };
                (source, outcome)
            }
        }))))
    }

    async fn deliver(&self, row: &NotificationRow) -> Outcome {
        let message = match self.build(row) {
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

    /// The link accepting `user_id`'s invitation of `recipient`.
    fn accept_url(&self, user_id: &str, recipient: &str) -> String {
        format!(
            "{}/v1/invitations/{}",
            self.settings.public_url,
            self.links.accept_token(user_id, &canonical(recipient))
        )
    }

    fn build(&self, row: &NotificationRow) -> Result<Message, String> {
        let locale = row.locale;
        let url =
            format!("{}/v1/unsubscribe/{}", self.settings.public_url, self.links.token(&row.recipient_email));
        let rendered = match row.kind {
            NotificationKind::CheckIn => {
                let payload: CheckInPayload =
                    serde_json::from_str(&row.payload).map_err(|e| e.to_string())?;
                let accept = match &row.user_id {
                    Some(user_id) if !payload.accepted => {
                        Some(self.accept_url(user_id, &row.recipient_email))
                    }
                    _ => None,
                };
                templates::check_in(locale, &payload, accept.as_deref(), &url)
            }
            NotificationKind::Invitation => {
                let payload: InvitationPayload =
                    serde_json::from_str(&row.payload).map_err(|e| e.to_string())?;
                let user_id = row.user_id.as_deref().ok_or("an invitation without its user")?;
                templates::invitation(locale, &payload, &self.accept_url(user_id, &row.recipient_email), &url)
            }
            NotificationKind::Prompt | NotificationKind::Reminder => {
                let payload: PromptPayload = serde_json::from_str(&row.payload).map_err(|e| e.to_string())?;
                if row.kind == NotificationKind::Prompt {
                    templates::prompt(locale, &payload, &url)
                } else {
                    templates::reminder(locale, &payload, &url)
                }
            }
        };
        let to = Mailbox::new(
            row.recipient_name.clone(),
            row.recipient_email.parse().map_err(|e| format!("{e}"))?,
        );
        let domain = self.settings.mail_from.email.domain().to_owned();
        Message::builder()
            .from(self.settings.mail_from.clone())
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(format!("<{}@{domain}>", row.id)))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ))
            .multipart(MultiPart::alternative_plain_html(rendered.text, rendered.html))
            .map_err(|e| e.to_string())
    }
}
