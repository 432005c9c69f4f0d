//! The accept link of an invitation. GET shows a page with one button (mail scanners follow
//! links; following it changes nothing); POST, from that page, accepts: from then on the user's
//! check-ins reach this address with their own words. English and French on one page, as the
//! email's reader may read either.

use actix_web::{HttpResponse, web};

use crate::community::contacts;
use crate::error::ApiError;
use crate::notify::templates::escape;
use crate::routes::with_db;
use crate::state::AppState;

/// `GET /v1/invitations/{token}`: a confirmation page.
pub async fn get_invitation(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, email) = state.links.verify_accept(&path.into_inner()).ok_or(ApiError::NotFound)?;
    let address = email.clone();
    let name = with_db(&state, move |conn| Ok(contacts::inviter(conn, &user_id, &address)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let (name, email) = (escape(&name), escape(&email));
    let body = format!(
        "<p lang=\"en\">{name} listed <strong>{email}</strong> as a contact on safecheck. Accept to receive \
         their own words when they say whether they are safe during an incident.</p>\n\
         <p lang=\"fr\">{name} a désigné <strong>{email}</strong> comme proche sur safecheck. Acceptez pour \
         recevoir ses propres mots lorsqu'il ou elle dira être en sécurité ou non pendant un incident.</p>\n\
         <form method=\"post\"><button type=\"submit\">Accept · Accepter</button></form>\n"
    );
    Ok(html(&body))
}

/// `POST /v1/invitations/{token}`: accepts the invitation (again is fine).
pub async fn accept_invitation(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, email) = state.links.verify_accept(&path.into_inner()).ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let accepted = with_db(&state, move |conn| Ok(contacts::accept(conn, &user_id, &email, now)?)).await?;
    if !accepted {
        return Err(ApiError::NotFound);
    }
    tracing::info!("an invitation was accepted");
    Ok(html(
        "<p lang=\"en\">Accepted. You can stop these emails at any time with the link at the bottom of each.</p>\n\
         <p lang=\"fr\">C'est accepté. Vous pouvez arrêter ces e-mails à tout moment avec le lien en bas de chacun.</p>\n",
    ))
}

fn html(body: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>safecheck</title></head><body>\n{body}</body></html>\n"
    ))
}
