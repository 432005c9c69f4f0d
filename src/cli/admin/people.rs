//! `safecheck admin incidents people` and `handled`: who was prompted and how they answered.

use clap::Args;
use serde_json::Value;

use super::client::{Call, Client};
use super::failure::Failure;
use super::incidents::{PAGE_LIMIT, every_page};
use super::table::{Table, cell, key_values, time};
use super::{Global, emit, parse_id};

#[derive(Debug, Args)]
pub struct PeopleArgs {
    #[arg(value_parser = parse_id)]
    id: String,
    /// Only people with this answer.
    #[arg(long, value_parser = ["no_response", "safe", "not_in_area", "need_help"])]
    status: Option<String>,
    /// Write the server's CSV of every matching person to stdout, unchanged (wins over --json).
    #[arg(long)]
    csv: bool,
}

pub fn people(global: &Global, client: &mut Client, args: PeopleArgs) -> Result<(), Failure> {
    let path = ["v1", "incidents", args.id.as_str(), "people"];
    let status = args.status.as_deref();
    if args.csv {
        let csv = client.text(Call::get(&path).query("status", status).accept("text/csv"))?;
        return emit(&csv);
    }
    let everyone = every_page(client, |cursor| {
        Call::get(&path).query("status", status).query("cursor", cursor).query("limit", Some(PAGE_LIMIT))
    })?;
    global.show(&everyone, render_people)
}

/// Marks the person's call for help as handled.
pub fn handled(global: &Global, client: &mut Client, id: &str, user_id: &str) -> Result<(), Failure> {
    let person = client.json(Call::post_empty(&["v1", "incidents", id, "people", user_id, "handled"]))?;
    global.show(&person, |person| {
        key_values(&[
            ("user id", cell(&person["user_id"])),
            ("name", cell(&person["display_name"])),
            ("email", cell(&person["email"])),
            ("status", cell(&person["status"])),
            ("handled", time(&person["handled_at"])),
            ("handled by", cell(&person["handled_by"])),
        ])
    })
}

fn render_people(page: &Value) -> String {
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut table = Table::new(&["USER ID", "NAME", "EMAIL", "STATUS", "ANSWERED", "HANDLED", "MESSAGE"]);
    for person in items {
        table.push(vec![
            cell(&person["user_id"]),
            cell(&person["display_name"]),
            cell(&person["email"]),
            cell(&person["status"]),
            time(&person["answered_at"]),
            time(&person["handled_at"]),
            person["message"].as_str().unwrap_or_default().to_owned(),
        ]);
    }
    let count = match items.len() {
        1 => "1 person".to_owned(),
        n => format!("{n} people"),
    };
    let as_of = page.get("as_of").map(|t| format!(", as of {}", time(t))).unwrap_or_default();
    if table.is_empty() {
        return format!("no one{as_of}\n");
    }
    format!("{}{count}{as_of}\n", table.render())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn people_read_as_a_table_with_a_count() {
        let page = json!({ "as_of": "2026-11-28T10:05:00Z", "next_cursor": null, "items": [
            { "user_id": "u1", "display_name": "Ana", "email": "ana@example.org", "status": "need_help",
              "answered_at": "2026-11-28T10:01:00Z", "message": "stuck\non floor 3",
              "handled_at": null, "handled_by": null },
            { "user_id": "u2", "display_name": "Bo", "email": "bo@example.org", "status": "no_response",
              "answered_at": null, "message": null, "handled_at": null, "handled_by": null }
        ]});
        assert_eq!(
            render_people(&page),
            "USER ID  NAME  EMAIL            STATUS       ANSWERED                 HANDLED  MESSAGE\n\
             u1       Ana   ana@example.org  need_help    2026-11-28 10:01:00 UTC  -        stuck on floor 3\n\
             u2       Bo    bo@example.org   no_response  -                        -\n\
             2 people, as of 2026-11-28 10:05:00 UTC\n"
        );
    }
}
