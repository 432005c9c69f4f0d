//! `spawn_app()`: the real server on port 0, with its own database and SMTP sink.

use std::sync::Arc;
use std::time::Duration;

use safecheck::clock::OffsetClock;
use safecheck::clock::{Clock as _, SystemClock};
use safecheck::config::Config;
use safecheck::db::DatabaseUrl;
use safecheck::startup::Application;
use serde_json::Value;

pub use crate::support::chaos_proxy::ChaosProxy;
pub use crate::support::smtp_sink::{ReceivedMail, SmtpSink};
use crate::support::spec_proxy::SpecProxy;
use crate::support::test_db::TestDb;

/// The JWT secret every test app signs with.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    /// The private metrics listener's base URL, when `SAFECHECK_METRICS_LISTEN` is set.
    pub metrics_address: Option<String>,
    /// Sits between `address` and the app; checks each response against the spec.
    pub spec_proxy: SpecProxy,
    pub client: reqwest::Client,
    pub smtp: SmtpSink,
    pub proxy: Option<ChaosProxy>,
    pub config: Config,
    pub db: TestDb,
    /// The app's clock; `clock.advance(..)` moves its time forward.
    pub clock: Arc<OffsetClock>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    /// A test whose responses drifted from the spec fails (unless it is failing already).
    fn drop(&mut self) {
        let violations = self.spec_proxy.violations();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("responses that do not match api-spec/openapi.yaml:\n{}", violations.join("\n"));
        }
    }
}

/// How to set a test app up.
#[derive(Default)]
pub struct Options {
    /// Put a cuttable proxy between the app and PostgreSQL.
    pub db_proxy: bool,
    /// Extra environment-style settings, applied over the test defaults.
    pub env: Vec<(&'static str, String)>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::create(dir.path());
    let smtp = SmtpSink::start().await;
    let proxy = match (options.db_proxy, db.pg_host_port()) {
        (true, Some(target)) => Some(ChaosProxy::start(target).await),
        _ => None,
    };
    let database_url = db.url(proxy.as_ref().map(|p| p.addr.to_string()).as_deref());
    let mut env: Vec<(&'static str, String)> = vec![
        ("SAFECHECK_DATABASE_URL", database_url),
        ("SAFECHECK_LISTEN", "127.0.0.1:0".into()),
        ("SAFECHECK_DATA_DIR", dir.path().display().to_string()),
        ("SAFECHECK_JWT_SECRET", TEST_JWT_SECRET.into()),
        ("SAFECHECK_SMTP_URL", smtp.url()),
        ("SAFECHECK_PUBLIC_URL", "https://safecheck.test".into()),
        ("SAFECHECK_HTTP_WORKERS", "2".into()),
        ("SAFECHECK_DB_POOL_SIZE", "4".into()),
        ("SAFECHECK_DB_TIMEOUT_MS", "1500".into()),
        // Cheap hashing keeps the suite fast; the production cost is the config default.
        ("SAFECHECK_ARGON2_MEMORY_KIB", "256".into()),
        ("SAFECHECK_ARGON2_ITERATIONS", "1".into()),
        // Tokens are checked against the test's clock: a day keeps them valid while a test moves
        // it forward by hours.
        ("SAFECHECK_ACCESS_TOKEN_TTL_SECS", "86400".into()),
        // Every test client comes from loopback; the throttling tests set their own limit.
        ("SAFECHECK_REGISTER_MAX_PER_IP", "1000000".into()),
    ];
    env.extend(options.env);
    let config =
        Config::from_lookup(|name| env.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
            .expect("test configuration");
    if std::env::var_os("TEST_LOG").is_some() {
        safecheck::telemetry::init(config.log_format);
    }
    let clock = Arc::new(OffsetClock::default());
    let (app_address, metrics_address) = start(config.clone(), clock.clone()).await;
    // Tests talk to the app through a proxy that checks every response against the spec.
    let spec_proxy = SpecProxy::start(app_address).await;
    let address = format!("http://{}", spec_proxy.addr);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TestApp { address, metrics_address, spec_proxy, client, smtp, proxy, config, db, clock, _dir: dir }
}

/// Builds and starts an app; returns its base URL, and its metrics listener's if any.
async fn start(config: Config, clock: Arc<OffsetClock>) -> (String, Option<String>) {
    let app = Application::build_with_clock(config, clock).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    (address, metrics_address)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request")
    }

    /// Emails claimed by delivery and not yet recorded (sent, retrying, ...).
    pub fn notifications_in_flight(&self) -> i64 {
        self.notifications_in(&["sending"])
    }

    /// Emails (outbox rows and prompts' own) in any of these states.
    pub fn notifications_in(&self, states: &[&str]) -> i64 {
        notifications_in(self.database_url(), states)
    }

    /// Waits until no email (outbox row or prompt's own) is queued, being sent or waiting for a
    /// retry, for `timeout` at most. A row is recorded `sent` only once the SMTP server accepted
    /// its message, so from then on what the sink received is final: "nothing more arrives" is
    /// asserted after this, not after a nap.
    pub async fn wait_for_outbox_settled(&self, timeout: Duration) {
        const PENDING: [&str; 3] = ["queued", "sending", "retrying"];
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let url = self.database_url().clone();
            let pending =
                tokio::task::spawn_blocking(move || notifications_in(&url, &PENDING)).await.unwrap();
            if pending == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{pending} notifications still queued, sending or retrying after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn database_url(&self) -> &DatabaseUrl {
        &self.config.database_url
    }

    /// Another server process over the same database (a restart, or a second replica), with
    /// `env` changes; returns its base URL, behind a spec proxy of its own whose findings fail
    /// the test as the app's do. It shares this app's clock.
    pub async fn spawn_sibling(&self, env: &[(&str, &str)]) -> String {
        let sibling = self.spawn_sibling_direct(env).await;
        format!("http://{}", self.spec_proxy.start_another(sibling).await)
    }

    /// As [`TestApp::spawn_sibling`], but its base URL is the server's own, with no spec proxy
    /// in between: for timing measurements, where checking each response in the test's process
    /// would be measured too. The test checks the responses it gets itself.
    pub async fn spawn_sibling_direct(&self, env: &[(&str, &str)]) -> String {
        let base = self.config.clone();
        let config = Config::from_lookup(|name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| setting_of(&base, name))
        })
        .expect("sibling configuration");
        start(config, self.clock.clone()).await.0
    }
}

