//! The notices' emails, in English and French: an official update from the operator's
//! organisation, the all clear, and the retraction of an alert sent in error. Each quotes the
//! incident's title and the operator's words, never a location.

use serde::{Deserialize, Serialize};

use super::templates::{Rendered, STOP_EN, STOP_FR, escape, footer, page};
use crate::domain::{Locale, NoticeKind};

/// What a notice's email says (its outbox payload).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoticePayload {
    pub kind: NoticeKind,
    pub incident_title: String,
    /// `SAFECHECK_ORG_NAME` when the notice was posted.
    pub organisation: String,
    /// The update, the retraction's reason, the all clear's note.
    pub text: Option<String>,
    /// When it was posted, RFC 3339 UTC.
    pub posted_at: String,
    /// A retraction to a contact, who was emailed someone's answer rather than prompted.
    #[serde(default)]
    pub to_contact: bool,
    /// About a drill: the email says EXERCISE.
    #[serde(default)]
    pub exercise: bool,
}

/// Renders a notice.
pub fn notice(locale: Locale, p: &NoticePayload, unsubscribe_url: &str) -> Rendered {
    let (title, org) = (&p.incident_title, &p.organisation);
    let (subject, lead, label, stop) = match (locale, p.kind) {
        (Locale::En, NoticeKind::Update) => (
            format!("[Official update] {title}"),
            format!("Official update from {org} about \u{201c}{title}\u{201d}:"),
            None,
            STOP_EN,
        ),
        (Locale::Fr, NoticeKind::Update) => (
            format!("[Information officielle] {title}"),
            format!("Information officielle de {org} au sujet de « {title} » :"),
            None,
            STOP_FR,
        ),
        (Locale::En, NoticeKind::AllClear) => (
            format!("All clear: {title}"),
            format!(
                "{org} declares the incident \u{201c}{title}\u{201d} over. No answer is needed any more."
            ),
            Some("Note"),
            STOP_EN,
        ),
        (Locale::Fr, NoticeKind::AllClear) => (
            format!("Fin d'alerte : {title}"),
            format!("{org} annonce la fin de l'incident « {title} ». Plus aucune réponse n'est attendue."),
            Some("Note"),
            STOP_FR,
        ),
        // A contact who had not accepted was told a name and a status only: no title here either.
        (Locale::En, NoticeKind::Retraction) if title.is_empty() => (
            "An alert was sent in error".to_owned(),
            "safecheck emailed you about someone's answer to an alert. That alert was sent in error: \
             there was no such incident."
                .to_owned(),
            Some("Reason"),
            STOP_EN,
        ),
        (Locale::Fr, NoticeKind::Retraction) if title.is_empty() => (
            "Une alerte a été envoyée par erreur".to_owned(),
            "safecheck vous a écrit au sujet de la réponse d'une personne à une alerte. Cette alerte a \
             été envoyée par erreur : cet incident n'a pas eu lieu."
                .to_owned(),
            Some("Motif"),
            STOP_FR,
        ),
        (Locale::En, NoticeKind::Retraction) => (
            format!("Sent in error: {title}"),
            if p.to_contact {
                format!(
                    "safecheck emailed you about someone's answer to the alert \u{201c}{title}\u{201d}. \
                     That alert was sent in error by {org}: there was no such incident."
                )
            } else {
                format!(
                    "The alert \u{201c}{title}\u{201d} that you received from safecheck was sent in error \
                     by {org}: there is no such incident. No answer is needed."
                )
            },
            Some("Reason"),
            STOP_EN,
        ),
        (Locale::Fr, NoticeKind::Retraction) => (
            format!("Envoyée par erreur : {title}"),
            if p.to_contact {
                format!(
                    "safecheck vous a écrit au sujet de la réponse d'une personne à l'alerte « {title} ». \
                     Cette alerte a été envoyée par erreur par {org} : cet incident n'a pas eu lieu."
                )
            } else {
                format!(
                    "L'alerte « {title} » que vous avez reçue de safecheck a été envoyée par erreur par \
                     {org} : cet incident n'a pas lieu. Aucune réponse n'est attendue."
                )
            },
            Some("Motif"),
            STOP_FR,
        ),
    };
    let mut text = format!("{lead}\n\n");
    let mut html = format!("<p><strong>{}</strong></p>\n", escape(&lead));
    if let Some(words) = &p.text {
        let quoted = match (label, locale) {
            (Some(label), Locale::Fr) => format!("{label} : {words}"),
            (Some(label), Locale::En) => format!("{label}: {words}"),
            (None, _) => words.clone(),
        };
        text.push_str(&format!("{quoted}\n\n"));
        let lines: Vec<String> = quoted.lines().map(escape).collect();
        html.push_str(&format!("<p>{}</p>\n", lines.join("<br>\n")));
    }
    text.push_str(&format!("{}\n\n{stop}: {unsubscribe_url}\n", p.posted_at));
    html.push_str(&format!("<p><small>{}</small></p>\n", escape(&p.posted_at)));
    html.push_str(&footer("", stop, unsubscribe_url));
    Rendered { subject, text, html: page(&html) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(kind: NoticeKind, text: Option<&str>) -> NoticePayload {
        NoticePayload {
            kind,
            incident_title: "Fire <Paris>".into(),
            organisation: "Préfecture de police".into(),
            text: text.map(str::to_owned),
            posted_at: "2015-11-13T22:05:00Z".into(),
            to_contact: false,
            exercise: false,
        }
    }

    #[test]
    fn an_update_names_the_organisation_and_quotes_the_text_escaped_in_html() {
        let r = notice(Locale::En, &payload(NoticeKind::Update, Some("No shooting at <Les Halles>")), "u");
        assert_eq!(r.subject, "[Official update] Fire <Paris>");
        assert!(r.text.contains("Official update from Préfecture de police"));
        assert!(r.text.contains("No shooting at <Les Halles>"));
        assert!(r.html.contains("No shooting at &lt;Les Halles&gt;") && !r.html.contains("<Les Halles>"));
        let fr = notice(Locale::Fr, &payload(NoticeKind::Update, Some("x")), "u");
        assert_eq!(fr.subject, "[Information officielle] Fire <Paris>");
    }

    #[test]
    fn a_retraction_says_sent_in_error_in_both_languages_and_to_contacts_differently() {
        let mut p = payload(NoticeKind::Retraction, Some("wrong area"));
        let en = notice(Locale::En, &p, "u");
        assert!(en.subject.starts_with("Sent in error") && en.text.contains("Reason: wrong area"));
        let fr = notice(Locale::Fr, &p, "u");
        assert!(fr.subject.starts_with("Envoyée par erreur") && fr.text.contains("Motif : wrong area"));
        p.to_contact = true;
        assert!(notice(Locale::En, &p, "u").text.contains("someone's answer"));
        let all_clear = notice(Locale::Fr, &payload(NoticeKind::AllClear, None), "u");
        assert!(all_clear.subject.starts_with("Fin d'alerte") && !all_clear.text.contains("Note"));
    }
}
