//! The operator's list of people: order, filters, stable paging, CSV export, need-help triage.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use safecheck::db::DatabaseUrl;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Options, TestApp, TestUser, error_fields, paris_circle, problem, spawn_app, spawn_app_with,
};

/// Statuses in the list are read as of 2 s before the first page: move past that.
fn let_answers_settle(app: &TestApp) {
    app.clock.advance(chrono::Duration::seconds(3));
}

async fn check_in(app: &TestApp, user: &TestUser, incident: &str, status: &str, message: Option<&str>) {
    let response = app
        .authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), user)
        .json(&json!({ "status": status, "message": message }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "check-in");
}

async fn people(app: &TestApp, operator: &TestUser, incident: &str, query: &str) -> Value {
    let response = app
        .authed(Method::GET, &format!("/v1/incidents/{incident}/people{query}"), operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "people");
    response.json().await.unwrap()
}

fn ids_and_statuses(page: &Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["user_id"].as_str().unwrap().to_owned(), p["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// An operator, `n` users in Paris, and the incident that prompted them.
async fn scene(app: &TestApp, n: usize) -> (TestUser, Vec<TestUser>, String) {
    let operator = app.new_user_with_role("operator").await;
    let mut users = Vec::new();
    for _ in 0..n {
        users.push(app.user_at(48.8630, 2.3708).await);
    }
    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    (operator, users, incident["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_list_puts_need_help_first_then_the_unanswered_with_each_answer() {
    let app = spawn_app().await;
    let (operator, users, incident) = scene(&app, 3).await;
    check_in(&app, &users[0], &incident, "safe", None).await;
    check_in(&app, &users[1], &incident, "need_help", Some("trapped, 3rd floor")).await;
    let_answers_settle(&app);

    let page = people(&app, &operator, &incident, "").await;

    let rows = ids_and_statuses(&page);
    assert_eq!(
        rows,
        vec![
            (users[1].id.clone(), "need_help".into()),
            (users[2].id.clone(), "no_response".into()),
            (users[0].id.clone(), "safe".into()),
        ]
    );
    let first = &page["items"][0];
    assert_eq!(first["email"], users[1].email.as_str());
    assert_eq!(first["display_name"], "Test User");
    assert_eq!(first["message"], "trapped, 3rd floor");
    assert!(first["answered_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["handled_at"], Value::Null);
    assert_eq!(page["items"][1]["answered_at"], Value::Null);
    assert_eq!(page["next_cursor"], Value::Null);
    let only_safe = people(&app, &operator, &incident, "?status=safe").await;
    assert_eq!(ids_and_statuses(&only_safe), vec![(users[0].id.clone(), "safe".into())]);
}

#[tokio::test]
async fn paging_lists_everyone_exactly_once_while_answers_keep_arriving() {
    let app = spawn_app().await;
    let (operator, users, incident) = scene(&app, 24).await;
    for user in &users[..4] {
        check_in(&app, user, &incident, "safe", None).await;
    }
    let_answers_settle(&app);

    let mut seen = Vec::new();
    let mut page = people(&app, &operator, &incident, "?limit=5").await;
    let mut answering = users[4..].iter();
    loop {
        seen.extend(ids_and_statuses(&page));
        // Between pages, more people answer; need_help would sort them ahead of this page.
        for user in answering.by_ref().take(4) {
            check_in(&app, user, &incident, "need_help", None).await;
        }
        let Some(cursor) = page["next_cursor"].as_str() else { break };
        page = people(&app, &operator, &incident, &format!("?limit=5&cursor={cursor}")).await;
    }

    let unique: HashSet<&String> = seen.iter().map(|(id, _)| id).collect();
    assert_eq!(seen.len(), 24, "no row twice");
    assert_eq!(unique.len(), 24, "none lost");
    // The list is as of its first page: later answers show in the next listing.
    assert_eq!(seen.iter().filter(|(_, s)| s == "safe").count(), 4);
    assert_eq!(seen.iter().filter(|(_, s)| s == "no_response").count(), 20);
    let_answers_settle(&app);
    let fresh = people(&app, &operator, &incident, "?status=need_help&limit=200").await;
    assert_eq!(fresh["items"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn the_csv_export_quotes_fields_and_defuses_formulas() {
    let app = spawn_app().await;
    let (operator, users, incident) = scene(&app, 2).await;
    app.authed(Method::PATCH, "/v1/me", &users[0])
        .json(&json!({ "display_name": "=HYPERLINK(\"evil\")" }))
        .send()
        .await
        .unwrap();
    check_in(&app, &users[0], &incident, "need_help", Some("water rising, \"fast\"\nroof")).await;
    check_in(&app, &users[1], &incident, "safe", Some("@home, +fine")).await;
    let_answers_settle(&app);

    let response = app
        .authed(Method::GET, &format!("/v1/incidents/{incident}/people"), &operator)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "user_id,display_name,email,status,answered_at,message,handled_at,handled_by,prompt_source"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{},\"'=HYPERLINK(\"\"evil\"\")\",{},need_help,",
            users[0].id, users[0].email
        )),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(",\"water rising, \"\"fast\"\"\nroof\",,,activation"), "{}", lines[1]);
    assert!(
        lines[2].contains(",safe,") && lines[2].ends_with(",\"'@home, +fine\",,,activation"),
        "{}",
        lines[2]
    );
    assert_eq!(lines.len(), 4, "header, two rows, and the final CRLF");
}

#[tokio::test]
async fn bad_filters_and_cursors_are_refused_by_name() {
    let app = spawn_app().await;
    let (operator, _, incident) = scene(&app, 1).await;
    let path = format!("/v1/incidents/{incident}/people");

    let bad_status = app.authed(Method::GET, &format!("{path}?status=lost"), &operator).send().await.unwrap();
    assert_eq!(error_fields(&problem(bad_status, 422).await), vec!["status"]);
    let bad_cursor = app.authed(Method::GET, &format!("{path}?cursor=abc"), &operator).send().await.unwrap();
    assert_eq!(error_fields(&problem(bad_cursor, 400).await), vec!["cursor"]);
    let bad_limit = app.authed(Method::GET, &format!("{path}?limit=0"), &operator).send().await.unwrap();
    assert_eq!(error_fields(&problem(bad_limit, 422).await), vec!["limit"]);
    let unknown = app.authed(Method::GET, "/v1/incidents/nope/people", &operator).send().await.unwrap();
    problem(unknown, 404).await;
}

#[tokio::test]
async fn an_operator_marks_a_need_help_answer_handled_once_and_a_new_answer_reopens_it() {
    let app = spawn_app().await;
    let (operator, users, incident) = scene(&app, 2).await;
    check_in(&app, &users[0], &incident, "need_help", None).await;
    check_in(&app, &users[1], &incident, "safe", None).await;
    let handle = |user: &TestUser| {
        app.authed(Method::POST, &format!("/v1/incidents/{incident}/people/{}/handled", user.id), &operator)
    };

    let first = handle(&users[0]).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let row: Value = first.json().await.unwrap();
    assert_eq!(row["status"], "need_help");
    assert_eq!(row["handled_by"], operator.email.as_str());
    let again: Value = handle(&users[0]).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["handled_at"], row["handled_at"], "marking twice changes nothing");

    let_answers_settle(&app);
    let listed = people(&app, &operator, &incident, "?status=need_help").await;
    assert_eq!(listed["items"][0]["handled_at"], row["handled_at"]);
    assert_eq!(app.stats(&operator, &incident).await["need_help_handled"], 1);
    let audited = app.audit_actions(&operator).await;
    assert_eq!(audited.iter().filter(|a| *a == "need_help.handled").count(), 1);

    let not_need_help = handle(&users[1]).send().await.unwrap();
    assert_eq!(error_fields(&problem(not_need_help, 409).await), vec!["status"]);
    let stranger = app.new_user().await;
    problem(handle(&stranger).send().await.unwrap(), 404).await;

    check_in(&app, &users[0], &incident, "safe", None).await;
    check_in(&app, &users[0], &incident, "need_help", Some("again")).await;
    assert_eq!(app.stats(&operator, &incident).await["need_help_handled"], 0, "a new answer is untriaged");
}

#[tokio::test]
async fn only_operators_list_people_remind_or_triage() {
    let app = spawn_app().await;
    let (_, users, incident) = scene(&app, 1).await;
    let user = &users[0];
    let routes = [
        (Method::GET, format!("/v1/incidents/{incident}/people")),
        (Method::POST, format!("/v1/incidents/{incident}/people/{}/handled", user.id)),
        (Method::POST, format!("/v1/incidents/{incident}/reminders")),
    ];
    for (method, path) in routes {
        let as_user = app.authed(method.clone(), &path, user).send().await.unwrap();
        assert_eq!(as_user.status(), 403, "{method} {path} as a user");
        let anonymous = app.client.request(method.clone(), app.url(&path)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path} anonymously");
    }
}

/// Answers held up by another transaction's locks while the first page is served are dated
/// when they get the lock (or written again if they commit late): nobody moves between pages.
#[tokio::test]
async fn an_answer_held_up_by_a_lock_does_not_move_anyone_between_pages() {
    // Background jobs also wait on the held lock: enough connections for them and the reads.
    let app =
        spawn_app_with(Options { env: vec![("SAFECHECK_DB_POOL_SIZE", "12".into())], ..Default::default() })
            .await;
    let db_url = app.database_url().clone();
    let operator = app.new_user_with_role("operator").await;
    let mut users: Vec<TestUser> = Vec::new();
    for _ in 0..3 {
        users.push(app.user_at(48.8630, 2.3708).await);
    }
    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    let incident = incident["id"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::seconds(3));
    users.sort_by(|a, b| a.id.cmp(&b.id));

    // Someone else holds the write lock (a long fan-out chunk, a 100k reminder...).
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let locker = std::thread::spawn(move || {
        match db_url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                conn.batch_execute("BEGIN IMMEDIATE").unwrap();
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                conn.batch_execute("COMMIT").unwrap();
            }
            DatabaseUrl::Postgresql(url) => {
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                // Row locks a long transaction might hold (here: the prompts rows).
                conn.batch_execute("BEGIN; SELECT 1 FROM prompts FOR UPDATE").unwrap();
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                conn.batch_execute("COMMIT").unwrap();
            }
        }
    });
    locked_rx.recv().unwrap();

    // users[0] (first in the no_response group) answers safe; users[2] answers need_help.
    let mut pending = Vec::new();
    for (user, status) in [(&users[0], "safe"), (&users[2], "need_help")] {
        let req = app
            .authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), user)
            .json(&json!({ "status": status }));
        pending.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    // They must be inside the server, held up, before the clock moves on and the page is read.
    wait_until_held_up(&app, 2).await;
    // 3 s later (on the app's clock), the operator starts listing: as_of = that - 2 s.
    app.clock.advance(chrono::Duration::seconds(3));
    let first = app.authed(Method::GET, &format!("/v1/incidents/{incident}/people?limit=1"), &operator);
    let page1 = tokio::spawn(async move { first.send().await.unwrap().json::<Value>().await.unwrap() });
    // On SQLite the page's audit record waits for the write lock too (it is written before the
    // page leaves); PostgreSQL's row locks do not hold it up.
    if matches!(app.database_url(), DatabaseUrl::Sqlite(_)) {
        wait_until_held_up(&app, 3).await;
    }
    release_tx.send(()).unwrap();
    let page1 = page1.await.unwrap();
    locker.join().unwrap();
    for p in pending {
        assert_eq!(p.await.unwrap(), 201);
    }
    let mut seen = ids_and_statuses(&page1);
    let mut cursor = page1["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page: Value = app
            .authed(Method::GET, &format!("/v1/incidents/{incident}/people?limit=1&cursor={c}"), &operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(ids_and_statuses(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for (id, _) in &seen {
        *counts.entry(id).or_default() += 1;
    }
    assert!(counts.len() == 3 && counts.values().all(|n| *n == 1), "paging not stable: {seen:?}");
}

/// Waits until `n` answers are held up inside the server by the lock. On PostgreSQL: `n`
/// sessions waiting for a lock, in the answer's statement (`db::answers`), at their prompt. SQLite reports no
/// waiting writer, so there: `n` requests the app has received and not answered yet, whose
/// first statement is the write that waits.
async fn wait_until_held_up(app: &TestApp, n: i64) {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let held = match app.database_url().clone() {
            DatabaseUrl::Postgresql(url) => tokio::task::spawn_blocking(move || {
                let sql = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                           AND wait_event_type = 'Lock' AND query LIKE 'WITH a AS%INSERT INTO prompts%'";
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                diesel::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), &mut conn).unwrap().n
            })
            .await
            .unwrap(),
            DatabaseUrl::Sqlite(_) => i64::try_from(app.spec_proxy.in_flight()).unwrap(),
        };
        if held >= n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{held} of {n} answers held up after 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
