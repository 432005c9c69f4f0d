//! Seeding and raw-SQL ceilings for the activation benchmark.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Array, Double, Text, Timestamp};
use geo::{Destination, Distance, Haversine, Point};
use rand::Rng;
use safecheck::clock::{Clock as _, SystemClock};
use safecheck::config::Argon2Params;
use safecheck::domain::grid;

use safecheck::db::schema::{notifications, prompts, users};
use safecheck::db::{self, DatabaseUrl, DbConn};

const CHUNK: usize = 2_000;

/// `users` users with fresh locations, `inside` of them within the circle.
pub fn users_and_locations(
    url: &DatabaseUrl,
    users: usize,
    inside: usize,
    center: (f64, f64),
    radius_m: f64,
) {
    let mut conn = db::pool_connect(url).unwrap();
    let mut rng = rand::rng();
    let origin = Point::new(center.1, center.0);
    let now = SystemClock.now();
    let hash =
        safecheck::auth::PasswordHasher::new(Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 })
            .unwrap()
            .hash("not used")
            .unwrap();
    let mut done = 0;
    while done < users {
        let n = CHUNK.min(users - done);
        let mut ids = Vec::with_capacity(n);
        let mut lats = Vec::with_capacity(n);
        let mut lons = Vec::with_capacity(n);
        for k in 0..n {
            let point = if done + k < inside {
                let distance = radius_m * 0.99 * rng.random::<f64>().sqrt();
                Haversine.destination(origin, rng.random_range(0.0..360.0), distance)
            } else {
                loop {
                    let p = Point::new(rng.random_range(-180.0..180.0), rng.random_range(-60.0..70.0));
                    if Haversine.distance(origin, p) > radius_m * 1.01 {
                        break p;
                    }
                }
            };
            ids.push(uuid::Uuid::new_v4().to_string());
            lats.push(point.y());
            lons.push(point.x());
        }
        insert_chunk(&mut conn, &ids, &lats, &lons, &hash, now);
        done += n;
    }
}

fn insert_chunk(
    conn: &mut DbConn,
    ids: &[String],
    lats: &[f64],
    lons: &[f64],
    hash: &str,
    now: chrono::NaiveDateTime,
) {
    match conn {
        DbConn::Postgresql(pg) => {
            pg.transaction::<_, diesel::result::Error, _>(|pg| {
                diesel::sql_query(
                    "INSERT INTO users (id, email, password_hash, display_name, locale, role, created_at, updated_at) \
                     SELECT u, u || '@bench.test', $2, 'Bench', 'en', 'user', $3, $3 FROM unnest($1::text[]) AS u",
                )
                .bind::<Array<Text>, _>(ids)
                .bind::<Text, _>(hash)
                .bind::<Timestamp, _>(now)
                .execute(pg)?;
                diesel::sql_query(
                    "INSERT INTO user_locations (user_id, lat, lon, accuracy_m, recorded_at, updated_at) \
                     SELECT u, la, lo, 10, $4, $4 FROM unnest($1::text[], $2::float8[], $3::float8[]) AS t(u, la, lo)",
                )
                .bind::<Array<Text>, _>(ids)
                .bind::<Array<Double>, _>(lats)
                .bind::<Array<Double>, _>(lons)
                .bind::<Timestamp, _>(now)
                .execute(pg)?;
                Ok(())
            })
            .unwrap();
        }
        DbConn::Sqlite(lite) => {
            lite.transaction::<_, diesel::result::Error, _>(|lite| {
                for ((id, lat), lon) in ids.iter().zip(lats).zip(lons) {
                    diesel::insert_into(users::table)
                        .values((
                            users::id.eq(id),
                            users::email.eq(format!("{id}@bench.test")),
                            users::password_hash.eq(hash),
                            users::display_name.eq("Bench"),
                            users::locale.eq("en"),
                            users::role.eq("user"),
                            users::created_at.eq(now),
                            users::updated_at.eq(now),
                        ))
                        .execute(lite)?;
                    diesel::sql_query(
                        "INSERT INTO user_locations (user_id, lat, lon, accuracy_m, recorded_at, updated_at) \
                         VALUES (?, ?, ?, 10, ?, ?)",
                    )
                    .bind::<Text, _>(id)
                    .bind::<Double, _>(lat)
                    .bind::<Double, _>(lon)
                    .bind::<Timestamp, _>(now)
                    .bind::<Timestamp, _>(now)
                    .execute(lite)?;
                }
                Ok(())
            })
            .unwrap();
        }
    }
}

