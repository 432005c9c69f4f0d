//! `safecheck admin`: the built binary against a running server, as an operator's script uses it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, paris_circle, spawn_app};

/// The admin CLI of one person: their own config directory, pointed at one server.
struct Admin {
    home: tempfile::TempDir,
    url: String,
}

impl Admin {
    fn new(url: &str) -> Self {
        Self { home: tempfile::tempdir().unwrap(), url: url.to_owned() }
    }

    fn session_file(&self) -> PathBuf {
        self.home.path().join("config").join("safecheck").join("session.json")
    }

    /// Runs `safecheck admin ARGS` with `stdin`, on a blocking thread so the in-process server
    /// keeps answering meanwhile.
    async fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_safecheck"));
        command
            .arg("admin")
            .args(args)
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("HOME", self.home.path())
            .env("SAFECHECK_ADMIN_URL", &self.url)
            .env_remove("SAFECHECK_ADMIN_TOKEN")
            // Proves `admin` needs no server configuration: a bad one would stop anything else.
            .env("SAFECHECK_DATABASE_URL", "mysql://nowhere")
            .current_dir(self.home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let stdin = stdin.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().unwrap();
            child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    /// Runs and expects success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, "").await;
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with `--json` and parses stdout.
    async fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(&[args, &["--json"]].concat()).await;
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }

    /// Runs, expecting `code`; returns stderr.
    async fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args, "").await;
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout on failure");
        stderr
    }

    async fn login(&self, user: &TestUser) {
        let out = self.run(&["login", "--email", &user.email, "--password-stdin"], &user.password).await;
        assert!(out.status.success(), "login: {}", String::from_utf8_lossy(&out.stderr));
    }
}

async fn operator_logged_in(app: &TestApp) -> (Admin, TestUser) {
    let admin = Admin::new(&app.address);
    let operator = app.new_user_with_role("operator").await;
    admin.login(&operator).await;
    (admin, operator)
}

const PARIS: &str = "48.8630,2.3708,1500";

