//! Migrations run up, down and up again on the backend under test.

use diesel::{ExpressionMethods, RunQueryDsl};
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

/// Suppressions written before addresses had a canonical form cover every alias afterwards.
#[test]
fn suppressions_from_before_cover_every_alias_after_the_opt_in_migration() {
    use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(dir.path());
    let url = db::DatabaseUrl::parse(&test_db.url(None)).unwrap();
    db::prepare(&url).unwrap();
    let mut conn = db::pool_connect(&url).unwrap();
    // Back to just before the opt-in migration (later ones are reverted first).
    loop {
        let reverted = match &mut conn {
            DbConn::Postgresql(c) => c.revert_last_migration(POSTGRES).unwrap(),
            DbConn::Sqlite(c) => c.revert_last_migration(SQLITE).unwrap(),
        };
        let reverted = reverted.to_string();
        assert!(
            reverted.as_str() >= "20261201000011",
            "the opt-in migration (2026-12-01-000011_contacts_opt_in) was passed"
        );
        if reverted == "20261201000011" {
            break;
        }
    }
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
