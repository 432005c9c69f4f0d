//! How the domain's closed sets of words (a locale, a status, a state) are stored: as their
//! text, in a `Text` column, one mapping each. A row holding a word the code does not know is an
//! error when it is read, never a silent default.

use std::fmt;

use diesel::backend::Backend;
use diesel::deserialize::FromSql;
use diesel::sql_types::Text;

use crate::domain::{
    IncidentStatus, Locale, NoticeKind, NotificationKind, NotificationState, PromptSource, Role, SafetyStatus,
};

/// A stored word that names no variant of the type read.
#[derive(Debug)]
pub struct UnknownStoredValue {
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownStoredValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the database holds an unknown {} {:?}", self.what, self.value)
    }
}

impl std::error::Error for UnknownStoredValue {}

/// Gives each listed type, which has `as_str`, `FromStr` and `#[derive(FromSqlRow)]`, its one
/// mapping to a `Text` column: `FromSql` on every backend for reading (through `TryFrom<String>`),
/// and `From<T> for String` for writing (a row field's `#[diesel(serialize_as = String)]`, a
/// filter's `.eq(value.as_str())`).
macro_rules! stored_as_text {
    ($($ty:ty => $what:literal),+ $(,)?) => {$(
        impl TryFrom<String> for $ty {
            type Error = UnknownStoredValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse().map_err(|_| UnknownStoredValue { what: $what, value })
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                Ok(Self::try_from(String::from_sql(bytes)?)?)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.as_str().to_owned()
            }
        }
    )+};
}

stored_as_text! {
    Locale => "locale",
    Role => "role",
    SafetyStatus => "safety status",
    NotificationKind => "notification kind",
    NotificationState => "notification state",
    IncidentStatus => "incident status",
    PromptSource => "prompt source",
    NoticeKind => "notice kind",
}

#[cfg(test)]
mod tests {
    use crate::domain::{Locale, NotificationState};

    #[test]
    fn a_known_word_reads_back_and_an_unknown_one_is_an_error() {
        assert_eq!(Locale::try_from("fr".to_owned()).unwrap(), Locale::Fr);
        let error = NotificationState::try_from("lost".to_owned()).unwrap_err();
        assert_eq!(error.to_string(), "the database holds an unknown notification state \"lost\"");
        assert_eq!(String::from(NotificationState::Retrying), "retrying");
    }
}
