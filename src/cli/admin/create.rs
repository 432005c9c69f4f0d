//! `safecheck admin incidents create`: activate an incident, or count who it would prompt.

use std::path::PathBuf;

use chrono::{SecondsFormat, Utc};
use clap::{ArgGroup, Args};
use serde_json::{Value, json};

use super::Global;
use super::area::{Circle, parse_circle, read_geojson};
use super::client::Call;
use super::expiry::{Expiry, parse_expiry};
use super::failure::Failure;
use super::incidents::describe;
use super::table::cell;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("area").required(true).args(["circle", "geojson"])))]
pub struct CreateArgs {
    /// What people are told (1 to 200 characters).
    #[arg(long)]
    title: String,
    /// More detail for the people prompted (up to 2000 characters).
    #[arg(long)]
    description: Option<String>,
    /// The area as a circle, e.g. 48.863,2.3708,1500 (degrees, degrees, metres).
    #[arg(long, value_name = "LAT,LON,RADIUS_M", value_parser = parse_circle, allow_hyphen_values = true)]
    circle: Option<Circle>,
    /// The area from a GeoJSON file ("-" for stdin): a Polygon or MultiPolygon, a Feature, or a
    /// FeatureCollection of one feature.
    #[arg(long, value_name = "FILE")]
    geojson: Option<PathBuf>,
    /// When the incident ends by itself: an RFC 3339 time (2026-12-01T00:00:00Z) or a duration
    /// from now (90m, 6h, 2d).
    #[arg(long, value_name = "TIME_OR_DURATION", value_parser = parse_expiry)]
    expires: Option<Expiry>,
    /// Only count the people it would prompt; store nothing.
    #[arg(long)]
    dry_run: bool,
    /// A drill: every prompt and email says EXERCISE; contacts are not emailed.
    #[arg(long)]
    exercise: bool,
    /// With --exercise: email the contacts too (their emails say EXERCISE).
    #[arg(long, requires = "exercise")]
    notify_contacts: bool,
}

pub fn create(global: &Global, args: CreateArgs) -> Result<(), Failure> {
    let body = request_body(args)?;
    let dry_run = body["dry_run"] == true;
    let mut client = global.connect()?;
    let answer = client.json(Call::post(&["v1", "incidents"], body))?;
    if dry_run {
        return global.show(&answer, |answer| {
            let count = cell(&answer["would_prompt"]);
            let approval = if answer["approval_required"] == true {
                " (activating it would wait for another operator's approval)"
            } else {
                ""
            };
            format!("dry run: this incident would prompt {count} people{approval}; nothing was stored\n")
        });
    }
    global.show(&answer, |incident| {
        if incident["status"] == "pending_approval" {
            return format!(
                "{}waiting for another operator: `safecheck admin approve {}` (or reject); nobody is prompted yet\n",
                describe(incident),
                cell(&incident["id"])
            );
        }
        format!("{}activated: everyone inside is being prompted\n", describe(incident))
    })
}

/// The body of `POST /v1/incidents`.
fn request_body(args: CreateArgs) -> Result<Value, Failure> {
    let area = match (args.circle, &args.geojson) {
        (Some(circle), _) => circle.to_json(),
        (None, Some(path)) => read_geojson(path)?,
        (None, None) => return Err(Failure::Usage("give --circle or --geojson".into())),
    };
    let mut body = json!({ "title": args.title, "area": area });
    if let Some(description) = args.description {
        body["description"] = json!(description);
    }
    if let Some(expires) = args.expires {
        body["expires_at"] = json!(expires.resolve(Utc::now()).to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    if args.dry_run {
        body["dry_run"] = json!(true);
    }
    if args.exercise {
        body["exercise"] = json!(true);
        body["notify_contacts"] = json!(args.notify_contacts);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Harness {
        #[command(flatten)]
        args: CreateArgs,
    }

    fn body(argv: &[&str]) -> Value {
        let harness = Harness::try_parse_from(std::iter::once("create").chain(argv.iter().copied())).unwrap();
        request_body(harness.args).unwrap()
    }

    #[test]
    fn a_circle_dry_run_becomes_the_api_body() {
        let body = body(&["--title", "Flood", "--circle", "-33.9,18.4,1500", "--dry-run"]);
        assert_eq!(
            body,
            json!({
                "title": "Flood",
                "dry_run": true,
                "area": { "type": "Circle", "center": { "lat": -33.9, "lon": 18.4 }, "radius_m": 1500.0 }
            })
        );
    }

    #[test]
    fn expires_is_sent_as_utc() {
        let body = body(&["--title", "T", "--circle", "1,2,3", "--expires", "2026-12-01T01:00:00+01:00"]);
        assert_eq!(body["expires_at"], "2026-12-01T00:00:00Z");
    }

    #[test]
    fn one_area_is_required() {
        let parse =
            |argv: &[&str]| Harness::try_parse_from(std::iter::once("create").chain(argv.iter().copied()));
        assert!(parse(&["--title", "T"]).is_err());
        assert!(parse(&["--title", "T", "--circle", "1,2,3", "--geojson", "a.json"]).is_err());
    }
}
