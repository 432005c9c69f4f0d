//! Retention: housekeeping deletes idempotency keys after a day, stale locations, and an
//! incident's per-person rows N days after it ended, keeping its counts and the audit log. Every
//! purge is shown with the app's clock moved forward, running the housekeeping job itself.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::Method;
use safecheck::db::DatabaseUrl;
use safecheck::jobs::housekeeping::Housekeeping;
use safecheck::jobs::{Job, Progress};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, TestUser, paris_circle, spawn_app_with};

/// An app whose housekeeping deletes in batches of `batch` rows.
async fn app_with_batch(batch: usize) -> TestApp {
    spawn_app_with(Options {
        env: vec![("SAFECHECK_RETENTION_BATCH", batch.to_string())],
        ..Options::default()
    })
    .await
}

/// Runs the app's housekeeping job (as configured, on the app's clock) until it finds nothing
/// more to do; returns how many runs that took.
async fn housekeeping(app: &TestApp) -> usize {
    let job = Housekeeping::new(&app.config, app.clock.clone());
    let pool = safecheck::db::build_pool(app.database_url(), 2, Duration::from_secs(5));
    tokio::task::spawn_blocking(move || {
        for run in 1..=10_000 {
            if job.run_once(&pool).unwrap() == Progress::Idle {
                return run;
            }
        }
        panic!("housekeeping never ran out of work");
    })
    .await
    .unwrap()
}

/// The incident's rows in each per-person table, read from the database.
fn per_person_rows(url: &DatabaseUrl, incident: &str) -> [i64; 4] {
    use safecheck::db::schema::{check_ins, notifications, prompts, responses};
    let mut conn = safecheck::db::pool_connect(url).unwrap();
    [
        prompts::table.filter(prompts::incident_id.eq(incident)).count().get_result(&mut conn).unwrap(),
        check_ins::table.filter(check_ins::incident_id.eq(incident)).count().get_result(&mut conn).unwrap(),
        responses::table.filter(responses::incident_id.eq(incident)).count().get_result(&mut conn).unwrap(),
        notifications::table
            .filter(notifications::incident_id.eq(incident))
            .count()
            .get_result(&mut conn)
            .unwrap(),
    ]
}

fn idempotency_keys(url: &DatabaseUrl) -> i64 {
    use safecheck::db::schema::idempotency_keys;
    let mut conn = safecheck::db::pool_connect(url).unwrap();
    idempotency_keys::table.count().get_result(&mut conn).unwrap()
}