/// Polls `condition` every 10 ms until it holds; panics saying `what` did not happen if it
/// still does not after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Outbox rows in any of these states, read straight from the database.
/// Emails in any of these states: the outbox's rows and the emails prompts carry.
fn notifications_in(url: &DatabaseUrl, states: &[&str]) -> i64 {
    use diesel::prelude::*;
    use safecheck::db::schema::{notifications, prompts};
    let mut conn = safecheck::db::pool_connect(url).unwrap();
    let outbox: i64 = notifications::table
        .filter(notifications::state.eq_any(states))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let carried: i64 =
        prompts::table.filter(prompts::email_state.eq_any(states)).count().get_result(&mut conn).unwrap();
    outbox + carried
}

/// Reads a problem document, checking its media type and that `status` matches.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["type"].is_string() && body["detail"].is_string());
    body
}

/// The field names a problem document's `errors` lists.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A registered, logged-in user.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    /// Registers an account over HTTP and returns the response.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> reqwest::Response {
        self.post_json(
            "/v1/auth/register",
            &serde_json::json!({ "email": email, "password": password, "display_name": name }),
        )
        .await
    }

    /// Logs in over HTTP and returns the response.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/v1/auth/login", &serde_json::json!({ "email": email, "password": password })).await
    }

    /// A new user, registered and logged in.
    pub async fn new_user(&self) -> TestUser {
        self.new_user_with_role("user").await
    }

    /// A new user with `role` (set in the database, as `safecheck user grant` does), logged in.
    pub async fn new_user_with_role(&self, role: &str) -> TestUser {
        let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
        let password = "a good long password".to_owned();
        let response = self.register(&email, &password, "Test User").await;
        assert_eq!(response.status(), 201, "register");
        let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        if role != "user" {
            let mut conn = safecheck::db::pool_connect(self.database_url()).unwrap();
            safecheck::db::users::set_role(&mut conn, &id, role.parse().unwrap(), SystemClock.now()).unwrap();
        }
        let tokens: Value = self.login(&email, &password).await.json().await.unwrap();
        TestUser {
            id,
            email,
            password,
            access_token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A request with the user's bearer token.
    pub fn authed(&self, method: reqwest::Method, path: &str, user: &TestUser) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&user.access_token)
    }
}

