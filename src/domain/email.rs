//! Email addresses: normalised (trimmed, lower-cased) and checked for a plausible shape.

use std::fmt;

/// A normalised email address. Two spellings of one mailbox compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

/// RFC 5321 limits: 64 octets of local part, 254 in all.
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

impl Email {
    /// Normalises and validates; the error says what is wrong, for a field error.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required");
        }
        if email.len() > MAX_LEN || raw.chars().count() > MAX_LEN {
            return Err("is longer than 254 characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("is not an email address (no @)");
        };
        let printable = |c: char| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\\\"".contains(c);
        if local.is_empty()
            || local.len() > MAX_LOCAL_LEN
            || !local.chars().all(printable)
            || local.contains('@')
        {
            return Err("is not an email address (bad local part)");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err("is not an email address (bad domain)");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The mailbox this address delivers to, for suppression and caps (never for sending): lower
    /// case, a `+tag` removed from the local part, and dots ignored where the provider ignores
    /// them (gmail.com, googlemail.com, which are one provider). `Victim+x@Gmail.com`,
    /// `v.ictim@googlemail.com` and `victim@gmail.com` all read `victim@gmail.com`.
    pub fn canonical(&self) -> String {
        canonical(&self.0)
    }

    /// Wraps a value that came out of the database, where it was stored normalised.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

/// [`Email::canonical`] for a stored address (already normalised, or not: it is lower-cased
/// again). A string that is not an address comes back lower-cased.
pub fn canonical(address: &str) -> String {
    let address = address.trim().to_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else { return address };
    let local = match local.split_once('+') {
        // "+tag@x" alone has no mailbox name to keep: left whole.
        Some((name, _)) if !name.is_empty() => name,
        _ => local,
    };
    match domain {
        "gmail.com" | "googlemail.com" => {
            let name: String = local.chars().filter(|c| *c != '.').collect();
            format!("{name}@gmail.com")
        }
        _ => format!("{local}@{domain}"),
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(Email::parse("  Ada@Example.ORG ").unwrap().as_str(), "ada@example.org");
    }

    #[test]
    fn aliases_of_one_mailbox_share_a_canonical_form() {
        let canonical = |raw: &str| Email::parse(raw).unwrap().canonical();
        assert_eq!(canonical("Victim+x@Gmail.com"), "victim@gmail.com");
        assert_eq!(canonical("v.i.c.t.i.m@googlemail.com"), "victim@gmail.com");
        assert_eq!(canonical("victim+a+b@example.org"), "victim@example.org");
        // Other providers' dots are part of the name.
        assert_eq!(canonical("first.last@example.org"), "first.last@example.org");
        assert_ne!(canonical("firstlast@example.org"), canonical("first.last@example.org"));
        assert_eq!(canonical("+only@example.org"), "+only@example.org");
        // Sending keeps the address as typed (normalised only in case and white space).
        assert_eq!(Email::parse("Victim+x@Gmail.com").unwrap().as_str(), "victim+x@gmail.com");
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com", "élise@exemple.fr", "x_y-z@a-b.io"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "plain",
            "@example.org",
            "a@",
            "a@b",
            "a b@example.org",
            "a@exa mple.org",
            "a@-x.org",
            "a@x..org",
            "<a@b.org>",
            "a@b.org\r\nBcc: x@y.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(65))).is_err());
    }
}
