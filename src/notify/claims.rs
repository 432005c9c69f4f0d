//! What delivery takes from the database and gives back: a claim of due messages, lane by lane,
//! each under the claim's lease; and the outcomes of sent messages, recorded many at a time.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::Connection;

use crate::db::notifications::{NotificationRow, Outcome};
use crate::db::prompt_emails::PromptKey;
use crate::db::{self, DbConn};
use crate::domain::{Lane, NotificationKind};
use crate::notify::prompt_messages;

/// Where a claimed message came from, so its outcome is recorded there.
#[derive(Clone, Debug)]
pub enum Source {
    /// An outbox row, by id.
    Outbox(String),
    /// A prompt's email, by prompt.
    Prompt(PromptKey),
}

/// A claimed message: to send, or already settled (its prompt could not be made into a
/// message, or its address unsubscribed).
pub struct Claimed {
    pub source: Source,
    pub message: Result<NotificationRow, Outcome>,
    /// The lease it was claimed under: its outcome is recorded only while that lease holds.
    pub lease_until: NaiveDateTime,
}

/// The order in which claimed messages go out, lowest first: a contact's check-in email before
/// the outbox's prompts and reminders, then the emails prompts carry, then notices (official
/// updates, all clear, retraction), invitations last. The claim takes them in this order too.
pub fn rank(source: &Source, row: &NotificationRow) -> usize {
    match (source, row.kind) {
        (Source::Prompt(_), _) => 2,
        (Source::Outbox(_), NotificationKind::CheckIn) => 0,
        (Source::Outbox(_), NotificationKind::Prompt | NotificationKind::Reminder) => 1,
        (
            Source::Outbox(_),
            NotificationKind::OfficialUpdate | NotificationKind::AllClear | NotificationKind::Retraction,
        ) => 3,
        (Source::Outbox(_), NotificationKind::Invitation) => 4,
    }
}

/// What to claim: up to `limit` messages, from every lane or (`contacts_only`) only
/// contacts' check-in emails.
#[derive(Clone, Copy, Debug)]
pub struct Ask {
    pub limit: i64,
    pub contacts_only: bool,
}

/// Claims up to `ask.limit` due messages until `lease_until`: the outbox's contacts and people
/// lanes first, then prompt emails, then notices, then invitations. Those to unsubscribed
/// addresses come back settled as suppressed, and those their incident's end cancelled
/// ([`NotificationKind::cancelled_when`]) as cancelled. A step that fails after an earlier one succeeded is logged and
/// left for the next claim, so what was claimed still goes out.
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    ask: Ask,
) -> anyhow::Result<Vec<Claimed>> {
    let lanes: &[Lane] = if ask.contacts_only { &[Lane::Contacts] } else { &[Lane::Contacts, Lane::People] };
    let mut rows = db::notifications::claim(conn, now, lease_until, ask.limit, lanes)?;
    let mut prompts = Vec::new();
    let left = |taken: usize| ask.limit - i64::try_from(taken).unwrap_or(ask.limit);
    if !ask.contacts_only && left(rows.len()) > 0 {
        match db::prompt_emails::claim(conn, now, lease_until, left(rows.len()))
            .and_then(|claimed| prompt_messages::prepare(conn, claimed, now))
        {
            Ok(prepared) => prompts = prepared,
            Err(error) => tracing::warn!(error = %error, "could not claim prompt emails; will retry"),
        }
    }
    // Then notices, after the prompts' own emails (a person hears "are you safe?" before an
    // update about it); invitations last: nobody waits on one in a disaster.
    for lane in [Lane::Notices, Lane::Invitations] {
        let left = left(rows.len() + prompts.len());
        if ask.contacts_only || left <= 0 {
            break;
        }
        match db::notifications::claim(conn, now, lease_until, left, &[lane]) {
            Ok(claimed) => rows.extend(claimed),
            Err(error) => tracing::warn!(error = %error, lane = ?lane, "could not claim a lane; will retry"),
        }
    }
    let emails: Vec<&str> = rows
        .iter()
        .map(|row| row.recipient_email.as_str())
        .chain(prompts.iter().filter_map(|(_, m)| m.as_ref().ok().map(|row| row.recipient_email.as_str())))
        .collect();
    // Without these reads nothing may go out: an unsubscribed address must not get mail, nor
    // anyone a message its incident's end cancelled. The claimed rows then wait for their lease.
    let suppressed = db::notifications::suppressed_among(conn, &emails)?;
    let mut incident_ids: Vec<&str> = rows.iter().filter_map(|row| row.incident_id.as_deref()).collect();
    incident_ids.sort_unstable();
    incident_ids.dedup();
    let statuses = db::incidents::statuses(conn, &incident_ids)?;
    let settle = |row: NotificationRow| {
        let ended = row.incident_id.as_ref().and_then(|id| statuses.get(id));
        if ended.is_some_and(|&status| row.kind.cancelled_when(status)) {
            Err(Outcome::Cancelled)
        } else if suppressed.contains(&row.recipient_email) {
            Err(Outcome::Suppressed)
        } else {
            Ok(row)
        }
    };
    let outbox = rows.into_iter().map(|row| Claimed {
        source: Source::Outbox(row.id.clone()),
        message: settle(row),
        lease_until,
    });
    let prompts = prompts.into_iter().map(|(key, message)| Claimed {
        source: Source::Prompt(key),
        message: message.and_then(settle),
        lease_until,
    });
    Ok(outbox.chain(prompts).collect())
}

/// Outcomes of one lease: the outbox's rows', and prompt emails'.
type Outcomes = (Vec<(String, Outcome)>, Vec<(PromptKey, Outcome)>);

/// Records outcomes, each under the lease its message was claimed with, in one transaction.
pub fn record(
    conn: &mut DbConn,
    outcomes: Vec<(Source, NaiveDateTime, Outcome)>,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let mut by_lease: BTreeMap<NaiveDateTime, Outcomes> = BTreeMap::new();
    for (source, lease, outcome) in outcomes {
        let (outbox, prompts) = by_lease.entry(lease).or_default();
        match source {
            Source::Outbox(id) => outbox.push((id, outcome)),
            Source::Prompt(key) => prompts.push((key, outcome)),
        }
    }
    conn.transaction(|conn| {
        for (lease, (outbox, prompts)) in &by_lease {
            db::notifications::record(conn, outbox, *lease, now)?;
            db::prompt_emails::record(conn, prompts, *lease, now)?;
        }
        Ok(())
    })
}
