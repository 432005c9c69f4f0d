//! The pool hands a connection used within the last second out again without pinging it
//! (`db::pool::PING_IF_IDLE_FOR`). Connections the server lost meanwhile must still be found:
//! each costs at most the one request that was using it, answered 503, never a 500, and never
//! a run of failures while the pool keeps handing the dead connection out.

use diesel::RunQueryDsl;
use reqwest::Method;
use safecheck::db;

use crate::helpers::spawn_app;

#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test --test api -- --ignored postgres_only"]
async fn connections_the_server_ended_cost_at_most_one_503_each() {
    super::postgres_url();
    let app = spawn_app().await;
    let user = app.new_user().await;
    let me = || app.authed(Method::GET, "/v1/me", &user).send();
    // Warm: every connection of the pool (4 in tests) handed out within the last second.
    for _ in 0..20 {
        assert_eq!(me().await.unwrap().status(), 200);
    }

    let mut admin = db::pool_connect(app.database_url()).unwrap();
    let ended = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .unwrap();
    assert!(ended >= 1, "the app's connections were ended");

    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(me().await.unwrap().status().as_u16());
    }
    let unavailable = statuses.iter().filter(|&&s| s == 503).count();
    assert!(statuses.iter().all(|&s| s == 200 || s == 503), "only 200 or 503: {statuses:?}");
    assert!(unavailable <= 4, "at most one 503 per pooled connection: {statuses:?}");
    assert!(statuses[statuses.len() - 30..].iter().all(|&s| s == 200), "recovered: {statuses:?}");
}
