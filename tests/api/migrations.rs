//! Migrations run up, down and up again on the backend under test.

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use safecheck::db::{self, DbConn};

use crate::support::test_db::TestDb;

fn count_tables(conn: &mut DbConn) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = match conn.backend() {
        db::Backend::Postgresql => {
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'"
        }
        db::Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'"
        }
    };
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

#[test]
fn migrations_run_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(dir.path());
    let url = db::DatabaseUrl::parse(&test_db.url(None)).unwrap();

    let applied = db::prepare(&url).unwrap();
    assert!(!applied.is_empty());
    let mut conn = db::pool_connect(&url).unwrap();
    let tables = count_tables(&mut conn);
    assert!(tables > 0);

    let reverted = db::revert_all_migrations(&mut conn).unwrap();
    assert_eq!(reverted.len(), applied.len());
    assert_eq!(count_tables(&mut conn), 0);

    let again = db::run_migrations(&mut conn).unwrap();
    assert_eq!(again, applied);
    assert_eq!(count_tables(&mut conn), tables);
}

/// A database migrated up to just before `version` (later migrations reverted first).
fn migrated_to_before(dir: &std::path::Path, version: &str) -> (TestDb, DbConn) {
    use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
    let test_db = TestDb::create(dir);
    let url = db::DatabaseUrl::parse(&test_db.url(None)).unwrap();
    db::prepare(&url).unwrap();
    let mut conn = db::pool_connect(&url).unwrap();
    loop {
        let reverted = match &mut conn {
            DbConn::Postgresql(c) => c.revert_last_migration(POSTGRES).unwrap(),
            DbConn::Sqlite(c) => c.revert_last_migration(SQLITE).unwrap(),
        };
        let reverted = reverted.to_string();
        assert!(reverted.as_str() >= version, "migration {version} was passed");
        if reverted == version {
            return (test_db, conn);
        }
    }
}

/// Suppressions written before addresses had a canonical form cover every alias afterwards.
#[test]
fn suppressions_from_before_cover_every_alias_after_the_opt_in_migration() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, mut conn) = migrated_to_before(dir.path(), "20261201000011");
    let now = chrono::Utc::now().naive_utc();
    for old in ["v.ictim+news@gmail.com", "someone+x@example.org", "plain@example.org"] {
        diesel::insert_into(safecheck::db::schema::suppressions::table)
            .values((
                safecheck::db::schema::suppressions::email.eq(old),
                safecheck::db::schema::suppressions::created_at.eq(now),
            ))
            .execute(&mut conn)
            .unwrap();
    }
    db::run_migrations(&mut conn).unwrap();

    let asked = [
        "victim@googlemail.com",
        "someone@example.org",
        "someone+y@example.org",
        "plain@example.org",
        "other@example.org",
    ];
    let found = db::suppressions::among(&mut conn, &asked).unwrap();
    let mut found: Vec<&str> = found.iter().map(String::as_str).collect();
    found.sort_unstable();
    assert_eq!(
        found,
        ["plain@example.org", "someone+y@example.org", "someone@example.org", "victim@googlemail.com"]
    );
}

/// Accounts made before one account per mailbox: the oldest of a mailbox keeps it, the others
/// stay (NULL canonical form) and no new alias can register; earlier invitations were emailed.
#[test]
fn accounts_and_invitations_from_before_are_carried_over_by_the_mailbox_migration() {
    use safecheck::db::schema::{invitations, users};
    let dir = tempfile::tempdir().unwrap();
    let (_db, mut conn) = migrated_to_before(dir.path(), "20261201000014");
    let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc();
    for (i, email) in ["ada@gmail.com", "a.da+x@gmail.com", "bob@example.org"].into_iter().enumerate() {
        let at = start + chrono::Duration::seconds(i64::try_from(i).unwrap());
        diesel::insert_into(users::table)
            .values((
                users::id.eq(format!("user-{i}")),
                users::email.eq(email),
                users::password_hash.eq("x"),
                users::display_name.eq("X"),
                users::locale.eq("en"),
                users::role.eq("user"),
                users::created_at.eq(at),
                users::updated_at.eq(at),
            ))
            .execute(&mut conn)
            .unwrap();
    }
    diesel::insert_into(invitations::table)
        .values((
            invitations::user_id.eq("user-2"),
            invitations::email_canonical.eq("mum@example.org"),
            invitations::created_at.eq(start),
        ))
        .execute(&mut conn)
        .unwrap();
    db::run_migrations(&mut conn).unwrap();

    let mut canonical: Vec<(String, Option<String>)> =
        users::table.select((users::id, users::email_canonical)).load(&mut conn).unwrap();
    canonical.sort();
    assert_eq!(
        canonical,
        [
            ("user-0".to_owned(), Some("ada@gmail.com".to_owned())),
            ("user-1".to_owned(), None),
            ("user-2".to_owned(), Some("bob@example.org".to_owned())),
        ]
    );
    let emailed: Option<chrono::NaiveDateTime> =
        invitations::table.select(invitations::emailed_at).first(&mut conn).unwrap();
    assert_eq!(emailed, Some(start));
}
