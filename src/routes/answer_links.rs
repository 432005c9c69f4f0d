//! One-tap answers: the links in prompt and reminder emails. GET shows the answer to confirm
//! and changes nothing (mail scanners open links); POST, from that page's form, records it
//! through the same path as `POST /v1/incidents/{id}/check-ins`. Links of an ended incident
//! answer nothing. HTML in the person's language (`crate::web::answer_page`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::db;
use crate::domain::{CheckInMessage, IncidentStatus, Locale, SafetyStatus};
use crate::error::ApiError;
use crate::incidents::check_in::{self, Answer};
use crate::routes::{with_db, with_writer};
use crate::state::AppState;
use crate::web::answer_page::{self, Page};

/// Whose answer a valid link gives, and where the incident stands.
struct Link {
    incident_id: String,
    user_id: String,
    status: SafetyStatus,
    locale: Locale,
    title: String,
    active: bool,
    /// The person's current answer, if any: (status, message).
    current: Option<(SafetyStatus, Option<String>)>,
}

/// The link's prompt, or None when the token is not valid or names a person or incident that
/// no longer exists.
async fn open(state: &AppState, token: &str) -> Result<Option<Link>, ApiError> {
    let Some((incident_id, user_id, status)) = state.links.verify_answer(token) else { return Ok(None) };
    with_db(state, move |conn| {
        let (Some(user), Some(incident)) =
            (db::users::find(conn, &user_id)?, db::incidents::find(conn, &incident_id)?)
        else {
            return Ok(None);
        };
        let current = db::check_ins::current(conn, &incident_id, &user_id)?.map(|r| (r.status, r.message));
        Ok(Some(Link {
            locale: user.locale,
            active: incident.status == IncidentStatus::Active,
            title: incident.title,
            incident_id,
            user_id,
            status,
            current,
        }))
    })
    .await
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // The page holds a credential in its URL: never cached, never sent on as a referrer.
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

fn invalid() -> HttpResponse {
    html(StatusCode::NOT_FOUND, answer_page::invalid())
}

/// `GET /v1/answer/{token}`: the answer to confirm; changes nothing.
pub async fn get_answer_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(link) = open(&state, &path.into_inner()).await? else { return Ok(invalid()) };
    if !link.active {
        return Ok(html(
            StatusCode::GONE,
            answer_page::render(link.locale, &Page::Ended { title: &link.title }),
        ));
    }
    let page = if link.current.as_ref().is_some_and(|(status, _)| *status == link.status) {
        Page::AlreadyRecorded { title: &link.title, status: link.status }
    } else {
        Page::Confirm { title: &link.title, status: link.status, message: "", error: false }
    };
    Ok(html(StatusCode::OK, answer_page::render(link.locale, &page)))
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(default)]
    message: String,
}

/// `POST /v1/answer/{token}` (form: `message`, optional): records the link's answer. When it is
/// the current answer already, nothing is recorded again (a second tap, a resent form).
pub async fn post_answer_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some(link) = open(&state, &path.into_inner()).await? else { return Ok(invalid()) };
    let (locale, title) = (link.locale, link.title.clone());
    if !link.active {
        return Ok(html(StatusCode::GONE, answer_page::render(locale, &Page::Ended { title: &title })));
    }
    // Browsers send a text box's line breaks as CRLF; a body that is no form is refused.
    let form = serde_urlencoded::from_bytes::<AnswerForm>(&body).map(|f| f.message.replace("\r\n", "\n"));
    let message = match form.as_deref().map(CheckInMessage::parse) {
        Ok(Ok(message)) => message,
        Ok(Err(_)) | Err(_) => {
            let typed = form.as_deref().unwrap_or_default();
            let page = Page::Confirm { title: &title, status: link.status, message: typed, error: true };
            return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, answer_page::render(locale, &page)));
        }
    };
    let answer =
        Answer { incident_id: link.incident_id, user_id: link.user_id, status: link.status, message };
    let (cap, clock, limit) =
        (state.config.delivery.max_per_recipient_per_hour, state.clock.clone(), state.user_limits.check_ins);
    // Refusals are errors here, so that the writer rolls the answer's savepoint back. The
    // current answer is read in the same transaction: a second tap (or a resent form) with the
    // answer already recorded records nothing (on SQLite the writer orders them; on PostgreSQL
    // two taps at the same instant may both record, and contacts still hear once).
    let recorded = with_writer(&state, move |conn| {
        let current = db::check_ins::current(conn, &answer.incident_id, &answer.user_id)?;
        if current.is_some_and(|c| c.status == answer.status) {
            return Ok(None);
        }
        check_in::record(conn, answer.clone(), cap, Some(limit), clock.as_ref(), |_, _| Ok(()))
            .map(Some)
            .map_err(ApiError::from)
    })
    .await;
    let (status, page) = match recorded {
        Ok(None) => (StatusCode::OK, Page::AlreadyRecorded { title: &title, status: link.status }),
        Ok(Some(recorded)) => {
            if recorded.notifications_queued > 0 {
                state.wakeups.delivery.notify_one();
            }
            tracing::info!(incident = %recorded.check_in.incident_id, "answer recorded from an email link");
            let contacts = recorded.notifications_queued;
            (StatusCode::OK, Page::Recorded { title: &title, status: recorded.check_in.status, contacts })
        }
        // Ended between the page and the answer.
        Err(ApiError::Conflict { .. } | ApiError::NotFound) => {
            (StatusCode::GONE, Page::Ended { title: &title })
        }
        Err(ApiError::RateLimited { retry_after_secs, .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, Page::TooMany { retry_after_secs })
        }
        Err(other) => return Err(other),
    };
    let mut response = html(status, answer_page::render(locale, &page));
    if let Page::TooMany { retry_after_secs } = page {
        let value = actix_web::http::header::HeaderValue::from(retry_after_secs);
        response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, value);
    }
    Ok(response)
}
