//! Prompts have no foreign keys on PostgreSQL (migration 000016): an account erased while a
//! fan-out chunk that prompts it is still open must not leave that prompt behind.

use std::time::{Duration, Instant};

use diesel::Connection;
use safecheck::clock::Clock;
use safecheck::db;
use safecheck::domain::PromptSource;
use serde_json::Value;

use crate::helpers::{Options, paris_circle, spawn_app_with};

#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test --test api -- --ignored postgres_only"]
async fn an_erasure_waits_for_the_open_chunk_and_takes_its_prompt() {
    super::postgres_url();
    let app = spawn_app_with(Options {
        env: vec![("SAFECHECK_RUN_WORKERS", "false".into())],
        ..Default::default()
    })
    .await;
    let operator = app.new_user_with_role("operator").await;
    let leaving = app.user_at(48.8630, 2.3708).await;
    let response = app.create_incident(&operator, &paris_circle("Fire")).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let url = app.database_url().clone();
    let now = app.clock.now();
    let (chunk_open, chunk_opened) = std::sync::mpsc::channel();
    let chunk = {
        let (url, id, user) = (url.clone(), id.clone(), leaving.id.clone());
        std::thread::spawn(move || {
            let mut conn = db::pool_connect(&url).unwrap();
            let held = now + chrono::Duration::seconds(30);
            let incident = db::incidents::claim_fanout(&mut conn, now, held).unwrap().unwrap();
            assert_eq!(incident.id, id);
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                // What a chunk does first: write its incident's row, then insert.
                assert!(db::incidents::lock_if_held(conn, &id, held)?);
                let inserted = db::prompts::insert_batch(conn, &id, &[user], PromptSource::Activation, now)?;
                assert_eq!(inserted.len(), 1);
                chunk_open.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(800));
                Ok(())
            })
            .unwrap();
        })
    };
    chunk_opened.recv().unwrap();

    let erasing = Instant::now();
    let user = leaving.id.clone();
    let erased = tokio::task::spawn_blocking(move || {
        db::users::delete(&mut db::pool_connect(&url).unwrap(), &user).unwrap()
    })
    .await
    .unwrap();
    let waited = erasing.elapsed();
    chunk.join().unwrap();
    assert!(erased);
    assert!(waited >= Duration::from_millis(500), "the erasure waited for the open chunk ({waited:?})");

    let mut conn = db::pool_connect(app.database_url()).unwrap();
    assert!(
        db::prompts::find(&mut conn, &id, &leaving.id).unwrap().is_none(),
        "the chunk's prompt went with the account"
    );
    assert_eq!(db::prompts::count(&mut conn, &id).unwrap(), 0);
}
