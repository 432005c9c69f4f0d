//! A corpus of bad input sent to every route that takes a body: each gets a 4xx problem
//! document, never a 5xx, and the database is unchanged afterwards.

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, paris_circle, spawn_app};

/// Bodies no route accepts.
fn generic_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut invalid_utf8 = br#"{"title": ""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#""}"#);
    vec![
        ("malformed JSON", br#"{"title": "#.to_vec()),
        ("deeply nested JSON", deep.into_bytes()),
        ("invalid UTF-8", invalid_utf8),
        ("an array", b"[1, 2, 3]".to_vec()),
        ("NaN", br#"{"lat": NaN, "lon": Infinity}"#.to_vec()),
        ("a number beyond f64", br#"{"lat": 1e309, "lon": 0, "display_name": 1e309, "note": -1e999}"#.to_vec()),
        ("a huge body", format!(r#"{{"title": "{}"}}"#, "x".repeat(2 * 1024 * 1024)).into_bytes()),
        ("wrong types", br#"{"title": 5, "email": [], "status": {}, "lat": "x", "role": 1, "name": null, "display_name": 5, "note": 5}"#.to_vec()),
        ("an empty body", Vec::new()),
    ]
}

/// Valid JSON with a value the route must refuse, per operation.
fn values_corpus(operation_id: &str) -> Vec<Value> {
    let polygon =
        |ring: Vec<[f64; 2]>| json!({ "title": "x", "area": { "type": "Polygon", "coordinates": [ring] } });
    match operation_id {
        "register_account" => vec![
            json!({ "email": "not-an-email", "password": "a good long password", "display_name": "A" }),
            json!({ "email": "a@example.org", "password": "short", "display_name": "A" }),
            json!({ "email": "a@example.org'; DROP TABLE users;--", "password": "a good long password", "display_name": "A" }),
            json!({ "email": "b@example.org", "password": "a good long password", "display_name": "A", "locale": "tlh" }),
        ],
        "create_incident" => {
            let vertices: Vec<[f64; 2]> = (0..100_001)
                .map(|i| [2.3 + f64::from(i % 1000) * 1e-5, 48.8 + f64::from(i / 1000) * 1e-5])
                .collect();
            vec![
                polygon(vertices),
                polygon(vec![[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), // a bow tie
                polygon(vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]),                         // not closed
                json!({ "title": "x", "area": { "type": "Circle", "center": { "lat": 95, "lon": 0 }, "radius_m": 10 } }),
                json!({ "title": "x", "area": { "type": "Circle", "center": { "lat": 0, "lon": 0 }, "radius_m": 1e300 } }),
                json!({ "title": "x", "area": { "type": "Hexagon" } }),
                json!({ "title": "", "area": paris_circle("x")["area"] }),
                json!({ "title": "x", "area": paris_circle("x")["area"], "expires_at": "2001-01-01T00:00:00Z" }),
            ]
        }
        "update_location" => vec![
            json!({ "lat": 91, "lon": 0 }),
            json!({ "lat": 0, "lon": -181 }),
            json!({ "lat": 0, "lon": 0, "accuracy_m": -1 }),
            json!({ "lat": 0, "lon": 0, "recorded_at": "3000-01-01T00:00:00Z" }),
        ],
        "create_check_in" => vec![
            json!({ "status": "zombie" }),
            json!({ "status": "safe", "message": "x".repeat(281) }),
            json!({ "status": "safe", "message": "bell \u{7}" }),
        ],
        "create_contact" => vec![
            json!({ "name": "Mum", "email": "not-an-email" }),
            json!({ "name": "", "email": "mum@example.org" }),
            json!({ "name": "Mum", "email": "mum@example.org", "locale": "xx" }),
        ],
        "update_me" => vec![
            json!({ "locale": "xx" }),
            json!({ "display_name": "" }),
            json!({ "password": "a new long password" }),
            json!({ "password": "a new long password", "current_password": "wrong password" }),
        ],
        "grant_role" => vec![json!({ "role": "king" }), json!({ "role": "user" })],
        "resolve_incident" => vec![json!({ "note": "x".repeat(2001) })],
        _ => Vec::new(),
    }
}

/// Rows in every table that a request could change.
fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    use safecheck::db::schema::*;
    let mut conn = safecheck::db::pool_connect(app.database_url()).unwrap();
    vec![
        ("users", users::table.count().get_result(&mut conn).unwrap()),
        ("user_locations", user_locations::table.count().get_result(&mut conn).unwrap()),
        ("contacts", contacts::table.count().get_result(&mut conn).unwrap()),
        ("incidents", incidents::table.count().get_result(&mut conn).unwrap()),
        (
            "resolved",
            incidents::table.filter(incidents::status.eq("resolved")).count().get_result(&mut conn).unwrap(),
        ),
        ("prompts", prompts::table.count().get_result(&mut conn).unwrap()),
        ("check_ins", check_ins::table.count().get_result(&mut conn).unwrap()),
        ("notifications", notifications::table.count().get_result(&mut conn).unwrap()),
        ("audit_log", audit_log::table.count().get_result(&mut conn).unwrap()),
        ("idempotency_keys", idempotency_keys::table.count().get_result(&mut conn).unwrap()),
    ]
}

#[tokio::test]
async fn bad_input_to_every_route_is_a_4xx_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.new_user_with_role("admin").await;
    let incident = app.activate(&admin, &paris_circle("Corpus")).await["id"].as_str().unwrap().to_owned();
    app.put_location(&admin, 48.8630, 2.3708).await;
    let before = row_counts(&app);
    let mut wrong = Vec::new();

    for route in safecheck::routes::routes() {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        // Routes without a body ignore one: nothing to refuse.
        let bodiless = ["send_reminders", "mark_handled", "logout_all"].contains(&route.operation_id);
        if ![Method::POST, Method::PUT, Method::PATCH].contains(&method) || bodiless {
            continue;
        }
        let path = route
            .path
            .replace("/v1/admin/users/{id}", &format!("/v1/admin/users/{}", admin.id))
            .replace("{id}", &incident)
            .replace("{user_id}", &admin.id)
            .replace("{token}", "not-a-token");
        let mut bodies = generic_corpus();
        if route.operation_id == "resolve_incident" {
            bodies.retain(|(what, _)| *what != "an empty body"); // the body is optional there
        }
        for value in values_corpus(route.operation_id) {
            bodies.push(("a refused value", serde_json::to_vec(&value).unwrap()));
        }
        for (what, body) in bodies {
            let response = app
                .client
                .request(method.clone(), app.url(&path))
                .bearer_auth(&admin.access_token)
                .header("content-type", "application/json")
                .header("x-very-long", "v".repeat(16 * 1024))
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let media = response.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
            // Unsubscribe accepts any body (RFC 8058): its token is what is refused.
            // A one-tap answer link is a page for a person: refused with a page of its own.
            let page = route.operation_id == "post_answer_link"
                && media.as_deref() == Some("text/html; charset=utf-8");
            let refused = (400..500).contains(&status)
                && (media.as_deref() == Some("application/problem+json") || page);
            if !refused {
                let text = response.text().await.unwrap_or_default();
                wrong.push(format!(
                    "{} {} with {what}: {status} {}",
                    route.method,
                    route.path,
                    &text[..text.len().min(200)]
                ));
            }
        }
    }

    assert!(
        wrong.is_empty(),
        "bad input that was not refused with a problem document:\n{}",
        wrong.join("\n")
    );
    assert_eq!(row_counts(&app), before, "refused requests changed the database");
}
