//! Why an admin command failed, the exit code that says so to scripts, and the message for
//! people (built from the server's problem document, never a raw body).

use std::fmt;

use serde_json::Value;

use super::table::sanitize;

/// The exit codes `safecheck admin` promises; `--help` and the README list them.
pub mod exit {
    pub const OTHER: u8 = 1;
    /// clap exits with 2 on a bad command line; our own argument checks use it too.
    pub const USAGE: u8 = 2;
    pub const NOT_LOGGED_IN: u8 = 3;
    pub const FORBIDDEN: u8 = 4;
    pub const NOT_FOUND: u8 = 5;
    pub const REFUSED: u8 = 6;
    pub const UNAVAILABLE: u8 = 7;
}

/// Every way an admin command fails.
#[derive(Debug)]
pub enum Failure {
    /// The arguments cannot work (an unreadable `--geojson` file, say). Exit 2.
    Usage(String),
    /// No usable login: no session, a session for another server, or one that cannot be
    /// refreshed any more. Exit 3.
    NotLoggedIn(String),
    /// The server answered with an error status; the exit code follows the status.
    Http { status: u16, problem: Problem },
    /// The server could not be reached, or timed out. Exit 7.
    Unavailable(String),
    /// Anything else: a local file, an answer that is not the expected JSON. Exit 1.
    Other(String),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::NotLoggedIn(_) => exit::NOT_LOGGED_IN,
            Failure::Http { status, .. } => exit_code_of_status(*status),
            Failure::Unavailable(_) => exit::UNAVAILABLE,
            Failure::Other(_) => exit::OTHER,
        }
    }

    /// A failed request: says which server, and why, without echoing secrets.
    pub fn from_transport(error: &reqwest::Error) -> Self {
        let url = error.url().map(|u| format!("{}://{}", u.scheme(), host_port(u))).unwrap_or_default();
        let why = if error.is_timeout() {
            "the request timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "the request failed"
        };
        // The innermost cause names the real problem ("Connection refused"), not a wrapper.
        let mut cause: &dyn std::error::Error = error;
        while let Some(next) = cause.source() {
            cause = next;
        }
        Failure::Unavailable(format!("{why} to {url}: {cause}"))
    }
}

fn host_port(url: &reqwest::Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// 401 -> 3, 403 -> 4, 404 -> 5, other 4xx -> 6, 5xx -> 7, anything else -> 1.
pub fn exit_code_of_status(status: u16) -> u8 {
    match status {
        401 => exit::NOT_LOGGED_IN,
        403 => exit::FORBIDDEN,
        404 => exit::NOT_FOUND,
        400..=499 => exit::REFUSED,
        500..=599 => exit::UNAVAILABLE,
        _ => exit::OTHER,
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::NotLoggedIn(m) | Failure::Unavailable(m) | Failure::Other(m) => {
                f.write_str(m)
            }
            Failure::Http { status, problem } => write!(f, "{} (HTTP {status}){problem}", problem.title),
        }
    }
}

/// What an error answer said: an RFC 9457 problem document, or the status's name when the body
/// is not one (a proxy's HTML page, say).
#[derive(Debug, Default)]
pub struct Problem {
    pub title: String,
    pub detail: Option<String>,
    /// `(field, message)` pairs.
    pub errors: Vec<(String, String)>,
}

impl Problem {
    /// Reads an error body; `reason` (the status's name) stands in for a missing title.
    pub fn from_body(body: &[u8], reason: &str) -> Self {
        let document: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |v: &Value| v.as_str().map(sanitize).filter(|s| !s.is_empty());
        let errors = document["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| Some((text(&e["field"])?, text(&e["message"]).unwrap_or_default())))
                    .collect()
            })
            .unwrap_or_default();
        Problem {
            title: text(&document["title"]).unwrap_or_else(|| reason.to_owned()),
            detail: text(&document["detail"]),
            errors,
        }
    }
}

/// `: detail` then one `  field: message` line per error (a line that only repeats the detail,
/// as a one-field validation problem does, is left out).
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = self.detail.as_deref().filter(|d| !d.eq_ignore_ascii_case(&self.title));
        if let Some(detail) = detail {
            write!(f, ": {detail}")?;
        }
        for (field, message) in &self.errors {
            let line = format!("{field}: {message}");
            if Some(line.as_str()) != detail {
                write!(f, "\n  {line}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let codes: Vec<u8> = [401, 403, 404, 409, 422, 429, 500, 503, 302].map(exit_code_of_status).to_vec();
        assert_eq!(codes, [3, 4, 5, 6, 6, 6, 7, 7, 1]);
    }

    #[test]
    fn a_problem_document_reads_as_title_detail_and_fields() {
        let body = br#"{"type":"x","title":"Validation failed","status":422,
            "detail":"some fields are not valid; see errors",
            "errors":[{"field":"title","message":"must be 1 to 200 characters"},
                      {"field":"area","message":"radius_m must be positive"}]}"#;
        let failure =
            Failure::Http { status: 422, problem: Problem::from_body(body, "Unprocessable Entity") };
        assert_eq!(
            failure.to_string(),
            "Validation failed (HTTP 422): some fields are not valid; see errors\n  \
             title: must be 1 to 200 characters\n  area: radius_m must be positive"
        );
        assert_eq!(failure.exit_code(), 6);
    }

    #[test]
    fn a_single_field_error_is_not_repeated() {
        let body = br#"{"title":"Validation failed","status":422,"detail":"title: too long",
            "errors":[{"field":"title","message":"too long"}]}"#;
        assert_eq!(Problem::from_body(body, "x").to_string(), ": title: too long");
    }

    #[test]
    fn a_body_that_is_not_a_problem_is_never_dumped() {
        let problem = Problem::from_body(b"<html>\x1b[31mBad gateway</html>", "Bad Gateway");
        let failure = Failure::Http { status: 502, problem };
        assert_eq!(failure.to_string(), "Bad Gateway (HTTP 502)");
        assert_eq!(failure.exit_code(), 7);
    }
}
