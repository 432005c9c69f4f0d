//! The walk that queues a notice's emails: over the incident's prompts in user-id order, then,
//! for a retraction, over the contacts' check-in emails already sent, in id order; a chunk a
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

/// Where the walk stands: before the next prompted user, or before the next contact's email.
enum Cursor {
    Users(String),
    Contacts(String),
}

impl Cursor {
    fn read(stored: Option<&str>) -> Self {
        match stored {
            Some(rest) if rest.starts_with("c:") => Cursor::Contacts(rest[2..].to_owned()),
            Some(rest) if rest.starts_with("u:") => Cursor::Users(rest[2..].to_owned()),
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
    // Someone whose prompt (or a contact whose check-in email) is on the wire right now may
    // have heard: wait until it settles, trying again in a moment.
    if notice.kind.only_to_those_told() && db::notices::any_in_flight(conn, &incident.id)? {
        let retry = now + Duration::seconds(2);
        db::notices::advance_walk(
            conn,
            &notice.id,
            held,
            notice.walk_cursor.as_deref(),
            0,
            false,
            Some(retry),
        )?;
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
    let body =
        serde_json::to_string(payload).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
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
        // The users are done: a retraction goes on to the contacts told of an answer.
        _ if notice.kind == NoticeKind::Retraction => (queued, Some("c:".to_owned()), false),
        _ => (queued, None, true),
    })
}

/// One chunk of the contacts' check-in emails that went out: a retraction to each address, once
/// however many emails it got (the dedupe key names the address, canonical).
fn to_contacts(
    conn: &mut DbConn,
    notice: &NoticeRow,
    payload: &NoticePayload,
    after: &str,
    chunk: i64,
    now: NaiveDateTime,
) -> diesel::QueryResult<(usize, Option<String>, bool)> {
    let sent = db::notices::sent_to_contacts_after(conn, &notice.incident_id, after, chunk)?;
    let emails: Vec<&str> = sent.iter().map(|(_, email, _)| email.as_str()).collect();
    let suppressed = db::notifications::suppressed_among(conn, &emails)?;
    let body = serde_json::to_string(&NoticePayload { to_contact: true, ..payload.clone() })
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let mut rows = Vec::with_capacity(sent.len());
    let mut to_send = std::collections::HashSet::new();
    for (_, email, locale) in &sent {
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
            payload: body.clone(),
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
        Some((last, _, _)) if sent.len() as i64 == chunk => (queued, Some(format!("c:{last}")), false),
        _ => (queued, None, true),
    })
}
