//! The twin migrations (`migrations/sqlite`, `migrations/postgres`) produce the same schema:
//! the same tables; the same columns with the same nullability and type family; the same
//! primary keys, unique constraints and indexes (name, columns, unique, partial or not).
//!
//! Type families, since SQLite cannot tell more apart: text, integer (32 and 64 bits alike),
//! real, boolean, timestamp. Not compared: defaults, foreign keys, CHECK constraints, and the
//! WHERE clause of a partial index beyond its presence.

use std::collections::BTreeMap;

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use safecheck::db::{self, DatabaseUrl, DbConn};

use crate::support::test_db::TestDb;

/// Differences the test accepts, each with why. Empty: the twins agree today. An entry that no
/// longer occurs fails the test, so that this list only ever names real differences.
const KNOWN_DIFFERENCES: &[&str] = &[];

#[test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test --test api -- --ignored postgres_only"]
fn the_sqlite_and_postgres_migrations_produce_the_same_schema() {
    super::postgres_url();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = TestDb::Sqlite { url: format!("sqlite://{}", dir.path().join("twin.db").display()) };
    let postgres = TestDb::create(dir.path());
    assert!(matches!(postgres, TestDb::Postgres { .. }), "TEST_DATABASE_URL makes a PostgreSQL database");

    let sqlite = schema_of(&mut migrated(&sqlite));
    let postgres = schema_of(&mut migrated(&postgres));
    // The readers read something on both sides (two empty schemas would agree).
    for schema in [&sqlite, &postgres] {
        assert_eq!(schema.get("primary key of prompts").map(String::as_str), Some("(incident_id, user_id)"));
    }

    let differences = differences(&sqlite, &postgres);
    let unexpected: Vec<&String> =
        differences.iter().filter(|d| !KNOWN_DIFFERENCES.contains(&d.as_str())).collect();
    let gone: Vec<&&str> =
        KNOWN_DIFFERENCES.iter().filter(|k| !differences.iter().any(|d| d == **k)).collect();
    assert!(
        unexpected.is_empty(),
        "migrations/sqlite and migrations/postgres produce different schemas:\n  {}",
        unexpected.iter().map(|d| d.as_str()).collect::<Vec<_>>().join("\n  ")
    );
    assert!(gone.is_empty(), "known differences that no longer occur (remove them from the list): {gone:?}");
}

/// A connection to the test database, with every migration run.
fn migrated(test_db: &TestDb) -> DbConn {
    let url = DatabaseUrl::parse(&test_db.url(None)).unwrap();
    db::prepare(&url).unwrap();
    db::pool_connect(&url).unwrap()
}

/// Each part of a schema, named (`column users.email`) and described in words (`text NOT NULL`).
type Schema = BTreeMap<String, String>;

/// One column, as either backend reports it.
#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    column_type: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
}

/// One column of one index (or of a primary key or unique constraint), in index order.
#[derive(QueryableByName)]
struct IndexColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    /// As SQLite's `PRAGMA index_list` says: `pk` (primary key), `u` (UNIQUE constraint) or
    /// `c` (CREATE INDEX).
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Bool)]
    partial: bool,
    /// None for an expression.
    #[diesel(sql_type = Nullable<Text>)]
    column_name: Option<String>,
}

/// Column nullability is what the database enforces: SQLite lets NULL into a primary key column
/// (other than INTEGER PRIMARY KEY) that is not declared NOT NULL, so that shows as a difference.
const SQLITE_COLUMNS: &str = r#"
    SELECT m.name AS table_name, c.name AS column_name, c.type AS column_type, c."notnull" AS not_null
    FROM sqlite_master m JOIN pragma_table_xinfo(m.name) c
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
      AND m.name <> '__diesel_schema_migrations'
    ORDER BY m.name, c.cid"#;

/// Indexes, and the primary key as one more: a rowid key (INTEGER PRIMARY KEY) has no index, so
/// every primary key is read from the columns, where `pk` gives each one's place in the key.
const SQLITE_INDEXES: &str = r#"
    SELECT m.name AS table_name, il.name AS index_name, il."unique" AS is_unique, il.origin AS origin,
           il.partial AS partial, ii.name AS column_name, ii.seqno AS position
    FROM sqlite_master m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
      AND m.name <> '__diesel_schema_migrations' AND il.origin <> 'pk'
    UNION ALL
    SELECT m.name, 'primary key', 1, 'pk', 0, c.name, c.pk
    FROM sqlite_master m JOIN pragma_table_info(m.name) c
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
      AND m.name <> '__diesel_schema_migrations' AND c.pk > 0
    ORDER BY table_name, index_name, position"#;

