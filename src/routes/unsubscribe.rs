//! One-click unsubscribe (RFC 8058): the link in every email. GET shows a confirmation page
//! (mail scanners follow links; only a POST unsubscribes); POST, from the page or from the mail
//! client's one-click button, suppresses the address for good, under any alias (`+tag`, dots at
//! gmail, case). Neither says who listed it. This is also an invitation's "never email me" link.
//! The page is in English and French.

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
    let email = state.links.verify(&token).ok_or(ApiError::NotFound)?;
    let email = escape(&email);
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Unsubscribe · Désinscription</title></head><body>\n\
         <p lang=\"en\">Stop all emails from safecheck to <strong>{email}</strong>, whoever lists it?</p>\n\
         <p lang=\"fr\">Ne plus jamais envoyer d'e-mail de safecheck à <strong>{email}</strong>, qui que ce soit qui l'ait désignée ?</p>\n\
         <form method=\"post\"><button type=\"submit\">Unsubscribe · Se désinscrire</button></form>\n</body></html>\n"
    );
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body))
}

/// `POST /v1/unsubscribe/{token}`: suppresses the address for every future email.
pub async fn post_unsubscribe(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let email = state.links.verify(&token).ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let stored = email.clone();
    with_db(&state, move |conn| Ok(db::suppressions::add(conn, &stored, now)?)).await?;
    tracing::info!("an address unsubscribed");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "email": email, "unsubscribed": true })))
}