/// How many accounts the database holds (a kept seed: its users and the operator).
pub fn users_present(url: &DatabaseUrl) -> usize {
    let mut conn = db::pool_connect(url).unwrap();
    let n: i64 = safecheck::db::schema::users::table.count().get_result(&mut conn).unwrap();
    usize::try_from(n).unwrap()
}

/// An operator account with a cheap hash (the benchmark logs in once).
pub fn operator(url: &DatabaseUrl, email: &str, password: &str) {
    let mut conn = db::pool_connect(url).unwrap();
    let hash =
        safecheck::auth::PasswordHasher::new(Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 })
            .unwrap()
            .hash(password)
            .unwrap();
    let now = SystemClock.now();
    db::users::insert(
        &mut conn,
        &db::users::UserRow {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.to_owned(),
            password_hash: hash,
            display_name: "Operator".into(),
            locale: safecheck::domain::Locale::En,
            role: safecheck::domain::Role::Operator,
            created_at: now,
            updated_at: now,
        },
        &safecheck::domain::email::canonical(email),
    )
    .unwrap();
}

// Its own (not common's): the fault tests include this file without the benches' common module.
#[derive(Insertable)]
#[diesel(table_name = prompts)]
#[diesel(treat_none_as_default_value = false)]
struct NewPrompt<'a> {
    incident_id: &'a str,
    user_id: &'a str,
    source: &'a str,
    created_at: chrono::NaiveDateTime,
    email_state: Option<&'a str>,
    email_next_at: Option<chrono::NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = notifications)]
#[diesel(treat_none_as_default_value = false)]
struct NewOutboxRow {
    id: String,
    kind: &'static str,
    recipient_email: String,
    recipient_name: Option<String>,
    locale: String,
    incident_id: Option<String>,
    user_id: Option<String>,
    payload: String,
    state: &'static str,
    attempts: i32,
    next_attempt_at: chrono::NaiveDateTime,
    created_at: chrono::NaiveDateTime,
    dedupe_key: String,
}

/// The ceilings: the rows the activation wrote, inserted again for a copy of the incident by
/// raw SQL in one transaction (COPY on PostgreSQL, multi-row INSERTs on SQLite), in the
/// prompts' key order. First the prompts carrying their queued emails (what the fan-out writes),
/// then the same with an outbox row each (what it wrote before prompts carried their emails).
pub fn raw_inserts(url: &DatabaseUrl, incident_id: &str) -> (Duration, Duration) {
    let mut conn = db::pool_connect(url).unwrap();
    let recipients: Vec<(String, String, String, String)> = prompts::table
        .inner_join(users::table)
        .filter(prompts::incident_id.eq(incident_id))
        .select((users::id, users::email, users::display_name, users::locale))
        .load(&mut conn)
        .unwrap();
    let original = db::incidents::find(&mut conn, incident_id).unwrap().unwrap();
    let mut timings = Vec::new();
    for with_outbox in [false, true] {
        let mut copy = original.clone();
        copy.id = uuid::Uuid::new_v4().to_string();
        db::incidents::insert(&mut conn, &copy).unwrap();
        let now = SystemClock.now();
        let prompt_rows: Vec<NewPrompt> = recipients
            .iter()
            .map(|(u, ..)| NewPrompt {
                incident_id: &copy.id,
                user_id: u,
                source: "activation",
                created_at: now,
                email_state: Some("queued"),
                email_next_at: Some(now),
            })
            .collect();
        let outbox_rows: Vec<NewOutboxRow> = if with_outbox {
            recipients
                .iter()
                .map(|(u, email, name, locale)| NewOutboxRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    kind: "prompt",
                    recipient_email: email.clone(),
                    recipient_name: Some(name.clone()),
                    locale: locale.clone(),
                    incident_id: Some(copy.id.clone()),
                    user_id: Some(u.clone()),
                    payload: serde_json::json!({ "user_name": name, "incident_title": copy.title })
                        .to_string(),
                    state: "queued",
                    attempts: 0,
                    next_attempt_at: now,
                    created_at: now,
                    dedupe_key: format!("prompt:{}:{u}", copy.id),
                })
                .collect()
        } else {
            Vec::new()
        };
        let started = Instant::now();
        match &mut conn {
            DbConn::Postgresql(pg) => {
                pg.transaction::<_, diesel::result::Error, _>(|pg| {
                    diesel::copy_from(prompts::table).from_insertable(&prompt_rows).execute(pg)?;
                    if with_outbox {
                        diesel::copy_from(notifications::table).from_insertable(&outbox_rows).execute(pg)?;
                    }
                    Ok(())
                })
                .unwrap();
            }
            DbConn::Sqlite(lite) => {
                lite.transaction::<_, diesel::result::Error, _>(|lite| {
                    // SQLite allows 32,766 binds per statement: 6 a prompt.
                    for chunk in prompt_rows.chunks(5_000) {
                        diesel::insert_into(prompts::table).values(chunk).execute(lite)?;
                    }
                    for chunk in outbox_rows.chunks(2_000) {
                        diesel::insert_into(notifications::table).values(chunk).execute(lite)?;
                    }
                    Ok(())
                })
                .unwrap();
            }
        }
        timings.push(started.elapsed());
    }
    (timings[0], timings[1])
}

