//! The emails, in English and French: fixed texts, the user's name and short message, the
//! incident's title and the time. Never a location. A contact who has not accepted the user's
//! invitation gets fixed texts with the user's name and status only.

use serde::Deserialize;

use crate::domain::{Locale, SafetyStatus};

/// What a check-in notification says (its outbox payload).
#[derive(Debug, serde::Serialize, Deserialize)]
pub struct CheckInPayload {
    pub user_name: String,
    pub status: SafetyStatus,
    pub message: Option<String>,
    pub incident_title: String,
    /// RFC 3339, UTC.
    pub answered_at: String,
    /// Whether the contact accepted the user's invitation. Until then the email carries the
    /// user's name and status only: no message, no title. Rows queued before invitations
    /// existed have no such field and are read as not accepted: after the upgrade every
    /// existing contact is pending, and so is what was still on its way to them.
    #[serde(default)]
    pub accepted: bool,
    /// About a drill: the email says EXERCISE.
    #[serde(default)]
    pub exercise: bool,
}

/// What an invitation says: who listed the address.
#[derive(Debug, serde::Serialize, Deserialize)]
pub struct InvitationPayload {
    pub user_name: String,
}

/// What a prompt email says.
#[derive(Debug, serde::Serialize, Deserialize)]
pub struct PromptPayload {
    pub user_name: String,
    pub incident_title: String,
    pub incident_description: Option<String>,
    pub activated_at: String,
    /// A drill: the email says EXERCISE.
    #[serde(default)]
    pub exercise: bool,
}

/// A rendered email.
#[derive(Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders a check-in notification to a contact. A contact who has not accepted reads the
/// user's name and status, and the link accepting the user's invitation (`accept_url`), so that
/// an address whose invitation email was held back can still opt in.
pub fn check_in(
    locale: Locale,
    p: &CheckInPayload,
    accept_url: Option<&str>,
    unsubscribe_url: &str,
) -> Rendered {
    let name = &p.user_name;
    let (subject, headline) = match (locale, p.status) {
        (Locale::En, SafetyStatus::Safe) => {
            (format!("{name} is safe"), format!("{name} marked themselves safe."))
        }
        (Locale::En, SafetyStatus::NotInArea) => (
            format!("{name} is not in the affected area"),
            format!("{name} says they are not in the affected area."),
        ),
        (Locale::En, SafetyStatus::NeedHelp) => {
            (format!("{name} needs help"), format!("{name} says they need help."))
        }
        (Locale::Fr, SafetyStatus::Safe) => {
            (format!("{name} est en sécurité"), format!("{name} s'est signalé(e) en sécurité."))
        }
        (Locale::Fr, SafetyStatus::NotInArea) => (
            format!("{name} n'est pas dans la zone touchée"),
            format!("{name} indique ne pas être dans la zone touchée."),
        ),
        (Locale::Fr, SafetyStatus::NeedHelp) => {
            (format!("{name} a besoin d'aide"), format!("{name} indique avoir besoin d'aide."))
        }
    };
    let (about, at, said, why, stop) = match locale {
        Locale::En => ("Incident", "Answered at", "Their message", WHY_EN, STOP_EN),
        Locale::Fr => ("Incident", "Réponse à", "Son message", WHY_FR, STOP_FR),
    };
    if !p.accepted {
        let mut text = format!("{headline}\n\n{at}: {}\n", p.answered_at);
        let mut html = format!(
            "<p><strong>{}</strong></p>\n<p>{at}: {}</p>\n",
            escape(&headline),
            escape(&p.answered_at)
        );
        if let Some(url) = accept_url {
            let offer = match locale {
                Locale::En => {
                    format!("To read {name}'s own messages in these emails, accept their invitation")
                }
                Locale::Fr => {
                    format!("Pour lire les messages de {name} dans ces e-mails, acceptez son invitation")
                }
            };
            text.push_str(&format!("\n{offer}: {url}\n"));
            html.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", escape(url), escape(&offer)));
        }
        text.push_str(&format!("\n{why}\n{stop}: {unsubscribe_url}\n"));
        html.push_str(&footer(why, stop, unsubscribe_url));
        return Rendered { subject, text, html: page(&html) };
    }
    let mut text = format!("{headline}\n\n{about}: {}\n{at}: {}\n", p.incident_title, p.answered_at);
    let mut html = format!(
        "<p><strong>{}</strong></p>\n<p>{about}: {}<br>{at}: {}</p>\n",
        escape(&headline),
        escape(&p.incident_title),
        escape(&p.answered_at)
    );
    if let Some(message) = &p.message {
        text.push_str(&format!("{said}: \"{message}\"\n"));
        html.push_str(&format!(
            "<p>{said}:</p>\n<blockquote>{}</blockquote>\n",
            escape(message).replace('\n', "<br>")
        ));
    }
    text.push_str(&format!("\n{why}\n{stop}: {unsubscribe_url}\n"));
    html.push_str(&footer(why, stop, unsubscribe_url));
    Rendered { subject, text, html: page(&html) }
}

