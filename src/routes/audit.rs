//! The audit log, for operators and admins.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};

use crate::db;
use crate::db::audit::AuditRow;
use crate::domain::Role;
use crate::error::ApiError;
use crate::routes::caller::Caller;
use crate::routes::dto::rfc3339;
use crate::routes::paging::{self, PageQuery};
use crate::routes::with_db;
use crate::state::AppState;

#[derive(Serialize)]
struct AuditDto {
    id: String,
    at: String,
    actor_id: Option<String>,
    actor_email: Option<String>,
    action: String,
    incident_id: Option<String>,
    details: Value,
}

impl TryFrom<AuditRow> for AuditDto {
    type Error = ApiError;

    /// Details that are not JSON are a fault of ours (a 500 whose cause goes to the log).
    fn try_from(row: AuditRow) -> Result<Self, ApiError> {
        let details = serde_json::from_str(&row.details).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("the details of audit record {} are not JSON: {e}", row.id))
        })?;
        Ok(Self {
            details,
            id: row.id,
            at: rfc3339(row.at),
            actor_id: row.actor_id,
            actor_email: row.actor_email,
            action: row.action,
            incident_id: row.incident_id,
        })
    }
}

/// `GET /v1/audit` (operator): newest first, cursor-paged.
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let limit = query.limit()?;
    let after = query.position()?;
    let rows = with_db(&state, move |conn| Ok(db::audit::page(conn, after.as_ref(), limit)?)).await?;
    let next_cursor = paging::next_cursor(&rows, limit, |r| (r.at, r.id.as_str()));
    let items = rows.into_iter().map(AuditDto::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next_cursor })))
}
