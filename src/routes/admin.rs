//! Administration: granting and revoking roles.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::accounts::{self, RevokeRoleError, RoleChanger};
use crate::domain::Role;
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::dto::UserDto;
use crate::routes::extract::Json;
use crate::routes::incidents::actor_of;
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
    let admin = caller.clone();
    let user = with_db(&state, move |conn| {
        let actor = actor_of(conn, &admin)?;
        let by = RoleChanger::Admin(&actor);
        accounts::grant_role(conn, &id, body.role, by, now)?.ok_or(ApiError::NotFound)
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
    let admin = caller.clone();
    let user = with_db(&state, move |conn| {
        let actor = actor_of(conn, &admin)?;
        match accounts::revoke_role(conn, &id, role, RoleChanger::Admin(&actor), now) {
            Ok(user) => Ok(user),
            Err(RevokeRoleError::NotFound) => Err(ApiError::NotFound),
            Err(e @ RevokeRoleError::UserRole) => Err(ApiError::invalid("role", e.to_string())),
            Err(RevokeRoleError::Database(e)) => Err(e.into()),
        }
    })
    .await?;
    tracing::info!(admin = %caller.id, user = %user.id, role = %user.role, "role revoked");
    Ok(HttpResponse::Ok().json(UserDto::from(user)))
}
