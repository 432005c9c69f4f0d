//! Migrations run up, down and up again on the backend under test.

use diesel::RunQueryDsl;
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
