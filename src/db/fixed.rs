//! Statements whose SQL text never changes, written by hand, which diesel prepares once per
//! connection and reuses. diesel never caches `sql_query`, an upsert with `DO UPDATE`, or a
//! multi-row insert (their text may vary), so PostgreSQL parsed and planned those, and SQLite
//! compiled them, on every call: several of them run on every answer.
//!
//! The SQL marks each parameter with `?` (so no `?` may appear anywhere else in it); each becomes
//! the backend's own placeholder (`$n` or `?`), bound in order.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::sqlite::Sqlite;

/// A parameter of a [`Fixed`] statement.
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    Text(&'a str),
    NullableText(Option<&'a str>),
    BigInt(i64),
    Integer(i32),
    Timestamp(NaiveDateTime),
    /// PostgreSQL only (`UNNEST`, `= ANY`): an array keeps the statement's text fixed whatever
    /// the number of values.
    TextArray(&'a [&'a str]),
}

/// A statement of fixed text and its parameters.
#[derive(Debug)]
pub struct Fixed<'a> {
    sql: &'static str,
    params: Vec<Param<'a>>,
}

impl<'a> Fixed<'a> {
    /// `sql` holds one `?` per parameter, in order.
    pub fn new(sql: &'static str, params: Vec<Param<'a>>) -> Self {
        debug_assert_eq!(sql.matches('?').count(), params.len(), "{sql}");
        Self { sql, params }
    }

    /// The SQL between the parameters, each piece followed by the parameter after it, if any.
    fn pieces(&self) -> impl Iterator<Item = (&'static str, Option<&Param<'a>>)> {
        self.sql.split('?').enumerate().map(|(i, piece)| (piece, self.params.get(i)))
    }
}

/// The same walk on each backend; only arrays differ (`$array` binds one or refuses).
macro_rules! walk_for {
    ($backend:ty, |$out:ident, $values:ident| $array:expr) => {
        impl QueryFragment<$backend> for Fixed<'_> {
            fn walk_ast<'b>(&'b self, mut $out: AstPass<'_, 'b, $backend>) -> QueryResult<()> {
                for (piece, param) in self.pieces() {
                    $out.push_sql(piece);
                    match param {
                        None => {}
                        Some(Param::Text(v)) => $out.push_bind_param::<Text, _>(v)?,
                        Some(Param::NullableText(v)) => $out.push_bind_param::<Nullable<Text>, _>(v)?,
                        Some(Param::BigInt(v)) => $out.push_bind_param::<BigInt, _>(v)?,
                        Some(Param::Integer(v)) => $out.push_bind_param::<Integer, _>(v)?,
                        Some(Param::Timestamp(v)) => $out.push_bind_param::<Timestamp, _>(v)?,
                        Some(Param::TextArray($values)) => $array,
                    }
                }
                Ok(())
            }
        }
    };
}

walk_for!(Pg, |out, values| out.push_bind_param::<Array<Text>, _>(values)?);
walk_for!(Sqlite, |out, _values| {
    return Err(Error::QueryBuilderError("SQLite has no array parameters".into()));
});

impl QueryId for Fixed<'_> {
    type QueryId = ();
    // Cached by its text (and its parameters' types), which is what is fixed.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Fixed<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for Fixed<'_> {}
impl RunQueryDsl<SqliteConnection> for Fixed<'_> {}
