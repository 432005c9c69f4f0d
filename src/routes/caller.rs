//! `Caller`: the user a bearer token names, loaded from the database on every request so that
//! a deleted account or a changed role takes effect at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::accounts;
use crate::db;
use crate::domain::Role;
use crate::error::ApiError;
use crate::routes::with_db;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: String,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.includes(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(match needed {
                Role::Admin => "this operation needs the admin role",
                Role::Operator => "this operation needs the operator role",
                Role::User => "this operation needs an account",
            }))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let token =
                token.ok_or(ApiError::Unauthorized("an `Authorization: Bearer` access token is required"))?;
            let claims = state
                .tokens
                .verify(&token, state.clock.now())
                .ok_or(ApiError::Unauthorized("the access token is invalid or expired"))?;
            let sub = claims.sub.clone();
            let found =
                with_db(&state, move |conn| Ok(db::users::find_with_sessions_valid_after(conn, &sub)?))
                    .await?;
            let (user, valid_after) =
                found.ok_or(ApiError::Unauthorized("the account of this token no longer exists"))?;
            if accounts::token_outlived_sessions(&claims, valid_after) {
                return Err(ApiError::Unauthorized("the session of this access token has ended"));
            }
            Ok(Caller { id: user.id, role: user.role })
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
