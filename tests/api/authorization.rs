//! The authorization matrix: every route in the route table, called by anonymous, a user,
//! another user, an operator and an admin. Nobody below a route's role gets through, and no
//! user reads or changes another's data.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, paris_circle, spawn_app};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Needs {
    Anyone,
    User,
    Operator,
    Admin,
    /// The scrape token, which no user's token is: everyone here gets 401.
    ScrapeToken,
}

/// Every route's role, by operationId. A route missing here fails the test: a new route must
/// say who may call it.
fn needs(operation_id: &str) -> Needs {
    match operation_id {
        "get_healthz" | "get_readyz" | "get_openapi" | "register_account" | "login" | "refresh_session"
        | "get_unsubscribe" | "post_unsubscribe" | "get_invitation" | "accept_invitation"
        | "get_answer_link" | "post_answer_link" => Needs::Anyone,
        "logout" | "logout_all" | "get_me" | "update_me" | "delete_me" | "update_location"
        | "list_contacts" | "create_contact" | "delete_contact" | "list_prompts" | "list_incidents"
        | "get_incident" | "create_check_in" | "get_my_check_ins" | "list_updates" => Needs::User,
        "create_incident" | "resolve_incident" | "get_incident_stats" | "list_people" | "mark_handled"
        | "send_reminders" | "list_audit" | "post_update" | "retract_incident" | "approve_incident"
        | "reject_incident" => Needs::Operator,
        "grant_role" | "revoke_role" => Needs::Admin,
        // Guarded by its own scrape token, not by a role: its holder is tested in metrics.rs.
        "get_metrics" => Needs::ScrapeToken,
        other => panic!("the authorization matrix does not know `{other}`: add it"),
    }
}

/// The people and data every call refers to.
struct Scene {
    owner: TestUser,
    other: TestUser,
    operator: TestUser,
    admin: TestUser,
    incident: String,
    contact: String,
}

