//! The fan-out is durable: stopped after its first chunk, it completes after a restart with no
//! duplicate prompt.

use safecheck::clock::Clock;
use safecheck::db;
use safecheck::incidents::fanout::{self, Chunk};
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
        // Claimed as a worker claims it, with a 30 s lease.
        let now = clock.now();
        let incident = db::incidents::claim_fanout(&mut conn, now, now + chrono::Duration::seconds(30))
            .unwrap()
            .unwrap();
        assert_eq!(incident.id, incident_id);
        let held = incident.fanout_lease_until.unwrap();
        let area = fanout::parse_area(&incident).unwrap();
        let size = fanout::ChunkSize {
            users: 2,
            lease: chrono::Duration::seconds(safecheck::config::DEFAULT_FANOUT_LEASE_SECS),
        };
        let chunk = fanout::run_chunk(&mut conn, &incident, &area, None, size, now, held).unwrap();
        let Chunk::Continue { next_cursor, .. } = chunk.clone() else { panic!("expected more after 2 of 5") };
        // A prompt beyond the cursor already exists too (as if a chunk had been cut short):
        // the resumed fan-out must not duplicate it.
        let beyond: Vec<String> = db::locations::in_box_after(
            &mut conn,
            &area.bounding_box(),
            incident.location_cutoff,
            Some(&next_cursor),
            1,
        )
        .unwrap()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
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
