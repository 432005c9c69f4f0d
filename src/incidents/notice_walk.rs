//! The walk that queues a notice's emails: over the incident's prompts in user-id order, then,
//! for a retraction, over the reminders and updates already sent and the contacts' check-in
//! emails already sent, in id order; a chunk a
//! transaction, under a lease, the cursor stored with the chunk. A crash resumes at the cursor;
//! a chunk written again queues nothing twice (each email's dedupe key names the notice and the
//! recipient).

use chrono::{Duration, NaiveDateTime};
use diesel::Connection;

use crate::clock::{Clock, rfc3339};
use crate::db::incidents::IncidentRow;
use crate::db::notices::NoticeRow;
use crate::db::notifications::NewNotification;
use crate::db::{self, DbConn};
use crate::domain::email::canonical;
use crate::domain::{Locale, NoticeKind, NotificationKind, NotificationState};
use crate::notify::notice_templates::NoticePayload;
use crate::notify::outbox;
use crate::notify::templates::CheckInPayload;

/// How the walk goes: recipients a chunk, how long a chunk's lease holds, and the organisation
/// named in the emails (`SAFECHECK_ORG_NAME`).
#[derive(Clone, Debug)]
pub struct WalkSettings {
    pub chunk: i64,
    pub lease: Duration,
    pub organisation: String,
}

/// What one step of the walk did.
#[derive(Debug, PartialEq, Eq)]
pub enum Walked {
    /// No notice has emails left to queue.
    Idle,
    /// A chunk: how many emails it queued to send.
    Chunk(usize),
    /// The notice waits for emails about its incident that are being sent now.
    Waiting,
}

/// Where the walk stands: before the next prompted user; for a retraction then before the next
/// reminder or update email that went out (its person heard too), then before the next
/// contact's check-in email.
enum Cursor {
    Users(String),
    Emailed(String),
    Contacts(String),
}

impl Cursor {
    fn read(stored: Option<&str>) -> Self {
        let stored = stored.unwrap_or_default();
        match (stored.get(..2), stored.get(2..)) {
            (Some("s:"), Some(rest)) => Cursor::Emailed(rest.to_owned()),
            (Some("c:"), Some(rest)) => Cursor::Contacts(rest.to_owned()),
            (Some("u:"), Some(rest)) => Cursor::Users(rest.to_owned()),
            _ => Cursor::Users(String::new()),
        }
    }
}

/// The outbox kind of a notice's emails.
fn kind_of(notice: NoticeKind) -> NotificationKind {
    match notice {
        NoticeKind::Update => NotificationKind::OfficialUpdate,
        NoticeKind::AllClear => NotificationKind::AllClear,
        NoticeKind::Retraction => NotificationKind::Retraction,
    }
}