#[tokio::test]
async fn login_keeps_a_private_session_and_logout_forgets_it() {
    let app = spawn_app().await;
    let (admin, operator) = operator_logged_in(&app).await;
    let session: Value = serde_json::from_slice(&std::fs::read(admin.session_file()).unwrap()).unwrap();
    assert_eq!(session["url"].as_str().unwrap().trim_end_matches('/'), app.address);
    assert_eq!(session["email"], operator.email);
    assert!(session["refresh_token"].is_string() && session["expires_at"].is_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(admin.session_file()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // No server configuration was read, and no ./data made in the working directory.
    assert!(!admin.home.path().join("data").exists());

    admin.ok(&["logout"]).await;
    assert!(!admin.session_file().exists());
    // The refresh token was revoked on the server, not only forgotten here.
    let refresh = app
        .post_json("/v1/auth/refresh", &serde_json::json!({ "refresh_token": session["refresh_token"] }))
        .await;
    assert_eq!(refresh.status(), 401);
    admin.fails(&["incidents", "list"], 3).await;
}

#[tokio::test]
async fn an_operator_activates_follows_and_resolves_an_incident() {
    let app = spawn_app().await;
    let (admin, operator) = operator_logged_in(&app).await;
    let inside = app.new_user().await;
    app.put_location(&inside, 48.8630, 2.3708).await;
    let outside = app.new_user().await;
    app.put_location(&outside, 45.7640, 4.8357).await;

    let dry_run =
        admin.json(&["incidents", "create", "--title", "Fire", "--circle", PARIS, "--dry-run"]).await;
    assert_eq!(dry_run["dry_run"], true);
    assert_eq!(dry_run["would_prompt"], 1);

    let created = admin
        .json(&[
            "incidents",
            "create",
            "--title",
            "Fire",
            "--description",
            "Rue X",
            "--circle",
            PARIS,
            "--expires",
            "6h",
        ])
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "active");
    let expires: chrono::DateTime<chrono::Utc> = created["expires_at"].as_str().unwrap().parse().unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((5.9..=6.0).contains(&hours), "expires in {hours} h");
    app.wait_for_fanout(&operator, &id).await;

    let listed = admin.json(&["incidents", "list", "--status", "active", "--all"]).await;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    let table = admin.ok(&["incidents", "list"]).await;
    assert!(table.starts_with("ID ") && table.contains(&id) && table.contains("Fire"), "{table}");
    let shown = admin.ok(&["show", &id]).await;
    assert!(
        shown.contains("title:") && shown.contains("Fire") && shown.contains("circle of 1500 m"),
        "{shown}"
    );
    assert_eq!(admin.json(&["incidents", "show", &id]).await["title"], "Fire");

    let stats = admin.json(&["incidents", "stats", &id]).await;
    assert_eq!((stats["prompted"].as_i64(), stats["no_response"].as_i64()), (Some(1), Some(1)));
    assert!(admin.ok(&["stats", &id]).await.contains("no response:"));

    let resolved = admin.json(&["incidents", "resolve", &id, "--note", "all clear"]).await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolution_note"], "all clear");
    let stderr = admin.fails(&["resolve", &id], 6).await;
    assert!(stderr.contains("already resolved"), "{stderr}");
}

/// The people, triage and reminder routes (operator tooling, issue #6).
#[tokio::test]
async fn an_operator_sees_who_needs_help_marks_it_handled_and_reminds_the_rest() {
    let app = spawn_app().await;
    let (admin, operator) = operator_logged_in(&app).await;
    let silent = app.new_user().await;
    app.put_location(&silent, 48.8630, 2.3708).await;
    let trapped = app.new_user().await;
    app.put_location(&trapped, 48.8631, 2.3709).await;
    let id = app.activate(&operator, &paris_circle("Storm")).await["id"].as_str().unwrap().to_owned();
    let response = app
        .authed(Method::POST, &format!("/v1/incidents/{id}/check-ins"), &trapped)
        .json(&json!({ "status": "need_help", "message": "trapped, 3rd floor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "check-in");
    // People are listed as of two seconds ago (a stable snapshot across pages).
    app.clock.advance(chrono::Duration::seconds(3));

    let csv = admin.ok(&["incidents", "people", &id, "--csv"]).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "user_id,display_name,email,status,answered_at,message,handled_at,handled_by,prompt_source"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with(&format!("{},", trapped.id)), "need help comes first: {csv}");
    assert!(lines[1].contains(",need_help,") && lines[1].contains("\"trapped, 3rd floor\""), "{csv}");
    assert!(lines[2].starts_with(&format!("{},", silent.id)) && lines[2].contains(",no_response,"), "{csv}");

    let table = admin.ok(&["people", &id, "--status", "need_help"]).await;
    assert!(table.starts_with("USER ID ") && table.contains("trapped, 3rd floor"), "{table}");
    assert!(table.contains(&trapped.email) && !table.contains(&silent.email), "{table}");
    let everyone = admin.json(&["incidents", "people", &id]).await;
    assert_eq!(everyone["items"].as_array().unwrap().len(), 2);

    let handled = admin.json(&["incidents", "handled", &id, &trapped.id]).await;
    assert!(handled["handled_at"].is_string(), "{handled}");
    assert_eq!(admin.json(&["stats", &id]).await["need_help_handled"], 1);
    admin.fails(&["handled", &id, &silent.id], 6).await;

    let reminded = admin.json(&["incidents", "remind", &id]).await;
    assert_eq!(reminded["incident_id"], id.as_str());
    assert_eq!(reminded["not_answered"], 1);
    assert!(admin.ok(&["remind", &id]).await.contains("not answered:"));
}

#[tokio::test]
async fn exit_codes_tell_scripts_what_went_wrong() {
    let app = spawn_app().await;
    let (admin, _) = operator_logged_in(&app).await;

    let stranger = Admin::new(&app.address);
    let stderr = stranger.fails(&["incidents", "list"], 3).await;
    assert!(stderr.contains("safecheck admin login"), "{stderr}");
    let user = app.new_user().await;
    let wrong = TestUser { password: "not the password".into(), ..app.new_user().await };
    let out = stranger.run(&["login", "--email", &wrong.email, "--password-stdin"], &wrong.password).await;
    assert_eq!(out.status.code(), Some(3));
    stranger.login(&user).await;
    let stderr = stranger.fails(&["incidents", "create", "--title", "T", "--circle", PARIS], 4).await;
    assert!(stderr.contains("Forbidden (HTTP 403)"), "{stderr}");

    let stderr = admin.fails(&["show", "no-such-incident"], 5).await;
    assert!(stderr.contains("HTTP 404"), "{stderr}");
    let long = "x".repeat(2001);
    let stderr = admin
        .fails(&["incidents", "create", "--title", " ", "--description", &long, "--circle", PARIS], 6)
        .await;
    assert!(stderr.contains("Validation failed (HTTP 422)"), "{stderr}");
    assert!(stderr.contains("\n  title: ") && stderr.contains("\n  description: "), "{stderr}");
    admin.fails(&["incidents", "create", "--title", "T", "--circle", "48.8,2.3"], 2).await;
    admin.fails(&["incidents", "list", "--status", "gone"], 2).await;

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let offline = Admin::new(&nowhere);
    let out = offline.run(&["incidents", "list", "--token", "some-token"], "").await;
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

#[tokio::test]
async fn a_refused_or_expired_access_token_is_refreshed_once() {
    let app = spawn_app().await;
    let (admin, _) = operator_logged_in(&app).await;
    let read = || serde_json::from_slice::<Value>(&std::fs::read(admin.session_file()).unwrap()).unwrap();
    let write = |session: &Value| std::fs::write(admin.session_file(), session.to_string()).unwrap();

    // The server refuses the access token (401): one refresh, then the request succeeds.
    let mut session = read();
    let first_refresh = session["refresh_token"].clone();
    session["access_token"] = "garbage".into();
    write(&session);
    admin.ok(&["incidents", "list"]).await;
    let session = read();
    assert_ne!(session["refresh_token"], first_refresh, "the new pair is stored");

    // The access token has expired by the clock: refreshed before the request.
    let mut expired = session.clone();
    expired["expires_at"] = "2020-01-01T00:00:00Z".into();
    write(&expired);
    admin.ok(&["incidents", "list"]).await;
    assert_ne!(read()["refresh_token"], session["refresh_token"]);

    // A refresh token the server no longer accepts: log in again (exit 3).
    let mut revoked = read();
    revoked["access_token"] = "garbage".into();
    revoked["refresh_token"] = "revoked".into();
    write(&revoked);
    let stderr = admin.fails(&["incidents", "list"], 3).await;
    assert!(stderr.contains("log in again"), "{stderr}");
}

/// Commands started together with an expired access token: one refreshes, the others wait for it
/// and use the pair it stored. Refreshing each with the same (rotated) refresh token would look
/// like a stolen token to the server, which then revokes the whole login.
#[tokio::test]
async fn commands_run_at_once_refresh_the_session_only_once() {
    let app = spawn_app().await;
    let (admin, _) = operator_logged_in(&app).await;
    let read = || serde_json::from_slice::<Value>(&std::fs::read(admin.session_file()).unwrap()).unwrap();
    let mut expired = read();
    let first_refresh = expired["refresh_token"].clone();
    expired["expires_at"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(admin.session_file(), expired.to_string()).unwrap();

    let runs = (0..4).map(|_| admin.run(&["incidents", "list", "--json"], ""));
    for out in futures_util::future::join_all(runs).await {
        assert!(out.status.success(), "a parallel command failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let session = read();
    assert_ne!(session["refresh_token"], first_refresh, "the new pair is stored");
    assert_ne!(session["expires_at"], "2020-01-01T00:00:00Z");
    // The login is still alive: a later command neither refreshes nor fails.
    admin.ok(&["incidents", "list"]).await;
    assert_eq!(read()["refresh_token"], session["refresh_token"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let lock = admin.session_file().with_file_name("session.json.lock");
        assert_eq!(std::fs::metadata(lock).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_token_from_the_environment_needs_no_login() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let admin = Admin::new(&app.address);
    let out = admin.run(&["incidents", "list", "--json", "--token", &operator.access_token], "").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    assert!(!admin.session_file().exists());
    let out = admin.run(&["incidents", "list", "--token", "not-a-token"], "").await;
    assert_eq!(out.status.code(), Some(3));
}

/// Official updates and a retraction from the command line (issue 19).
#[tokio::test]
async fn an_operator_posts_updates_lists_them_and_retracts_an_incident_sent_in_error() {
    let app = spawn_app().await;
    let (admin, operator) = operator_logged_in(&app).await;
    let inside = app.new_user().await;
    app.put_location(&inside, 48.8630, 2.3708).await;
    let created = admin.json(&["incidents", "create", "--title", "Fire", "--circle", PARIS]).await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_for_fanout(&operator, &id).await;

    let first = admin.ok(&["update", &id, "Stay indoors."]).await;
    assert!(first.contains("emailed to everyone prompted"), "{first}");
    let second = admin.ok(&["incidents", "update", &id, "Roads closed."]).await;
    assert!(second.contains("not emailed") && second.contains("--urgent"), "{second}");
    let urgent = admin.json(&["update", &id, "Evacuate now.", "--urgent"]).await;
    assert_eq!(urgent["emailed"], true);
    let listed = admin.ok(&["updates", &id]).await;
    assert!(
        listed.starts_with("POSTED ") && listed.contains("Roads closed.") && listed.contains("Evacuate"),
        "{listed}"
    );
    assert_eq!(admin.json(&["updates", &id]).await["items"].as_array().unwrap().len(), 3);
    let stderr = admin.fails(&["update", &id, ""], 6).await;
    assert!(stderr.contains("text"), "{stderr}");

    let retracted = admin.json(&["retract", &id, "--reason", "Wrong city."]).await;
    assert_eq!(
        (retracted["status"].as_str(), retracted["resolution_note"].as_str()),
        (Some("retracted"), Some("Wrong city."))
    );
    let stderr = admin.fails(&["retract", &id, "--reason", "again"], 6).await;
    assert!(stderr.contains("ended"), "{stderr}");
    let kinds: Vec<Value> = admin.json(&["updates", &id]).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].clone())
        .collect();
    assert_eq!(kinds[0], "retraction");
}

/// `resolve --notify` sends the all clear.
#[tokio::test]
async fn resolve_with_notify_emails_the_all_clear() {
    let app = spawn_app().await;
    let (admin, operator) = operator_logged_in(&app).await;
    let inside = app.new_user().await;
    app.put_location(&inside, 48.8630, 2.3708).await;
    let created = admin.json(&["incidents", "create", "--title", "Flood", "--circle", PARIS]).await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_for_fanout(&operator, &id).await;
    app.smtp.wait_for(1, std::time::Duration::from_secs(20)).await;

    admin.ok(&["resolve", &id, "--notify", "--note", "Water is down."]).await;
    let mail = app.smtp.wait_for(2, std::time::Duration::from_secs(20)).await;

    let subjects: Vec<String> = mail.iter().filter_map(|m| m.header_text("subject")).collect();
    assert_eq!(subjects, ["Are you safe? Flood", "All clear: Flood"]);
}

/// A second operator approves a large activation; a drill is made and listed apart.
#[tokio::test]
async fn a_second_operator_approves_from_the_command_line_and_drills_are_listed_apart() {
    let options = crate::helpers::Options {
        env: vec![("SAFECHECK_APPROVAL_THRESHOLD", "1".into())],
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_with(options).await;
    let (alice, _) = operator_logged_in(&app).await;
    let (bruno, _) = operator_logged_in(&app).await;
    app.user_at(48.8630, 2.3708).await;
    app.user_at(48.8631, 2.3709).await;

    let dry = alice.ok(&["incidents", "create", "--title", "Fire", "--circle", PARIS, "--dry-run"]).await;
    assert!(dry.contains("approval"), "{dry}");
    let pending = alice.ok(&["incidents", "create", "--title", "Fire", "--circle", PARIS]).await;
    assert!(pending.contains("waiting for another operator"), "{pending}");
    let id = alice.json(&["incidents", "list", "--status", "pending_approval"]).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stderr = alice.fails(&["approve", &id], 4).await;
    assert!(stderr.contains("another operator"), "{stderr}");
    let approved = bruno.json(&["approve", &id]).await;
    assert_eq!(approved["status"], "active");

    let drill = bruno
        .json(&["incidents", "create", "--title", "Drill", "--circle", "45.7640,4.8357,100", "--exercise"])
        .await;
    assert_eq!((drill["exercise"].as_bool(), drill["notify_contacts"].as_bool()), (Some(true), Some(false)));
    let drills = bruno.json(&["incidents", "list", "--exercise"]).await;
    assert_eq!(drills["items"].as_array().unwrap().len(), 1);
    let stderr = bruno.fails(&["reject", &id, "--reason", "too late"], 6).await;
    assert!(stderr.contains("does not wait for approval"), "{stderr}");
}
