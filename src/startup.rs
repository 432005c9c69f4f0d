//! Builds the application: database, pool, HTTP server and background workers.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpMessage, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::auth::{PasswordHasher, PasswordPool, TokenKeys};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db;
use crate::db::group_commit::GroupWriter;
use crate::error::{PROBLEM_JSON, status_problem};
use crate::incidents::ActiveAreas;
use crate::jobs::Workers;
use crate::metrics::Metrics;
use crate::notify::links::LinkKeys;
use crate::routes;
use crate::state::{AppState, Wakeups};
use crate::telemetry::RequestSpan;

/// How stale the in-memory list of active areas may be: another process's activation or
/// resolution is seen within this time.
const ACTIVE_AREAS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(2);

/// A bound, migrated, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    /// The private `/metrics` listener, when configured: its port and server.
    metrics_server: Option<(u16, Server)>,
    state: web::Data<AppState>,
}

impl Application {
    /// Migrates the database, opens the pool and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], reading time from `clock` (tests move it forward).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let state = web::Data::new(open_state(config, clock).await?);
        let listener = TcpListener::bind(state.config.listen)
            .with_context(|| format!("cannot listen on {} (SAFECHECK_LISTEN)", state.config.listen))?;
        let port = listener.local_addr()?.port();
        let server_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(server_state.clone())
                .app_data(web::PayloadConfig::new(server_state.config.max_body_bytes))
                .app_data(web::QueryConfig::default().error_handler(routes::query_error))
                .app_data(web::PathConfig::default().error_handler(routes::path_error))
                .wrap(ErrorHandlers::new().default_handler(problem_for_bare_errors))
                .wrap(actix_web::middleware::from_fn(routes::metrics::count_requests))
                .wrap(actix_web::middleware::from_fn(request_id_header))
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        // Signals are ours: `serve` stops the server and then the workers, in that order.
        .disable_signals()
        .shutdown_timeout(30);
        if state.config.http_workers > 0 {
            server = server.workers(state.config.http_workers);
        }
        let metrics_server = match state.config.metrics.listen {
            Some(addr) => Some(metrics_server(&state, addr)?),
            None => None,
        };
        Ok(Self { port, server: server.run(), metrics_server, state })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the private metrics listener, if one is configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves HTTP and runs the background workers until the server is stopped; then stops the
    /// workers after their current item.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let workers = Workers::start(&self.state)?;
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let served = self.server.await;
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        workers.stop().await;
        served.context("HTTP server failed")
    }
}

/// A listener that serves only `GET /metrics`, without a token: bind it to a private address.
fn metrics_server(state: &web::Data<AppState>, addr: std::net::SocketAddr) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} (SAFECHECK_METRICS_LISTEN)"))?;
    let port = listener.local_addr()?.port();
    let state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(routes::metrics::get_metrics_private))
            .default_service(web::to(routes::not_found))
    })
    .listen(listener)?
    .disable_signals()
    .workers(1)
    .run();
    Ok((port, server))
}

/// Prepares the database (WAL, migrations) and opens the pool.
pub async fn open_state(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let url = config.database_url.clone();
    let applied = tokio::task::spawn_blocking(move || db::prepare(&url))
        .await?
        .with_context(|| format!("cannot prepare the database at {}", config.database_url.describe()))?;
    for name in &applied {
        tracing::info!(migration = %name, "applied migration");
    }
    let pool = db::build_pool(&config.database_url, config.db_pool_size, config.db_timeout);
    let tokens = TokenKeys::from_config(&config)?;
    let passwords = PasswordPool::start(PasswordHasher::new(config.argon2)?, config.password_pool)
        .context("cannot start the password hashing threads")?;
    let metrics = Arc::new(Metrics::new()?);
    let answer_writer = match &config.database_url {
        db::DatabaseUrl::Sqlite(_) => Some(
            GroupWriter::start(config.database_url.clone(), config.answer_queue, metrics.answer_groups())
                .context("cannot start the thread that writes answers")?,
        ),
        db::DatabaseUrl::Postgresql(_) => None,
    };
    let links = {
        let (pool, jwt_keys, now) = (pool.clone(), config.jwt_keys.clone(), clock.now());
        tokio::task::spawn_blocking(move || -> anyhow::Result<LinkKeys> {
            let mut conn = pool.get()?;
            Ok(LinkKeys::load(&mut conn, &jwt_keys, now)?)
        })
        .await?
        .context("cannot read or store the key that signs links in emails")?
    };
    Ok(AppState {
        user_limits: crate::limits::UserLimiters::new(&config.user_limits),
        config: Arc::new(config),
        pool,
        tokens,
        passwords,
        clock,
        active_areas: ActiveAreas::new(ACTIVE_AREAS_MAX_AGE),
        wakeups: Wakeups::default(),
        links,
        metrics,
        answer_writer,
    })
}

/// Echoes the request id tracing-actix-web assigned, so a client can quote it in a report.
async fn request_id_header(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let request_id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(id) = request_id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// Gives every error response that has no problem document one (actix's own 4xx, for example).
fn problem_for_bare_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let content_type =
        res.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let is_problem = content_type == PROBLEM_JSON.as_bytes();
    // A page made for a person (a one-tap answer link that is not valid, or whose incident
    // ended) is its own answer; actix's own errors are plain text.
    let is_page = content_type.starts_with(b"text/html") && res.status().is_client_error();
    if is_problem || is_page {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, old) = res.into_parts();
    let mut new = status_problem(old.status());
    for name in [header::RETRY_AFTER, header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(value) = old.headers().get(&name) {
            new.headers_mut().insert(name, value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, new).map_into_right_body()))
}