/// Renders the invitation to an address a user listed: who listed it, what it will receive,
/// and the links to accept or never be emailed.
pub fn invitation(
    locale: Locale,
    p: &InvitationPayload,
    accept_url: &str,
    unsubscribe_url: &str,
) -> Rendered {
    let name = &p.user_name;
    let (subject, lines, accept, never) = match locale {
        Locale::En => (
            format!("{name} listed you as a contact on safecheck"),
            [
                format!(
                    "{name} listed this address as one of their contacts on safecheck, a service that tells \
                     people's contacts whether they are safe when an incident (a fire, a flood, an attack) \
                     is declared where they are."
                ),
                format!(
                    "If you accept, you will receive an email each time {name} says during an incident \
                     whether they are safe, with the short message they write. Until you accept, such an \
                     email says only their name and status."
                ),
                format!("If you do nothing, {name} cannot send you another invitation."),
            ],
            "Accept",
            "Never email me",
        ),
        Locale::Fr => (
            format!("{name} vous a désigné(e) comme proche sur safecheck"),
            [
                format!(
                    "{name} a désigné cette adresse comme l'un de ses proches sur safecheck, un service qui \
                     dit à leurs proches si des personnes sont en sécurité lorsqu'un incident (incendie, \
                     inondation, attentat) est déclaré là où elles se trouvent."
                ),
                format!(
                    "Si vous acceptez, vous recevrez un e-mail chaque fois que {name} dira pendant un \
                     incident s'il ou elle est en sécurité, avec le court message écrit. Tant que vous \
                     n'avez pas accepté, cet e-mail ne dit que son nom et son état."
                ),
                format!("Si vous ne faites rien, {name} ne pourra pas vous envoyer d'autre invitation."),
            ],
            "Accepter",
            "Ne plus jamais m'écrire",
        ),
    };
    let text = format!(
        "{}\n\n{}\n\n{accept}: {accept_url}\n{never}: {unsubscribe_url}\n\n{}\n",
        lines[0], lines[1], lines[2]
    );
    let html = format!(
        "<p>{}</p>\n<p>{}</p>\n<p><a href=\"{}\">{accept}</a> · <a href=\"{}\">{never}</a></p>\n<p>{}</p>\n",
        escape(&lines[0]),
        escape(&lines[1]),
        escape(accept_url),
        escape(unsubscribe_url),
        escape(&lines[2])
    );
    Rendered { subject, text, html: page(&html) }
}

/// The one-tap answer links of a prompt or reminder: each status with its link.
pub type AnswerLinks = [(SafetyStatus, String); 3];

/// Renders the prompt to a user inside an incident's area; `answers`, when given, are links
/// that answer from the email itself.
pub fn prompt(
    locale: Locale,
    p: &PromptPayload,
    answers: Option<&AnswerLinks>,
    unsubscribe_url: &str,
) -> Rendered {
    let (subject, ask, stop) = match locale {
        Locale::En => (
            format!("Are you safe? {}", p.incident_title),
            "An incident was declared where you are. Tell your contacts whether you are safe: tap an answer below, or open safecheck.",
            STOP_EN,
        ),
        Locale::Fr => (
            format!("Êtes-vous en sécurité ? {}", p.incident_title),
            "Un incident a été déclaré là où vous êtes. Dites à vos proches si vous êtes en sécurité : touchez une réponse ci-dessous, ou ouvrez safecheck.",
            STOP_FR,
        ),
    };
    asking(locale, p, &subject, ask, stop, answers, unsubscribe_url)
}

