//! The contract and the router stay in step: every served route is in `api-spec/openapi.yaml`
//! with its handler's name as `operationId`, and every route in the spec is served.

use std::collections::BTreeSet;

use serde_yaml::Value;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.yaml"))
        .expect("api-spec/openapi.yaml");
    serde_yaml::from_str(&text).expect("the spec is YAML")
}

fn spec_operations() -> BTreeSet<(String, String, String)> {
    let spec = spec();
    let paths = spec["paths"].as_mapping().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                let id = operation["operationId"].as_str().unwrap_or("(no operationId)");
                operations.insert((method.to_uppercase(), path.as_str().unwrap().to_owned(), id.to_owned()));
            }
        }
    }
    operations
}

fn served_operations() -> BTreeSet<(String, String, String)> {
    safecheck::routes::routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned(), r.operation_id.to_owned()))
        .collect()
}

#[test]
fn every_served_route_is_in_the_spec_and_every_spec_route_is_served() {
    let spec = spec_operations();
    let served = served_operations();
    let missing_from_spec: Vec<_> = served.difference(&spec).collect();
    let not_served: Vec<_> = spec.difference(&served).collect();
    assert!(missing_from_spec.is_empty(), "served but not in the spec: {missing_from_spec:?}");
    assert!(not_served.is_empty(), "in the spec but not served: {not_served:?}");
}

#[test]
fn the_spec_is_openapi_3_1_with_a_problem_schema() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["components"]["schemas"]["Problem"].is_mapping());
}

#[tokio::test]
async fn the_spec_is_served_at_openapi_yaml() {
    let app = crate::helpers::spawn_app().await;
    let response = app.get("/openapi.yaml").await;
    assert_eq!(response.status(), 200);
    let served = response.text().await.unwrap();
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.yaml")).unwrap();
    assert_eq!(served, on_disk);
}

#[test]
fn the_spec_check_catches_a_drifted_field_an_undocumented_status_and_an_unknown_path() {
    use crate::support::spec_check::{Exchange, check};
    let exchange = |method, path, status, body: &'static str| Exchange {
        method,
        path,
        status,
        content_type: Some("application/json"),
        body: body.as_bytes(),
    };

    assert_eq!(check(&exchange("GET", "/healthz", 200, r#"{"status":"ok"}"#)), None);
    let drifted =
        check(&exchange("GET", "/healthz", 200, r#"{"status":1}"#)).expect("a wrong type is caught");
    assert!(drifted.contains("/status"), "{drifted}");
    let missing = check(&exchange("GET", "/v1/incidents/abc/stats", 200, r#"{"incident_id":"abc"}"#));
    assert!(missing.expect("missing fields are caught").contains("required"));
    assert!(check(&exchange("GET", "/healthz", 418, "{}")).expect("418").contains("not documented"));
    assert!(check(&exchange("GET", "/v1/nowhere", 200, "{}")).expect("unknown").contains("not in the spec"));
    assert_eq!(check(&exchange("GET", "/v1/nowhere", 404, "{}")), None);
}

#[test]
fn every_example_in_the_spec_is_valid_against_its_schema() {
    use crate::support::spec_check::{examples, violations_of};
    let examples = examples();
    assert!(examples.len() >= 20, "only {} examples", examples.len());

    let wrong: Vec<String> = examples
        .iter()
        .filter_map(|(pointer, example)| {
            let violations = violations_of(pointer, example);
            (!violations.is_empty()).then(|| format!("{pointer}: {}", violations.join("; ")))
        })
        .collect();

    assert!(wrong.is_empty(), "examples that contradict their schema:\n{}", wrong.join("\n"));
}

#[test]
fn no_request_example_expires_in_the_past() {
    // A client copies an example long after it was written; a past `expires_at` is refused.
    fn expiries<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(object) => {
                for (key, child) in object {
                    match child.as_str() {
                        Some(at) if key == "expires_at" => found.push(at),
                        _ => expiries(child, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| expiries(item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    let examples = crate::support::spec_check::examples();
    for (_, example) in examples.iter().filter(|(pointer, _)| pointer.contains("/requestBody/")) {
        expiries(example, &mut found);
    }
    assert!(!found.is_empty(), "the activation examples show `expires_at`");

    let now = chrono::Utc::now();
    let past: Vec<_> = found
        .iter()
        .filter(|at| chrono::DateTime::parse_from_rfc3339(at).map_or(true, |at| at <= now))
        .collect();
    assert!(past.is_empty(), "request examples whose expires_at is not in the future: {past:?}");
}
