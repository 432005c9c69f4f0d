//! The emails, in English and French: fixed texts, the user's name and short message, the
//! incident's title and the time. Never a location.

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
}

/// What a prompt email says.
#[derive(Debug, serde::Serialize, Deserialize)]
pub struct PromptPayload {
    pub user_name: String,
    pub incident_title: String,
    pub incident_description: Option<String>,
    pub activated_at: String,
}

/// A rendered email.
#[derive(Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders a check-in notification to a contact.
pub fn check_in(locale: Locale, p: &CheckInPayload, unsubscribe_url: &str) -> Rendered {
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

/// Renders the prompt to a user inside an incident's area.
pub fn prompt(locale: Locale, p: &PromptPayload, unsubscribe_url: &str) -> Rendered {
    let (subject, ask, stop) = match locale {
        Locale::En => (
            format!("Are you safe? {}", p.incident_title),
            "An incident was declared where you are. Open safecheck and tell your contacts whether you are safe.",
            STOP_EN,
        ),
        Locale::Fr => (
            format!("Êtes-vous en sécurité ? {}", p.incident_title),
            "Un incident a été déclaré là où vous êtes. Ouvrez safecheck et dites à vos proches si vous êtes en sécurité.",
            STOP_FR,
        ),
    };
    asking(p, &subject, ask, stop, unsubscribe_url)
}

/// Renders a reminder to a prompted user who has not answered yet.
pub fn reminder(locale: Locale, p: &PromptPayload, unsubscribe_url: &str) -> Rendered {
    let (subject, ask, stop) = match locale {
        Locale::En => (
            format!("Reminder: are you safe? {}", p.incident_title),
            "You have not said yet whether you are safe. Open safecheck and tell your contacts.",
            STOP_EN,
        ),
        Locale::Fr => (
            format!("Rappel : êtes-vous en sécurité ? {}", p.incident_title),
            "Vous n'avez pas encore dit si vous êtes en sécurité. Ouvrez safecheck et prévenez vos proches.",
            STOP_FR,
        ),
    };
    asking(p, &subject, ask, stop, unsubscribe_url)
}

/// The body shared by prompts and reminders.
fn asking(p: &PromptPayload, subject: &str, ask: &str, stop: &str, unsubscribe_url: &str) -> Rendered {
    let subject = subject.to_owned();
    let mut text = format!("{}\n\n{ask}\n\n{}\n", p.incident_title, p.activated_at);
    let mut html = format!("<p><strong>{}</strong></p>\n<p>{}</p>\n", escape(&p.incident_title), escape(ask));
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
const STOP_EN: &str = "To receive no more emails from safecheck";
const STOP_FR: &str = "Pour ne plus recevoir d'e-mails de safecheck";

fn footer(why: &str, stop: &str, url: &str) -> String {
    format!("<hr>\n<p><small>{} <a href=\"{}\">{}</a></small></p>\n", escape(why), escape(url), escape(stop))
}

fn page(body: &str) -> String {
    format!("<!doctype html>\n<html><body>\n{body}</body></html>\n")
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
        }
    }

    #[test]
    fn each_status_reads_in_each_language() {
        for status in SafetyStatus::ALL {
            let en = check_in(Locale::En, &payload(status, None), "https://x/u");
            let fr = check_in(Locale::Fr, &payload(status, None), "https://x/u");
            assert_ne!(en.subject, fr.subject);
            assert!(en.text.contains("https://x/u") && fr.html.contains("https://x/u"));
        }
        assert_eq!(
            check_in(Locale::Fr, &payload(SafetyStatus::NeedHelp, None), "u").subject,
            "Ada <script> a besoin d'aide"
        );
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let r = check_in(Locale::En, &payload(SafetyStatus::Safe, Some("<b>ok</b>")), "u");
        assert!(!r.html.contains("<script>") && !r.html.contains("<b>ok"));
        assert!(r.text.contains("\"<b>ok</b>\""));
    }
}
