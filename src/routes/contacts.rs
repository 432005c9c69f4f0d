//! The caller's contacts, each with where it stands (`pending`, `invited`, `accepted`,
//! `unsubscribed`): adding one invites the address (`community::contacts`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::community::contacts::{self, AddError, NewContact};
use crate::db::{self};
use crate::domain::{DisplayName, Email, FieldError, Locale};
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::dto::ContactDto;
use crate::routes::extract::Json;
use crate::routes::with_db;
use crate::state::AppState;

/// How many contacts one user may list.
pub const MAX_CONTACTS: i64 = 20;

/// `GET /v1/me/contacts`: oldest first.
pub async fn list_contacts(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let items = with_db(&state, move |conn| {
        let listed = contacts::listed(conn, &caller.id)?;
        Ok(listed.into_iter().map(|(row, state)| ContactDto::new(row, state)).collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Deserialize)]
pub struct ContactBody {
    name: String,
    email: String,
    locale: Option<String>,
}

/// `POST /v1/me/contacts`: at most 20 (422 beyond), one per mailbox (409), and invitations
/// capped per user per day (429 with `Retry-After`).
pub async fn create_contact(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<ContactBody>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = DisplayName::parse(&body.name).map_err(|m| errors.push(FieldError::new("name", m))).ok();
    let email = Email::parse(&body.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
    let locale = body
        .locale
        .as_deref()
        .map(str::parse::<Locale>)
        .transpose()
        .map_err(|m| errors.push(FieldError::new("locale", m)))
        .ok();
    let (Some(name), Some(email), Some(locale)) = (name, email, locale) else {
        return Err(ApiError::Validation(errors));
    };
    let now = state.clock.now();
    let (limits, hourly_cap) = (state.config.invitations, state.config.delivery.max_per_recipient_per_hour);
    let new = NewContact { user_id: caller.id.clone(), name, email, locale };
    let (row, contact_state) = with_db(&state, move |conn| {
        contacts::add(conn, new, MAX_CONTACTS, limits, hourly_cap, now).map_err(refusal)
    })
    .await?;
    // An invitation may be waiting: this process's delivery starts at once.
    state.wakeups.delivery.notify_one();
    let location = format!("/v1/me/contacts/{}", row.id);
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(ContactDto::new(row, contact_state)))
}

/// The problem document for a contact not added.
fn refusal(error: AddError) -> ApiError {
    match error {
        AddError::NoUser => ApiError::NotFound,
        AddError::TooMany(max) => ApiError::invalid("contacts", format!("at most {max} contacts per user")),
        AddError::Duplicate => ApiError::conflict("email", "this email is already one of your contacts"),
        AddError::DailyCap { max, retry_after_secs } => ApiError::RateLimited {
            limit: "invitations_per_day",
            detail: format!(
                "invitations_per_day: at most {max} invitations per user in 24 hours; try again in {retry_after_secs} seconds"
            ),
            retry_after_secs,
        },
        AddError::Db(e) => e.into(),
    }
}

/// `DELETE /v1/me/contacts/{id}`: 404 unless it is one of the caller's contacts.
pub async fn delete_contact(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let deleted = with_db(&state, move |conn| Ok(db::contacts::delete(conn, &caller.id, &id)?)).await?;
    if deleted { Ok(HttpResponse::NoContent().finish()) } else { Err(ApiError::NotFound) }
}
