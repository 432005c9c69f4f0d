//! The command line: `serve`, `worker`, `migrate`, `user` and `admin`.

pub mod admin;
mod signals;
mod user;

use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::clock::SystemClock;

use crate::config::Config;
use crate::jobs::Workers;
use crate::startup::{Application, open_state};
use signals::wait_for_shutdown_signal;

/// safecheck: activate an incident over an area, prompt everyone inside, tell their contacts.
///
/// Configuration comes from SAFECHECK_* environment variables (see the README); with none set
/// it keeps a SQLite database under ./data and listens on 127.0.0.1:8080.
#[derive(Debug, Parser)]
#[command(name = "safecheck", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run the background workers in this one process.
    ///
    /// Migrates the database first. SIGTERM or Ctrl-C stops it gracefully: in-flight requests
    /// finish, then workers stop after their current item.
    Serve,
    /// Run only the background workers (fan-out, email delivery), beside one or more `serve`
    /// processes over the same database.
    Worker,
    /// Apply pending database migrations, then exit.
    Migrate {
        /// Revert every migration instead (destroys all data).
        #[arg(long)]
        revert_all: bool,
    },
    /// Create accounts and grant roles directly in the database (the first operators and admins).
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Run incidents on a running server over its REST API (log in, create, list, follow, resolve).
    ///
    /// Needs no server configuration: only the server's URL (--url or SAFECHECK_ADMIN_URL) and a
    /// login (`safecheck admin login`) or a token (--token or SAFECHECK_ADMIN_TOKEN).
    Admin(admin::AdminArgs),
}

/// Runs the parsed command with a validated configuration.
pub async fn run(cli: Cli, mut config: Config) -> anyhow::Result<()> {
    config.create_dirs()?;
    match cli.command {
        Command::Serve => {
            announce_jwt_secret(&mut config)?;
            tracing::info!(database = %config.database_url.describe(), listen = %config.listen, "starting");
            let app = Application::build(config).await?;
            let handle = app.handle();
            tokio::spawn(async move {
                wait_for_shutdown_signal().await;
                handle.stop(true).await;
            });
            app.run_until_stopped().await
        }
        Command::Worker => {
            announce_jwt_secret(&mut config)?;
            let state = open_state(config, Arc::new(SystemClock)).await?;
            let workers = Workers::start(&state)?;
            tracing::info!("worker running; SIGTERM or Ctrl-C stops it");
            wait_for_shutdown_signal().await;
            workers.stop().await;
            Ok(())
        }
        Command::Migrate { revert_all } => {
            let url = config.database_url.clone();
            tokio::task::spawn_blocking(move || migrate(&url, revert_all)).await?
        }
        Command::User { command } => tokio::task::spawn_blocking(move || user::run(command, &config)).await?,
        // `main` runs `admin` before loading a configuration it does not need.
        Command::Admin(_) => anyhow::bail!("`safecheck admin` does not run with the server configuration"),
    }
}

fn migrate(url: &crate::db::DatabaseUrl, revert_all: bool) -> anyhow::Result<()> {
    if revert_all {
        let mut conn = crate::db::pool_connect(url)?;
        for name in crate::db::revert_all_migrations(&mut conn)? {
            println!("reverted {name}");
        }
        return Ok(());
    }
    let applied = crate::db::prepare(url)?;
    if applied.is_empty() {
        println!("the database at {} is up to date", url.describe());
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(())
}

/// Makes sure a JWT key exists, and says where a generated one lives.
fn announce_jwt_secret(config: &mut Config) -> anyhow::Result<()> {
    if let Some((path, generated)) = config.ensure_jwt_secret()? {
        if generated {
            tracing::warn!(path = %path.display(), "no SAFECHECK_JWT_SECRET set: generated a JWT secret and stored it");
        } else {
            tracing::info!(path = %path.display(), "no SAFECHECK_JWT_SECRET set: using the JWT secret stored in the data directory");
        }
    }
    Ok(())
}
