//! `safecheck admin login` and `logout`.

use std::io::{BufRead, Write};

use chrono::Utc;
use serde_json::json;

use super::client::{Auth, Call, Client};
use super::failure::Failure;
use super::session::{Session, SessionFile, TokenPair};
use super::{Global, default_url, emit, shown};

/// Logs in with email and password and stores the session.
pub fn login(global: &Global, email: Option<String>, password_stdin: bool) -> Result<(), Failure> {
    let url = global.url.clone().map_or_else(default_url, Ok)?;
    if url.scheme() == "http" && !is_loopback(&url) {
        let url = shown(&url);
        eprintln!("warning: {url} is plain http; the password and tokens cross the network unencrypted");
    }
    let email = match email {
        Some(email) => email.trim().to_owned(),
        None => prompt_line("Email: ")?,
    };
    let password = read_password(password_stdin)?;
    let file = SessionFile::locate()?;
    let mut client = Client::new(url, global.timeout(), Auth::Anonymous)?;
    let answer =
        client.json(Call::post(&["v1", "auth", "login"], json!({ "email": email, "password": password })))?;
    let pair: TokenPair = serde_json::from_value(answer)
        .map_err(|e| Failure::Other(format!("the server's login answer is not a token pair: {e}")))?;
    let session = Session::new(shown(client.base()), &email, pair, Utc::now());
    file.save(&session)?;
    let summary = json!({ "url": session.url, "email": session.email, "expires_at": session.expires_at });
    global.show(&summary, |_| {
        format!(
            "logged in to {} as {}; session stored in {}\n",
            session.url,
            session.email,
            file.path().display()
        )
    })
}

/// Revokes the stored login on the server, then deletes it locally whatever the server said: a
/// user who logs out wants the tokens gone from this machine.
pub fn logout(global: &Global) -> Result<(), Failure> {
    let file = SessionFile::locate()?;
    let Some(session) = file.load()? else {
        return emit("not logged in\n");
    };
    // Any refresh token of a login revokes all of it, so the one read now still works even if
    // the client refreshes (rotates) it on the way.
    let body = json!({ "refresh_token": session.refresh_token });
    let revoked =
        global.connect().and_then(|mut client| client.json(Call::post(&["v1", "auth", "logout"], body)));
    file.delete()?;
    match revoked {
        // NotLoggedIn: the login had already ended on the server; nothing is left to revoke.
        Ok(_) | Err(Failure::NotLoggedIn(_)) => emit(&format!("logged out of {}\n", session.url)),
        Err(e) => {
            eprintln!("safecheck admin: deleted the local session, but could not revoke it on the server");
            Err(e)
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Asks on stderr (stdout is for results) and reads one line from stdin.
fn prompt_line(prompt: &str) -> Result<String, Failure> {
    eprint!("{prompt}");
    drop(std::io::stderr().flush());
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Failure::Other(format!("cannot read: {e}")))?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(Failure::Usage("no email given".into()));
    }
    Ok(line)
}

fn read_password(from_stdin: bool) -> Result<String, Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Other(format!("cannot read the password from standard input: {e}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    rpassword::prompt_password("Password: ").map_err(|e| {
        Failure::Other(format!("cannot read the password ({e}); without a terminal use --password-stdin"))
    })
}
