//! PostgreSQL cut off under the app (through a proxy the test can cut): readiness follows it,
//! and check-ins under load lose no accepted answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use diesel::prelude::*;

use crate::helpers::{ChaosProxy, Options, TestApp, problem, spawn_app_with, wait_until};

/// An app whose connections to PostgreSQL go through a proxy the test can cut.
async fn app_behind_a_cuttable_proxy() -> (TestApp, ChaosProxy) {
    super::postgres_url();
    let mut app = spawn_app_with(Options { db_proxy: true, ..Default::default() }).await;
    let proxy = app.proxy.take().expect("a proxy to PostgreSQL");
    (app, proxy)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test --test api -- --ignored postgres_only"]
async fn readyz_goes_503_when_postgres_is_cut_and_200_when_it_is_back() {
    let (app, proxy) = app_behind_a_cuttable_proxy().await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    proxy.cut();
    let response = app.get("/readyz").await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, 503).await;

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.get("/readyz").await.status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not recover once the database was back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One check-in of the steady load, and what the server said.
struct Sent {
    user: usize,
    status: u16,
    retry_after: bool,
    body: serde_json::Value,
}

/// Multi-threaded: the proxy to PostgreSQL runs on the test's runtime, and the test also
/// queries synchronously.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test --test api -- --ignored postgres_only"]
async fn postgres_cut_for_ten_seconds_under_check_ins_loses_no_accepted_answer() {
    let (app, proxy) = app_behind_a_cuttable_proxy().await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &crate::helpers::paris_circle("Outage")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut users = Vec::new();
    for i in 0..10 {
        let user = app.new_user().await;
        for c in 0..2 {
            let contact = serde_json::json!({ "name": "C", "email": format!("u{i}c{c}@example.org") });
            app.authed(reqwest::Method::POST, "/v1/me/contacts", &user).json(&contact).send().await.unwrap();
        }
        users.push(user);
    }
    let outage = Duration::from_secs(
        std::env::var("FAULT_OUTAGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let accepted_so_far = Arc::new(AtomicUsize::new(0));
    let load = {
        let (client, url, stop, accepted_so_far) = (
            app.client.clone(),
            app.url(&format!("/v1/incidents/{incident}/check-ins")),
            stop.clone(),
            accepted_so_far.clone(),
        );
        let tokens: Vec<String> = users.iter().map(|u| u.access_token.clone()).collect();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let user = i % tokens.len();
                // Each round flips every user's status, so each accepted answer notifies.
                let status = if (i / tokens.len()).is_multiple_of(2) { "safe" } else { "need_help" };
                let sending = client
                    .post(&url)
                    .bearer_auth(&tokens[user])
                    .json(&serde_json::json!({ "status": status }))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let Ok(response) = sending else {
                    // No answer in time: counted as neither accepted nor refused.
                    sent.push(Sent { user, status: 0, retry_after: false, body: serde_json::Value::Null });
                    i += 1;
                    continue;
                };
                let code = response.status().as_u16();
                if code == 201 {
                    accepted_so_far.fetch_add(1, Ordering::SeqCst);
                }
                let retry_after = response.headers().contains_key("retry-after");
                let body = response.json().await.unwrap_or_default();
                sent.push(Sent { user, status: code, retry_after, body });
                i += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            sent
        })
    };
    let accepted_now = || accepted_so_far.load(Ordering::SeqCst);
    let round = users.len();
    wait_until("a round of answers accepted before the cut", Duration::from_secs(30), || {
        accepted_now() >= round
    })
    .await;
    proxy.cut();
    // The outage is the behaviour under test: this sleep is its length, not a stand-in.
    tokio::time::sleep(outage).await;
    proxy.restore();
    let at_restore = accepted_now();
    wait_until("a round of answers accepted after the restore", Duration::from_secs(30), || {
        accepted_now() >= at_restore + round
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let sent = load.await.unwrap();

    let accepted: Vec<&Sent> = sent.iter().filter(|s| s.status == 201).collect();
    let refused: Vec<&Sent> = sent.iter().filter(|s| s.status != 201).collect();
    let unexpected: Vec<u16> =
        refused.iter().filter(|s| s.status != 503 || !s.retry_after).map(|s| s.status).collect();
    println!(
        "postgres cut for {outage:?}: {} check-ins sent, {} accepted, {} refused with 503 + Retry-After, other: {unexpected:?}",
        sent.len(),
        accepted.len(),
        refused.len() - unexpected.len()
    );
    assert!(unexpected.is_empty(), "only 503 with Retry-After while the database is away: {unexpected:?}");
    assert!(!refused.is_empty(), "the outage was felt");
    assert!(sent.last().is_some_and(|s| s.status == 201), "the server recovered without a restart");

    // Every accepted answer is stored, with as many notifications as its 201 announced.
    use safecheck::db::schema::{check_ins, notifications};
    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    let mut lost = 0;
    let mut announced_by_user = vec![0i64; users.len()];
    for s in &accepted {
        let id = s.body["id"].as_str().unwrap();
        let stored: i64 =
            check_ins::table.filter(check_ins::id.eq(id)).count().get_result(&mut conn).unwrap();
        lost += usize::from(stored == 0);
        announced_by_user[s.user] += s.body["notifications_queued"].as_i64().unwrap();
    }
    for (user, announced) in users.iter().zip(&announced_by_user) {
        let queued: i64 = notifications::table
            .filter(notifications::user_id.eq(&user.id))
            .filter(notifications::kind.eq("check_in"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(queued, *announced, "notifications of {}", user.email);
    }
    println!("accepted check-ins missing afterwards: {lost}");
    assert_eq!(lost, 0);
}
