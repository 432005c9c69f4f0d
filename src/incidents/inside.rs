//! Who is inside an area: one walk over the stored locations of the area's grid cells, each
//! index entry read once, the exact area and freshness tested in Rust. The fan-out keeps the
//! ids it finds in [`UserIds`] and prompts them in id order (the prompts' keys), the dry run
//! only counts them.

use chrono::NaiveDateTime;

use crate::db::locations::GridPosition;
use crate::db::{self, DbConn};
use crate::domain::{Area, grid};

/// What a walk read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walked {
    /// Location rows read (each entry of the area's cells once).
    pub rows_read: u64,
    /// False when `keep_going` stopped it early.
    pub complete: bool,
}

/// Walks the stored locations in `area`'s grid cells in reads of `chunk` rows, and hands the id
/// of each user whose fix is fresh (`recorded_at >= fresh_since`) and inside the area to
/// `inside`. After each read, `keep_going` says whether to go on (the fan-out renews its
/// lease there).
pub fn walk(
    conn: &mut DbConn,
    area: &Area,
    fresh_since: NaiveDateTime,
    chunk: i64,
    mut inside: impl FnMut(String),
    mut keep_going: impl FnMut(&mut DbConn) -> diesel::QueryResult<bool>,
) -> diesel::QueryResult<Walked> {
    let runs = grid::runs(&area.bounding_box());
    let mut after: Option<GridPosition> = None;
    let mut rows_read = 0u64;
    loop {
        let candidates = db::locations::in_cells_after(conn, &runs, after.as_ref(), chunk)?;
        rows_read += candidates.len() as u64;
        let finished = candidates.len() < usize::try_from(chunk).unwrap_or(usize::MAX);
        after = candidates.last().map(|last| last.position());
        for candidate in candidates {
            if candidate.recorded_at >= fresh_since && area.contains(candidate.lat, candidate.lon) {
                inside(candidate.user_id);
            }
        }
        if finished || after.is_none() {
            return Ok(Walked { rows_read, complete: true });
        }
        if !keep_going(conn)? {
            return Ok(Walked { rows_read, complete: false });
        }
    }
}

/// A set of user ids held compactly: a canonical (lower-case, hyphenated) UUID, as every id
/// this service creates, in 16 bytes; any other id as its text. Four million ids take 64 MB.
#[derive(Debug, Default)]
pub struct UserIds {
    uuids: Vec<u128>,
    others: Vec<String>,
}

impl UserIds {
    pub fn insert(&mut self, id: String) {
        match canonical_uuid(&id) {
            Some(value) => self.uuids.push(value),
            None => self.others.push(id),
        }
    }

    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids in byte-wise order of their text (the order of the prompts' keys), without
    /// repeats.
    pub fn sorted(mut self) -> SortedUserIds {
        self.uuids.sort_unstable();
        self.uuids.dedup();
        self.others.sort_unstable();
        self.others.dedup();
        SortedUserIds { uuids: self.uuids, others: self.others }
    }
}

/// [`UserIds`] in order; see [`SortedUserIds::after`].
#[derive(Debug)]
pub struct SortedUserIds {
    uuids: Vec<u128>,
    others: Vec<String>,
}

impl SortedUserIds {
    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids after `cursor` (all of them for `None`), in byte-wise order of their text.
    pub fn after<'a>(&'a self, cursor: Option<&str>) -> impl Iterator<Item = String> + 'a {
        // The text of canonical UUIDs sorts as their values do, so both lists are searched by
        // text and merged by text.
        let (first_uuid, first_other) = match cursor {
            None => (0, 0),
            Some(cursor) => (
                self.uuids.partition_point(|&value| uuid_text(value).as_str() <= cursor),
                self.others.partition_point(|id| id.as_str() <= cursor),
            ),
        };
        let mut uuids = self.uuids[first_uuid..].iter().map(|&value| uuid_text(value)).peekable();
        let mut others = self.others[first_other..].iter().cloned().peekable();
        std::iter::from_fn(move || match (uuids.peek(), others.peek()) {
            (Some(uuid), Some(other)) if other < uuid => others.next(),
            (Some(_), _) => uuids.next(),
            (None, _) => others.next(),
        })
    }
}

/// The id's value when it is a UUID written as this service writes them (lower case, hyphens),
/// so that writing the value back gives the same text.
fn canonical_uuid(id: &str) -> Option<u128> {
    let parsed = uuid::Uuid::try_parse(id).ok()?;
    (uuid_text(parsed.as_u128()) == id).then_some(parsed.as_u128())
}

fn uuid_text(value: u128) -> String {
    uuid::Uuid::from_u128(value).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(texts: &[&str]) -> SortedUserIds {
        let mut ids = UserIds::default();
        for text in texts {
            ids.insert((*text).to_owned());
        }
        ids.sorted()
    }

    #[test]
    fn ids_come_out_in_the_byte_order_of_their_text_whatever_their_kind() {
        let texts = [
            "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "00000000-0000-4000-8000-000000000000",
            "9b2d6b8e-1c3a-4f55-9e2b-7d8f0a1b2c3d",
            "F47AC10B-58CC-4372-A567-0E02B2C3D479",
            "legacy-42",
            "9b2d6b8e-1c3a-4f55-9e2b-7d8f0a1b2c3d",
            "a",
            "",
        ];
        let mut expected: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        expected.sort();
        expected.dedup();
        let sorted = ids(&texts);
        assert_eq!(sorted.len(), expected.len());
        assert_eq!(sorted.after(None).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn after_a_cursor_come_only_the_ids_past_it() {
        let texts = [
            "0a000000-0000-4000-8000-000000000000",
            "1b000000-0000-4000-8000-000000000000",
            "1b000000-0000-4000-8000-000000000000x",
            "2c000000-0000-4000-8000-000000000000",
        ];
        let sorted = ids(&texts);
        let past: Vec<String> = sorted.after(Some("1b000000-0000-4000-8000-000000000000")).collect();
        assert_eq!(past, vec![texts[2].to_owned(), texts[3].to_owned()]);
        let past_all: Vec<String> = sorted.after(Some("zzz")).collect();
        assert!(past_all.is_empty());
        let between: Vec<String> = sorted.after(Some("1")).collect();
        assert_eq!(between.len(), 3);
    }
}
