//! Checks a response against `api-spec/openapi.yaml`: its path and method are documented, its
//! status is among the operation's responses, its media type is listed, and a JSON body is valid
//! against the schema (JSON Schema 2020-12, as OpenAPI 3.1 says).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// The spec as JSON, read once.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.yaml"))
            .expect("api-spec/openapi.yaml");
        serde_yaml::from_str(&text).expect("the spec is YAML")
    })
}

/// One response, as the proxy saw it.
pub struct Exchange<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What is wrong with the response, if anything.
pub fn check(exchange: &Exchange<'_>) -> Option<String> {
    let what = format!("{} {} -> {}", exchange.method, exchange.path, exchange.status);
    let Some(template) = path_template(exchange.path) else {
        // An unknown path may only be answered 404 (or 405 for a known prefix).
        return (![404, 405].contains(&exchange.status))
            .then(|| format!("{what}: the path is not in the spec"));
    };
    let operation = &spec()["paths"][template.as_str()][exchange.method.to_ascii_lowercase()];
    if operation.is_null() {
        return (exchange.status != 405)
            .then(|| format!("{what}: {template} has no such method in the spec"));
    }
    let status_key = exchange.status.to_string();
    let pointer = format!(
        "/paths/{}/{}/responses/{status_key}",
        escape(&template),
        exchange.method.to_ascii_lowercase()
    );
    let Some((pointer, response)) = resolve(&pointer) else {
        return Some(format!("{what}: status {status_key} is not documented for {template}"));
    };
    let content = &response["content"];
    if content.is_null() {
        return (!exchange.body.is_empty()).then(|| format!("{what}: a body where the spec has none"));
    }
    let media = exchange.content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_owned();
    if content[media.as_str()].is_null() {
        return Some(format!("{what}: media type `{media}` is not documented (has: {})", keys(content)));
    }
    if !media.ends_with("json") {
        return None;
    }
    let instance: Value = match serde_json::from_slice(exchange.body) {
        Ok(value) => value,
        Err(e) => return Some(format!("{what}: the body is not JSON: {e}")),
    };
    let schema_pointer = format!("{pointer}/content/{}/schema", escape(&media));
    let errors = violations_of(&schema_pointer, &instance);
    (!errors.is_empty())
        .then(|| format!("{what}: the body does not match the spec: {}; body: {instance}", errors.join("; ")))
}

/// What is wrong with `instance` as an instance of the schema at `pointer` (a JSON pointer
/// into the spec).
pub fn violations_of(pointer: &str, instance: &Value) -> Vec<String> {
    validator(pointer).iter_errors(instance).map(|e| format!("at `{}`: {e}", e.instance_path())).collect()
}

/// Every example in the spec, each with the pointer of the schema it illustrates: the
/// `examples` of component schemas, and the `example` and each named `examples` value of each
/// JSON media type.
pub fn examples() -> Vec<(String, Value)> {
    let mut found = Vec::new();
    if let Some(schemas) = spec()["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            for example in schema["examples"].as_array().into_iter().flatten() {
                found.push((format!("/components/schemas/{}", escape(name)), example.clone()));
            }
        }
    }
    collect_media_examples(spec(), String::new(), &mut found);
    found
}

fn collect_media_examples(value: &Value, pointer: String, found: &mut Vec<(String, Value)>) {
    let Some(object) = value.as_object() else { return };
    for (key, child) in object {
        let here = format!("{pointer}/{}", escape(key));
        let is_json_media = pointer.ends_with("/content") && key.ends_with("json");
        if is_json_media && let Some(example) = child.get("example") {
            found.push((format!("{here}/schema"), example.clone()));
        }
        if is_json_media && let Some(named) = child.get("examples").and_then(Value::as_object) {
            for example in named.values().filter_map(|e| e.get("value")) {
                found.push((format!("{here}/schema"), example.clone()));
            }
        }
        collect_media_examples(child, here, found);
    }
}

/// The spec's path template for a concrete path: literal segments win over parameters.
fn path_template(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let paths = spec()["paths"].as_object()?;
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') && part.ends_with('}') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template.clone())
}

/// The value at a JSON pointer, following a `$ref` to `#/components/...`; returns the pointer
/// it ended at and the value.
fn resolve(pointer: &str) -> Option<(String, &'static Value)> {
    let value = spec().pointer(pointer)?;
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(reference.strip_prefix('#')?),
        None => Some((pointer.to_owned(), value)),
    }
}

/// A validator of the schema at this pointer, with every `$ref` of the spec resolvable.
fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let mut cache =
        CACHE.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(pointer.to_owned())
        .or_insert_with(|| {
            let mut root = spec().clone();
            // A URI fragment: the braces of path templates must be percent-encoded.
            let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
            root["$ref"] = Value::String(format!("#{fragment}"));
            let options = jsonschema::options().with_draft(jsonschema::Draft::Draft202012);
            Arc::new(
                options.build(&root).unwrap_or_else(|e| panic!("the schema at {pointer} is invalid: {e}")),
            )
        })
        .clone()
}

/// A JSON pointer segment (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn keys(object: &Value) -> String {
    object.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
}