async fn check_in(
    app: &TestApp,
    user: &TestUser,
    incident: &str,
    status: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), user)
        .json(&json!({ "status": status, "message": format!("{status}: details only the operators need") }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn idempotency_keys_replay_for_a_day_then_are_deleted() {
    let app = app_with_batch(1000).await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Storm")).await;
    let incident = incident["id"].as_str().unwrap();
    assert_eq!(check_in(&app, &user, incident, "safe", Some("k-1")).await.status(), 201);

    app.clock.advance(chrono::Duration::hours(23));
    housekeeping(&app).await;
    let replay = check_in(&app, &user, incident, "safe", Some("k-1")).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true", "kept for a day");
    assert_eq!(idempotency_keys(app.database_url()), 1);

    app.clock.advance(chrono::Duration::hours(2));
    housekeeping(&app).await;
    assert_eq!(idempotency_keys(app.database_url()), 0, "deleted after a day");
}

#[tokio::test]
async fn stale_locations_are_deleted_and_fresh_ones_kept() {
    let app = app_with_batch(1).await;
    let mut old = app.user_at(48.8630, 2.3708).await;
    let mut older = app.user_at(48.8631, 2.3709).await;
    app.clock.advance(chrono::Duration::hours(23));
    let mut fresh = app.user_at(48.8632, 2.3710).await;

    housekeeping(&app).await;
    for user in [&old, &older, &fresh] {
        assert!(location_of(&app, user).await.is_object(), "within the staleness window");
    }
    app.clock.advance(chrono::Duration::hours(2));
    let runs = housekeeping(&app).await;
    assert!(runs >= 3, "one location a batch: {runs} runs");
    for user in [&mut old, &mut older, &mut fresh] {
        log_in_again(&app, user).await;
    }
    assert_eq!(location_of(&app, &old).await, Value::Null);
    assert_eq!(location_of(&app, &older).await, Value::Null);
    assert!(location_of(&app, &fresh).await.is_object());
}

/// The user's stored location as `GET /v1/me` shows it (null: none).
async fn location_of(app: &TestApp, user: &TestUser) -> Value {
    let response = app.authed(Method::GET, "/v1/me", user).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["location"].clone()
}

#[tokio::test]
async fn a_fan_out_still_walking_keeps_the_locations_it_may_read() {
    // No fan-out job: the incident's fan-out stays unfinished.
    let jobs = ("SAFECHECK_JOBS", "housekeeping,expiry,delivery".to_owned());
    let app = spawn_app_with(Options { env: vec![jobs], ..Options::default() }).await;
    let mut operator = app.new_user_with_role("operator").await;
    let mut user = app.user_at(48.8630, 2.3708).await;
    app.clock.advance(chrono::Duration::hours(23));
    // Activated while the fix is 23 h old: within the 24 h window, so its fan-out may read it.
    let created = app.create_incident(&operator, &paris_circle("Flood")).await;
    assert_eq!(created.status(), 201);
    let incident = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::hours(2));
    log_in_again(&app, &mut operator).await;
    log_in_again(&app, &mut user).await;

    housekeeping(&app).await;
    assert!(location_of(&app, &user).await.is_object(), "the walking fan-out may read it");

    let resolve = format!("/v1/incidents/{incident}/resolve");
    assert_eq!(app.authed(Method::POST, &resolve, &operator).send().await.unwrap().status(), 200);
    housekeeping(&app).await;
    assert_eq!(location_of(&app, &user).await, Value::Null, "no reader is left");
}

/// An operator, an incident over `n` people of whom the first answers safe (their contact is
/// emailed), the second needs help (handled), and someone outside the area who answers
/// unprompted; then resolved. Returns the operator and the incident's id.
async fn ended_incident(app: &TestApp, n: usize) -> (TestUser, String) {
    let operator = app.new_user_with_role("operator").await;
    let mut users = Vec::new();
    for _ in 0..n {
        users.push(app.user_at(48.8630, 2.3708).await);
    }
    let contact =
        json!({ "name": "Mum", "email": format!("mum-{}@example.org", uuid::Uuid::new_v4().simple()) });
    let added = app.authed(Method::POST, "/v1/me/contacts", &users[0]).json(&contact).send().await.unwrap();
    assert_eq!(added.status(), 201);
    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(check_in(app, &users[0], &id, "safe", None).await.status(), 201);
    assert_eq!(check_in(app, &users[1], &id, "need_help", None).await.status(), 201);
    let handled = format!("/v1/incidents/{id}/people/{}/handled", users[1].id);
    assert_eq!(app.authed(Method::POST, &handled, &operator).send().await.unwrap().status(), 200);
    let away = app.user_at(43.2965, 5.3698).await;
    assert_eq!(check_in(app, &away, &id, "not_in_area", None).await.status(), 201);
    let resolved =
        app.authed(Method::POST, &format!("/v1/incidents/{id}/resolve"), &operator).send().await.unwrap();
    assert_eq!(resolved.status(), 200);
    app.wait_for_outbox_settled(Duration::from_secs(30)).await;
    (operator, id)
}

/// Logs the user in again: access tokens last a day, and these tests move weeks ahead.
async fn log_in_again(app: &TestApp, user: &mut TestUser) {
    let tokens: Value = app.login(&user.email, &user.password).await.json().await.unwrap();
    user.access_token = tokens["access_token"].as_str().unwrap().to_owned();
}

fn without_purged_at(stats: &Value) -> Value {
    let mut stats = stats.clone();
    stats.as_object_mut().unwrap().remove("purged_at");
    stats
}

#[tokio::test]
async fn an_ended_incident_loses_its_per_person_rows_after_30_days_and_keeps_its_counts() {
    let app = app_with_batch(2).await;
    let (mut operator, incident) = ended_incident(&app, 4).await;
    let before = app.stats(&operator, &incident).await;
    let figures = ["prompted", "safe", "need_help", "need_help_handled", "not_in_area", "no_response"];
    let figures: Vec<i64> = figures.iter().map(|f| before[f].as_i64().unwrap()).collect();
    assert_eq!(figures, [5, 1, 1, 1, 1, 2]);
    assert!(before["notifications"]["sent"].as_i64().unwrap() >= 5, "{before}");
    assert_eq!(before["purged_at"], Value::Null);
    let rows_before = per_person_rows(app.database_url(), &incident);
    assert!(rows_before.iter().all(|n| *n > 0), "{rows_before:?}");

    app.clock.advance(chrono::Duration::days(29));
    log_in_again(&app, &mut operator).await;
    let (_, recent) = ended_incident(&app, 2).await;
    let recent_rows = per_person_rows(app.database_url(), &recent);
    housekeeping(&app).await;
    assert_eq!(per_person_rows(app.database_url(), &incident), rows_before, "kept for 30 days");
    assert_eq!(app.stats(&operator, &incident).await, before);

    app.clock.advance(chrono::Duration::days(2));
    log_in_again(&app, &mut operator).await;
    let runs = housekeeping(&app).await;

    // 5 prompts in batches of 2 take 3 runs; a 4th finds none left and marks the incident done.
    assert!(runs >= 4, "batches of 2 rows a table: {runs} runs");
    assert_eq!(per_person_rows(app.database_url(), &incident), [0, 0, 0, 0]);
    assert_eq!(per_person_rows(app.database_url(), &recent), recent_rows, "ended 2 days ago: kept");
    let after = app.stats(&operator, &incident).await;
    assert!(after["purged_at"].is_string(), "{after}");
    assert_eq!(without_purged_at(&after), without_purged_at(&before), "the counts are kept");
    let people = app.get_json(&format!("/v1/incidents/{incident}/people"), &operator).await;
    assert_eq!(people["items"], json!([]));
    let shown = app.incident(&operator, &incident).await;
    assert_eq!((shown["title"].as_str(), shown["status"].as_str()), (Some("Flood"), Some("resolved")));
    let actions = app.audit_actions(&operator).await;
    for kept in ["incident.activate", "incident.resolve", "need_help.handled"] {
        assert!(actions.contains(&kept.to_owned()), "the audit log keeps {kept}: {actions:?}");
    }
}

#[tokio::test]
async fn two_housekeepers_at_once_purge_every_row_once_and_keep_one_summary() {
    let app = app_with_batch(3).await;
    let (mut operator, incident) = ended_incident(&app, 12).await;
    let before = app.stats(&operator, &incident).await;
    app.clock.advance(chrono::Duration::days(31));
    log_in_again(&app, &mut operator).await;

    let (first, second) = tokio::join!(housekeeping(&app), housekeeping(&app));

    assert!(first + second > 2, "{first} and {second} runs");
    assert_eq!(per_person_rows(app.database_url(), &incident), [0, 0, 0, 0]);
    let after = app.stats(&operator, &incident).await;
    assert!(after["purged_at"].is_string(), "{after}");
    assert_eq!(without_purged_at(&after), without_purged_at(&before));
    // Nothing is left to do, and running again changes nothing.
    assert_eq!(housekeeping(&app).await, 1);
    assert_eq!(without_purged_at(&app.stats(&operator, &incident).await), without_purged_at(&before));
}

/// Fills the database with an ended incident of `n` people, each prompted, answered once and
/// with a current answer, straight in SQL (the API would take minutes).
fn large_ended_incident(url: &DatabaseUrl, n: i64, ended: chrono::NaiveDateTime) -> String {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let mut conn = safecheck::db::pool_connect(url).unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)";
    let statements = [
        "INSERT INTO incidents (id, title, area, status, created_at, resolved_at, resolution, location_cutoff, \
         fanout_done, fanout_prompts) VALUES ($1, 'Large', '{}', 'resolved', $3, $3, 'resolved', $3, TRUE, $2)"
            .to_owned(),
        format!(
            "{numbers} INSERT INTO users (id, email, password_hash, display_name, locale, role, created_at, updated_at) \
             SELECT $1 || '-u' || i, $1 || '-' || i || '@example.org', 'x', 'Someone', 'en', 'user', $3, $3 FROM n"
        ),
        format!(
            "{numbers} INSERT INTO prompts (incident_id, user_id, source, created_at, closed_at, closed_reason) \
             SELECT $1, $1 || '-u' || i, 'activation', $3, $3, 'answered' FROM n"
        ),
        format!(
            "{numbers} INSERT INTO check_ins (id, incident_id, user_id, status, message, created_at) \
             SELECT $1 || '-c' || i, $1, $1 || '-u' || i, 'safe', 'at home with the kids', $3 FROM n"
        ),
        format!(
            "{numbers} INSERT INTO responses (incident_id, user_id, status, message, check_in_id, answered_at) \
             SELECT $1, $1 || '-u' || i, 'safe', 'at home with the kids', $1 || '-c' || i, $3 FROM n"
        ),
    ];
    for sql in statements {
        // Every statement uses the same three values: the incident, n, and when it ended.
        diesel::sql_query(safecheck::db::native_placeholders(&conn, &sql))
            .bind::<Text, _>(&id)
            .bind::<BigInt, _>(n)
            .bind::<Timestamp, _>(ended)
            .execute(&mut conn)
            .unwrap();
    }
    id
}

