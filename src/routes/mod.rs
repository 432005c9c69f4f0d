//! HTTP routes: one table lists every route, and both the server and the OpenAPI test read it.

mod admin;
mod answer_links;
mod approval;
mod audit;
mod auth;
pub mod caller;
mod check_ins;
mod contacts;
mod csv;
pub mod dto;
pub mod extract;
mod fallback;
mod health;
mod idempotency;
mod incidents;
mod invitations;
mod me;
pub mod metrics;
mod notices;
mod paging;
mod people;
mod prompts;
mod reminders;
mod stats;
mod throttle;
mod unsubscribe;

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

use crate::db::DbConn;
use crate::error::ApiError;
use crate::state::AppState;

pub use fallback::{method_not_allowed, not_found, path_error, query_error};

/// One served route: method, path (OpenAPI syntax) and the handler's name, which is also the
/// OpenAPI `operationId`.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub operation_id: &'static str,
    make: Box<dyn Fn() -> actix_web::Route + Send + Sync>,
}

impl Route {
    fn new<F, Args>(method: Method, path: &'static str, operation_id: &'static str, handler: F) -> Self
    where
        F: Handler<Args> + Clone + Send + Sync + 'static,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route_method = method.clone();
        let make = Box::new(move || web::method(route_method.clone()).to(handler.clone()));
        Self { method, path, operation_id, make }
    }
}

/// Every route this server answers.
#[rustfmt::skip] // one route a line reads as the table it is
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        Route::new(M::GET, "/healthz", "get_healthz", health::get_healthz),
        Route::new(M::GET, "/readyz", "get_readyz", health::get_readyz),
        Route::new(M::GET, "/openapi.yaml", "get_openapi", health::get_openapi),
        Route::new(M::GET, "/metrics", "get_metrics", metrics::get_metrics),
        Route::new(M::POST, "/v1/auth/register", "register_account", auth::register_account),
        Route::new(M::POST, "/v1/auth/login", "login", auth::login),
        Route::new(M::POST, "/v1/auth/refresh", "refresh_session", auth::refresh_session),
        Route::new(M::POST, "/v1/auth/logout", "logout", auth::logout),
        Route::new(M::POST, "/v1/auth/logout-all", "logout_all", auth::logout_all),
        Route::new(M::GET, "/v1/me", "get_me", me::get_me),
        Route::new(M::PATCH, "/v1/me", "update_me", me::update_me),
        Route::new(M::DELETE, "/v1/me", "delete_me", me::delete_me),
        Route::new(M::PUT, "/v1/me/location", "update_location", me::update_location),
        Route::new(M::GET, "/v1/me/contacts", "list_contacts", contacts::list_contacts),
        Route::new(M::POST, "/v1/me/contacts", "create_contact", contacts::create_contact),
        Route::new(M::DELETE, "/v1/me/contacts/{id}", "delete_contact", contacts::delete_contact),
        Route::new(M::GET, "/v1/me/prompts", "list_prompts", prompts::list_prompts),
        Route::new(M::POST, "/v1/incidents", "create_incident", incidents::create_incident),
        Route::new(M::GET, "/v1/incidents", "list_incidents", incidents::list_incidents),
        Route::new(M::GET, "/v1/incidents/{id}", "get_incident", incidents::get_incident),
        Route::new(M::POST, "/v1/incidents/{id}/resolve", "resolve_incident", incidents::resolve_incident),
        Route::new(M::POST, "/v1/incidents/{id}/approve", "approve_incident", approval::approve_incident),
        Route::new(M::POST, "/v1/incidents/{id}/reject", "reject_incident", approval::reject_incident),
        Route::new(M::POST, "/v1/incidents/{id}/retract", "retract_incident", notices::retract_incident),
        Route::new(M::POST, "/v1/incidents/{id}/updates", "post_update", notices::post_update),
        Route::new(M::GET, "/v1/incidents/{id}/updates", "list_updates", notices::list_updates),
        Route::new(M::POST, "/v1/incidents/{id}/check-ins", "create_check_in", check_ins::create_check_in),
        Route::new(M::GET, "/v1/incidents/{id}/check-ins/me", "get_my_check_ins", check_ins::get_my_check_ins),
        Route::new(M::GET, "/v1/incidents/{id}/stats", "get_incident_stats", stats::get_incident_stats),
        Route::new(M::GET, "/v1/incidents/{id}/people", "list_people", people::list_people),
        Route::new(M::POST, "/v1/incidents/{id}/people/{user_id}/handled", "mark_handled", people::mark_handled),
        Route::new(M::POST, "/v1/incidents/{id}/reminders", "send_reminders", reminders::send_reminders),
        Route::new(M::GET, "/v1/audit", "list_audit", audit::list_audit),
        Route::new(M::GET, "/v1/invitations/{token}", "get_invitation", invitations::get_invitation),
        Route::new(M::POST, "/v1/invitations/{token}", "accept_invitation", invitations::accept_invitation),
        Route::new(M::GET, "/v1/answer/{token}", "get_answer_link", answer_links::get_answer_link),
        Route::new(M::POST, "/v1/answer/{token}", "post_answer_link", answer_links::post_answer_link),
        Route::new(M::GET, "/v1/unsubscribe/{token}", "get_unsubscribe", unsubscribe::get_unsubscribe),
        Route::new(M::POST, "/v1/unsubscribe/{token}", "post_unsubscribe", unsubscribe::post_unsubscribe),
        Route::new(M::POST, "/v1/admin/users/{id}/roles", "grant_role", admin::grant_role),
        Route::new(M::DELETE, "/v1/admin/users/{id}/roles/{role}", "revoke_role", admin::revoke_role),
    ]
}

/// Registers every route, one actix resource per path so that a known path with an unknown
/// method answers 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: BTreeMap<&'static str, Vec<Route>> = BTreeMap::new();
    for route in routes() {
        by_path.entry(route.path).or_default().push(route);
    }
    for (path, routes) in by_path {
        let allow = routes.iter().map(|r| r.method.as_str()).collect::<Vec<_>>().join(", ");
        let mut resource = web::resource(path);
        for route in &routes {
            resource = resource.route((route.make)());
        }
        resource = resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { method_not_allowed(allow) }
        }));
        cfg.service(resource);
    }
}

/// Runs `f` with a pooled connection on the blocking thread pool: diesel is synchronous and
/// must never hold up an actix worker.
/// Runs a short write. On SQLite it goes to the one writer ([`crate::db::group_commit`]),
/// which commits it with the others that arrived meanwhile instead of making them wait for the
/// write lock in turn; `f` may then run more than once and must have no effect outside the
/// connection. On PostgreSQL it runs on a pooled connection like [`with_db`]; `f` makes its own
/// transaction there if it needs one.
pub async fn with_writer<T, F>(state: &AppState, mut f: F) -> Result<T, ApiError>
where
    F: FnMut(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    match &state.answer_writer {
        Some(writer) => writer.run(f).await?,
        None => with_db(state, move |conn| f(conn)).await,
    }
}

pub async fn with_db<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get().map_err(crate::db::DbError::Unavailable)?;
        f(&mut conn)
    })
    .await?
}
