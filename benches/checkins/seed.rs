//! Seeding for the check-in benchmark: users with five contacts each, their prompts for an
//! incident, and access tokens signed with the server's key.

use diesel::prelude::*;
use safecheck::auth::TokenKeys;
use safecheck::clock::{Clock as _, SystemClock};
use safecheck::config::{Argon2Params, Config};
use safecheck::db::notifications::NotificationRow;
use safecheck::db::schema::{contacts, prompts, users};
use safecheck::db::{self, DatabaseUrl, DbConn};
use safecheck::domain::Role;

use crate::common::NewPrompt;

pub const CONTACTS_PER_USER: usize = 5;
const CHUNK: usize = 1_000;

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser {
    id: String,
    email: String,
    password_hash: String,
    display_name: String,
    locale: &'static str,
    role: &'static str,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = contacts)]
struct NewContact {
    id: String,
    user_id: String,
    name: String,
    email: String,
    locale: &'static str,
    created_at: chrono::NaiveDateTime,
}

/// The address of contact `k` of user number `n`: the sink maps an arrival back to its user.
pub fn contact_email(n: usize, k: usize) -> String {
    format!("u{n}.c{k}@contacts.bench.test")
}

/// `count` users, each with five contacts; returns their ids in order.
pub fn users_with_contacts(url: &DatabaseUrl, count: usize) -> Vec<String> {
    let mut conn = db::pool_connect(url).expect("connect");
    let hash =
        safecheck::auth::PasswordHasher::new(Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 })
            .and_then(|h| h.hash("not used"))
            .expect("hash");
    let now = SystemClock.now();
    let ids: Vec<String> = (0..count).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for (c, chunk) in ids.chunks(CHUNK).enumerate() {
        let people: Vec<NewUser> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| NewUser {
                id: id.clone(),
                email: format!("u{}@bench.test", c * CHUNK + i),
                password_hash: hash.clone(),
                display_name: format!("Bench User {}", c * CHUNK + i),
                locale: "en",
                role: "user",
                created_at: now,
                updated_at: now,
            })
            .collect();
        let their_contacts: Vec<NewContact> = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, id)| {
                (0..CONTACTS_PER_USER).map(move |k| NewContact {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_id: id.clone(),
                    name: format!("Contact {k}"),
                    email: contact_email(c * CHUNK + i, k),
                    locale: "en",
                    created_at: now,
                })
            })
            .collect();
        insert(&mut conn, &people, &their_contacts);
    }
    ids
}

fn insert(conn: &mut DbConn, people: &[NewUser], their_contacts: &[NewContact]) {
    let done = match conn {
        DbConn::Postgresql(pg) => pg.transaction::<_, diesel::result::Error, _>(|pg| {
            diesel::insert_into(users::table).values(people).execute(pg)?;
            diesel::insert_into(contacts::table).values(their_contacts).execute(pg)?;
            Ok(())
        }),
        DbConn::Sqlite(lite) => lite.transaction::<_, diesel::result::Error, _>(|lite| {
            diesel::insert_into(users::table).values(people).execute(lite)?;
            diesel::insert_into(contacts::table).values(their_contacts).execute(lite)?;
            Ok(())
        }),
    };
    done.expect("seed users and contacts");
}

/// Prompts for every user, as an activation would have left them once their emails were sent.
pub fn prompts(url: &DatabaseUrl, incident_id: &str, user_ids: &[String]) {
    let mut conn = db::pool_connect(url).expect("connect");
    let now = SystemClock.now();
    for chunk in user_ids.chunks(CHUNK * 2) {
        let rows: Vec<NewPrompt> = chunk
            .iter()
            .map(|u| NewPrompt {
                incident_id,
                user_id: u,
                source: "activation",
                created_at: now,
                email_state: Some("sent"),
                email_next_at: Some(now),
            })
            .collect();
        let done = match &mut conn {
            DbConn::Postgresql(pg) => diesel::insert_into(prompts::table).values(&rows).execute(pg),
            DbConn::Sqlite(lite) => diesel::insert_into(prompts::table).values(&rows).execute(lite),
        };
        done.expect("seed prompts");
    }
}

/// An operator's account; returns its id.
pub fn operator(url: &DatabaseUrl) -> String {
    let mut conn = db::pool_connect(url).expect("connect");
    let now = SystemClock.now();
    let id = uuid::Uuid::new_v4().to_string();
    let row = NewUser {
        id: id.clone(),
        email: "operator@bench.test".into(),
        password_hash: "not used".into(),
        display_name: "Operator".into(),
        locale: "en",
        role: "operator",
        created_at: now,
        updated_at: now,
    };
    let done = match &mut conn {
        DbConn::Postgresql(pg) => diesel::insert_into(users::table).values(&row).execute(pg),
        DbConn::Sqlite(lite) => diesel::insert_into(users::table).values(&row).execute(lite),
    };
    done.expect("seed operator");
    id
}

