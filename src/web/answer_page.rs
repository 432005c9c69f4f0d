//! The page behind a one-tap answer link of a prompt email, in the person's language: the
//! answer to confirm (GET changes nothing: mail scanners open links), what became of it, or why
//! the link no longer answers.

use crate::domain::{CheckInMessage, Locale, SafetyStatus};
use crate::notify::templates::{answer_label, escape};

/// What the page says.
pub enum Page<'a> {
    /// The form confirming `status`, its box holding `message`; `error` when the message sent
    /// was refused (the form comes back with it).
    Confirm { title: &'a str, status: SafetyStatus, message: &'a str, error: bool },
    /// Recorded: how many contacts will be told.
    Recorded { title: &'a str, status: SafetyStatus, contacts: usize },
    /// The same answer and message were recorded already: nothing was sent again.
    AlreadyRecorded { title: &'a str, status: SafetyStatus },
    /// The incident has ended: its links no longer answer.
    Ended { title: &'a str },
    /// Too many answers in a short time.
    TooMany { retry_after_secs: u64 },
}

/// The page, as a whole HTML document in `locale`.
pub fn render(locale: Locale, page: &Page<'_>) -> String {
    let fr = locale == Locale::Fr;
    let t = |en: &str, fr_text: &str| if fr { fr_text.to_owned() } else { en.to_owned() };
    let body = match page {
        Page::Confirm { title, status, message, error } => {
            let mut body = heading(title);
            body.push_str(&format!(
                "<p>{} <strong>{}</strong></p>\n",
                escape(&t("Your answer:", "Votre réponse :")),
                escape(answer_label(locale, *status))
            ));
            if *error {
                body.push_str(&format!(
                    "<p role=\"alert\"><strong>{}</strong></p>\n",
                    escape(&t(
                        "The message was not accepted: at most 280 characters, without control or invisible characters.",
                        "Le message n'a pas été accepté : 280 caractères au plus, sans caractère de contrôle ni invisible.",
                    ))
                ));
            }
            body.push_str(&format!(
                "<form method=\"post\">\n<p><label for=\"message\">{}</label><br>\n\
                 <textarea id=\"message\" name=\"message\" rows=\"4\" maxlength=\"{max}\" style=\"width:100%\">{}</textarea></p>\n\
                 <p><button type=\"submit\" style=\"font-size:1.2em;padding:0.5em 1em\">{}</button></p>\n</form>\n",
                escape(&t("A short message for your contacts (optional):", "Un court message pour vos proches (facultatif) :")),
                escape(message),
                escape(&t("Send my answer", "Envoyer ma réponse")),
                max = CheckInMessage::MAX_CHARS,
            ));
            body
        }
        Page::Recorded { title, status, contacts } => format!(
            "{}{}",
            heading(title),
            para(&if fr {
                format!(
                    "Votre réponse est enregistrée : {}. Proches prévenus : {contacts}.",
                    answer_label(locale, *status)
                )
            } else {
                format!(
                    "Your answer is recorded: {}. Contacts being told: {contacts}.",
                    answer_label(locale, *status)
                )
            })
        ),
        Page::AlreadyRecorded { title, status } => format!(
            "{}{}",
            heading(title),
            para(&if fr {
                format!(
                    "Cette réponse était déjà enregistrée : {}. Rien n'a été envoyé à nouveau.",
                    answer_label(locale, *status)
                )
            } else {
                format!(
                    "This answer was recorded already: {}. Nothing was sent again.",
                    answer_label(locale, *status)
                )
            })
        ),
        Page::Ended { title } => format!(
            "{}{}",
            heading(title),
            para(&t(
                "This incident has ended: its links no longer record answers.",
                "Cet incident est terminé : ses liens n'enregistrent plus de réponse.",
            ))
        ),
        Page::TooMany { retry_after_secs } => para(&if fr {
            format!("Trop de réponses en peu de temps. Réessayez dans {retry_after_secs} secondes.")
        } else {
            format!("Too many answers in a short time. Try again in {retry_after_secs} seconds.")
        }),
    };
    document(if fr { "fr" } else { "en" }, "safecheck", &body)
}

/// The page for a link that is not valid (we do not know whose it is: both languages).
pub fn invalid() -> String {
    let body = "<p lang=\"en\">This link is not valid. Open safecheck to answer.</p>\n\
                <p lang=\"fr\">Ce lien n'est pas valide. Ouvrez safecheck pour répondre.</p>\n";
    document("en", "safecheck", body)
}

fn heading(title: &str) -> String {
    format!("<h1 style=\"font-size:1.3em\">{}</h1>\n", escape(title))
}

fn para(text: &str) -> String {
    format!("<p>{}</p>\n", escape(text))
}

fn document(lang: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title></head>\n\
         <body style=\"font-family:sans-serif;max-width:32em;margin:1em auto;padding:0 1em\">\n{body}</body></html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_speak_the_persons_language_and_escape_the_title() {
        let confirm = Page::Confirm {
            title: "Fire <b>",
            status: SafetyStatus::NeedHelp,
            message: "<kept>",
            error: true,
        };
        let fr = render(Locale::Fr, &confirm);
        assert!(fr.contains("J&#39;ai besoin d&#39;aide") && fr.contains("Fire &lt;b&gt;"), "{fr}");
        assert!(fr.contains(">&lt;kept&gt;</textarea>") && fr.contains("pas été accepté"), "{fr}");
        let already =
            render(Locale::Fr, &Page::AlreadyRecorded { title: "Fire", status: SafetyStatus::Safe });
        assert!(already.contains("déjà enregistrée") && !already.contains("<form"), "{already}");
        assert!(fr.contains("<form method=\"post\">") && !fr.contains("<script"));
        let en = render(Locale::En, &Page::Ended { title: "Fire" });
        assert!(en.contains("has ended"));
        assert!(invalid().contains("not valid") && invalid().contains("pas valide"));
    }
}
