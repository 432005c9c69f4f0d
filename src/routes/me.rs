//! The caller's own account: profile, location, erasure.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::accounts;
use crate::db;
use crate::db::locations::LocationRow;
use crate::domain::{DisplayName, FieldError, Fix, Locale, Password};
use crate::error::ApiError;
use crate::incidents::arrival::{Arrival, prompt_arrival};
use crate::routes::caller::Caller;
use crate::routes::dto::{LocationDto, UserDto};
use crate::routes::extract::Json;
use crate::routes::prompts::PromptDto;
use crate::routes::{throttle, with_db};
use crate::state::AppState;
use diesel::Connection;

/// The profile and the stored location.
#[derive(Serialize)]
pub struct MeDto {
    #[serde(flatten)]
    user: UserDto,
    location: Option<LocationDto>,
}

/// `GET /v1/me`.
pub async fn get_me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let me = with_db(&state, move |conn| load_me(conn, &caller.id)).await?;
    Ok(HttpResponse::Ok().json(me))
}

fn load_me(conn: &mut db::DbConn, id: &str) -> Result<MeDto, ApiError> {
    let user = db::users::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let location = db::locations::find(conn, id)?.map(LocationDto::from);
    Ok(MeDto { user: user.into(), location })
}

#[derive(Deserialize)]
pub struct UpdateMeBody {
    display_name: Option<String>,
    locale: Option<String>,
    /// A new password; needs `current_password`.
    password: Option<String>,
    current_password: Option<String>,
}

/// `PATCH /v1/me`: changes the fields given. A new password needs the current one (checked
/// under the login throttle) and signs out every session.
pub async fn update_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    Json(body): Json<UpdateMeBody>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name = body
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()
        .map_err(|m| errors.push(FieldError::new("display_name", m)))
        .ok()
        .flatten();
    let locale = body
        .locale
        .as_deref()
        .map(str::parse::<Locale>)
        .transpose()
        .map_err(|m| errors.push(FieldError::new("locale", m)))
        .ok()
        .flatten();
    let password = body
        .password
        .map(Password::parse)
        .transpose()
        .map_err(|m| errors.push(FieldError::new("password", m)))
        .ok()
        .flatten();
    if password.is_some() && body.current_password.is_none() {
        errors.push(FieldError::new("current_password", "is required to change the password"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if let (Some(password), Some(current)) = (password, body.current_password) {
        let address = throttle::client_address(&req, &state.config);
        change_password(&state, &caller.id, password, current, &address).await?;
    }
    let id = caller.id.clone();
    let now = state.clock.now();
    let me = with_db(&state, move |conn| {
        db::users::update_profile(
            conn,
            &id,
            name.as_ref().map(DisplayName::as_str),
            locale.map(Locale::as_str),
            now,
        )?;
        load_me(conn, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(me))
}

/// Sets `new` as the password if `current` is the password now; ends every session.
async fn change_password(
    state: &web::Data<AppState>,
    user_id: &str,
    new: Password,
    current: String,
    address: &str,
) -> Result<(), ApiError> {
    let user = check_current_password(state, user_id, current, address).await?;
    let hash = state
        .passwords
        .run(move |hasher| hasher.hash(new.expose()))
        .await
        .map_err(throttle::pool_refusal)??;
    let now = state.clock.now();
    with_db(state, move |conn| Ok(accounts::change_password(conn, &user.id, &hash, now)?)).await
}

/// The caller's account, if `current` is its password. Each check counts against the login
/// throttle of the account and this client address, as a login would: a stolen access token
/// does not give unlimited guesses of the password.
async fn check_current_password(
    state: &web::Data<AppState>,
    user_id: &str,
    current: String,
    address: &str,
) -> Result<db::users::UserRow, ApiError> {
    let id = user_id.to_owned();
    let user = with_db(state, move |conn| db::users::find(conn, &id)?.ok_or(ApiError::NotFound)).await?;
    let attempt = throttle::begin_password_check(state, &user.email, address).await?;
    let stored = user.password_hash.clone();
    let matches =
        throttle::check_password(state, &attempt, move |hasher| hasher.verify(&current, Some(&stored)))
            .await?;
    if !matches {
        return Err(ApiError::invalid("current_password", "is not the current password"));
    }
    throttle::password_check_succeeded(state, attempt).await?;
    Ok(user)
}

#[derive(Deserialize)]
pub struct DeleteMeBody {
    current_password: String,
}

/// `DELETE /v1/me`: erases the account, its location, contacts and tokens, given its current
/// password (checked under the login throttle). Its access tokens stop working at once (every
/// request loads the account).
pub async fn delete_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    Json(body): Json<DeleteMeBody>,
) -> Result<HttpResponse, ApiError> {
    let address = throttle::client_address(&req, &state.config);
    check_current_password(&state, &caller.id, body.current_password, &address).await?;
    with_db(&state, move |conn| Ok(db::users::delete(conn, &caller.id)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct LocationBody {
    lat: f64,
    lon: f64,
    accuracy_m: Option<f64>,
    recorded_at: Option<DateTime<Utc>>,
}

/// What a location update did.
#[derive(Serialize)]
pub struct LocationUpdated {
    /// False when the fix was older than the one stored, which is kept.
    updated: bool,
    location: LocationDto,
    /// Prompts created because this fix entered an active incident's area.
    prompts: Vec<PromptDto>,
}

/// `PUT /v1/me/location`: keeps only the latest fix; an older fix is ignored, not an error.
/// Beyond the caller's `location_updates` limit, 429 with `Retry-After`.
pub async fn update_location(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<LocationBody>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let fix = Fix::parse(body.lat, body.lon, body.accuracy_m, body.recorded_at, now.and_utc())
        .map_err(ApiError::Validation)?;
    let limit = state.user_limits.location_updates;
    let fresh_since = now - state.config.location_staleness;
    let arrival_state = state.clone();
    let (updated, stored, prompts) = with_db(&state, move |conn| {
        let row = LocationRow::new(&caller.id, &fix, now);
        // Counted and written in one transaction: one commit, and a refusal writes nothing.
        let updated = conn.transaction(|conn| {
            limit.check(conn, &caller.id, now)?;
            Ok::<_, ApiError>(db::locations::upsert_if_newer(conn, &row)?)
        })?;
        let stored = db::locations::find(conn, &caller.id)?.ok_or(ApiError::NotFound)?;
        // Only a fix that became the latest can put the user inside an area.
        let prompts = if updated {
            let arrival =
                Arrival { user_id: &caller.id, lat: row.lat, lon: row.lon, recorded_at: row.recorded_at };
            let prompted = prompt_arrival(conn, &arrival_state.active_areas, arrival, fresh_since, now)?;
            super::prompts::with_updates(conn, prompted)?
        } else {
            Vec::new()
        };
        Ok((updated, stored, prompts))
    })
    .await?;
    let prompts = super::prompts::dtos(prompts, &state.config.org_name)?;
    Ok(HttpResponse::Ok().json(LocationUpdated { updated, location: stored.into(), prompts }))
}