/// A measurement, not a check: how long purging a 50,000-person incident takes in batches of
/// 1,000, and the longest single run (one batch from each table, each its own statement).
/// `cargo test --test api -- --ignored --nocapture purge_timing` (and with TEST_DATABASE_URL).
#[tokio::test]
#[ignore = "a measurement: run it on purpose"]
async fn purge_timing() {
    let app = app_with_batch(1000).await;
    let n = 50_000;
    let url = app.database_url().clone();
    let ended = {
        use safecheck::clock::Clock;
        app.clock.now()
    };
    let incident = tokio::task::spawn_blocking(move || large_ended_incident(&url, n, ended)).await.unwrap();
    assert_eq!(per_person_rows(app.database_url(), &incident)[..3], [n, n, n]);
    app.clock.advance(chrono::Duration::days(31));

    let job = Housekeeping::new(&app.config, app.clock.clone());
    let pool = safecheck::db::build_pool(app.database_url(), 2, Duration::from_secs(5));
    let (runs, total, longest) = tokio::task::spawn_blocking(move || {
        let (mut runs, mut longest) = (0, Duration::ZERO);
        let start = std::time::Instant::now();
        loop {
            let run = std::time::Instant::now();
            let progress = job.run_once(&pool).unwrap();
            longest = longest.max(run.elapsed());
            runs += 1;
            if progress == Progress::Idle {
                return (runs, start.elapsed(), longest);
            }
        }
    })
    .await
    .unwrap();

    assert_eq!(per_person_rows(app.database_url(), &incident), [0, 0, 0, 0]);
    let rows = 3 * n;
    println!(
        "purged {rows} rows of a {n}-person incident in {runs} runs, {total:?} ({:.0} rows/s); longest run {longest:?}",
        rows as f64 / total.as_secs_f64()
    );
}

