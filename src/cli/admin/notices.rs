//! `safecheck admin update|updates|retract`: official updates, and the retraction of an incident
//! sent in error.

use serde_json::{Value, json};

use super::Global;
use super::client::{Call, Client};
use super::failure::Failure;
use super::incidents::{PAGE_LIMIT, describe, every_page};
use super::table::{Table, cell, time};

/// Posts an official update; prints it (and whether it is emailed).
pub fn update(
    global: &Global,
    client: &mut Client,
    id: &str,
    text: &str,
    urgent: bool,
) -> Result<(), Failure> {
    let body = json!({ "text": text, "urgent": urgent });
    let notice = client.json(Call::post(&["v1", "incidents", id, "updates"], body))?;
    global.show(&notice, |notice| {
        let emailed = if notice["emailed"] == true {
            "emailed to everyone prompted".to_owned()
        } else {
            "stored and listed, not emailed: another update was emailed less than 5 minutes ago \
             (--urgent emails it anyway)"
                .to_owned()
        };
        format!("update {} posted: {emailed}\n", cell(&notice["id"]))
    })
}

/// Lists every notice of the incident, newest first.
pub fn updates(global: &Global, client: &mut Client, id: &str) -> Result<(), Failure> {
    let path = ["v1", "incidents", id, "updates"];
    let page = every_page(client, |cursor| {
        Call::get(&path).query("cursor", cursor).query("limit", Some(PAGE_LIMIT))
    })?;
    global.show(&page, render)
}

fn render(page: &Value) -> String {
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "no updates\n".to_owned();
    }
    let mut table = Table::new(&["POSTED", "KIND", "EMAILED", "QUEUED", "TEXT"]);
    for notice in items {
        let emailed = match (notice["emailed"].as_bool(), notice["emails_complete"].as_bool()) {
            (Some(false), _) => "no",
            (_, Some(true)) => "yes",
            _ => "queueing",
        };
        table.push(vec![
            time(&notice["created_at"]),
            cell(&notice["kind"]),
            emailed.to_owned(),
            cell(&notice["emails_queued"]),
            cell(&notice["text"]).replace('\n', " "),
        ]);
    }
    table.render()
}

/// Retracts the incident; prints it as it now is.
pub fn retract(global: &Global, client: &mut Client, id: &str, reason: &str) -> Result<(), Failure> {
    let incident =
        client.json(Call::post(&["v1", "incidents", id, "retract"], json!({ "reason": reason })))?;
    global.show(&incident, describe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_as_a_table() {
        let page = json!({ "items": [
            { "created_at": "2026-11-28T10:05:00Z", "kind": "update", "emailed": false, "emails_complete": true,
              "emails_queued": 0, "text": "line one\nline two" },
            { "created_at": "2026-11-28T10:00:00Z", "kind": "update", "emailed": true, "emails_complete": true,
              "emails_queued": 12, "text": "Stay indoors" }
        ]});
        let text = render(&page);
        assert!(text.contains("line one line two"), "{text}");
        assert!(text.lines().nth(2).unwrap().contains("yes"), "{text}");
        assert_eq!(render(&json!({ "items": [] })), "no updates\n");
    }
}
