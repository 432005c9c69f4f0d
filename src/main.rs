//! The `safecheck` binary: parse the command line, load the configuration, run the command.

use clap::Parser;
use safecheck::cli::{self, Cli, Command};
use safecheck::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Admin(args) = cli.command {
        // A client of a running server: no server configuration, no ./data, and no logs on
        // stdout, which is for its output. Its HTTP calls block, so off the runtime it goes.
        return tokio::task::spawn_blocking(move || cli::admin::run(args))
            .await
            .unwrap_or(std::process::ExitCode::FAILURE);
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("safecheck: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    safecheck::telemetry::init(config.log_format);
    match cli::run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "safecheck stopped with an error");
            eprintln!("safecheck: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
