//! Registration, login, refresh and logout.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::auth::accounts::{self, CreateAccountError, NewAccount};
use crate::auth::refresh_token;
use crate::db::refresh_tokens::{RefreshTokenRow, Rotation};
use crate::db::{self, DbConn};
use crate::domain::{DisplayName, Email, FieldError, Locale, Password, Role};
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::dto::UserDto;
use crate::routes::extract::Json;
use crate::routes::{throttle, with_db};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct RegisterBody {
    email: String,
    password: String,
    display_name: String,
    locale: Option<String>,
}

/// `POST /v1/auth/register`: creates an account with the `user` role. Each client address may
/// try a limited number of times per throttling window.
pub async fn register_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let email = Email::parse(&body.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
    let password =
        Password::parse(body.password).map_err(|m| errors.push(FieldError::new("password", m))).ok();
    let name = DisplayName::parse(&body.display_name)
        .map_err(|m| errors.push(FieldError::new("display_name", m)))
        .ok();
    let locale = match body.locale.as_deref() {
        None => Some(Locale::En),
        Some(raw) => raw.parse::<Locale>().map_err(|m| errors.push(FieldError::new("locale", m))).ok(),
    };
    let (Some(email), Some(password), Some(name), Some(locale)) = (email, password, name, locale) else {
        return Err(ApiError::Validation(errors));
    };
    // A place to hash first: in a burst, what the pool cannot take costs no database work.
    let slot = state.passwords.reserve().map_err(throttle::pool_refusal)?;
    let address = throttle::client_address(&req, &state.config);
    throttle::begin_registration(&state, &address).await?;
    let password_hash =
        slot.run(move |hasher| hasher.hash(password.expose())).await.map_err(throttle::pool_refusal)??;
    let account = NewAccount { email, display_name: name, locale, role: Role::User, password_hash };
    let now = state.clock.now();
    let user = with_db(&state, move |conn| match accounts::create(conn, account, now) {
        Ok(row) => Ok(row),
        Err(e @ CreateAccountError::EmailTaken) => Err(ApiError::conflict("email", e.to_string())),
        Err(CreateAccountError::Database(e)) => Err(e.into()),
    })
    .await?;
    Ok(HttpResponse::Created().insert_header(("Location", "/v1/me")).json(UserDto::from(user)))
}

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// An access token and the refresh token that renews it.
#[derive(Serialize)]
pub struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
}

/// `POST /v1/auth/login`: the same 401 for an unknown email and a wrong password, after the same
/// work; 429 once an account has failed too often from this client address (never from every
/// address), or this address too often for any account.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    const BAD_LOGIN: ApiError = ApiError::Unauthorized("the email or the password is wrong");
    // An unparseable email cannot match an account; still hash, so the answer takes as long.
    let email = Email::parse(&body.email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| body.email.trim().to_lowercase());
    let address = throttle::client_address(&req, &state.config);
    // Recorded as a failure before the password is checked: parallel guesses see each other.
    let attempt = throttle::begin_password_check(&state, &email, &address).await?;

    let user = with_db(&state, move |conn| Ok(db::users::find_by_email(conn, &email)?)).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = body.password;
    let matches =
        throttle::check_password(&state, &attempt, move |hasher| hasher.verify(&password, stored.as_deref()))
            .await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(BAD_LOGIN);
    };
    throttle::password_check_succeeded(&state, attempt).await?;
    let pair = issue_pair(&state, &user.id, user.role).await?;
    Ok(HttpResponse::Ok().json(pair))
}

#[derive(Deserialize)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /v1/auth/refresh`: a new pair; the presented token stops working. Presenting a token
/// that was already used revokes every token of its login (someone replayed a stolen token).
pub async fn refresh_session(
    state: web::Data<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("the refresh token is invalid, expired or revoked");
    let presented_hash = refresh_token::hash(&body.refresh_token);
    let new_token = refresh_token::generate();
    let new_hash = refresh_token::hash(&new_token);
    let ttl = chrono_ttl(state.config.refresh_token_ttl)?;
    let now = state.clock.now();
    let outcome = with_db(&state, move |conn| {
        // The successor inherits the session's end: renewing never extends a login past it.
        let rotation = db::refresh_tokens::rotate(
            conn,
            &presented_hash,
            |old| {
                RefreshTokenRow::new(
                    &old.family_id,
                    &old.user_id,
                    new_hash,
                    now,
                    now + ttl,
                    old.session_end(),
                )
            },
            now,
        )?;
        let role = match &rotation {
            Rotation::Rotated { user_id, .. } => user_role(conn, user_id)?,
            _ => None,
        };
        Ok((rotation, role))
    })
    .await?;
    match outcome {
        (Rotation::Rotated { user_id, expires_at }, Some(role)) => {
            let access_token = state.tokens.issue(&user_id, role, now)?;
            Ok(HttpResponse::Ok().json(pair_of(&state, access_token, new_token, expires_at - now)))
        }
        (Rotation::Reused, _) => {
            tracing::warn!("a used refresh token was presented again; its family is revoked");
            Err(INVALID)
        }
        _ => Err(INVALID),
    }
}

#[derive(Deserialize)]
pub struct LogoutBody {
    refresh_token: String,
}

/// `POST /v1/auth/logout`: revokes the refresh token's whole login. Idempotent.
pub async fn logout(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<LogoutBody>,
) -> Result<HttpResponse, ApiError> {
    let hash = refresh_token::hash(&body.refresh_token);
    let now = state.clock.now();
    with_db(&state, move |conn| Ok(db::refresh_tokens::revoke_by_token(conn, &caller.id, &hash, now)?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/auth/logout-all`: "log out everywhere". Every refresh token of the account is
/// revoked and every access token issued before now is refused, this one included. Idempotent.
pub async fn logout_all(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    with_db(&state, move |conn| Ok(accounts::end_all_sessions(conn, &caller.id, now)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issues an access token and a refresh token of a new family (a new login).
pub async fn issue_pair(
    state: &web::Data<AppState>,
    user_id: &str,
    role: Role,
) -> Result<TokenPair, ApiError> {
    let refresh = refresh_token::generate();
    let ttl = chrono_ttl(state.config.refresh_token_ttl)?;
    let session = chrono_ttl(state.config.refresh_session_max)?;
    let now = state.clock.now();
    let family = uuid::Uuid::new_v4().to_string();
    let row =
        RefreshTokenRow::new(&family, user_id, refresh_token::hash(&refresh), now, now + ttl, now + session);
    let refresh_ttl = row.expires_at - now;
    with_db(state, move |conn| Ok(db::refresh_tokens::insert(conn, &row)?)).await?;
    let access_token = state.tokens.issue(user_id, role, now)?;
    Ok(pair_of(state, access_token, refresh, refresh_ttl))
}

fn pair_of(
    state: &AppState,
    access_token: String,
    refresh_token: String,
    refresh_ttl: Duration,
) -> TokenPair {
    TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token,
        refresh_expires_in: u64::try_from(refresh_ttl.num_seconds()).unwrap_or(0),
    }
}

fn user_role(conn: &mut DbConn, user_id: &str) -> Result<Option<Role>, ApiError> {
    let Some(user) = db::users::find(conn, user_id)? else {
        return Ok(None);
    };
    Ok(Some(user.role))
}

fn chrono_ttl(ttl: std::time::Duration) -> Result<Duration, ApiError> {
    Duration::from_std(ttl).map_err(|e| ApiError::Internal(e.into()))
}