/// Renders a reminder to a prompted user who has not answered yet.
pub fn reminder(
    locale: Locale,
    p: &PromptPayload,
    answers: Option<&AnswerLinks>,
    unsubscribe_url: &str,
) -> Rendered {
    let (subject, ask, stop) = match locale {
        Locale::En => (
            format!("Reminder: are you safe? {}", p.incident_title),
            "You have not said yet whether you are safe. Tap an answer below, or open safecheck.",
            STOP_EN,
        ),
        Locale::Fr => (
            format!("Rappel : êtes-vous en sécurité ? {}", p.incident_title),
            "Vous n'avez pas encore dit si vous êtes en sécurité. Touchez une réponse ci-dessous, ou ouvrez safecheck.",
            STOP_FR,
        ),
    };
    asking(locale, p, &subject, ask, stop, answers, unsubscribe_url)
}

/// How an answer reads on its link, in the recipient's language.
pub fn answer_label(locale: Locale, status: SafetyStatus) -> &'static str {
    match (locale, status) {
        (Locale::En, SafetyStatus::Safe) => "I am safe",
        (Locale::En, SafetyStatus::NotInArea) => "I am not in the area",
        (Locale::En, SafetyStatus::NeedHelp) => "I need help",
        (Locale::Fr, SafetyStatus::Safe) => "Je suis en sécurité",
        (Locale::Fr, SafetyStatus::NotInArea) => "Je ne suis pas dans la zone",
        (Locale::Fr, SafetyStatus::NeedHelp) => "J'ai besoin d'aide",
    }
}

/// The body shared by prompts and reminders.
fn asking(
    locale: Locale,
    p: &PromptPayload,
    subject: &str,
    ask: &str,
    stop: &str,
    answers: Option<&AnswerLinks>,
    unsubscribe_url: &str,
) -> Rendered {
    let subject = subject.to_owned();
    let mut text = format!("{}\n\n{ask}\n\n{}\n", p.incident_title, p.activated_at);
    let mut html = format!("<p><strong>{}</strong></p>\n<p>{}</p>\n", escape(&p.incident_title), escape(ask));
    if let Some(answers) = answers {
        text.push('\n');
        html.push_str("<p>");
        for (i, (status, url)) in answers.iter().enumerate() {
            let label = answer_label(locale, *status);
            text.push_str(&format!("{label}: {url}\n"));
            let separator = if i == 0 { "" } else { "<br>\n" };
            html.push_str(&format!(
                "{separator}<a href=\"{}\"><strong>{}</strong></a>",
                escape(url),
                escape(label)
            ));
        }
        html.push_str("</p>\n");
    }
    if let Some(description) = &p.incident_description {
        text.push_str(&format!("\n{description}\n"));
        html.push_str(&format!("<p>{}</p>\n", escape(description)));
    }
    text.push_str(&format!("\n{stop}: {unsubscribe_url}\n"));
    html.push_str(&footer("", stop, unsubscribe_url));
    Rendered { subject, text, html: page(&html) }
}

const WHY_EN: &str = "You receive this because they listed you as a contact in safecheck.";
const WHY_FR: &str =
    "Vous recevez ce message car cette personne vous a désigné(e) comme proche dans safecheck.";
pub(super) const STOP_EN: &str = "To receive no more emails from safecheck";
pub(super) const STOP_FR: &str = "Pour ne plus recevoir d'e-mails de safecheck";

pub(super) fn footer(why: &str, stop: &str, url: &str) -> String {
    format!("<hr>\n<p><small>{} <a href=\"{}\">{}</a></small></p>\n", escape(why), escape(url), escape(stop))
}

pub(super) fn page(body: &str) -> String {
    format!("<!doctype html>\n<html><body>\n{body}</body></html>\n")
}