fn keys(env: &[(String, String)]) -> TokenKeys {
    let config = Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("bench configuration");
    TokenKeys::from_config(&config).expect("keys")
}

/// An access token for each user, signed as the server signs them.
pub fn tokens(env: &[(String, String)], user_ids: &[String]) -> Vec<String> {
    let keys = keys(env);
    user_ids.iter().map(|u| keys.issue(u, Role::User, SystemClock.now()).expect("token")).collect()
}

pub fn tokens_for_role(env: &[(String, String)], user_id: &str, role: Role) -> String {
    keys(env).issue(user_id, role, SystemClock.now()).expect("token")
}

/// `count` reminder emails waiting in the outbox, due since a second ago, to addresses of their
/// own: a backlog of the people lane, which delivery claims before the emails prompts carry
/// (so a contact's email that overtakes these overtakes a large activation's prompts too).
pub fn queued_reminder_emails(url: &DatabaseUrl, count: usize) {
    let mut conn = db::pool_connect(url).expect("connect");
    let due = SystemClock.now() - chrono::Duration::seconds(1);
    let payload = r#"{"user_name":"Bench User","incident_title":"Backlog","incident_description":null,"activated_at":"2026-11-13T21:20:00.000000Z"}"#;
    for start in (0..count).step_by(CHUNK) {
        let rows: Vec<NotificationRow> = (start..(start + CHUNK).min(count))
            .map(|i| NotificationRow {
                id: uuid::Uuid::now_v7().to_string(),
                kind: safecheck::domain::NotificationKind::Reminder,
                recipient_email: format!("backlog{i}@bench.test"),
                recipient_name: Some("Bench User".into()),
                locale: safecheck::domain::Locale::En,
                incident_id: None,
                user_id: None,
                payload: payload.into(),
                state: safecheck::domain::NotificationState::Queued,
                attempts: 0,
                next_attempt_at: due,
                lease_until: None,
                last_error: None,
                created_at: due,
                sent_at: None,
                dedupe_key: format!("backlog:{}:{i}", uuid::Uuid::now_v7()),
            })
            .collect();
        db::notifications::insert_new(&mut conn, rows).expect("seed the backlog");
    }
}

/// Reminder emails still waiting in the outbox.
pub fn queued_reminders(url: &DatabaseUrl) -> i64 {
    use safecheck::db::schema::notifications::dsl::*;
    let mut conn = db::pool_connect(url).expect("connect");
    notifications
        .filter(kind.eq("reminder"))
        .filter(state.eq("queued"))
        .count()
        .get_result(&mut conn)
        .expect("count")
}

/// Fresh planner statistics, as autovacuum keeps them on a live server (this machine's
/// PostgreSQL runs with `autovacuum = off`, which would leave the planner guessing).
pub fn analyze(url: &DatabaseUrl) {
    use diesel::connection::SimpleConnection;
    let mut conn = db::pool_connect(url).expect("connect");
    conn.batch_execute("ANALYZE").expect("analyze");
}

/// Marks every pending notification sent, so the next phase's delivery counts only its own.
/// Puts up to `count` sent outbox rows back in the queue, due now, to be delivered again.
pub fn requeue_sent(url: &DatabaseUrl, count: usize) -> usize {
    let mut conn = db::pool_connect(url).expect("connect");
    use safecheck::db::schema::notifications::dsl::*;
    let ids: Vec<String> = notifications
        .filter(state.eq("sent"))
        .select(id)
        .limit(i64::try_from(count).unwrap())
        .load(&mut conn)
        .expect("sent rows");
    let due = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
    let none: Option<chrono::NaiveDateTime> = None;
    let mut requeued = 0;
    for chunk in ids.chunks(500) {
        requeued += diesel::update(notifications.filter(id.eq_any(chunk)))
            .set((state.eq("queued"), next_attempt_at.eq(due), lease_until.eq(none), attempts.eq(0)))
            .execute(&mut conn)
            .expect("requeue");
    }
    requeued
}

pub fn settle_outbox(url: &DatabaseUrl) -> usize {
    let mut conn = db::pool_connect(url).expect("connect");
    use safecheck::db::schema::notifications::dsl::*;
    diesel::update(notifications.filter(state.eq_any(["queued", "retrying"])))
        .set(state.eq("sent"))
        .execute(&mut conn)
        .expect("settle outbox")
}
