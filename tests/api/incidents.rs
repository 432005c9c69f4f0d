//! Activation over an area, fan-out, late arrivals, resolution, expiry and the audit log.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{error_fields, paris_circle, problem, spawn_app};

#[tokio::test]
async fn users_inside_a_circle_get_exactly_one_prompt_and_others_none() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let inside = [app.user_at(48.8630, 2.3708).await, app.user_at(48.8700, 2.3800).await];
    let outside = app.user_at(48.8566, 2.2900).await;
    let stale = app.new_user().await;
    let two_days_ago = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    app.authed(Method::PUT, "/v1/me/location", &stale)
        .json(&json!({ "lat": 48.8630, "lon": 2.3708, "recorded_at": two_days_ago }))
        .send()
        .await
        .unwrap();

    let incident = app.activate(&operator, &paris_circle("Fire")).await;
    assert_eq!(incident["fanout"]["prompts_created"], 2);
    assert_eq!(incident["status"], "active");
    for user in &inside {
        let prompts = app.prompts(user).await;
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0]["incident"]["title"], "Fire");
        assert_eq!(prompts[0]["incident"]["area"]["type"], "Circle");
    }
    assert!(app.prompts(&outside).await.is_empty());
    assert!(app.prompts(&stale).await.is_empty());
    assert!(app.audit_actions(&operator).await.contains(&"incident.activate".to_owned()));
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
}

#[tokio::test]
async fn a_polygons_hole_is_outside() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let in_ring = app.user_at(1.0, 1.0).await;
    let in_hole = app.user_at(5.0, 5.0).await;
    let outside = app.user_at(20.0, 20.0).await;
    let body = json!({ "title": "Flood", "area": { "type": "Polygon", "coordinates": [square(0.0, 0.0, 10.0, 10.0), square(4.0, 4.0, 6.0, 6.0)] } });
    let incident = app.activate(&operator, &body).await;
    assert_eq!(incident["fanout"]["prompts_created"], 1);
    assert_eq!(app.prompts(&in_ring).await.len(), 1);
    assert!(app.prompts(&in_hole).await.is_empty());
    assert!(app.prompts(&outside).await.is_empty());
}

#[tokio::test]
async fn each_part_of_a_multipolygon_prompts() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let first = app.user_at(0.5, 0.5).await;
    let second = app.user_at(10.5, 10.5).await;
    let between = app.user_at(5.0, 5.0).await;
    let body = json!({ "title": "Storm", "area": { "type": "MultiPolygon", "coordinates": [[square(0.0, 0.0, 1.0, 1.0)], [square(10.0, 10.0, 11.0, 11.0)]] } });
    app.activate(&operator, &body).await;
    assert_eq!(app.prompts(&first).await.len(), 1);
    assert_eq!(app.prompts(&second).await.len(), 1);
    assert!(app.prompts(&between).await.is_empty());
}

#[tokio::test]
async fn an_area_across_the_antimeridian_prompts_only_near_it() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let east = app.user_at(-15.0, 178.0).await;
    let west = app.user_at(-15.0, -178.0).await;
    let greenwich = app.user_at(-15.0, 0.0).await;
    let body = json!({ "title": "Cyclone", "area": { "type": "Polygon", "coordinates": [[[170.0, -20.0], [-170.0, -20.0], [-170.0, -10.0], [170.0, -10.0], [170.0, -20.0]]] } });
    let incident = app.activate(&operator, &body).await;
    assert_eq!(incident["fanout"]["prompts_created"], 2);
    assert_eq!(app.prompts(&east).await.len(), 1);
    assert_eq!(app.prompts(&west).await.len(), 1);
    assert!(app.prompts(&greenwich).await.is_empty());
}

#[tokio::test]
async fn a_dry_run_counts_and_stores_nothing_but_its_audit_record() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    app.user_at(48.8700, 2.3800).await;
    let mut body = paris_circle("Drill");
    body["dry_run"] = json!(true);
    let response = app.create_incident(&operator, &body).await;
    assert_eq!(response.status(), 200);
    let preview: Value = response.json().await.unwrap();
    assert_eq!(preview["would_prompt"], 2);
    let list: Value =
        app.authed(Method::GET, "/v1/incidents", &operator).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"], json!([]));
    assert!(app.prompts(&user).await.is_empty());
    assert_eq!(app.audit_actions(&operator).await, ["incident.dry_run"]);
}