const POSTGRES_COLUMNS: &str = r#"
    SELECT table_name::text AS table_name, column_name::text AS column_name,
           data_type::text AS column_type, is_nullable = 'NO' AS not_null
    FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations'
    ORDER BY table_name, ordinal_position"#;

/// Every index of the schema, one row per key column in key order, with where it came from.
const POSTGRES_INDEXES: &str = r#"
    SELECT t.relname::text AS table_name, i.relname::text AS index_name, ix.indisunique AS is_unique,
           CASE WHEN ix.indisprimary THEN 'pk'
                WHEN EXISTS (SELECT 1 FROM pg_constraint con
                             WHERE con.conindid = ix.indexrelid AND con.contype = 'u') THEN 'u'
                ELSE 'c' END AS origin,
           ix.indpred IS NOT NULL AS partial, a.attname::text AS column_name
    FROM pg_index ix
    JOIN pg_class i ON i.oid = ix.indexrelid
    JOIN pg_class t ON t.oid = ix.indrelid
    JOIN pg_namespace ns ON ns.oid = t.relnamespace
    CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    WHERE ns.nspname = current_schema() AND t.relname <> '__diesel_schema_migrations'
    ORDER BY t.relname, i.relname, k.n"#;

/// The schema of the database behind `conn`.
fn schema_of(conn: &mut DbConn) -> Schema {
    let (columns, indexes): (Vec<Column>, Vec<IndexColumn>) = match conn {
        DbConn::Sqlite(c) => (
            diesel::sql_query(SQLITE_COLUMNS).load(c).unwrap(),
            diesel::sql_query(SQLITE_INDEXES).load(c).unwrap(),
        ),
        DbConn::Postgresql(c) => (
            diesel::sql_query(POSTGRES_COLUMNS).load(c).unwrap(),
            diesel::sql_query(POSTGRES_INDEXES).load(c).unwrap(),
        ),
    };
    let mut schema = Schema::new();
    for c in columns {
        schema.insert(format!("table {}", c.table_name), "present".into());
        let null = if c.not_null { "NOT NULL" } else { "NULL" };
        schema.insert(
            format!("column {}.{}", c.table_name, c.column_name),
            format!("{} {null}", family(&c.column_type)),
        );
    }
    // Each index's columns, in order, with what is said of the index as a whole.
    let mut by_index: BTreeMap<(String, String), (Vec<String>, &IndexColumn)> = BTreeMap::new();
    for row in &indexes {
        let entry =
            by_index.entry((row.table_name.clone(), row.index_name.clone())).or_insert((Vec::new(), row));
        entry.0.push(row.column_name.clone().unwrap_or_else(|| "(expression)".into()));
    }
    for ((table, name), (columns, index)) in by_index {
        let columns = columns.join(", ");
        match index.origin.as_str() {
            "pk" => schema.insert(format!("primary key of {table}"), format!("({columns})")),
            // SQLite keeps no name for a UNIQUE constraint (sqlite_autoindex_…): not compared.
            "u" => schema.insert(format!("unique constraint on {table} ({columns})"), "present".into()),
            _ => {
                let unique = if index.is_unique { "unique" } else { "not unique" };
                let partial = if index.partial { "partial (WHERE …)" } else { "whole table" };
                schema.insert(format!("index {name} on {table}"), format!("({columns}), {unique}, {partial}"))
            }
        };
    }
    schema
}

/// The type family of a declared type (SQLite) or `data_type` (PostgreSQL).
fn family(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    let family = if t.contains("int") {
        "integer"
    } else if t.starts_with("bool") {
        "boolean"
    } else if t == "text" || t.contains("char") {
        "text"
    } else if t.starts_with("double") || t == "real" || t.starts_with("float") {
        "real"
    } else if t == "timestamp" || t == "timestamp without time zone" {
        "timestamp"
    } else {
        // timestamptz, numeric, uuid, json…: named as declared, so any of them shows.
        return declared.to_owned();
    };
    family.to_owned()
}

/// Every difference between the two schemas, in words.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (part, on_sqlite) in sqlite {
        match postgres.get(part) {
            None => out.push(format!("{part}: only on SQLite ({on_sqlite})")),
            Some(on_postgres) if on_postgres != on_sqlite => {
                out.push(format!("{part}: {on_sqlite} on SQLite, {on_postgres} on PostgreSQL"));
            }
            Some(_) => {}
        }
    }
    for (part, on_postgres) in postgres {
        if !sqlite.contains_key(part) {
            out.push(format!("{part}: only on PostgreSQL ({on_postgres})"));
        }
    }
    out
}