/// The settings a sibling inherits from the first app (its database, secret, sink, limits).
fn setting_of(config: &Config, name: &str) -> Option<String> {
    use secrecy::ExposeSecret;
    match name {
        "SAFECHECK_DATABASE_URL" => Some(match &config.database_url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgresql(url) => url.clone(),
        }),
        "SAFECHECK_LISTEN" => Some("127.0.0.1:0".into()),
        "SAFECHECK_DATA_DIR" => Some(config.data_dir.display().to_string()),
        "SAFECHECK_JWT_SECRET" => Some(TEST_JWT_SECRET.into()),
        "SAFECHECK_SMTP_URL" => config.smtp_url.as_ref().map(|u| u.expose_secret().to_owned()),
        "SAFECHECK_PUBLIC_URL" => Some(config.public_url.clone()),
        "SAFECHECK_HTTP_WORKERS" => Some("2".into()),
        "SAFECHECK_DB_POOL_SIZE" => Some("4".into()),
        "SAFECHECK_ARGON2_MEMORY_KIB" => Some("256".into()),
        "SAFECHECK_ARGON2_ITERATIONS" => Some("1".into()),
        "SAFECHECK_FANOUT_CHUNK" => Some(config.fanout_chunk.to_string()),
        "SAFECHECK_REGISTER_MAX_PER_IP" => Some(config.max_registrations_per_ip.to_string()),
        // Replicas are configured alike: the per-user limits are one allowance across them.
        "SAFECHECK_CHECK_IN_LIMIT" => Some(config.user_limits.check_ins.to_string()),
        "SAFECHECK_LOCATION_UPDATE_LIMIT" => Some(config.user_limits.location_updates.to_string()),
        "SAFECHECK_USER_LIMIT_WINDOW_SECS" => Some(config.user_limits.window.num_seconds().to_string()),
        "SAFECHECK_TRUSTED_PROXIES" => {
            Some(config.trusted_proxies.iter().map(|c| format!("{c}")).collect::<Vec<_>>().join(","))
        }
        _ => None,
    }
}

