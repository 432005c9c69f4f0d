//! Checks shared by the texts users and operators write that end up in emails: characters that
//! change how text reads without being seen, and links in names.

/// Bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder what a
/// reader sees ("moc.knab" shown as "bank.com").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Zero-width characters (U+200B–U+200D, U+2060, U+FEFF, U+180E) and the soft hyphen (U+00AD,
/// invisible unless a line breaks there): they hide inside words and defeat filters
/// ("ww\u{200B}w."). The direction marks (U+200E, U+200F, U+061C) stay allowed: right-to-left
/// writers' keyboards insert them, and they cannot reorder letters as the overrides do.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' | '\u{00AD}')
}

/// Why `text` has characters that change how it reads without being seen, if it has any.
pub fn hidden_characters(text: &str) -> Option<&'static str> {
    if text.chars().any(is_bidi_control) {
        return Some("must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069)");
    }
    if text.chars().any(is_zero_width) {
        return Some(
            "must not contain zero-width characters (U+200B–U+200D, U+2060, U+FEFF, U+180E) or soft hyphens (U+00AD)",
        );
    }
    None
}

/// Why a name looks like it carries a link, if it does: a scheme (`http://`, `https://`, any
/// `scheme://`) or a `www.` host. A name is in every email's subject; a link there turns our
/// mail into someone's advertisement. So is a bare domain that mail programs turn into a link
/// ("bit.ly", "pills.com", also with full-width dots). Other words with dots ("J.R. Smith")
/// stay allowed.
pub fn link_in_name(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains("http:") || lower.contains("https:")
    {
        return Some("must not contain a web address (http://, https://, www.)");
    }
    if has_bare_domain(&lower) {
        return Some("must not contain a web address (a domain such as example.com)");
    }
    None
}

/// Endings that make a word a domain mail programs link: the generic ones and those spam uses
/// most. Country codes that are also name particles ("de", "in", "to", "me") are left out.
const LINK_ENDINGS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "ly", "co", "xyz", "top", "ru", "cn", "tk", "app", "site",
    "online", "shop", "link", "click", "fr", "uk", "eu", "gl", "gg", "cc", "ws", "su", "pw", "live", "club",
];

/// Whether `lower` has a word followed by a dot (or a full-width dot) and one of
/// [`LINK_ENDINGS`] as a whole word.
fn has_bare_domain(lower: &str) -> bool {
    let text: Vec<char> =
        lower.chars().map(|c| if matches!(c, '。' | '．' | '｡') { '.' } else { c }).collect();
    text.iter().enumerate().any(|(i, &c)| {
        if c != '.' || i == 0 || !(text[i - 1].is_alphanumeric() || text[i - 1] == '-') {
            return false;
        }
        let ending: String = text[i + 1..].iter().take_while(|c| c.is_alphanumeric()).collect();
        LINK_ENDINGS.contains(&ending.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_found() {
        for bad in [
            "a\u{202E}b",
            "\u{2066}x",
            "x\u{2069}",
            "a\u{200B}b",
            "a\u{200D}",
            "\u{2060}",
            "\u{FEFF}x",
            "pa\u{00AD}ypal",
            "a\u{180E}b",
        ] {
            assert!(hidden_characters(bad).is_some(), "{bad:?}");
        }
        for ok in ["Zoé", "مرحبا", "שלום", "a b\tc", "שלום\u{200F} 12"] {
            assert!(hidden_characters(ok).is_none(), "{ok:?}");
        }
    }

    #[test]
    fn links_in_names_are_found() {
        for bad in [
            "http://x.org",
            "Visit HTTPS://evil.example",
            "www.evil.example",
            "WWW.x.io",
            "ftp://a.b",
            "Pills at cheap-rx.com",
            "bit.ly/x",
            "evil。com",
            "Shop.Online now",
        ] {
            assert!(link_in_name(bad).is_some(), "{bad:?}");
        }
        for ok in
            ["Ada Lovelace", "J.R.R. Tolkien", "Dr. Who", "Anne-Marie", "M.de la Cruz", "St. Clair", "A. Co"]
        {
            assert!(link_in_name(ok).is_none(), "{ok:?}");
        }
    }
}