/// Rows of the tables that limit and record invitations: (outbox rows of no incident, records of
/// invited addresses, invitations, hourly cap counters).
fn invitation_rows(url: &DatabaseUrl) -> [i64; 4] {
    use safecheck::db::schema::{invitations, invited_addresses, notifications, recipient_hours};
    let mut conn = safecheck::db::pool_connect(url).unwrap();
    [
        notifications::table
            .filter(notifications::incident_id.is_null())
            .count()
            .get_result(&mut conn)
            .unwrap(),
        invited_addresses::table.count().get_result(&mut conn).unwrap(),
        invitations::table.count().get_result(&mut conn).unwrap(),
        recipient_hours::table.count().get_result(&mut conn).unwrap(),
    ]
}

#[tokio::test]
async fn sent_invitations_and_the_counters_that_limit_emails_go_once_no_longer_of_use() {
    let app = spawn_app_with(Options::default()).await;
    let user = app.new_user().await;
    for email in ["stranger@example.org", "neighbour@example.org"] {
        assert_eq!(app.add_contact(&user, "Someone", email, "en").await.status(), 201);
    }
    app.smtp.wait_for(2, Duration::from_secs(10)).await;
    app.wait_for_outbox_settled(Duration::from_secs(10)).await;
    let url = app.database_url().clone();
    let [outbox, invited, invitations, hours] = invitation_rows(&url);
    assert_eq!((outbox, invited, invitations), (2, 2, 2));
    assert!(hours >= 1, "the invitations were counted against the hourly cap");

    // Two hours on: the cap's counters of past hours go; the invitations stay.
    app.clock.advance(chrono::Duration::hours(2));
    housekeeping(&app).await;
    assert_eq!(invitation_rows(&url), [2, 2, 2, 0]);

    // Past the 30 days of the incident retention and of the invitation period: the sent
    // invitations (a contact's address, a user's name) and the address records go; the record
    // that each (user, address) was invited stays, so no user invites the same address twice.
    app.clock.advance(chrono::Duration::days(31));
    housekeeping(&app).await;
    assert_eq!(invitation_rows(&url), [0, 0, 2, 0]);
}

