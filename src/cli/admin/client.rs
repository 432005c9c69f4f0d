//! HTTP for `safecheck admin`: builds safe URLs, sends the bearer token, refreshes a stored login
//! once when its access token has expired or is refused, and turns error answers into failures.

use std::io::Read;
use std::time::Duration;

use chrono::Utc;
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use super::failure::{Failure, Problem};
use super::session::{Session, SessionFile, TokenPair};

/// Error bodies are read up to this size: enough for any problem document.
const MAX_ERROR_BODY: u64 = 64 * 1024;

const LOG_IN_AGAIN: &str = "log in again with `safecheck admin login`";

/// Whose requests these are.
pub enum Auth {
    /// No credentials (`login` itself).
    Anonymous,
    /// A token from `--token` or `SAFECHECK_ADMIN_TOKEN`, used as given and never refreshed.
    Token(String),
    /// The stored login, renewed through its refresh token.
    Session(SessionFile, Box<Session>),
}

/// A client of one server.
pub struct Client {
    http: reqwest::blocking::Client,
    base: Url,
    auth: Auth,
}

/// One request: method, path segments (each percent-encoded, so an id cannot change the path),
/// query, optional JSON body and the media type wanted back.
pub struct Call<'a> {
    method: Method,
    path: &'a [&'a str],
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    accept: &'static str,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a [&'a str]) -> Self {
        Self { method: Method::GET, path, query: Vec::new(), body: None, accept: "application/json" }
    }

    pub fn post(path: &'a [&'a str], body: Value) -> Self {
        Self { method: Method::POST, body: Some(body), ..Self::get(path) }
    }

    /// A POST without a body (an action on the resource the path names).
    pub fn post_empty(path: &'a [&'a str]) -> Self {
        Self { method: Method::POST, ..Self::get(path) }
    }

    /// Adds `name=value` to the query when `value` is present.
    pub fn query(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }

    pub fn accept(mut self, media_type: &'static str) -> Self {
        self.accept = media_type;
        self
    }
}

impl Client {
    pub fn new(base: Url, timeout: Duration, auth: Auth) -> Result<Self, Failure> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect would carry the bearer token somewhere we did not choose.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("safecheck-admin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::Other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { http, base, auth })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sends the call and reads a JSON answer (`null` for 204).
    pub fn json(&mut self, call: Call<'_>) -> Result<Value, Failure> {
        let response = self.send(&call)?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        read_json(response)
    }

    /// Sends the call and returns the answer's body as text, unchanged.
    pub fn text(&mut self, call: Call<'_>) -> Result<String, Failure> {
        let response = self.send(&call)?;
        response.text().map_err(|e| Failure::from_transport(&e))
    }

    /// Sends the call; on success returns the response, otherwise the failure it means.
    fn send(&mut self, call: &Call<'_>) -> Result<Response, Failure> {
        let url = self.endpoint(call.path, &call.query)?;
        let mut refreshed = false;
        if let Auth::Session(_, session) = &self.auth
            && session.is_expired(Utc::now())
        {
            self.refresh()?;
            refreshed = true;
        }
        loop {
            let mut request = self
                .http
                .request(call.method.clone(), url.clone())
                .header(ACCEPT, HeaderValue::from_static(call.accept));
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let response = self.authorize(request).send().map_err(|e| Failure::from_transport(&e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let is_session = matches!(self.auth, Auth::Session(..));
            if status == StatusCode::UNAUTHORIZED && is_session {
                if !refreshed {
                    // The access token may have been revoked or signed with a rotated key.
                    self.refresh()?;
                    refreshed = true;
                    continue;
                }
                return Err(Failure::NotLoggedIn(format!("{}; {LOG_IN_AGAIN}", failure_of(response))));
            }
            return Err(failure_of(response));
        }
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::Anonymous => request,
            Auth::Token(token) => request.bearer_auth(token),
            Auth::Session(_, session) => request.bearer_auth(&session.access_token),
        }
    }

    /// Trades the refresh token for a new pair and stores it. The server rotates refresh tokens
    /// and takes a second use of one as theft, revoking the whole login; so commands run at once
    /// take turns under the session's lock, and one that finds the stored pair already renewed by
    /// another uses it instead of refreshing again. The new pair is saved before the lock is let go.
    fn refresh(&mut self) -> Result<(), Failure> {
        let url = self.endpoint(&["v1", "auth", "refresh"], &[])?;
        let Auth::Session(file, session) = &mut self.auth else {
            return Ok(());
        };
        let _lock = file.lock()?;
        // Whether the stored file still holds this command's login, to be replaced by the new pair.
        let mut store = true;
        match file.load()? {
            Some(stored) if stored.url == session.url && stored.email == session.email => {
                if stored.refresh_token != session.refresh_token {
                    // Another command refreshed since this one read the file.
                    **session = stored;
                    if !session.is_expired(Utc::now()) {
                        return Ok(());
                    }
                }
            }
            // Logged out, or logged in elsewhere, meanwhile: renew this command's login for its
            // own use, but leave the file as the user made it (and never send the tokens of
            // another login to this server).
            _ => store = false,
        }
        let response = self
            .http
            .post(url)
            .json(&json!({ "refresh_token": session.refresh_token }))
            .send()
            .map_err(|e| Failure::from_transport(&e))?;
        let status = response.status();
        if status.is_client_error() {
            let problem = failure_of(response);
            return Err(Failure::NotLoggedIn(format!("the session has ended ({problem}); {LOG_IN_AGAIN}")));
        }
        if !status.is_success() {
            return Err(failure_of(response));
        }
        let pair: TokenPair = serde_json::from_value(read_json(response)?)
            .map_err(|e| Failure::Other(format!("the server's refresh answer is not a token pair: {e}")))?;
        session.renew(pair, Utc::now());
        if store { file.save(session) } else { Ok(()) }
    }

    fn endpoint(&self, path: &[&str], query: &[(&'static str, String)]) -> Result<Url, Failure> {
        endpoint(&self.base, path, query)
    }
}

/// `base` + `/segment/segment…` + `?query`, each segment percent-encoded.
pub fn endpoint(base: &Url, path: &[&str], query: &[(&'static str, String)]) -> Result<Url, Failure> {
    let mut url = base.clone();
    {
        let mut segments =
            url.path_segments_mut().map_err(|()| Failure::Usage(format!("{base} cannot be a base URL")))?;
        segments.pop_if_empty().extend(path);
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

/// The failure an error answer means, from its problem document.
fn failure_of(response: Response) -> Failure {
    let status = response.status();
    let mut body = Vec::new();
    // A body we cannot read still leaves the status to report.
    drop(response.take(MAX_ERROR_BODY).read_to_end(&mut body));
    let reason = status.canonical_reason().unwrap_or("Error");
    Failure::Http { status: status.as_u16(), problem: Problem::from_body(&body, reason) }
}

fn read_json(response: Response) -> Result<Value, Failure> {
    let url = response.url().path().to_owned();
    let bytes = response.bytes().map_err(|e| Failure::from_transport(&e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::Other(format!("the answer to {url} is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded_and_the_base_path_kept() {
        let base = Url::parse("https://example.org/safecheck/").unwrap();
        let url =
            endpoint(&base, &["v1", "incidents", "../admin?x"], &[("status", "active".into())]).unwrap();
        assert_eq!(url.as_str(), "https://example.org/safecheck/v1/incidents/..%2Fadmin%3Fx?status=active");
        let bare = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(endpoint(&bare, &["v1"], &[]).unwrap().as_str(), "http://127.0.0.1:8080/v1");
    }
}
