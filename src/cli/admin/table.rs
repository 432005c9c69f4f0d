//! Plain-text output: aligned tables and `key: value` blocks, with server text made safe to
//! print (a check-in message must not be able to send escape sequences to the terminal).

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Columns separated by two spaces, each as wide as its widest cell (the last one unpadded).
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; cells are sanitized, missing cells are blank, extra ones are dropped.
    pub fn push(&mut self, cells: Vec<String>) {
        let mut row: Vec<String> = cells.iter().map(|c| sanitize(c)).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table, one line per row after the header line, each ending with a newline.
    pub fn render(&self) -> String {
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - width(cell)));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key: value` lines with the values aligned; values are sanitized.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let key_width = pairs.iter().map(|(k, _)| width(k) + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let label = format!("{key}:");
        let padding = key_width - width(&label);
        out.push_str(format!("{label}{}  {}", " ".repeat(padding), sanitize(value)).trim_end());
        out.push('\n');
    }
    out
}

/// A JSON value as a cell: strings as they are, null as `-`, booleans as yes/no.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => other.to_string(),
    }
}

/// A number without a needless `.0` (the server echoes `1500` back as `1500.0`).
pub fn number(value: &Value) -> String {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.0}"),
        _ => cell(value),
    }
}

/// An RFC 3339 time as `2026-11-28 10:00:05 UTC`; anything else as [`cell`] shows it.
pub fn time(value: &Value) -> String {
    match value.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        Some(at) => at.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => cell(value),
    }
}

/// The text with every control character (newlines, escapes) replaced by a space.
pub fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

// Characters, not bytes: "Zoë" is three columns wide. (Wide CJK glyphs would still misalign;
// that is not worth a dependency for an admin tool.)
fn width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let mut table = Table::new(&["ID", "STATUS", "TITLE"]);
        table.push(vec!["1".into(), "active".into(), "Flood".into()]);
        table.push(vec!["22".into(), "resolved".into(), "Zoë's fire".into()]);
        assert_eq!(
            table.render(),
            "ID  STATUS    TITLE\n\
             1   active    Flood\n\
             22  resolved  Zoë's fire\n"
        );
    }

    #[test]
    fn cells_cannot_break_the_layout_or_the_terminal() {
        let mut table = Table::new(&["A", "B"]);
        table.push(vec!["two\nlines\x1b[2J".into()]);
        let cell = "two lines [2J";
        assert_eq!(table.render(), format!("A{}  B\n{cell}\n", " ".repeat(cell.len() - 1)));
    }

    #[test]
    fn key_values_align_their_values() {
        let text = key_values(&[("id", "abc".into()), ("status", "active".into()), ("note", String::new())]);
        assert_eq!(text, "id:      abc\nstatus:  active\nnote:\n");
    }

    #[test]
    fn json_values_become_readable_cells() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("x")), "x");
        assert_eq!(cell(&json!(true)), "yes");
        assert_eq!(cell(&json!(12)), "12");
        assert_eq!(number(&json!(1500.0)), "1500");
        assert_eq!(number(&json!(48.863)), "48.863");
        assert_eq!(time(&json!("2026-11-28T11:00:05.123+01:00")), "2026-11-28 10:00:05 UTC");
        assert_eq!(time(&json!(null)), "-");
    }
}
