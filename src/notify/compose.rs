//! A claimed message made into an email: its template rendered in the recipient's language, the
//! unsubscribe headers, and a Message-ID derived from its row id, so that the rare duplicate after
//! a crash is recognisable.

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use crate::db::notifications::NotificationRow;
use crate::domain::email::canonical;
use crate::domain::{NotificationKind, SafetyStatus};
use crate::notify::links::LinkKeys;
use crate::notify::notice_templates::{self, NoticePayload};
use crate::notify::templates::{self, CheckInPayload, InvitationPayload, PromptPayload, Rendered};

/// The list an email belongs to (its `List-Id` label): what the person prompted receives, or
/// what a contact receives.
fn list_of(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::Prompt
        | NotificationKind::Reminder
        | NotificationKind::OfficialUpdate
        | NotificationKind::AllClear
        | NotificationKind::Retraction => "alerts",
        NotificationKind::CheckIn | NotificationKind::Invitation => "contacts",
    }
}

/// A drill's email says so ([`templates::as_exercise`]).
fn exercise(locale: crate::domain::Locale, is_exercise: bool, rendered: Rendered) -> Rendered {
    if is_exercise { templates::as_exercise(locale, rendered) } else { rendered }
}

/// What every email shares: who sends it, and where links point.
#[derive(Clone, Debug)]
pub struct Letterhead {
    pub public_url: String,
    pub mail_from: Mailbox,
}

impl Letterhead {
    /// The email for `row`, or why it cannot be made (a payload or address this version cannot
    /// read): such a message is failed, never retried.
    pub fn compose(&self, links: &LinkKeys, row: &NotificationRow) -> Result<Message, String> {
        let locale = row.locale;
        let url = format!("{}/v1/unsubscribe/{}", self.public_url, links.token(&row.recipient_email));
        let accept_url = |user_id: &str| {
            format!(
                "{}/v1/invitations/{}",
                self.public_url,
                links.accept_token(user_id, &canonical(&row.recipient_email))
            )
        };
        let rendered = match row.kind {
            NotificationKind::CheckIn => {
                let payload: CheckInPayload =
                    serde_json::from_str(&row.payload).map_err(|e| e.to_string())?;
                let accept = match &row.user_id {
                    Some(user_id) if !payload.accepted => Some(accept_url(user_id)),
                    _ => None,
                };
                let rendered = templates::check_in(locale, &payload, accept.as_deref(), &url);
                exercise(locale, payload.exercise, rendered)
            }
            NotificationKind::Invitation => {
                let payload: InvitationPayload =
                    serde_json::from_str(&row.payload).map_err(|e| e.to_string())?;
                let user_id = row.user_id.as_deref().ok_or("an invitation without its user")?;
                templates::invitation(locale, &payload, &accept_url(user_id), &url)
            }
            NotificationKind::OfficialUpdate | NotificationKind::AllClear | NotificationKind::Retraction => {
                let payload: NoticePayload = serde_json::from_str(&row.payload).map_err(|e| e.to_string())?;
                exercise(locale, payload.exercise, notice_templates::notice(locale, &payload, &url))
            }
            NotificationKind::Prompt | NotificationKind::Reminder => {
                let payload: PromptPayload = serde_json::from_str(&row.payload).map_err(|e| e.to_string())?;
                let answers = match (&row.incident_id, &row.user_id) {
                    (Some(incident_id), Some(user_id)) => Some(SafetyStatus::ALL.map(|status| {
                        let token = links.answer_token(incident_id, user_id, status);
                        (status, format!("{}/v1/answer/{token}", self.public_url))
                    })),
                    _ => None,
                };
                let rendered = if row.kind == NotificationKind::Prompt {
                    templates::prompt(locale, &payload, answers.as_ref(), &url)
                } else {
                    templates::reminder(locale, &payload, answers.as_ref(), &url)
                };
                exercise(locale, payload.exercise, rendered)
            }
        };
        let to = Mailbox::new(
            row.recipient_name.clone(),
            row.recipient_email.parse().map_err(|e| format!("{e}"))?,
        );
        let domain = self.mail_from.email.domain().to_owned();
        Message::builder()
            .from(self.mail_from.clone())
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(format!("<{}@{domain}>", row.id)))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ))
            // RFC 3834: no auto-reply (holiday messages) comes back to an automatic message.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ))
            // RFC 2919: one list a purpose, so a person can file or allow each in their client.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Id"),
                format!("<{}.safecheck.{domain}>", list_of(row.kind)),
            ))
            .multipart(MultiPart::alternative_plain_html(rendered.text, rendered.html))
            .map_err(|e| e.to_string())
    }
}