/// Queues one chunk of the emails of the oldest notice whose walk is not done.
pub fn walk_next(
    conn: &mut DbConn,
    clock: &dyn Clock,
    settings: &WalkSettings,
) -> diesel::QueryResult<Walked> {
    let now = clock.now();
    let held = now + settings.lease;
    let Some(notice) = db::notices::claim_walk(conn, now, held)? else { return Ok(Walked::Idle) };
    let Some(incident) = db::incidents::find(conn, &notice.incident_id)? else {
        db::notices::advance_walk(conn, &notice.id, held, notice.walk_cursor.as_deref(), 0, true, None)?;
        return Ok(Walked::Chunk(0));
    };
    // After a retraction, what an update or an all clear would queue is cancelled anyway.
    if kind_of(notice.kind).cancelled_when(incident.status) {
        db::notices::advance_walk(conn, &notice.id, held, notice.walk_cursor.as_deref(), 0, true, None)?;
        return Ok(Walked::Chunk(0));
    }
    // An update goes to everyone prompted: it waits for the fan-out to have prompted them all
    // (a walk in id order would miss those prompted behind it). A retraction waits for the
    // emails on the wire right now: their recipients may have heard.
    let wait = match notice.kind {
        NoticeKind::Update => !incident.fanout_done,
        NoticeKind::Retraction => db::notices::any_in_flight(conn, &incident.id)?,
        NoticeKind::AllClear => false,
    };
    if wait {
        let retry = Some(now + Duration::seconds(2));
        db::notices::advance_walk(conn, &notice.id, held, notice.walk_cursor.as_deref(), 0, false, retry)?;
        return Ok(Walked::Waiting);
    }
    let payload = NoticePayload {
        kind: notice.kind,
        incident_title: incident.title.clone(),
        organisation: settings.organisation.clone(),
        text: Some(notice.text.clone()).filter(|t| !t.is_empty()),
        posted_at: rfc3339(notice.created_at),
        to_contact: false,
        exercise: incident.exercise,
    };
    let step = conn.transaction(|conn| {
        // The first statement writes: on SQLite a transaction that reads first cannot take the
        // write lock later while another writer holds it ("database is locked" at once).
        if !db::notices::hold_walk(conn, &notice.id, held)? {
            return Ok(None);
        }
        let (queued, cursor, done) = match Cursor::read(notice.walk_cursor.as_deref()) {
            Cursor::Users(after) => {
                to_users(conn, &notice, &incident, &payload, &after, settings.chunk, now)?
            }
            Cursor::Emailed(after) => {
                to_emailed(conn, &notice, &incident, &payload, &after, settings.chunk, now)?
            }
            Cursor::Contacts(after) => to_contacts(conn, &notice, &payload, &after, settings.chunk, now)?,
        };
        // The lease is checked last, in the chunk's transaction: a worker whose lease was taken
        // over rolls its chunk back. It is released with the chunk: any worker takes the next.
        if db::notices::advance_walk(conn, &notice.id, held, cursor.as_deref(), queued as i64, done, None)? {
            Ok(Some(queued))
        } else {
            Err(diesel::result::Error::RollbackTransaction)
        }
    });
    match step {
        Ok(Some(queued)) => Ok(Walked::Chunk(queued)),
        Ok(None) | Err(diesel::result::Error::RollbackTransaction) => Ok(Walked::Chunk(0)),
        Err(error) => {
            // Free the notice for the next try at once rather than when the lease runs out.
            let released = db::notices::advance_walk(
                conn,
                &notice.id,
                held,
                notice.walk_cursor.as_deref(),
                0,
                false,
                None,
            );
            if let Err(also) = released {
                tracing::warn!(error = %also, "could not release a notice's walk; its lease will run out");
            }
            Err(error)
        }
    }
}

/// One chunk of prompted users: their emails, and where the walk goes next.
fn to_users(
    conn: &mut DbConn,
    notice: &NoticeRow,
    incident: &IncidentRow,
    payload: &NoticePayload,
    after: &str,
    chunk: i64,
    now: NaiveDateTime,
) -> diesel::QueryResult<(usize, Option<String>, bool)> {
    let only_told = notice.kind.only_to_those_told();
    let users = db::notices::prompted_after(conn, &incident.id, after, only_told, chunk)?;
    let recipients: Vec<(String, String)> =
        users.iter().map(|id| (id.clone(), format!("notice.{}.{id}", notice.id))).collect();
    let body = json_of(payload)?;
    let queued = outbox::enqueue_to_users(
        conn,
        kind_of(notice.kind),
        &incident.id,
        &recipients,
        |_| Ok(body.clone()),
        now,
    )?;
    Ok(match users.last() {
        Some(last) if users.len() as i64 == chunk => (queued, Some(format!("u:{last}")), false),
        // The users are done: a retraction goes on to those sent a reminder or an update.
        _ if notice.kind == NoticeKind::Retraction => (queued, Some("s:".to_owned()), false),
        _ => (queued, None, true),
    })
}