/// The same email marked as a drill, in the recipient's language: EXERCISE before the subject
/// and a first line saying it is not a real incident, in the text and the HTML.
pub fn as_exercise(locale: Locale, rendered: Rendered) -> Rendered {
    let (mark, line) = match locale {
        Locale::En => ("[EXERCISE]", "EXERCISE: this is a drill, not a real incident."),
        Locale::Fr => ("[EXERCICE]", "EXERCICE : ceci est un exercice, pas un incident réel."),
    };
    let banner = format!("<p><strong>{}</strong></p>\n", escape(line));
    let html = match rendered.html.split_once("<body>\n") {
        Some((head, body)) => format!("{head}<body>\n{banner}{body}"),
        None => format!("{banner}{}", rendered.html),
    };
    Rendered {
        subject: format!("{mark} {}", rendered.subject),
        text: format!("{line}\n\n{}", rendered.text),
        html,
    }
}

/// HTML-escapes text from users (names, messages, titles).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(status: SafetyStatus, message: Option<&str>) -> CheckInPayload {
        CheckInPayload {
            user_name: "Ada <script>".into(),
            status,
            message: message.map(str::to_owned),
            incident_title: "Fire".into(),
            answered_at: "2026-11-28T10:00:00Z".into(),
            accepted: true,
            exercise: false,
        }
    }

    #[test]
    fn a_drill_is_marked_in_the_subject_the_text_and_the_html_of_each_language() {
        let en = as_exercise(Locale::En, check_in(Locale::En, &payload(SafetyStatus::Safe, None), None, "u"));
        assert!(en.subject.starts_with("[EXERCISE] "), "{}", en.subject);
        assert!(en.text.starts_with("EXERCISE: this is a drill"));
        assert!(en.html.contains("<body>\n<p><strong>EXERCISE: this is a drill"), "{}", en.html);
        let fr = as_exercise(Locale::Fr, check_in(Locale::Fr, &payload(SafetyStatus::Safe, None), None, "u"));
        assert!(
            fr.subject.starts_with("[EXERCICE] ") && fr.text.starts_with("EXERCICE : ceci est un exercice")
        );
    }

    #[test]
    fn a_contact_who_has_not_accepted_reads_only_the_name_and_status() {
        let mut p = payload(SafetyStatus::NeedHelp, Some("call me at evil.example"));
        p.accepted = false;
        for locale in Locale::ALL {
            let r = check_in(locale, &p, Some("https://x/accept"), "https://x/u");
            assert!(r.text.contains("Ada <script>") && r.text.contains("https://x/u"));
            assert!(r.text.contains("https://x/accept") && r.html.contains("https://x/accept"));
            for hidden in ["evil.example", "Fire"] {
                assert!(!r.text.contains(hidden) && !r.html.contains(hidden), "{hidden}");
            }
        }
    }

    #[test]
    fn an_invitation_reads_in_each_language_with_both_links() {
        let p = InvitationPayload { user_name: "Ada".into() };
        let en = invitation(Locale::En, &p, "https://x/accept", "https://x/never");
        let fr = invitation(Locale::Fr, &p, "https://x/accept", "https://x/never");
        assert_eq!(en.subject, "Ada listed you as a contact on safecheck");
        assert_ne!(en.subject, fr.subject);
        for r in [&en, &fr] {
            assert!(r.text.contains("https://x/accept") && r.text.contains("https://x/never"));
            assert!(r.html.contains("https://x/accept") && r.html.contains("https://x/never"));
        }
    }

    #[test]
    fn each_status_reads_in_each_language() {
        for status in SafetyStatus::ALL {
            let en = check_in(Locale::En, &payload(status, None), Some("https://x/a"), "https://x/u");
            let fr = check_in(Locale::Fr, &payload(status, None), Some("https://x/a"), "https://x/u");
            assert_ne!(en.subject, fr.subject);
            assert!(en.text.contains("https://x/u") && fr.html.contains("https://x/u"));
            // An accepted contact has nothing left to accept.
            assert!(!en.text.contains("https://x/a") && !fr.html.contains("https://x/a"));
        }
        assert_eq!(
            check_in(Locale::Fr, &payload(SafetyStatus::NeedHelp, None), None, "u").subject,
            "Ada <script> a besoin d'aide"
        );
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let r = check_in(Locale::En, &payload(SafetyStatus::Safe, Some("<b>ok</b>")), None, "u");
        assert!(!r.html.contains("<script>") && !r.html.contains("<b>ok"));
        assert!(r.text.contains("\"<b>ok</b>\""));
    }
}
