//! The `safecheck` binary: parse the command line, load the configuration, run the command.

use clap::Parser;
use safecheck::cli::{self, Cli};
use safecheck::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
