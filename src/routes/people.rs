//! The people of an incident, for operators: who needs help, who has not answered, as pages of
//! JSON or one CSV export; and need-help triage.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::db::people::{self, Filter, PersonRow, Position};
use crate::domain::{FieldError, PromptSource, Role};
use crate::error::ApiError;
use crate::incidents::audit;
use crate::incidents::triage::{self, TriageError};
use crate::routes::caller::Caller;
use crate::routes::csv;
use crate::routes::dto::rfc3339;
use crate::routes::incidents::{actor_of, incident_exists};
use crate::routes::paging::{self, PageQuery};
use crate::routes::with_db;
use crate::state::AppState;

/// Statuses are read as of this long before the first page, so that an answer whose
/// transaction is still committing when the list starts cannot change a user's place between
/// pages.
const SNAPSHOT_LAG: chrono::Duration = chrono::Duration::seconds(2);

/// `prompt_source` last: columns added later go at the end, so existing imports keep working.
const CSV_HEADER: [&str; 9] = [
    "user_id",
    "display_name",
    "email",
    "status",
    "answered_at",
    "message",
    "handled_at",
    "handled_by",
    "prompt_source",
];

/// One row of the list.
#[derive(Serialize)]
pub struct PersonDto {
    user_id: String,
    display_name: String,
    email: String,
    status: String,
    answered_at: Option<String>,
    message: Option<String>,
    handled_at: Option<String>,
    handled_by: Option<String>,
    /// `activation` (the fan-out found them in the area), `arrival` (a later location update
    /// put them inside) or `check_in` (they answered without having been prompted).
    prompt_source: PromptSource,
}

