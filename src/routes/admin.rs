//! Administration: granting and revoking roles.

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;

use crate::db;
use crate::domain::Role;
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::dto::UserDto;
use crate::routes::extract::Json;
use crate::routes::with_db;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct RoleBody {
    role: Role,
}

/// `POST /v1/admin/users/{id}/roles` (admin): gives the user this role (roles nest:
/// admin includes operator includes user). An admin cannot lower their own.
pub async fn grant_role(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    Json(body): Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let id = path.into_inner();
    if id == caller.id && body.role != Role::Admin {
        return Err(own_role());
    }
    let now = state.clock.now();
    let user = with_db(&state, move |conn| {
        db::users::set_role(conn, &id, body.role.as_str(), now)?.ok_or(ApiError::NotFound)
    })
    .await?;
    tracing::info!(admin = %caller.id, user = %user.id, role = %user.role, "role granted");
    Ok(HttpResponse::Ok().json(UserDto::from(user)))
}

/// An admin lowering their own role could leave nobody able to manage roles.
fn own_role() -> ApiError {
    ApiError::conflict("role", "an admin cannot lower their own role")
}

/// `DELETE /v1/admin/users/{id}/roles/{role}` (admin): takes the role away; the user keeps the
/// role below it. An admin cannot lower their own role (someone must remain).
pub async fn revoke_role(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let (id, role) = path.into_inner();
    let role: Role = role.parse().map_err(|m: &str| ApiError::invalid("role", m))?;
    if id == caller.id && role != Role::User {
        return Err(own_role());
    }
    let now = state.clock.now();
    let user = with_db(&state, move |conn| {
        conn.transaction::<_, ApiError, _>(|conn| {
            // Touch the row first: the transaction starts with its write (SQLite's lock, a row
            // lock on PostgreSQL), so a concurrent grant cannot interleave.
            db::users::touch(conn, &id, now)?;
            let user = db::users::find(conn, &id)?.ok_or(ApiError::NotFound)?;
            let current = user.role;
            let lowered = match role {
                Role::User => {
                    return Err(ApiError::invalid("role", "every account has the user role"));
                }
                Role::Operator if current.includes(Role::Operator) => Role::User,
                Role::Admin if current == Role::Admin => Role::Operator,
                _ => return Ok(user),
            };
            db::users::set_role(conn, &id, lowered.as_str(), now)?.ok_or(ApiError::NotFound)
        })
    })
    .await?;
    tracing::info!(admin = %caller.id, user = %user.id, role = %user.role, "role revoked");
    Ok(HttpResponse::Ok().json(UserDto::from(user)))
}
