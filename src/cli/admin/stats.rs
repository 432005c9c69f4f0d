//! `safecheck admin incidents stats` and `remind`: how an incident stands, and a nudge.

use serde_json::Value;

use crate::domain::NotificationState;

use super::Global;
use super::client::{Call, Client};
use super::failure::Failure;
use super::table::{cell, key_values};

pub fn stats(global: &Global, client: &mut Client, id: &str) -> Result<(), Failure> {
    let stats = client.json(Call::get(&["v1", "incidents", id, "stats"]))?;
    global.show(&stats, render_stats)
}

/// Prompts again everyone who has not answered.
pub fn remind(global: &Global, client: &mut Client, id: &str) -> Result<(), Failure> {
    let outcome = client.json(Call::post_empty(&["v1", "incidents", id, "reminders"]))?;
    global.show(&outcome, |o| {
        key_values(&[
            ("incident", cell(&o["incident_id"])),
            ("not answered", cell(&o["not_answered"])),
            ("reminders queued", cell(&o["queued"])),
            ("suppressed", cell(&o["suppressed"])),
            ("skipped, reminded recently", cell(&o["skipped_recent"])),
            ("skipped, reminder limit", cell(&o["skipped_limit"])),
        ])
    })
}

fn render_stats(stats: &Value) -> String {
    // `need_help_handled` is newer than the rest: older servers do not send it.
    let need_help = match stats.get("need_help_handled") {
        Some(handled) => format!("{} ({} handled)", cell(&stats["need_help"]), cell(handled)),
        None => cell(&stats["need_help"]),
    };
    let fanout = &stats["fanout"];
    let fanout = if fanout["complete"] == true { "complete" } else { "in progress" };
    let n = &stats["notifications"];
    let emails =
        NotificationState::ALL.map(|state| format!("{state} {}", cell(&n[state.as_str()]))).join(", ");
    let mut rows = vec![
        ("incident", cell(&stats["incident_id"])),
        ("status", cell(&stats["status"])),
        ("prompted", cell(&stats["prompted"])),
        ("safe", cell(&stats["safe"])),
        ("not in area", cell(&stats["not_in_area"])),
        ("need help", need_help),
        ("no response", cell(&stats["no_response"])),
        ("fan-out", fanout.to_owned()),
        ("emails", emails),
    ];
    // Once retention deleted the per-person rows, the counts are what was kept of them.
    if let Some(purged) = stats.get("purged_at").filter(|p| !p.is_null()) {
        rows.push(("purged at", format!("{} (counts kept from before)", cell(purged))));
    }
    key_values(&rows)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stats(extra: Value) -> Value {
        let mut stats = json!({
            "incident_id": "0193", "status": "active", "prompted": 4, "safe": 1, "not_in_area": 0,
            "need_help": 2, "no_response": 1, "fanout": { "complete": true, "prompts_created": 4 },
            "notifications": { "queued": 1, "sending": 0, "retrying": 0, "sent": 3, "failed": 0,
                               "suppressed": 0, "dropped": 0 }
        });
        if let (Some(stats), Value::Object(extra)) = (stats.as_object_mut(), extra) {
            stats.extend(extra);
        }
        stats
    }

    #[test]
    fn stats_read_as_key_values() {
        let text = render_stats(&stats(json!({})));
        assert!(text.starts_with("incident:     0193\nstatus:       active\nprompted:     4\n"), "{text}");
        assert!(text.contains("need help:    2\n"));
        assert!(text.contains("emails:       sent 3, queued 1, sending 0,"));
    }

    #[test]
    fn handled_calls_for_help_show_when_the_server_counts_them() {
        let text = render_stats(&stats(json!({ "need_help_handled": 1 })));
        assert!(text.contains("need help:    2 (1 handled)\n"), "{text}");
    }

    #[test]
    fn an_incident_whose_rows_were_purged_says_when() {
        assert!(!render_stats(&stats(json!({ "purged_at": null }))).contains("purged"));
        let text = render_stats(&stats(json!({ "purged_at": "2027-01-01T00:00:00Z" })));
        assert!(text.contains("purged at:    2027-01-01T00:00:00Z (counts kept from before)"), "{text}");
    }
}