#[tokio::test]
async fn a_late_arrival_is_prompted_once() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Fire")).await;
    assert_eq!(incident["fanout"]["prompts_created"], 0);
    let user = app.user_at(40.0, 0.0).await;

    let entered = app.put_location(&user, 48.8630, 2.3708).await;
    let prompts = entered["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0]["incident_id"], incident["id"]);
    assert_eq!(prompts[0]["source"], "arrival");
    let again = app.put_location(&user, 48.8631, 2.3709).await;
    assert_eq!(again["prompts"], json!([]));
    assert_eq!(app.prompts(&user).await.len(), 1);
}

#[tokio::test]
async fn resolve_closes_prompts_and_stops_late_arrivals() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    let incident = app.activate(&operator, &paris_circle("Fire")).await;
    let id = incident["id"].as_str().unwrap();
    assert_eq!(app.prompts(&user).await.len(), 1);

    let path = format!("/v1/incidents/{id}/resolve");
    let response = app.authed(Method::POST, &path, &operator).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let resolved: Value = response.json().await.unwrap();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolution"], "resolved");
    assert!(app.prompts(&user).await.is_empty());

    let latecomer = app.user_at(40.0, 0.0).await;
    let entered = app.put_location(&latecomer, 48.8630, 2.3708).await;
    assert_eq!(entered["prompts"], json!([]));
    problem(app.authed(Method::POST, &path, &operator).send().await.unwrap(), 409).await;
    assert!(app.audit_actions(&operator).await.contains(&"incident.resolve".to_owned()));
}

#[tokio::test]
async fn a_resolution_note_is_kept_and_a_bad_one_changes_nothing() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Gas leak")).await;
    let path = format!("/v1/incidents/{}/resolve", incident["id"].as_str().unwrap());

    let too_long = json!({ "note": "x".repeat(2001) });
    let refused = app.authed(Method::POST, &path, &operator).json(&too_long).send().await.unwrap();
    assert_eq!(error_fields(&problem(refused, 422).await), vec!["note"]);
    let wrong_type =
        app.authed(Method::POST, &path, &operator).json(&json!({ "note": 3 })).send().await.unwrap();
    assert_eq!(error_fields(&problem(wrong_type, 400).await), vec!["note"]);
    let note = json!({ "note": "False alarm: the sensor misfired." });
    let response = app.authed(Method::POST, &path, &operator).json(&note).send().await.unwrap();

    assert_eq!(response.status(), 200, "the refused attempts left it active");
    let resolved: Value = response.json().await.unwrap();
    assert_eq!(resolved["resolution_note"], "False alarm: the sensor misfired.");
    let audit: Value =
        app.authed(Method::GET, "/v1/audit", &operator).send().await.unwrap().json().await.unwrap();
    assert_eq!(audit["items"][0]["details"]["note"], "False alarm: the sensor misfired.");
}

#[tokio::test]
async fn an_incident_past_its_expiry_resolves_by_itself() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.user_at(48.8630, 2.3708).await;
    let mut body = paris_circle("Heat wave");
    body["expires_at"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let incident = app.activate(&operator, &body).await;
    assert_eq!(app.prompts(&user).await.len(), 1);

    app.clock.advance(chrono::Duration::hours(2));
    let id = incident["id"].as_str().unwrap();
    let shown: Value = app.incident(&operator, id).await;
    assert_eq!(shown["status"], "resolved");
    assert_eq!(shown["resolution"], "expired");
    assert!(app.prompts(&user).await.is_empty());
    assert!(app.audit_actions(&operator).await.contains(&"incident.expire".to_owned()));
}

