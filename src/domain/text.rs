//! Checks shared by the texts users and operators write that end up in emails: characters that
//! change how text reads without being seen, and links in names.

/// Bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder what a
/// reader sees ("moc.knab" shown as "bank.com").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Zero-width characters (U+200B–U+200D, U+2060, U+FEFF): they hide inside words and defeat
/// filters ("ww\u{200B}w.").
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Why `text` has characters that change how it reads without being seen, if it has any.
pub fn hidden_characters(text: &str) -> Option<&'static str> {
    if text.chars().any(is_bidi_control) {
        return Some("must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069)");
    }
    if text.chars().any(is_zero_width) {
        return Some("must not contain zero-width characters (U+200B–U+200D, U+2060, U+FEFF)");
    }
    None
}

/// Why a name looks like it carries a link, if it does: a scheme (`http://`, `https://`, any
/// `scheme://`) or a `www.` host. A name is in every email's subject; a link there turns our
/// mail into someone's advertisement. Bare words with dots ("J.R. Smith") stay allowed.
pub fn link_in_name(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains("http:") || lower.contains("https:")
    {
        return Some("must not contain a web address (http://, https://, www.)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_found() {
        for bad in
            ["a\u{202E}b", "\u{2066}x", "x\u{2069}", "a\u{200B}b", "a\u{200D}", "\u{2060}", "\u{FEFF}x"]
        {
            assert!(hidden_characters(bad).is_some(), "{bad:?}");
        }
        for ok in ["Zoé", "مرحبا", "שלום", "a b\tc"] {
            assert!(hidden_characters(ok).is_none(), "{ok:?}");
        }
    }

    #[test]
    fn links_in_names_are_found() {
        for bad in ["http://x.org", "Visit HTTPS://evil.example", "www.evil.example", "WWW.x.io", "ftp://a.b"]
        {
            assert!(link_in_name(bad).is_some(), "{bad:?}");
        }
        for ok in ["Ada Lovelace", "J.R.R. Tolkien", "Dr. Who", "Anne-Marie"] {
            assert!(link_in_name(ok).is_none(), "{ok:?}");
        }
    }
}
