//! The fan-out is durable (stopped after its first chunk, it completes after a restart with no
//! duplicate prompt) and linear (it reads each location of the area's grid cells once).

use safecheck::clock::Clock;
use safecheck::db;
use safecheck::incidents::fanout::{self, Chunk};
use safecheck::incidents::inside::SortedUserIds;
use serde_json::Value;

use crate::helpers::{Options, paris_circle, spawn_app_with};

#[tokio::test]
async fn a_fanout_stopped_after_one_chunk_completes_after_a_restart_without_duplicates() {
    // The first server runs no background jobs: the fan-out only moves when we move it.
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_RUN_WORKERS", "false".into()), ("SAFECHECK_FANOUT_CHUNK", "2".into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    let mut users = Vec::new();
    for i in 0..5 {
        let user = app.new_user().await;
        app.put_location(&user, 48.8630 + f64::from(i) * 0.0001, 2.3708).await;
        users.push(user);
    }
    let response = app.create_incident(&operator, &paris_circle("Fire")).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    // One chunk, as a worker would do before being killed.
    let url = app.database_url().clone();
    let clock = app.clock.clone();
    let incident_id = id.clone();
    let (first, cursor) = tokio::task::spawn_blocking(move || {
        let mut conn = db::pool_connect(&url).unwrap();
        let now = clock.now();
        let size = fanout::ChunkSize {
            users: 2,
            lease: chrono::Duration::seconds(safecheck::config::DEFAULT_FANOUT_LEASE_SECS),
        };
        let (incident, inside, held) = claim_and_walk(&mut conn, clock.as_ref(), &incident_id, size);
        assert_eq!(inside.len(), 5);
        let mut pending = inside.after(None);
        let batch: Vec<String> = pending.by_ref().take(2).collect();
        let chunk = fanout::run_chunk(&mut conn, &incident, &batch, false, now, held, size.lease).unwrap();
        let Chunk::Continue { next_cursor, .. } = chunk.clone() else { panic!("expected more after 2 of 5") };
        assert_eq!(next_cursor, fanout::cursor_after(&batch[1]));
        // A prompt beyond the cursor already exists too (as if a chunk had been cut short):
        // the resumed fan-out must not duplicate it.
        let beyond: Vec<String> = pending.take(1).collect();
        db::prompts::insert_batch(
            &mut conn,
            &incident_id,
            &beyond,
            safecheck::domain::PromptSource::Activation,
            clock.now(),
        )
        .unwrap();
        (chunk, next_cursor)
    })
    .await
    .unwrap();
    assert!(matches!(first, Chunk::Continue { .. }));
    let shown: Value = app.incident(&operator, &id).await;
    assert_eq!(shown["fanout"]["complete"], false);
    assert_eq!(shown["fanout"]["prompts_created"], 2);
    assert!(!cursor.is_empty());

    // "Restart": the killed worker's lease on the incident runs out (30 s), then a server with
    // workers over the same database takes the fan-out over and finishes it.
    app.clock.advance(chrono::Duration::seconds(31));
    let sibling = app.spawn_sibling(&[("SAFECHECK_RUN_WORKERS", "true")]).await;
    let complete = app.wait_for_fanout_at(&sibling, &operator, &id).await;
    assert_eq!(complete["fanout"]["complete"], true, "the resumed fan-out finished");
    for user in &users {
        assert_eq!(app.prompts(user).await.len(), 1, "exactly one prompt each");
    }
    let url = app.database_url().clone();
    let total = tokio::task::spawn_blocking(move || {
        db::prompts::count(&mut db::pool_connect(&url).unwrap(), &id).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(total, 5);
}

#[tokio::test]
async fn a_user_erased_after_the_walk_gets_no_prompt_and_the_fanout_completes() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_RUN_WORKERS", "false".into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    let staying = app.user_at(48.8630, 2.3708).await;
    let leaving = app.user_at(48.8631, 2.3708).await;
    let response = app.create_incident(&operator, &paris_circle("Fire")).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    // The walk sees both; then one of them erases their account; then the chunk runs.
    let url = app.database_url().clone();
    let clock = app.clock.clone();
    let incident_id = id.clone();
    let (incident, batch, held) = tokio::task::spawn_blocking(move || {
        let mut conn = db::pool_connect(&url).unwrap();
        let size = fanout::ChunkSize { users: 10, lease: chrono::Duration::seconds(30) };
        let (incident, inside, held) = claim_and_walk(&mut conn, clock.as_ref(), &incident_id, size);
        let batch: Vec<String> = inside.after(None).collect();
        (incident, batch, held)
    })
    .await
    .unwrap();
    assert_eq!(batch.len(), 2);
    let erased = app
        .authed(reqwest::Method::DELETE, "/v1/me", &leaving)
        .json(&serde_json::json!({ "current_password": leaving.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);

    let url = app.database_url().clone();
    let now = app.clock.now();
    let (chunk, leaving_prompt, total) = tokio::task::spawn_blocking(move || {
        let mut conn = db::pool_connect(&url).unwrap();
        let lease = chrono::Duration::seconds(30);
        let chunk = fanout::run_chunk(&mut conn, &incident, &batch, true, now, held, lease).unwrap();
        let leaving_prompt = db::prompts::find(&mut conn, &incident.id, &leaving.id).unwrap();
        (chunk, leaving_prompt, db::prompts::count(&mut conn, &incident.id).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(chunk, Chunk::Finished, "the chunk committed, not failed on the missing user");
    assert!(leaving_prompt.is_none(), "no prompt for an erased account");
    assert_eq!(total, 1);
    assert_eq!(app.prompts(&staying).await.len(), 1);
    let shown: Value = app.incident(&operator, &id).await;
    assert_eq!(shown["fanout"]["complete"], true);
    assert_eq!(shown["fanout"]["prompts_created"], 1);
}

/// What a worker does before its first chunk: claims the incident's fan-out with a 30 s lease
/// (it must be `incident_id`) and walks its area. Returns the incident, who is inside, and the
/// lease held.
fn claim_and_walk(
    conn: &mut db::DbConn,
    clock: &dyn Clock,
    incident_id: &str,
    size: fanout::ChunkSize,
) -> (db::incidents::IncidentRow, SortedUserIds, chrono::NaiveDateTime) {
    let now = clock.now();
    let incident =
        db::incidents::claim_fanout(conn, now, now + chrono::Duration::seconds(30)).unwrap().unwrap();
    assert_eq!(incident.id, incident_id);
    let mut held = incident.fanout_lease_until.unwrap();
    let mut run = fanout::FanOutRun::default();
    let inside = fanout::collect_inside(conn, clock, &incident, size, &mut held, &mut run)
        .unwrap()
        .expect("the lease is ours");
    (incident, inside, held)
}

/// Ten people inside the Paris circle, four in the corners of its bounding box (read, never
/// prompted) and three in Lyon (never read).
async fn inside_corners_and_far(app: &crate::helpers::TestApp) {
    for i in 0..10 {
        app.user_at(48.8630 + f64::from(i) * 0.0005, 2.3708).await;
    }
    for (dlat, dlon) in [(0.0125, 0.019), (0.0125, -0.019), (-0.0125, 0.019), (-0.0125, -0.019)] {
        app.user_at(48.8630 + dlat, 2.3708 + dlon).await;
    }
    for _ in 0..3 {
        app.user_at(45.7640, 4.8357).await;
    }
}

#[tokio::test]
async fn the_fanout_reads_each_location_of_its_cells_once_over_several_chunks() {
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_RUN_WORKERS", "false".into()), ("SAFECHECK_FANOUT_CHUNK", "3".into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    inside_corners_and_far(&app).await;
    let response = app.create_incident(&operator, &paris_circle("Fire")).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let (url, clock) = (app.database_url().clone(), app.clock.clone());
    let run = tokio::task::spawn_blocking(move || {
        let mut conn = db::pool_connect(&url).unwrap();
        let size = fanout::ChunkSize { users: 3, lease: chrono::Duration::seconds(30) };
        fanout::fan_out_next(&mut conn, clock.as_ref(), size).unwrap().expect("an incident to fan out")
    })
    .await
    .unwrap();

    let candidates = 14;
    assert!(run.reads >= 5, "several reads ({run:?})");
    assert!(run.rows_read <= candidates + run.reads, "read {run:?} for {candidates} candidates");
    assert_eq!(run.rows_read, candidates, "each location in the area's cells read once, none outside");
    assert_eq!(run.chunks, 4, "10 prompts in chunks of 3");
    let shown: Value = app.incident(&operator, &id).await;
    assert_eq!(shown["fanout"]["complete"], true);
    assert_eq!(shown["fanout"]["prompts_created"], 10);
}

#[tokio::test]
async fn the_location_rows_a_fanout_read_are_a_metric() {
    const TOKEN: &str = "scrape-token-0123456789";
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_METRICS_TOKEN", TOKEN.into()), ("SAFECHECK_FANOUT_CHUNK", "4".into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    inside_corners_and_far(&app).await;

    app.activate(&operator, &paris_circle("Fire")).await;

    // The job adds to the counter once the fan-out returns, just after it commits its last chunk.
    let wanted = "safecheck_fanout_location_rows_read_total 14";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = app.client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
        let text = response.text().await.unwrap();
        if text.lines().any(|line| line == wanted) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no `{wanted}` in:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The database computes each location's cell (a generated column); the fan-out computes the
/// runs of cells to read with `domain::grid` in Rust. They must agree to the last cell, on cell
/// borders, at the poles and on the antimeridian.
#[tokio::test]
async fn the_database_and_the_grid_compute_the_same_cell() {
    let app = spawn_app_with(Options::default()).await;
    let positions = [
        (48.8630, 2.3708),
        (48.86, 2.37),
        (-33.8688, 151.2093),
        (0.0, 0.0),
        (-0.005, -0.005),
        (89.999_999, 179.999_999),
        (90.0, 180.0),
        (-90.0, -180.0),
        (12.34, -180.0),
        (-45.67, 180.0),
        (0.1 + 0.2, 0.7),
    ];
    let mut users = Vec::new();
    for (lat, lon) in positions {
        users.push((app.user_at(lat, lon).await.id, lat, lon));
    }
    let url = app.database_url().clone();
    tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use safecheck::db::schema::user_locations;
        let mut conn = db::pool_connect(&url).unwrap();
        for (id, lat, lon) in users {
            let stored: Option<i64> =
                user_locations::table.find(&id).select(user_locations::cell).first(&mut conn).unwrap();
            assert_eq!(stored, Some(safecheck::domain::grid::cell_of(lat, lon)), "({lat}, {lon})");
        }
    })
    .await
    .unwrap();
}