#[tokio::test]
async fn invalid_incidents_are_422_naming_the_field_and_store_nothing() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let cases = [
        (
            json!({ "title": "x", "area": { "type": "Circle", "center": { "lat": 48.0, "lon": 2.0 }, "radius_m": 0 } }),
            "area.radius_m",
        ),
        (
            json!({ "title": "x", "area": { "type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] } }),
            "area.coordinates",
        ),
        (
            json!({ "title": "x", "area": { "type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]] } }),
            "area.coordinates[0]",
        ),
        (
            json!({ "title": "x", "area": { "type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 91], [0, 0]]] } }),
            "area.coordinates[0][2]",
        ),
        (
            json!({ "title": "", "area": { "type": "Circle", "center": { "lat": 48.0, "lon": 2.0 }, "radius_m": 10 } }),
            "title",
        ),
        (
            json!({ "title": "x".repeat(201), "area": { "type": "Circle", "center": { "lat": 48.0, "lon": 2.0 }, "radius_m": 10 } }),
            "title",
        ),
        (
            json!({ "title": "x", "description": "d".repeat(2001), "area": { "type": "Circle", "center": { "lat": 48.0, "lon": 2.0 }, "radius_m": 10 } }),
            "description",
        ),
        (
            json!({ "title": "x", "expires_at": "2020-01-01T00:00:00Z", "area": { "type": "Circle", "center": { "lat": 48.0, "lon": 2.0 }, "radius_m": 10 } }),
            "expires_at",
        ),
        (json!({ "title": "x", "area": { "type": "Hexagon" } }), "area.type"),
    ];
    for (body, field) in cases {
        let problem = problem(app.create_incident(&operator, &body).await, 422).await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    let list: Value =
        app.authed(Method::GET, "/v1/incidents", &operator).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"], json!([]));
    assert!(app.audit_actions(&operator).await.is_empty());
}

#[tokio::test]
async fn only_operators_activate_resolve_and_read_the_audit_log() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let user = app.new_user().await;
    problem(app.create_incident(&user, &paris_circle("Nope")).await, 403).await;
    let incident = app.activate(&operator, &paris_circle("Fire")).await;
    let id = incident["id"].as_str().unwrap();
    problem(
        app.authed(Method::POST, &format!("/v1/incidents/{id}/resolve"), &user).send().await.unwrap(),
        403,
    )
    .await;
    problem(app.authed(Method::GET, "/v1/audit", &user).send().await.unwrap(), 403).await;
    problem(app.post_json("/v1/incidents", &paris_circle("anon")).await, 401).await;
    let admin = app.new_user_with_role("admin").await;
    assert_eq!(app.authed(Method::GET, "/v1/audit", &admin).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn users_see_only_active_incidents_they_were_prompted_for() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let prompted = app.user_at(48.8630, 2.3708).await;
    let elsewhere = app.user_at(10.0, 10.0).await;
    let incident = app.activate(&operator, &paris_circle("Fire")).await;
    let path = format!("/v1/incidents/{}", incident["id"].as_str().unwrap());
    assert_eq!(app.authed(Method::GET, &path, &prompted).send().await.unwrap().status(), 200);
    problem(app.authed(Method::GET, &path, &elsewhere).send().await.unwrap(), 404).await;
    let list: Value =
        app.authed(Method::GET, "/v1/incidents", &prompted).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let list: Value =
        app.authed(Method::GET, "/v1/incidents", &elsewhere).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"], json!([]));
    app.authed(Method::POST, &format!("{path}/resolve"), &operator).send().await.unwrap();
    problem(app.authed(Method::GET, &path, &prompted).send().await.unwrap(), 404).await;
}

#[tokio::test]
async fn operators_page_through_incidents_newest_first() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    for title in ["one", "two", "three"] {
        assert_eq!(app.create_incident(&operator, &paris_circle(title)).await.status(), 201);
    }
    let first: Value = app
        .authed(Method::GET, "/v1/incidents?limit=2", &operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> =
        first["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["three", "two"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .authed(Method::GET, &format!("/v1/incidents?limit=2&cursor={cursor}"), &operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["title"], "one");
    assert!(second["next_cursor"].is_null());
    let resolved: Value = app
        .authed(Method::GET, "/v1/incidents?status=resolved", &operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["items"], json!([]));
    problem(app.authed(Method::GET, "/v1/incidents?status=bogus", &operator).send().await.unwrap(), 422)
        .await;
    problem(app.authed(Method::GET, "/v1/incidents?cursor=garbage!", &operator).send().await.unwrap(), 400)
        .await;
}

#[tokio::test]
async fn an_operator_reads_their_own_empty_answer_to_any_incident_a_stranger_gets_404() {
    let app = spawn_app().await;
    let operator = app.new_user_with_role("operator").await;
    let incident = app.activate(&operator, &paris_circle("Storm")).await;
    let id = incident["id"].as_str().unwrap();
    let resolve = format!("/v1/incidents/{id}/resolve");
    assert_eq!(app.authed(Method::POST, &resolve, &operator).send().await.unwrap().status(), 200);
    let path = format!("/v1/incidents/{id}/check-ins/me");

    let mine = app.authed(Method::GET, &path, &operator).send().await.unwrap();

    assert_eq!(mine.status(), 200);
    assert_eq!(mine.json::<Value>().await.unwrap(), json!({ "current": null, "history": [] }));
    let stranger = app.new_user().await;
    problem(app.authed(Method::GET, &path, &stranger).send().await.unwrap(), 404).await;
}