/// One chunk of the reminders and official updates that went out: their people heard of the
/// incident even if their prompt email did not go. The same dedupe key as [`to_users`]: each
/// person is told once.
fn to_emailed(
    conn: &mut DbConn,
    notice: &NoticeRow,
    incident: &IncidentRow,
    payload: &NoticePayload,
    after: &str,
    chunk: i64,
    now: NaiveDateTime,
) -> diesel::QueryResult<(usize, Option<String>, bool)> {
    let kinds = [NotificationKind::Reminder, NotificationKind::OfficialUpdate];
    let sent = db::notices::sent_after(conn, &incident.id, &kinds, after, chunk)?;
    let recipients: Vec<(String, String)> = sent
        .iter()
        .filter_map(|(_, _, _, user_id, _)| user_id.clone())
        .map(|id| (id.clone(), format!("notice.{}.{id}", notice.id)))
        .collect();
    let body = json_of(payload)?;
    let kind = kind_of(notice.kind);
    let queued = outbox::enqueue_to_users(conn, kind, &incident.id, &recipients, |_| Ok(body.clone()), now)?;
    Ok(match sent.last() {
        Some((last, ..)) if sent.len() as i64 == chunk => (queued, Some(format!("s:{last}")), false),
        _ => (queued, Some("c:".to_owned()), false),
    })
}

/// One chunk of the contacts' check-in emails that went out: a retraction to each address, once
/// however many emails it got (the dedupe key names the address, canonical). A contact who had
/// not accepted was told only a name and a status: their notice says neither the title nor the
/// reason either.
fn to_contacts(
    conn: &mut DbConn,
    notice: &NoticeRow,
    payload: &NoticePayload,
    after: &str,
    chunk: i64,
    now: NaiveDateTime,
) -> diesel::QueryResult<(usize, Option<String>, bool)> {
    let sent =
        db::notices::sent_after(conn, &notice.incident_id, &[NotificationKind::CheckIn], after, chunk)?;
    let emails: Vec<&str> = sent.iter().map(|(_, email, ..)| email.as_str()).collect();
    let suppressed = db::notifications::suppressed_among(conn, &emails)?;
    let accepted_body = json_of(&NoticePayload { to_contact: true, ..payload.clone() })?;
    let fixed_body = json_of(&NoticePayload {
        to_contact: true,
        incident_title: String::new(),
        text: None,
        ..payload.clone()
    })?;
    let mut rows = Vec::with_capacity(sent.len());
    let mut to_send = std::collections::HashSet::new();
    for (_, email, locale, _, check_in) in &sent {
        let accepted = serde_json::from_str::<CheckInPayload>(check_in).is_ok_and(|p| p.accepted);
        let (locale, state, error) = match locale.parse::<Locale>() {
            Ok(locale) if suppressed.contains(email) => (locale, NotificationState::Suppressed, None),
            Ok(locale) => (locale, NotificationState::Queued, None),
            Err(error) => (Locale::En, NotificationState::Failed, Some(error.to_string())),
        };
        let new = NewNotification {
            kind: NotificationKind::Retraction,
            recipient_email: email.clone(),
            recipient_name: None,
            locale,
            incident_id: Some(notice.incident_id.clone()),
            user_id: None,
            payload: if accepted { accepted_body.clone() } else { fixed_body.clone() },
            dedupe_key: format!("notice.{}.contact.{}", notice.id, canonical(email)),
        };
        let mut row = new.into_row(state, now);
        row.last_error = error;
        if state == NotificationState::Queued {
            to_send.insert(row.id.clone());
        }
        rows.push(row);
    }
    let queued = db::notifications::insert_new(conn, rows)?.intersection(&to_send).count();
    Ok(match sent.last() {
        Some((last, ..)) if sent.len() as i64 == chunk => (queued, Some(format!("c:{last}")), false),
        _ => (queued, None, true),
    })
}

/// A payload as stored in the outbox; a failure is the chunk's database error.
fn json_of(payload: &NoticePayload) -> diesel::QueryResult<String> {
    serde_json::to_string(payload).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
}