impl From<PersonRow> for PersonDto {
    fn from(row: PersonRow) -> Self {
        Self {
            user_id: row.user_id,
            display_name: row.display_name,
            email: row.email,
            status: row.status,
            answered_at: row.answered_at.map(rfc3339),
            message: row.message,
            handled_at: row.handled_at.map(rfc3339),
            handled_by: row.handled_by,
            prompt_source: row.prompt_source,
        }
    }
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/incidents/{id}/people` (operator): pages of JSON, or with `Accept: text/csv` every
/// matching row as one CSV download.
pub async fn list_people(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PeopleQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let id = path.into_inner();
    let query = query.into_inner();
    let status = match query.status {
        Some(s) if people::GROUPS.contains(&s.as_str()) => Some(s),
        Some(_) => {
            return Err(ApiError::invalid("status", "must be need_help, no_response, not_in_area or safe"));
        }
        None => None,
    };
    let page = PageQuery { cursor: query.cursor, limit: query.limit };
    let limit = page.limit()?;
    let (as_of, after) = match page.position()? {
        Some((as_of, key)) => (as_of, Some(position(&key)?)),
        None => (state.clock.now() - SNAPSHOT_LAG, None),
    };
    incident_exists(&state, &id).await?;
    if wants_csv(&request) {
        return csv_export(state, caller, id, status, as_of, after).await;
    }
    let (incident, wanted) = (id.clone(), status.clone());
    let now = state.clock.now();
    let rows = with_db(&state, move |conn| {
        let filter = Filter { incident_id: &incident, as_of, status: wanted.as_deref() };
        let actor = actor_of(conn, &caller)?;
        let rows = people::page(conn, &filter, after.as_ref(), limit)?;
        // Who read whose names, addresses and messages: no page leaves without its record (a
        // failed write is a 503). On SQLite the record waits for the write lock, which a
        // fan-out takes one chunk at a time: a page waits at most a chunk's commit.
        let details = serde_json::json!({ "rows": rows.len(), "status": wanted });
        audit(conn, Some(&actor), "people.list", Some(&incident), details, now)?;
        Ok(rows)
    })
    .await?;
    let full = i64::try_from(rows.len()).is_ok_and(|n| n >= limit);
    let next_cursor = rows
        .last()
        .filter(|_| full)
        .map(|last| paging::encode(as_of, &format!("{}|{}", last.rank, last.user_id)));
    let items: Vec<PersonDto> = rows.into_iter().map(PersonDto::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "incident_id": id,
        "as_of": rfc3339(as_of),
        "items": items,
        "next_cursor": next_cursor,
    })))
}

/// `POST /v1/incidents/{id}/people/{user_id}/handled` (operator): marks the user's `need_help`
/// answer as handled; again changes nothing.
pub async fn mark_handled(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let (incident_id, user_id) = path.into_inner();
    let now = state.clock.now();
    let row = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        triage::mark_handled(conn, &incident_id, &user_id, &actor, now).map_err(|e| match e {
            TriageError::NotFound => ApiError::NotFound,
            TriageError::NotNeedHelp(status) => ApiError::Conflict {
                detail: format!("the user's current answer is {status}, not need_help"),
                errors: vec![FieldError::new("status", format!("is {status}, not need_help"))],
            },
            TriageError::Db(e) => e.into(),
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(PersonDto::from(row)))
}

/// A page cursor's `rank|user_id`.
fn position(key: &str) -> Result<Position, ApiError> {
    let invalid = || ApiError::BadRequest {
        detail: "cursor: not a cursor this server issued".into(),
        errors: vec![FieldError::new("cursor", "not a cursor this server issued")],
    };
    let (rank, user_id) = key.split_once('|').ok_or_else(invalid)?;
    let rank: i32 = rank.parse().map_err(|_| invalid())?;
    if !(0..=3).contains(&rank) || user_id.is_empty() {
        return Err(invalid());
    }
    Ok((rank, user_id.to_owned()))
}

fn wants_csv(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(accepts_csv))
}

/// One media range of `Accept`: `text/csv`, unless its quality is 0.
fn accepts_csv(range: &str) -> bool {
    let mut parts = range.split(';').map(str::trim);
    let is_csv = parts.next().is_some_and(|media| media.eq_ignore_ascii_case("text/csv"));
    let quality = parts
        .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
        .find_map(|q| q.parse::<f32>().ok())
        .unwrap_or(1.0);
    is_csv && quality > 0.0
}

/// Rows an export reads at a time; the connection goes back to the pool between batches.
const CSV_BATCH: i64 = 2_000;
/// A client that reads nothing for this long is dropped.
const CSV_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Every matching row as CSV, read in batches as the client downloads. The first batch is read
/// before the response starts, so an unreachable database is still a 503.
async fn csv_export(
    state: web::Data<AppState>,
    caller: Caller,
    incident_id: String,
    status: Option<String>,
    as_of: NaiveDateTime,
    after: Option<Position>,
) -> Result<HttpResponse, ApiError> {
    let filename = format!("attachment; filename=\"incident-{incident_id}-people.csv\"");
    let mut next = read_batch(&state, &incident_id, &status, as_of, after).await?;
    // Recorded before the first byte leaves (a failed write is a 503); how it ended is recorded
    // once the body ends, as `people.export.finished`, best effort: an export cut short by a
    // crash still has its first record.
    let (incident, wanted, now) = (incident_id.clone(), status.clone(), state.clock.now());
    let actor = with_db(&state, move |conn| {
        let actor = actor_of(conn, &caller)?;
        audit(
            conn,
            Some(&actor),
            "people.export",
            Some(&incident),
            serde_json::json!({ "status": wanted }),
            now,
        )?;
        Ok(actor)
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut chunk = String::new();
        csv::push_record(&mut chunk, CSV_HEADER);
        let mut rows_sent = 0;
        let complete = loop {
            let full = i64::try_from(next.len()).is_ok_and(|n| n >= CSV_BATCH);
            let last = next.last().map(|row| (row.rank, row.user_id.clone()));
            let rows = next.len();
            for row in next {
                push_person(&mut chunk, row);
            }
            let sent = tx.send_timeout(Ok(Bytes::from(std::mem::take(&mut chunk))), CSV_STALL).await;
            if sent.is_err() {
                break false; // the client went away or stalled
            }
            rows_sent += rows;
            if !full {
                break true;
            }
            next = match read_batch(&state, &incident_id, &status, as_of, last).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(%error, "people export failed");
                    // Ends the body abnormally, so the client sees an incomplete download.
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    break false;
                }
            };
        };
        let details = serde_json::json!({ "rows": rows_sent, "status": status, "complete": complete });
        let now = state.clock.now();
        let recorded = with_db(&state, move |conn| {
            Ok(audit(conn, Some(&actor), "people.export.finished", Some(&incident_id), details, now)?)
        })
        .await;
        if let Err(error) = recorded {
            tracing::error!(%error, "the end of a people export could not be audited");
        }
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, filename))
        .streaming(body))
}

async fn read_batch(
    state: &AppState,
    incident_id: &str,
    status: &Option<String>,
    as_of: NaiveDateTime,
    after: Option<Position>,
) -> Result<Vec<PersonRow>, ApiError> {
    let (incident_id, status) = (incident_id.to_owned(), status.clone());
    with_db(state, move |conn| {
        let filter = Filter { incident_id: &incident_id, as_of, status: status.as_deref() };
        Ok(people::page(conn, &filter, after.as_ref(), CSV_BATCH)?)
    })
    .await
}

fn push_person(out: &mut String, row: PersonRow) {
    let answered_at = row.answered_at.map(rfc3339).unwrap_or_default();
    let handled_at = row.handled_at.map(rfc3339).unwrap_or_default();
    csv::push_record(
        out,
        [
            row.user_id.as_str(),
            &row.display_name,
            &row.email,
            &row.status,
            &answered_at,
            row.message.as_deref().unwrap_or(""),
            &handled_at,
            row.handled_by.as_deref().unwrap_or(""),
            row.prompt_source.as_str(),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::accepts_csv;

    #[test]
    fn csv_is_chosen_unless_its_quality_is_zero() {
        assert!(accepts_csv("text/csv"));
        assert!(accepts_csv(" text/csv;q=0.5"));
        assert!(accepts_csv("TEXT/CSV; charset=utf-8"));
        assert!(!accepts_csv("text/csv;q=0"));
        assert!(!accepts_csv("text/csv; q=0.0"));
        assert!(!accepts_csv("application/json"));
        assert!(!accepts_csv("text/csvx"));
    }
}