impl TestApp {
    /// Reports a location fix for the user; returns the response body.
    pub async fn put_location(&self, user: &TestUser, lat: f64, lon: f64) -> Value {
        let response = self
            .authed(reqwest::Method::PUT, "/v1/me/location", user)
            .json(&serde_json::json!({ "lat": lat, "lon": lon }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "put location");
        response.json().await.unwrap()
    }

    /// POSTs an incident as `operator`.
    pub async fn create_incident(&self, operator: &TestUser, body: &Value) -> reqwest::Response {
        self.authed(reqwest::Method::POST, "/v1/incidents", operator).json(body).send().await.unwrap()
    }

    /// Activates an incident and waits until its fan-out is complete; returns the incident.
    pub async fn activate(&self, operator: &TestUser, body: &Value) -> Value {
        let response = self.create_incident(operator, body).await;
        assert_eq!(response.status(), 201, "activate");
        let incident: Value = response.json().await.unwrap();
        self.wait_for_fanout(operator, incident["id"].as_str().unwrap()).await
    }

    /// Polls the incident until its fan-out is complete (10 s at most).
    pub async fn wait_for_fanout(&self, operator: &TestUser, id: &str) -> Value {
        self.wait_for_fanout_at(&self.address, operator, id).await
    }

    /// As [`TestApp::wait_for_fanout`], asking the server at `base` (a sibling).
    pub async fn wait_for_fanout_at(&self, base: &str, operator: &TestUser, id: &str) -> Value {
        self.wait_for_fanout_as(base, &operator.access_token, id, Duration::from_secs(10)).await
    }

    /// Polls the incident at `base` with this access token until its fan-out is complete, for
    /// `timeout` at most.
    pub async fn wait_for_fanout_as(&self, base: &str, token: &str, id: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            let incident: Value = self
                .client
                .get(format!("{base}/v1/incidents/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if incident["fanout"]["complete"] == true {
                return incident;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the fan-out of {id} did not complete within {timeout:?}");
    }

    /// The incident, as `user` sees it.
    pub async fn incident(&self, user: &TestUser, id: &str) -> Value {
        self.get_json(&format!("/v1/incidents/{id}"), user).await
    }

    /// The JSON body of `GET path` as `user`.
    pub async fn get_json(&self, path: &str, user: &TestUser) -> Value {
        self.authed(reqwest::Method::GET, path, user).send().await.unwrap().json().await.unwrap()
    }

    /// The incident's stats, as `operator` sees them.
    pub async fn stats(&self, operator: &TestUser, incident_id: &str) -> Value {
        self.get_json(&format!("/v1/incidents/{incident_id}/stats"), operator).await
    }

    /// The user's current answer to the incident and its history.
    pub async fn my_check_ins(&self, user: &TestUser, incident_id: &str) -> Value {
        self.get_json(&format!("/v1/incidents/{incident_id}/check-ins/me"), user).await
    }

    /// A new user whose last fix is at `(lat, lon)`.
    pub async fn user_at(&self, lat: f64, lon: f64) -> TestUser {
        let user = self.new_user().await;
        self.put_location(&user, lat, lon).await;
        user
    }

    /// The actions in the audit log, newest first.
    pub async fn audit_actions(&self, operator: &TestUser) -> Vec<String> {
        let body = self.get_json("/v1/audit", operator).await;
        body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
    }

    /// Queues `n` check-in emails straight into the outbox, each to its own address
    /// (`contact{i}@example.org`), as a load for delivery tests.
    pub async fn queue_notifications(&self, n: usize) {
        self.queue_emails(safecheck::domain::NotificationKind::CheckIn, n).await;
    }

    /// Queues `n` emails of `kind` straight into the outbox, each to its own address
    /// (`contact{i}@example.org` for check-ins, `person{i}@example.org` for the others).
    pub async fn queue_emails(&self, kind: safecheck::domain::NotificationKind, n: usize) {
        use safecheck::db::notifications::{self, NewNotification};
        use safecheck::domain::NotificationKind;
        let url = self.database_url().clone();
        let (to, payload) = match kind {
            NotificationKind::CheckIn => (
                "contact",
                serde_json::json!({
                    "user_name": "Ada", "status": "safe", "message": null,
                    "incident_title": "Load", "answered_at": "2026-11-28T10:00:00Z"
                }),
            ),
            NotificationKind::Invitation => ("contact", serde_json::json!({ "user_name": "Ada" })),
            NotificationKind::Prompt | NotificationKind::Reminder => (
                "person",
                serde_json::json!({
                    "user_name": "Ada", "incident_title": "Load", "incident_description": null,
                    "activated_at": "2026-11-28T10:00:00Z"
                }),
            ),
            NotificationKind::OfficialUpdate | NotificationKind::AllClear | NotificationKind::Retraction => (
                "person",
                serde_json::json!({
                    "kind": "update", "incident_title": "Load", "organisation": "safecheck",
                    "text": "Stay indoors.", "posted_at": "2026-11-28T10:00:00Z"
                }),
            ),
        };
        tokio::task::spawn_blocking(move || {
            let mut conn = safecheck::db::pool_connect(&url).unwrap();
            let now = SystemClock.now();
            let news = (0..n)
                .map(|i| NewNotification {
                    kind,
                    recipient_email: format!("{to}{i}@example.org"),
                    recipient_name: None,
                    locale: safecheck::domain::Locale::En,
                    incident_id: None,
                    user_id: None,
                    payload: payload.to_string(),
                    dedupe_key: format!("load:{}:{i}", kind.as_str()),
                })
                .collect();
            // No transaction around it: on SQLite, one that reads before it writes fails with
            // "database is locked" when the server's delivery commits in between.
            notifications::enqueue_all(&mut conn, news, 20, now).unwrap();
        })
        .await
        .unwrap();
    }

    /// Adds a contact over HTTP; returns the response.
    pub async fn add_contact(
        &self,
        user: &TestUser,
        name: &str,
        email: &str,
        locale: &str,
    ) -> reqwest::Response {
        self.authed(reqwest::Method::POST, "/v1/me/contacts", user)
            .json(&serde_json::json!({ "name": name, "email": email, "locale": locale }))
            .send()
            .await
            .unwrap()
    }

    /// The path of the accept link of `user_id`'s invitation of `email`, signed with the key the
    /// app keeps in its database (as the invitation email's link is).
    pub async fn accept_path(&self, user_id: &str, email: &str) -> String {
        let (url, user_id, email) = (self.database_url().clone(), user_id.to_owned(), email.to_owned());
        let token = tokio::task::spawn_blocking(move || {
            let mut conn = safecheck::db::pool_connect(&url).unwrap();
            let links = safecheck::notify::links::LinkKeys::load(&mut conn, &[], SystemClock.now()).unwrap();
            links.accept_token(&user_id, &safecheck::domain::email::canonical(&email))
        })
        .await
        .unwrap();
        format!("/v1/invitations/{token}")
    }

    /// Lets every invitation of the user's contacts go out, has each invited contact accept it,
    /// and forgets the mail received so far: a test about what contacts read starts here.
    pub async fn accept_all_invitations(&self, user: &TestUser) {
        self.wait_for_outbox_settled(Duration::from_secs(10)).await;
        let contacts = self.get_json("/v1/me/contacts", user).await;
        for contact in contacts["items"].as_array().unwrap() {
            if contact["state"] == "invited" {
                let path = self.accept_path(&user.id, contact["email"].as_str().unwrap()).await;
                assert_eq!(self.client.post(self.url(&path)).send().await.unwrap().status(), 200);
            }
        }
        self.smtp.clear();
    }

    /// The user's open prompts.
    pub async fn prompts(&self, user: &TestUser) -> Vec<Value> {
        self.get_json("/v1/me/prompts", user).await["items"].as_array().unwrap().clone()
    }
}

/// A Paris circle of 1.5 km around Place de la République-ish.
pub fn paris_circle(title: &str) -> Value {
    serde_json::json!({
        "title": title,
        "area": { "type": "Circle", "center": { "lat": 48.8630, "lon": 2.3708 }, "radius_m": 1500 }
    })
}