/// Rows of the throttling counters and of the per-user allowances, read from the database.
fn throttling_rows(url: &DatabaseUrl) -> (i64, i64) {
    use safecheck::db::schema::{throttle_counters, user_allowances};
    let mut conn = safecheck::db::pool_connect(url).unwrap();
    (
        throttle_counters::table.count().get_result(&mut conn).unwrap(),
        user_allowances::table.count().get_result(&mut conn).unwrap(),
    )
}

#[tokio::test]
async fn throttling_counters_go_when_their_window_is_over_and_allowances_once_whole_again() {
    let app = app_with_batch(2).await;
    let user = app.new_user().await;
    for i in 0..3 {
        let response = app.login(&format!("nobody{i}@example.org"), "a guess").await;
        assert_eq!(response.status(), 401);
    }
    app.put_location(&user, 48.8630, 2.3708).await;
    // The registration, the address, three (account, address) pairs; one allowance.
    assert_eq!(throttling_rows(app.database_url()), (5, 1));

    // One location update takes 600 s / 120 = 5 s of the allowance; the login window is 900 s.
    // (The test clock also moves with real time: a few seconds apart.)
    app.clock.advance(chrono::Duration::seconds(2));
    housekeeping(&app).await;
    assert_eq!(throttling_rows(app.database_url()), (5, 1), "nothing is over yet");
    app.clock.advance(chrono::Duration::seconds(5));
    housekeeping(&app).await;
    assert_eq!(throttling_rows(app.database_url()), (5, 0), "the allowance is whole again");

    app.clock.advance(chrono::Duration::seconds(900));
    let runs = housekeeping(&app).await;
    assert_eq!(throttling_rows(app.database_url()), (0, 0));
    assert!(runs >= 3, "two counters a batch: {runs} runs");
}
