//! `safecheck admin`: run incidents on a running server through its REST API, as an operator.
//!
//! Blocking I/O throughout: run it off the async runtime (`main` uses `spawn_blocking`).

mod area;
mod client;
mod create;
mod expiry;
mod failure;
mod incidents;
mod login;
mod notices;
mod people;
mod session;
mod stats;
mod table;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Url;
use serde_json::Value;

use client::{Auth, Client};
use failure::Failure;
use session::SessionFile;

const DEFAULT_URL: &str = "http://127.0.0.1:8080";

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  other failure
  2  usage error (bad flags or arguments)
  3  not logged in, or authentication failed (HTTP 401)
  4  forbidden: the account lacks the role (HTTP 403)
  5  not found (HTTP 404)
  6  request refused (another 4xx, e.g. 409 already resolved, 422 invalid)
  7  server or network unavailable (5xx, connection refused, timeout)";

/// `safecheck admin`'s flags and command.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct AdminArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: AdminCommand,
}

/// Flags every admin command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection and output")]
struct Global {
    /// The server's base URL [default: http://127.0.0.1:8080, or the URL of the stored login].
    #[arg(long, global = true, env = "SAFECHECK_ADMIN_URL", value_parser = parse_url)]
    url: Option<Url>,
    /// A bearer token to use instead of the stored login (never refreshed). Prefer the
    /// environment variable: other users can read a flag's value in the process list.
    #[arg(long, global = true, env = "SAFECHECK_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the server's JSON instead of text, for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the server before giving up (exit 7).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Log in and keep the session in $XDG_CONFIG_HOME/safecheck/session.json (else
    /// ~/.config/safecheck/session.json), readable by you only.
    Login {
        /// Asked for when absent.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long, requires = "email")]
        password_stdin: bool,
    },
    /// End the stored session on the server and delete it.
    Logout,
    /// Create, list and follow incidents.
    Incidents {
        #[command(subcommand)]
        command: incidents::IncidentCommand,
    },
    // `safecheck admin show ID` as well as `safecheck admin incidents show ID`.
    #[command(flatten)]
    Incident(incidents::IncidentAction),
}

/// Runs an admin command; failures go to stderr and become the documented exit codes.
pub fn run(args: AdminArgs) -> ExitCode {
    let AdminArgs { global, command } = args;
    let outcome = match command {
        AdminCommand::Login { email, password_stdin } => login::login(&global, email, password_stdin),
        AdminCommand::Logout => login::logout(&global),
        AdminCommand::Incidents { command } => incidents::run(&global, command),
        AdminCommand::Incident(action) => incidents::act(&global, action),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("safecheck admin: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

impl Global {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }

    /// A client authorized by `--token`, else by the stored login.
    fn connect(&self) -> Result<Client, Failure> {
        if let Some(token) = self.token.as_ref().filter(|t| !t.is_empty()) {
            let url = self.url.clone().map_or_else(default_url, Ok)?;
            return Client::new(url, self.timeout(), Auth::Token(token.clone()));
        }
        let file = SessionFile::locate()?;
        let Some(session) = file.load()? else {
            return Err(Failure::NotLoggedIn("not logged in; run `safecheck admin login` first".into()));
        };
        let stored = parse_url(&session.url).map_err(Failure::NotLoggedIn)?;
        if let Some(url) = &self.url
            && !same_server(url, &stored)
        {
            // Tokens go only to the server that issued them.
            let (stored, url) = (shown(&stored), shown(url));
            return Err(Failure::NotLoggedIn(format!(
                "the stored login is for {stored}, not {url}; run `safecheck admin login --url {url}`"
            )));
        }
        Client::new(stored, self.timeout(), Auth::Session(file, Box::new(session)))
    }

    /// Prints `value` as JSON with `--json`, else as `text` renders it.
    fn show(&self, value: &Value, text: impl FnOnce(&Value) -> String) -> Result<(), Failure> {
        if self.json {
            let json = serde_json::to_string_pretty(value).map_err(|e| Failure::Other(e.to_string()))?;
            emit(&format!("{json}\n"))
        } else {
            emit(&text(value))
        }
    }
}

/// Writes to stdout. A closed pipe (`… | head`) is a reader that has seen enough, not a failure.
fn emit(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Other(format!("cannot write to standard output: {e}")))
        }
        _ => Ok(()),
    }
}

fn default_url() -> Result<Url, Failure> {
    parse_url(DEFAULT_URL).map_err(Failure::Other)
}

/// An http(s) base URL (clap's value parser).
fn parse_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{raw:?} is not an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?}: a base URL has no query or fragment"));
    }
    Ok(url)
}

fn same_server(a: &Url, b: &Url) -> bool {
    shown(a) == shown(b)
}

/// The URL as people write it, without the trailing slash `Url` adds.
fn shown(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// An id on the command line: it becomes one path segment, so `.`, `..` and blanks are refused.
fn parse_id(raw: &str) -> Result<String, String> {
    match raw.trim() {
        "" | "." | ".." => Err(format!("{raw:?} is not an id")),
        id => Ok(id.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_http_and_compare_without_a_trailing_slash() {
        let a = parse_url("http://127.0.0.1:8080").unwrap();
        let b = parse_url("http://127.0.0.1:8080/").unwrap();
        assert!(same_server(&a, &b));
        assert!(!same_server(&a, &parse_url("https://127.0.0.1:8080").unwrap()));
        assert!(parse_url("ftp://example.org").is_err());
        assert!(parse_url("localhost:8080").is_err());
        assert!(parse_url("http://example.org/?x=1").is_err());
    }

    #[test]
    fn ids_cannot_walk_the_path() {
        assert!(parse_id("..").is_err());
        assert!(parse_id(" ").is_err());
        assert_eq!(parse_id("0193a").unwrap(), "0193a");
    }
}