#[derive(QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// ANALYZE (as `PRAGMA optimize` would by now) or, on PostgreSQL, VACUUM ANALYZE unless
/// `no_vacuum` (what autovacuum would have done by now to tables loaded in bulk; this machine's
/// PostgreSQL runs with autovacuum off). Without it every page the fan-out reads is read for the
/// first time since the load: it sets the rows' hint bits, so it dirties and writes the pages it
/// reads, and the visibility map is empty, so an index-only scan fetches every row from the
/// heap. Then the plans of the fan-out's two chunk queries over the middle run of the circle's
/// cells, printed with the results.
pub fn analyze_and_explain(url: &DatabaseUrl, area: &safecheck::domain::Area, no_vacuum: bool) {
    let mut conn = db::pool_connect(url).unwrap();
    let statement = match (&conn, no_vacuum) {
        (DbConn::Postgresql(_), false) => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    let started = std::time::Instant::now();
    diesel::connection::SimpleConnection::batch_execute(&mut conn, statement).unwrap();
    println!("{statement} in {:.1} s", started.elapsed().as_secs_f64());
    let runs = grid::runs(&area.bounding_box());
    let (first, last) = runs[runs.len() / 2];
    let start = db::locations::in_cells_after(&mut conn, &[(first, last)], None, 1).unwrap();
    let Some(db::locations::Candidate { cell, user_id, .. }) = start.into_iter().next() else { return };
    let queries = [
        (
            "a run from its start",
            literal(db::locations::RUN_SQL, &[&first.to_string(), &last.to_string(), "10000"]),
        ),
        (
            "the run a chunk stopped in",
            literal(
                db::locations::AFTER_SQL,
                &[&cell.to_string(), &format!("'{user_id}'"), &last.to_string(), "10000"],
            ),
        ),
    ];
    for (what, sql) in queries {
        println!("EXPLAIN, fan-out chunk query, {what}: {sql}");
        let lines: Vec<String> = match &mut conn {
            DbConn::Postgresql(pg) => diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                .load::<PgPlanLine>(pg)
                .unwrap()
                .into_iter()
                .map(|l| l.line)
                .collect(),
            DbConn::Sqlite(lite) => diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load::<SqlitePlanLine>(lite)
                .unwrap()
                .into_iter()
                .map(|l| l.detail)
                .collect(),
        };
        for line in lines {
            println!("    {line}");
        }
    }
}

/// `sql` with `$1`, `$2`, … replaced by `values` (for EXPLAIN, which shows plans for literals).
fn literal(sql: &str, values: &[&str]) -> String {
    values
        .iter()
        .enumerate()
        .rev()
        .fold(sql.to_owned(), |sql, (i, value)| sql.replace(&format!("${}", i + 1), value))
}