async fn scene(app: &TestApp) -> Scene {
    let operator = app.new_user_with_role("operator").await;
    let admin = app.new_user_with_role("admin").await;
    let owner = app.user_at(48.8630, 2.3708).await;
    let other = app.user_at(48.8631, 2.3709).await;
    let incident = app.activate(&operator, &paris_circle("Matrix")).await["id"].as_str().unwrap().to_owned();
    let contact: Value = app
        .authed(Method::POST, "/v1/me/contacts", &owner)
        .json(&json!({ "name": "Mum", "email": "mum@example.org" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contact = contact["id"].as_str().unwrap().to_owned();
    Scene { owner, other, operator, admin, incident, contact }
}

/// A concrete path for the route, about the scene's owner and incident.
fn path_for(template: &str, scene: &Scene) -> String {
    template
        .replace("/v1/me/contacts/{id}", &format!("/v1/me/contacts/{}", scene.contact))
        .replace("/v1/admin/users/{id}", &format!("/v1/admin/users/{}", scene.owner.id))
        .replace("{id}", &scene.incident)
        .replace("{user_id}", &scene.owner.id)
        .replace("{role}", "operator")
        .replace("{token}", "not-a-token")
}

/// A body the route accepts, so that what is tested is who may call, not what is sent.
async fn body_for(
    app: &TestApp,
    scene: &Scene,
    operation_id: &str,
    caller: Option<&TestUser>,
) -> Option<Value> {
    Some(match operation_id {
        "register_account" => json!({ "email": format!("{}@example.org", uuid::Uuid::new_v4().simple()),
                                      "password": "a good long password", "display_name": "New" }),
        "login" => json!({ "email": scene.owner.email, "password": scene.owner.password }),
        "refresh_session" => {
            let fresh: Value =
                app.login(&scene.owner.email, &scene.owner.password).await.json().await.unwrap();
            json!({ "refresh_token": fresh["refresh_token"] })
        }
        "logout" => json!({ "refresh_token": caller.map_or("none".to_owned(), |c| c.refresh_token.clone()) }),
        "update_me" => json!({ "display_name": "Renamed" }),
        "update_location" => json!({ "lat": 48.8630, "lon": 2.3708 }),
        "create_contact" => {
            json!({ "name": "Bob", "email": format!("{}@example.org", uuid::Uuid::new_v4().simple()) })
        }
        "create_incident" => {
            json!({ "title": "Dry run", "area": paris_circle("x")["area"], "dry_run": true })
        }
        "create_check_in" => json!({ "status": "need_help" }),
        "grant_role" => json!({ "role": "operator" }),
        "resolve_incident" => json!({ "note": "matrix" }),
        "post_update" => json!({ "text": "matrix" }),
        "retract_incident" | "reject_incident" => json!({ "reason": "matrix" }),
        _ => return None,
    })
}

async fn call(
    app: &TestApp,
    scene: &Scene,
    method: &Method,
    path: &str,
    op: &str,
    caller: Option<&TestUser>,
) -> u16 {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(user) = caller {
        request = request.bearer_auth(&user.access_token);
    }
    if let Some(body) = body_for(app, scene, op, caller).await {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_route_refuses_callers_below_its_role_and_serves_the_others() {
    let app = spawn_app().await;
    let scene = scene(&app).await;
    // Routes that end something (the session, the incident, the account) run last.
    let mut routes = safecheck::routes::routes();
    let last = ["mark_handled", "retract_incident", "resolve_incident", "logout", "delete_me", "logout_all"];
    routes.sort_by_key(|r| last.iter().position(|l| *l == r.operation_id));
    let mut wrong = Vec::new();

    for route in &routes {
        let op = route.operation_id;
        let path = path_for(route.path, &scene);
        let needed = needs(op);
        let callers: [(Needs, Option<&TestUser>, &str); 4] = [
            (Needs::Anyone, None, "anonymous"),
            (Needs::User, Some(&scene.other), "a user"),
            (Needs::Operator, Some(&scene.operator), "an operator"),
            (Needs::Admin, Some(&scene.admin), "an admin"),
        ];
        for (level, caller, who) in callers {
            if op == "delete_me" && level != Needs::Anyone {
                continue; // erasing an account is tested below, on the owner
            }
            // actix's http 0.2 method, as reqwest's http 1 method.
            let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
            let status = call(&app, &scene, &method, &path, op, caller).await;
            let expected_refusal = match level {
                Needs::Anyone => 401,
                // A user's access token is no credential for the scrape token's route.
                _ if needed == Needs::ScrapeToken => 401,
                _ => 403,
            };
            let ok = if level < needed {
                // A user asking for an incident they were not prompted for learns nothing: 404.
                status == expected_refusal || (op == "get_incident" && status == 404)
            } else {
                status != 401 && status != 403 && status < 500
            };
            if !ok {
                wrong.push(format!("{} {} by {who}: {status}", route.method, route.path));
            }
        }
    }

    assert!(wrong.is_empty(), "authorization mismatches:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn no_user_reads_or_changes_another_users_data() {
    let app = spawn_app().await;
    let scene = scene(&app).await;
    let answer = app
        .authed(Method::POST, &format!("/v1/incidents/{}/check-ins", scene.incident), &scene.owner)
        .json(&json!({ "status": "need_help", "message": "only for my contacts" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let other = &scene.other;

    let contacts: Value =
        app.authed(Method::GET, "/v1/me/contacts", other).send().await.unwrap().json().await.unwrap();
    assert_eq!(contacts["items"], json!([]), "another user's contacts are not listed");
    let path = format!("/v1/me/contacts/{}", scene.contact);
    assert_eq!(app.authed(Method::DELETE, &path, other).send().await.unwrap().status(), 404);
    let mine: Value =
        app.authed(Method::GET, "/v1/me/contacts", &scene.owner).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine["items"][0]["id"], scene.contact.as_str(), "the contact is still there");

    let answers = app.my_check_ins(other, &scene.incident).await;
    assert_eq!(answers["current"], Value::Null, "another user's answer is not theirs to read");
    let me: Value = app.authed(Method::GET, "/v1/me", other).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["id"], other.id.as_str());

    let erased = app
        .authed(Method::DELETE, "/v1/me", other)
        .json(&json!({ "current_password": other.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    let owner: Value =
        app.authed(Method::GET, "/v1/me", &scene.owner).send().await.unwrap().json().await.unwrap();
    assert_eq!(owner["id"], scene.owner.id.as_str(), "erasing one account leaves the others");
    assert_eq!(app.my_check_ins(&scene.owner, &scene.incident).await["current"]["status"], "need_help");
}
