//! Throttling that cannot be turned against an operator: per account *and* client address, with
//! growing delays; per address for logins and registrations; every attempt counted before the
//! password is checked; password hashing on a bounded pool of its own. (Whether a burst of
//! registrations slows check-ins is a measurement: the check-in benchmark's phase 8.)

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, problem, spawn_app_with};

/// The spec proxy in front of every test app is on 127.0.0.1 and appends the address it saw
/// to `X-Forwarded-For`, as a reverse proxy does; trusting it lets a test speak from any
/// loopback address.
fn behind_the_test_proxy(mut env: Vec<(&'static str, String)>) -> Options {
    env.push(("SAFECHECK_TRUSTED_PROXIES", "127.0.0.1/32".into()));
    Options { env, ..Default::default() }
}

/// A client whose connections come from `ip` (the whole of 127/8 is loopback).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
}

async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// A 429 problem naming `limit`, with a `Retry-After` of at least one second; returns it.
async fn refused(response: reqwest::Response, limit: &str) -> u64 {
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let body = problem(response, 429).await;
    assert_eq!(body["limit"], limit, "{body}");
    retry_after
}

#[tokio::test]
async fn ten_wrong_passwords_from_one_address_do_not_stop_the_operator_logging_in_from_another() {
    let app = spawn_app_with(behind_the_test_proxy(vec![])).await;
    let operator = app.new_user_with_role("operator").await;
    let attacker = client_from("127.0.0.2");

    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(login_from(&app, &attacker, &operator.email, "a wrong guess").await.status().as_u16());
    }
    assert_eq!(statuses[..5], [401; 5], "the first failures are answered: {statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "then the address waits: {statuses:?}");
    // The right password from the attacker's address waits too: the pair is slowed, not checked.
    let response = login_from(&app, &attacker, &operator.email, &operator.password).await;
    refused(response, "login_failures_per_account_and_address").await;

    // The operator, from another address, logs in at once.
    let response = app.login(&operator.email, &operator.password).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_delay_grows_per_failure_and_ends_when_it_has_passed() {
    let app = spawn_app_with(behind_the_test_proxy(vec![])).await;
    let user = app.new_user().await;
    for _ in 0..5 {
        problem(app.login(&user.email, "a wrong guess").await, 401).await;
    }
    let first =
        refused(app.login(&user.email, "a wrong guess").await, "login_failures_per_account_and_address")
            .await;
    let second =
        refused(app.login(&user.email, "a wrong guess").await, "login_failures_per_account_and_address")
            .await;
    assert!(second > first, "the delay grows: {first} then {second}");

    app.clock.advance(chrono::Duration::seconds(i64::try_from(second).unwrap()));
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
    // A success forgets the failures.
    problem(app.login(&user.email, "a wrong guess").await, 401).await;
}

#[tokio::test]
async fn forged_forwarding_headers_do_not_reset_the_count() {
    let app = spawn_app_with(behind_the_test_proxy(vec![])).await;
    let user = app.new_user().await;
    let attacker = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for i in 0..7 {
        let forged = format!("198.51.100.{i}");
        let response = attacker
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", &forged)
            .header("forwarded", format!("for={forged}"))
            .json(&json!({ "email": user.email, "password": "a wrong guess" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
}

#[tokio::test]
async fn without_a_trusted_proxy_forwarding_headers_are_not_believed() {
    let app = spawn_app_with(Options::default()).await;
    let user = app.new_user().await;
    for i in 0..5 {
        let response = app
            .client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({ "email": user.email, "password": "a wrong guess" }))
            .send()
            .await
            .unwrap();
        problem(response, 401).await;
    }
    // Another loopback address, but through the same (untrusted) proxy: the same client.
    let response = login_from(&app, &client_from("127.0.0.3"), &user.email, &user.password).await;
    refused(response, "login_failures_per_account_and_address").await;
}

#[tokio::test]
async fn an_address_budget_is_spent_by_failures_only_and_comes_back_when_its_window_is_over() {
    let app =
        spawn_app_with(behind_the_test_proxy(vec![("SAFECHECK_LOGIN_MAX_FAILURES_PER_IP", "3".into())]))
            .await;
    let user = app.new_user().await;
    let client = client_from("127.0.0.2");
    for _ in 0..5 {
        let response = login_from(&app, &client, &user.email, &user.password).await;
        assert_eq!(response.status(), 200, "a success does not spend the budget");
    }
    for i in 0..3 {
        problem(login_from(&app, &client, &format!("nobody{i}@example.org"), "a guess").await, 401).await;
    }
    let response = login_from(&app, &client, &user.email, &user.password).await;
    let retry_after = refused(response, "login_attempts_per_address").await;
    // The window is 900 s from the first failure (the test clock also moves with real time).
    assert!((890..=900).contains(&retry_after), "{retry_after}");

    app.clock.advance(chrono::Duration::seconds(890));
    let response = login_from(&app, &client, "nobody@example.org", "a guess").await;
    assert!(refused(response, "login_attempts_per_address").await <= 10);
    app.clock.advance(chrono::Duration::seconds(10));
    for i in 0..3 {
        problem(login_from(&app, &client, &format!("nobody{i}@example.org"), "a guess").await, 401).await;
    }
    refused(login_from(&app, &client, "nobody@example.org", "a guess").await, "login_attempts_per_address")
        .await;
}

#[tokio::test]
async fn two_hundred_parallel_wrong_guesses_count_as_two_hundred_failures() {
    let app = spawn_app_with(behind_the_test_proxy(vec![
        ("SAFECHECK_LOGIN_MAX_FAILURES_PER_IP", "200".into()),
        ("SAFECHECK_DB_POOL_SIZE", "8".into()),
        ("SAFECHECK_DB_TIMEOUT_MS", "20000".into()),
    ]))
    .await;
    let operator = app.new_user_with_role("operator").await;
    let attacker = client_from("127.0.0.2");

    let guesses = (0..200).map(|i| {
        let (attacker, url, email) = (attacker.clone(), app.url("/v1/auth/login"), operator.email.clone());
        tokio::spawn(async move {
            let body = json!({ "email": email, "password": format!("guess number {i}") });
            let response = attacker.post(url).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            let limit = response.json::<Value>().await.unwrap()["limit"].as_str().map(str::to_owned);
            (status, limit)
        })
    });
    let outcomes: Vec<(u16, Option<String>)> =
        futures_util::future::join_all(guesses).await.into_iter().map(Result::unwrap).collect();

    let checked = outcomes.iter().filter(|(s, _)| *s == 401).count();
    let throttled = outcomes
        .iter()
        .filter(|(s, l)| *s == 429 && l.as_deref() == Some("login_failures_per_account_and_address"))
        .count();
    // A sequence of 200 immediate guesses has its first 5 checked; a burst gets no more.
    assert!((1..=5).contains(&checked), "{checked} guesses were checked");
    assert_eq!(checked + throttled, 200, "{outcomes:?}");

    // All 200 counted against the address: its budget of 200 is spent, whatever the account.
    let response = login_from(&app, &attacker, "someone@example.org", "a guess").await;
    refused(response, "login_attempts_per_address").await;
    // Another address is not slowed for the account.
    let response = login_from(&app, &client_from("127.0.0.3"), &operator.email, "a guess").await;
    assert_eq!(response.status(), 401, "another address is not slowed");
    // And against the pair: all 200 are counted, on one row.
    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    assert_eq!(pair_failures(&mut conn, "127.0.0.2", &operator.email), 200);
    // One row per counter, not per attempt: the pair, the address, the other account's pair.
    assert_eq!(counter_rows(&mut conn, "127.0.0.2"), 3);
}

/// Failures counted for `account` from `address`, read from the database.
fn pair_failures(conn: &mut safecheck::db::DbConn, address: &str, account: &str) -> i32 {
    use safecheck::db::throttle_counters::{Scope, attempts};
    let pair = format!("{address} {account}");
    attempts(conn, Scope::AccountAddress, &pair).unwrap().map_or(0, |(n, _)| n)
}

/// Throttling counters about `address` (alone, or with an account), read from the database.
fn counter_rows(conn: &mut safecheck::db::DbConn, address: &str) -> i64 {
    use diesel::prelude::*;
    use safecheck::db::schema::throttle_counters::{subject, table};
    let with_account = format!("{address} %");
    table.filter(subject.eq(address).or(subject.like(with_account))).count().get_result(conn).unwrap()
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let app =
        spawn_app_with(behind_the_test_proxy(vec![("SAFECHECK_REGISTER_MAX_PER_IP", "3".into())])).await;
    let scripted = client_from("127.0.0.2");
    let register = |client: &reqwest::Client, n: usize| {
        client.post(app.url("/v1/auth/register")).json(&json!({
            "email": format!("bot{n}@example.org"), "password": "a good long password", "display_name": "Bot",
        }))
    };
    for n in 0..3 {
        assert_eq!(register(&scripted, n).send().await.unwrap().status(), 201);
    }
    refused(register(&scripted, 3).send().await.unwrap(), "registrations_per_address").await;
    // Nothing was created by the refused attempt, and another address may register.
    assert_eq!(register(&app.client, 3).send().await.unwrap().status(), 201);
}

#[tokio::test]
async fn the_current_password_is_guessed_under_the_login_throttle() {
    let app = spawn_app_with(behind_the_test_proxy(vec![])).await;
    let user = app.new_user().await;
    let change = |current: &str| {
        app.authed(Method::PATCH, "/v1/me", &user)
            .json(&json!({ "password": "a brand new password", "current_password": current }))
            .send()
    };
    for _ in 0..5 {
        problem(change("a wrong guess").await.unwrap(), 422).await;
    }
    refused(change("a wrong guess").await.unwrap(), "login_failures_per_account_and_address").await;
    let erase = app
        .authed(Method::DELETE, "/v1/me", &user)
        .json(&json!({ "current_password": user.password }))
        .send()
        .await
        .unwrap();
    refused(erase, "login_failures_per_account_and_address").await;
}

/// One hashing thread and one waiting place, at the production cost: a burst overflows it.
fn one_slot_password_pool() -> Vec<(&'static str, String)> {
    vec![
        ("SAFECHECK_PASSWORD_THREADS", "1".into()),
        ("SAFECHECK_PASSWORD_QUEUE", "1".into()),
        ("SAFECHECK_ARGON2_MEMORY_KIB", "19456".into()),
        ("SAFECHECK_ARGON2_ITERATIONS", "2".into()),
    ]
}

#[tokio::test]
async fn a_full_password_pool_answers_503_with_retry_after_and_creates_nothing() {
    let app = spawn_app_with(Options { env: one_slot_password_pool(), ..Default::default() }).await;
    let burst = (0..30).map(|n| {
        app.client
            .post(app.url("/v1/auth/register"))
            .json(&json!({
                "email": format!("burst{n}@example.org"), "password": "a good long password", "display_name": "Burst",
            }))
            .send()
    });
    let (mut created, mut busy) = (0, 0);
    for response in futures_util::future::join_all(burst).await {
        let response = response.unwrap();
        match response.status().as_u16() {
            201 => created += 1,
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body = problem(response, 503).await;
                assert_eq!(body["limit"], "password_hashing");
                busy += 1;
            }
            other => panic!("a registration got {other}"),
        }
    }
    assert!(created >= 1 && busy >= 1, "{created} created, {busy} told to retry");
    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    use diesel::prelude::*;
    let users: i64 = safecheck::db::schema::users::table.count().get_result(&mut conn).unwrap();
    assert_eq!(users, created, "a refused registration made no account");
}

#[tokio::test]
async fn a_login_the_full_pool_turned_away_is_not_counted_as_a_failure() {
    let mut env = one_slot_password_pool();
    env.push(("SAFECHECK_LOGIN_FREE_FAILURES", "100".into()));
    let app = spawn_app_with(Options { env, ..Default::default() }).await;
    let user = app.new_user().await;
    let guesses = (0..30).map(|n| {
        let body = json!({ "email": user.email, "password": format!("guess number {n}") });
        app.client.post(app.url("/v1/auth/login")).json(&body).send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(checked + busy, 30, "{statuses:?}");
    assert!(busy >= 1, "the pool was never full: {statuses:?}");

    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    let failures = pair_failures(&mut conn, "127.0.0.1", &user.email);
    assert_eq!(failures, i32::try_from(checked).unwrap(), "only the checked guesses count");
}
