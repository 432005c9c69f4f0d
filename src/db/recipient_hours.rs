//! The hourly per-recipient cap, as one counter per (canonical address, clock hour).

use std::collections::HashSet;

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;

use super::DbConn;
use super::fixed::{Fixed, Param};
use super::schema::recipient_hours;

/// [`take_each_once`]'s upsert on PostgreSQL: the addresses as one array, in the order given
/// (sorted, so that concurrent transactions lock rows in one order), the text fixed whatever
/// their number, so it is prepared once per connection.
const TAKE_ALL: &str = "INSERT INTO recipient_hours (email_canonical, hour, sent) \
     SELECT e, ?, 1 FROM UNNEST(?::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n \
     ON CONFLICT (email_canonical, hour) DO UPDATE SET sent = recipient_hours.sent + 1 \
     WHERE recipient_hours.sent < ? RETURNING email_canonical";

/// The same for one address, on SQLite.
const TAKE_ONE: &str = "INSERT INTO recipient_hours (email_canonical, hour, sent) VALUES (?, ?, 1) \
     ON CONFLICT (email_canonical, hour) DO UPDATE SET sent = recipient_hours.sent + 1 \
     WHERE recipient_hours.sent < ? RETURNING email_canonical";

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email_canonical: String,
}

/// The clock hour `at` falls in.
pub fn hour_of(at: NaiveDateTime) -> NaiveDateTime {
    at.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap_or(at)
}

/// Counts one message to each of `emails_canonical` (an address may appear more than once) in
/// the hour of `now`, each only if fewer than `cap` were counted for its address there; whether
/// each was counted, in order (false: the cap is reached, nothing counted).
///
/// Atomic under concurrency: the missing rows are made in one statement (a no-op for rows that
/// exist), then one conditional `UPDATE ... SET sent = sent + 1 WHERE sent < cap` a message. On
/// PostgreSQL concurrent updates of a row wait for each other and re-check `sent < cap` on the
/// row as committed, so no two transactions both take the last place (a read-then-insert would
/// let them).
pub fn take(
    conn: &mut DbConn,
    emails_canonical: &[&str],
    now: NaiveDateTime,
    cap: i64,
) -> QueryResult<Vec<bool>> {
    if emails_canonical.is_empty() {
        return Ok(Vec::new());
    }
    let hour = hour_of(now);
    let mut distinct: Vec<&str> = emails_canonical.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let cap = i32::try_from(cap).unwrap_or(i32::MAX);
    if cap < 1 {
        return Ok(vec![false; emails_canonical.len()]);
    }
    if distinct.len() == emails_canonical.len() && distinct.len() <= 5_000 {
        // Each address once (a check-in's contacts): one statement for them all.
        let taken = take_each_once(conn, &distinct, hour, cap)?;
        return Ok(emails_canonical.iter().map(|e| taken.contains(*e)).collect());
    }
    // Sorted, so that concurrent transactions lock the rows in one order (no deadlock).
    for chunk in distinct.chunks(5_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|email| {
                (
                    recipient_hours::email_canonical.eq(*email),
                    recipient_hours::hour.eq(hour),
                    recipient_hours::sent.eq(0),
                )
            })
            .collect();
        let create = diesel::insert_into(recipient_hours::table).values(rows).on_conflict_do_nothing();
        // MultiConnection has neither upsert nor multi-row insert: the inner connection's.
        match conn {
            DbConn::Postgresql(pg) => create.execute(pg)?,
            DbConn::Sqlite(lite) => create.execute(lite)?,
        };
    }
    // The updates lock their rows until commit: taken in address order, so two transactions
    // counting the same addresses never wait for each other crosswise (a deadlock).
    let mut order: Vec<usize> = (0..emails_canonical.len()).collect();
    order.sort_by_key(|&i| emails_canonical[i]);
    let mut counted = vec![false; emails_canonical.len()];
    for i in order {
        let taken = diesel::update(
            recipient_hours::table
                .filter(recipient_hours::email_canonical.eq(emails_canonical[i]))
                .filter(recipient_hours::hour.eq(hour))
                .filter(recipient_hours::sent.lt(cap)),
        )
        .set(recipient_hours::sent.eq(recipient_hours::sent + 1))
        .execute(conn)?;
        counted[i] = taken == 1;
    }
    Ok(counted)
}

/// Counts one message to each of `sorted` (distinct addresses, in order) with one upsert whose
/// update has a WHERE: a new counter starts at 1, an existing one goes up by one only while under
/// `cap`; the addresses counted come back. On PostgreSQL a concurrent statement on a row waits
/// for this one and re-checks the WHERE on the row as committed (as the per-message UPDATEs do),
/// and the rows are locked in address order, so two transactions never wait crosswise.
fn take_each_once(
    conn: &mut DbConn,
    sorted: &[&str],
    hour: NaiveDateTime,
    cap: i32,
) -> QueryResult<HashSet<String>> {
    let taken: Vec<Counted> = match conn {
        DbConn::Postgresql(pg) => {
            Fixed::new(TAKE_ALL, vec![Param::Timestamp(hour), Param::TextArray(sorted), Param::Integer(cap)])
                .load(pg)?
        }
        // A statement costs no round trip on SQLite: one an address.
        DbConn::Sqlite(lite) => {
            let mut taken = Vec::with_capacity(sorted.len());
            for email in sorted {
                let one = Fixed::new(
                    TAKE_ONE,
                    vec![Param::Text(email), Param::Timestamp(hour), Param::Integer(cap)],
                );
                taken.extend(one.get_result::<Counted>(lite).optional()?);
            }
            taken
        }
    };
    Ok(taken.into_iter().map(|c| c.email_canonical).collect())
}

/// Deletes up to `batch` counters of hours that began before `cutoff` (the cap reads only the
/// current hour's). How many went.
pub fn delete_before(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    super::delete_older_batch(conn, ("recipient_hours", "email_canonical, hour", "hour"), cutoff, batch)
}
