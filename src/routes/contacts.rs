//! The caller's contacts.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::db::contacts::{AddContact, ContactRow};
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
    let rows = with_db(&state, move |conn| Ok(db::contacts::list(conn, &caller.id)?)).await?;
    let items: Vec<ContactDto> = rows.into_iter().map(ContactDto::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Deserialize)]
pub struct ContactBody {
    name: String,
    email: String,
    locale: Option<String>,
}

/// `POST /v1/me/contacts`: at most 20 (422 beyond), one per email (409).
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
    let contact = with_db(&state, move |conn| {
        let owner = db::users::find(conn, &caller.id)?.ok_or(ApiError::NotFound)?;
        let row = ContactRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: caller.id.clone(),
            name: name.into_inner(),
            email: email.as_str().to_owned(),
            // A contact without a locale gets the user's.
            locale: locale.unwrap_or(owner.locale),
            created_at: now,
        };
        match db::contacts::add(conn, &row, MAX_CONTACTS) {
            Ok(AddContact::Added) => Ok(row),
            Ok(AddContact::LimitReached) => Err(ApiError::Validation(vec![FieldError::new(
                "contacts",
                format!("at most {MAX_CONTACTS} contacts per user"),
            )])),
            Err(e) if db::is_unique_violation(&e) => {
                Err(ApiError::conflict("email", "this email is already one of your contacts"))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    let location = format!("/v1/me/contacts/{}", contact.id);
    Ok(HttpResponse::Created().insert_header(("Location", location)).json(ContactDto::from(contact)))
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
