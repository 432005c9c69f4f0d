//! One-click unsubscribe (RFC 8058): the link in every email. GET shows a confirmation page
//! (mail scanners follow links; only a POST unsubscribes); POST, from the page or from the mail
//! client's one-click button, suppresses the address for good. Neither says who listed it.

use actix_web::{HttpResponse, web};

use crate::db;
use crate::error::ApiError;
use crate::notify::templates::escape;
use crate::routes::with_db;
use crate::state::AppState;

/// `GET /v1/unsubscribe/{token}`: a page with one button.
pub async fn get_unsubscribe(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let email = state.unsubscribe.verify(&token).ok_or(ApiError::NotFound)?;
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>\n\
         <p>Stop all emails from safecheck to <strong>{}</strong>?</p>\n\
         <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>\n</body></html>\n",
        escape(&email)
    );
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body))
}

/// `POST /v1/unsubscribe/{token}`: suppresses the address for every future email.
pub async fn post_unsubscribe(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let email = state.unsubscribe.verify(&token).ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let stored = email.clone();
    with_db(&state, move |conn| Ok(db::suppressions::add(conn, &stored, now)?)).await?;
    tracing::info!("an address unsubscribed");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "email": email, "unsubscribed": true })))
}
