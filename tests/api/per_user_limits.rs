//! Per-user limits on check-ins and location updates (429 naming the limit, with Retry-After;
//! replays are not counted; one allowance however many server processes), and how each person
//! in the people list came to be prompted.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, TestUser, paris_circle, problem, spawn_app, spawn_app_with};

async fn app_with(env: &[(&'static str, &str)]) -> TestApp {
    let env = env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    spawn_app_with(Options { env, ..Options::default() }).await
}

async fn answer(
    app: &TestApp,
    user: &TestUser,
    incident: &str,
    status: &str,
    key: &str,
) -> reqwest::Response {
    app.authed(Method::POST, &format!("/v1/incidents/{incident}/check-ins"), user)
        .header("Idempotency-Key", key)
        .json(&json!({ "status": status }))
        .send()
        .await
        .unwrap()
}

/// The refusal's `Retry-After` and problem document, checked to be a 429 naming `limit`.
async fn refused(response: reqwest::Response, limit: &str) -> u64 {
    let retry_after =
        response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let body = problem(response, 429).await;
    assert_eq!(body["limit"], limit, "{body}");
    assert!(body["detail"].as_str().unwrap().starts_with(&format!("{limit}: at most ")), "{body}");
    retry_after.expect("Retry-After")
}

#[tokio::test]
async fn check_ins_beyond_the_limit_are_refused_by_name_and_replays_are_not_counted() {
    let app =
        app_with(&[("SAFECHECK_CHECK_IN_LIMIT", "3"), ("SAFECHECK_USER_LIMIT_WINDOW_SECS", "60")]).await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    let neighbour = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    let incident = incident["id"].as_str().unwrap();

    for (key, status) in [("a", "safe"), ("b", "need_help"), ("c", "safe")] {
        assert_eq!(answer(&app, &user, incident, status, key).await.status(), 201);
    }
    // A client retrying an answered request gets its answer again, however often.
    for _ in 0..5 {
        let replay = answer(&app, &user, incident, "safe", "a").await;
        assert_eq!(replay.status(), 201);
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
    }
    let retry_after = refused(answer(&app, &user, incident, "need_help", "d").await, "check_ins").await;
    assert_eq!(retry_after, 20, "3 per 60 s: one more every 20 s");
    let history = app.my_check_ins(&user, incident).await;
    assert_eq!(history["history"].as_array().unwrap().len(), 3, "the refused answer changed nothing");
    assert_eq!(history["current"]["status"], "safe");
    assert_eq!(
        answer(&app, &neighbour, incident, "safe", "a").await.status(),
        201,
        "each user has their own"
    );

    app.clock.advance(chrono::Duration::seconds(20));
    // The refused request's key was not kept: its retry runs now.
    let retried = answer(&app, &user, incident, "need_help", "d").await;
    assert_eq!(retried.status(), 201);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.my_check_ins(&user, incident).await["current"]["status"], "need_help");
    refused(answer(&app, &user, incident, "safe", "e").await, "check_ins").await;
}

#[tokio::test]
async fn location_updates_beyond_the_limit_are_refused_by_name_and_store_nothing() {
    let app =
        app_with(&[("SAFECHECK_LOCATION_UPDATE_LIMIT", "2"), ("SAFECHECK_USER_LIMIT_WINDOW_SECS", "60")])
            .await;
    let user = app.new_user().await;
    app.put_location(&user, 48.8630, 2.3708).await;
    app.put_location(&user, 48.8640, 2.3718).await;

    let third = app
        .authed(Method::PUT, "/v1/me/location", &user)
        .json(&json!({ "lat": 43.2965, "lon": 5.3698 }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused(third, "location_updates").await, 30);
    let me = app.get_json("/v1/me", &user).await;
    assert_eq!(
        (me["location"]["lat"].as_f64(), me["location"]["lon"].as_f64()),
        (Some(48.8640), Some(2.3718))
    );

    app.clock.advance(chrono::Duration::seconds(30));
    app.put_location(&user, 43.2965, 5.3698).await;
    assert_eq!(app.get_json("/v1/me", &user).await["location"]["lat"].as_f64(), Some(43.2965));
}

#[tokio::test]
async fn two_server_processes_over_one_database_share_one_allowance() {
    let app =
        app_with(&[("SAFECHECK_CHECK_IN_LIMIT", "3"), ("SAFECHECK_USER_LIMIT_WINDOW_SECS", "60")]).await;
    let sibling = app.spawn_sibling(&[]).await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    let incident = incident["id"].as_str().unwrap();
    let on_sibling = |key: &str| {
        app.client
            .post(format!("{sibling}/v1/incidents/{incident}/check-ins"))
            .bearer_auth(&user.access_token)
            .header("Idempotency-Key", key)
            .json(&json!({ "status": "safe" }))
            .send()
    };

    assert_eq!(answer(&app, &user, incident, "safe", "a").await.status(), 201);
    assert_eq!(on_sibling("b").await.unwrap().status(), 201);
    assert_eq!(answer(&app, &user, incident, "safe", "c").await.status(), 201);
    // Each process has seen fewer than 3, but the user has sent 3: both refuse.
    assert_eq!(refused(on_sibling("d").await.unwrap(), "check_ins").await, 20);
    assert_eq!(refused(answer(&app, &user, incident, "safe", "e").await, "check_ins").await, 20);

    app.clock.advance(chrono::Duration::seconds(20));
    assert_eq!(on_sibling("f").await.unwrap().status(), 201, "one more every 20 s, on either");
    refused(answer(&app, &user, incident, "safe", "g").await, "check_ins").await;
}

#[tokio::test]
async fn parallel_location_updates_through_two_processes_get_exactly_the_limit() {
    let app = app_with(&[
        ("SAFECHECK_LOCATION_UPDATE_LIMIT", "5"),
        ("SAFECHECK_USER_LIMIT_WINDOW_SECS", "600"),
        ("SAFECHECK_DB_TIMEOUT_MS", "20000"),
    ])
    .await;
    let sibling = app.spawn_sibling(&[]).await;
    let user = app.new_user().await;

    let updates = (0..40).map(|i| {
        let base = if i % 2 == 0 { app.address.clone() } else { sibling.clone() };
        let lat = 48.86 + f64::from(i) / 10_000.0;
        app.client
            .put(format!("{base}/v1/me/location"))
            .bearer_auth(&user.access_token)
            .json(&json!({ "lat": lat, "lon": 2.37 }))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(updates)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let stored = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((stored, refused), (5, 35), "{statuses:?}");
}

#[tokio::test]
async fn the_people_list_says_who_was_prompted_by_the_fan_out_by_arriving_or_answered_unprompted() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let inside = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Flood")).await;
    let incident = incident["id"].as_str().unwrap();
    let arriving = app.new_user().await;
    let arrived = app.put_location(&arriving, 48.8631, 2.3709).await;
    assert_eq!(arrived["prompts"].as_array().unwrap().len(), 1);
    let away = app.user_at(43.2965, 5.3698).await;
    assert_eq!(answer(&app, &away, incident, "not_in_area", "k").await.status(), 201);

    let page = app.get_json(&format!("/v1/incidents/{incident}/people"), &operator).await;
    let source_of = |user: &TestUser| -> Value {
        let items = page["items"].as_array().unwrap();
        items.iter().find(|p| p["user_id"] == user.id.as_str()).unwrap()["prompt_source"].clone()
    };
    assert_eq!(source_of(&inside), "activation");
    assert_eq!(source_of(&arriving), "arrival");
    assert_eq!(source_of(&away), "check_in");

    let csv = app
        .authed(Method::GET, &format!("/v1/incidents/{incident}/people"), &operator)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (user, source) in [(&inside, "activation"), (&arriving, "arrival"), (&away, "check_in")] {
        let line = csv.split("\r\n").find(|l| l.starts_with(&user.id)).unwrap();
        assert!(line.ends_with(&format!(",{source}")), "{line}");
    }
}
