//! `safecheck admin incidents …`: the commands, and list, show and resolve.

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Call, Client};
use super::failure::Failure;
use super::table::{Table, cell, key_values, number, time};
use super::{Global, create, notices, parse_id, people, stats};

/// The largest page the server serves; fewer round trips when following every page.
pub const PAGE_LIMIT: u32 = 200;

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Activate an incident over an area: everyone inside is prompted (or --dry-run to count).
    Create(create::CreateArgs),
    /// List incidents, newest first (one page unless --all).
    List {
        #[arg(long, value_parser = ["active", "resolved", "retracted", "pending_approval", "rejected"])]
        status: Option<String>,
        /// List drills instead of real incidents.
        #[arg(long)]
        exercise: bool,
        /// Follow the pages to the end.
        #[arg(long)]
        all: bool,
    },
    #[command(flatten)]
    Action(IncidentAction),
}

/// What can be done to one incident; also offered directly as `safecheck admin show ID` etc.
#[derive(Debug, Subcommand)]
pub enum IncidentAction {
    /// One incident.
    Show {
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Live counts: prompted, safe, need help, no response, emails.
    Stats {
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Who was prompted and what they answered (every page), or --csv for the server's CSV.
    People(people::PeopleArgs),
    /// Prompt again everyone who has not answered yet.
    Remind {
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Mark a person's "need help" as handled.
    Handled {
        #[arg(value_parser = parse_id)]
        id: String,
        #[arg(value_parser = parse_id)]
        user_id: String,
    },
    /// End the incident: its open prompts close and nobody else is prompted.
    Resolve {
        #[arg(value_parser = parse_id)]
        id: String,
        /// Why it ends: kept with the incident and in the audit log (and sent with --notify).
        #[arg(long, alias = "resolution")]
        note: Option<String>,
        /// Email an all clear to everyone prompted.
        #[arg(long)]
        notify: bool,
    },
    /// Post an official update: emailed to everyone prompted (at most one in 5 minutes).
    Update {
        #[arg(value_parser = parse_id)]
        id: String,
        /// The update, up to 1,000 characters.
        text: String,
        /// Email it even if another update was emailed less than 5 minutes ago.
        #[arg(long)]
        urgent: bool,
    },
    /// The incident's official updates, all clear and retraction, newest first.
    Updates {
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Approve a large activation another operator made: its people are prompted.
    Approve {
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Reject a large activation waiting for approval: nobody is prompted.
    Reject {
        #[arg(value_parser = parse_id)]
        id: String,
        /// Why (up to 1,000 characters).
        #[arg(long)]
        reason: String,
    },
    /// End an incident sent in error: unsent emails are cancelled and everyone who heard of it
    /// is told it was sent in error.
    Retract {
        #[arg(value_parser = parse_id)]
        id: String,
        /// Why, sent to everyone told (up to 1,000 characters).
        #[arg(long)]
        reason: String,
    },
}

pub fn run(global: &Global, command: IncidentCommand) -> Result<(), Failure> {
    match command {
        IncidentCommand::Create(args) => create::create(global, args),
        IncidentCommand::List { status, exercise, all } => list(global, status, exercise, all),
        IncidentCommand::Action(action) => act(global, action),
    }
}

pub fn act(global: &Global, action: IncidentAction) -> Result<(), Failure> {
    let mut client = global.connect()?;
    match action {
        IncidentAction::Show { id } => {
            let incident = client.json(Call::get(&["v1", "incidents", &id]))?;
            global.show(&incident, describe)
        }
        IncidentAction::Stats { id } => stats::stats(global, &mut client, &id),
        IncidentAction::People(args) => people::people(global, &mut client, args),
        IncidentAction::Remind { id } => stats::remind(global, &mut client, &id),
        IncidentAction::Handled { id, user_id } => people::handled(global, &mut client, &id, &user_id),
        IncidentAction::Resolve { id, note, notify } => resolve(global, &mut client, &id, note, notify),
        IncidentAction::Update { id, text, urgent } => {
            notices::update(global, &mut client, &id, &text, urgent)
        }
        IncidentAction::Updates { id } => notices::updates(global, &mut client, &id),
        IncidentAction::Retract { id, reason } => notices::retract(global, &mut client, &id, &reason),
        IncidentAction::Approve { id } => {
            let incident = client.json(Call::post(&["v1", "incidents", &id, "approve"], json!({})))?;
            global
                .show(&incident, |i| format!("{}approved: everyone inside is being prompted\n", describe(i)))
        }
        IncidentAction::Reject { id, reason } => {
            let body = json!({ "reason": reason });
            let incident = client.json(Call::post(&["v1", "incidents", &id, "reject"], body))?;
            global.show(&incident, describe)
        }
    }
}

fn list(global: &Global, status: Option<String>, exercise: bool, all: bool) -> Result<(), Failure> {
    let mut client = global.connect()?;
    let call = |cursor: Option<&str>| {
        Call::get(&["v1", "incidents"])
            .query("status", status.as_deref())
            .query("exercise", exercise.then_some("true"))
            .query("cursor", cursor)
    };
    let page = if all {
        every_page(&mut client, |cursor| call(cursor).query("limit", Some(PAGE_LIMIT)))?
    } else {
        client.json(call(None))?
    };
    global.show(&page, |page| {
        let items = page["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        if items.is_empty() {
            return "no incidents\n".to_owned();
        }
        let mut table = Table::new(&["ID", "STATUS", "CREATED", "PROMPTED", "TITLE"]);
        for incident in items {
            table.push(vec![
                cell(&incident["id"]),
                cell(&incident["status"]),
                time(&incident["created_at"]),
                cell(&incident["fanout"]["prompts_created"]),
                cell(&incident["title"]),
            ]);
        }
        let mut text = table.render();
        if !page["next_cursor"].is_null() {
            text.push_str("(more incidents: add --all to list them all)\n");
        }
        text
    })
}

/// Fetches page after page while `next_cursor` is set; returns the first page's document with
/// every page's `items` and a null `next_cursor`.
pub fn every_page<'a>(
    client: &mut Client,
    call: impl Fn(Option<&str>) -> Call<'a>,
) -> Result<Value, Failure> {
    let mut document = client.json(call(None))?;
    let mut items = take_items(&mut document)?;
    let mut cursor = document["next_cursor"].as_str().map(str::to_owned);
    while let Some(current) = cursor {
        let mut page = client.json(call(Some(current.as_str())))?;
        items.extend(take_items(&mut page)?);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.as_deref() == Some(current.as_str()) {
            return Err(Failure::Other("the server returned the same page cursor twice".into()));
        }
    }
    document["items"] = Value::Array(items);
    document["next_cursor"] = Value::Null;
    Ok(document)
}

fn take_items(page: &mut Value) -> Result<Vec<Value>, Failure> {
    match page["items"].take() {
        Value::Array(items) => Ok(items),
        _ => Err(Failure::Other("the server's answer has no `items` list".into())),
    }
}

fn resolve(
    global: &Global,
    client: &mut Client,
    id: &str,
    note: Option<String>,
    notify: bool,
) -> Result<(), Failure> {
    let body = json!({ "note": note, "notify": notify });
    let incident = client.json(Call::post(&["v1", "incidents", id, "resolve"], body))?;
    global.show(&incident, describe)
}

/// An incident as `key: value` lines.
pub fn describe(incident: &Value) -> String {
    let fanout = &incident["fanout"];
    let prompts = cell(&fanout["prompts_created"]);
    let fanout_text = if fanout["complete"] == true {
        format!("complete, {prompts} prompted")
    } else {
        format!("in progress, {prompts} prompted so far")
    };
    let mut pairs = vec![
        ("id", cell(&incident["id"])),
        ("title", cell(&incident["title"])),
        ("status", cell(&incident["status"])),
        ("area", describe_area(&incident["area"])),
        ("created", time(&incident["created_at"])),
        ("expires", time(&incident["expires_at"])),
        ("fan-out", fanout_text),
    ];
    if let Some(description) = incident["description"].as_str() {
        pairs.insert(2, ("description", description.to_owned()));
    }
    if incident["exercise"] == true {
        pairs.insert(1, ("exercise", "yes: a drill".to_owned()));
    }
    if let Some(until) = incident["approval"]["expires_at"].as_str() {
        pairs.push(("approval", format!("waiting for another operator until {}", time(&Value::from(until)))));
    }
    if !incident["resolved_at"].is_null() {
        pairs.push(("resolved", time(&incident["resolved_at"])));
        pairs.push(("resolution", cell(&incident["resolution"])));
        pairs.push(("note", cell(&incident["resolution_note"])));
    }
    key_values(&pairs)
}

/// "circle of 1500 m around 48.863,2.3708", or the GeoJSON type and its ring count.
pub fn describe_area(area: &Value) -> String {
    match area["type"].as_str() {
        Some("Circle") => format!(
            "circle of {} m around {},{}",
            number(&area["radius_m"]),
            number(&area["center"]["lat"]),
            number(&area["center"]["lon"])
        ),
        Some("Polygon") => "polygon".to_owned(),
        Some("MultiPolygon") => {
            let parts = area["coordinates"].as_array().map_or(0, Vec::len);
            format!("multipolygon of {parts} polygons")
        }
        Some(other) => other.to_owned(),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_reads_as_key_values() {
        let incident = json!({
            "id": "0193", "title": "Flood", "description": null, "status": "active",
            "area": { "type": "Circle", "center": { "lat": 48.863, "lon": 2.3708 }, "radius_m": 1500.0 },
            "created_at": "2026-11-28T10:00:00Z", "expires_at": null, "resolved_at": null,
            "resolution": null, "fanout": { "complete": true, "prompts_created": 12 }
        });
        assert_eq!(
            describe(&incident),
            "id:       0193\n\
             title:    Flood\n\
             status:   active\n\
             area:     circle of 1500 m around 48.863,2.3708\n\
             created:  2026-11-28 10:00:00 UTC\n\
             expires:  -\n\
             fan-out:  complete, 12 prompted\n"
        );
    }
}
