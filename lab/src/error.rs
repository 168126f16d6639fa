//! The one error type of the domain: every failure a caller can act on has its own variant.

use std::fmt;

/// A problem with one input field, named so a form can show it next to the field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// All field problems of one submitted form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was added, else the collected errors.
    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("permission denied")]
    Forbidden,
    /// Allowed in general, but not at this moment (e.g. outside one's reservation).
    #[error("{0}")]
    NotNow(String),
    #[error("{0}")]
    Conflict(String),
    /// Deliberately the same for an unknown user, a wrong password and a disabled account.
    #[error("invalid username or password")]
    BadCredentials,
    #[error("too many failed log-in attempts; try again in {}", crate::error::wait_words(*.0))]
    Throttled(u64),
    #[cfg(feature = "db")]
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[cfg(feature = "db")]
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("secret store: {0}")]
    Secret(String),
    /// An API token that is unknown, revoked or whose user is disabled.
    #[error("invalid or revoked API token")]
    InvalidToken,
    /// Storing this would exceed the owner's image quota.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The image store's filesystem is full.
    #[error("no space left on the image store; nothing was kept")]
    NoSpace,
    /// A file operation failed (details for the log).
    #[error("storage error: {0}")]
    Storage(String),
    /// The job state machine refused an event (see `jobs::transition`).
    #[cfg(feature = "db")]
    #[error("{0}")]
    Refused(crate::jobs::Refusal),
    /// A duty of a leader that another instance has since replaced.
    #[error("this instance no longer leads the lab (its epoch {epoch}, now {current}): action not taken")]
    Fenced { epoch: i64, current: i64 },
}

#[cfg(feature = "db")]
impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        if error.raw_os_error() == Some(28) || error.kind() == std::io::ErrorKind::StorageFull {
            Error::NoSpace
        } else {
            Error::Storage(error.to_string())
        }
    }
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Error::Invalid(errors)
    }

    /// The per-field errors, when this is a validation failure.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Error::Invalid(errors) => &errors.0,
            _ => &[],
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

// What kind of failure a caller sees, with the HTTP status both fronts (server functions and
// the REST API) answer it with. The domain's errors, the conductor's and the fronts' own (a
// malformed request) are all classified into one of these. (A line comment: a doc comment would
// become the schema's description in the OpenAPI document.)
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Unauthenticated,
    Forbidden,
    NotFound,
    Invalid,
    Conflict,
    Throttled,
    BadRequest,
    /// Over the user's quota.
    TooLarge,
    /// A BMC (or another device baas talks to) failed or did not answer.
    Upstream,
    /// The server's storage is full.
    NoSpace,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Invalid => 422,
            ErrorKind::Conflict => 409,
            ErrorKind::Throttled => 429,
            ErrorKind::BadRequest => 400,
            ErrorKind::TooLarge => 413,
            ErrorKind::Upstream => 502,
            ErrorKind::NoSpace => 507,
            ErrorKind::Internal => 500,
        }
    }
}

impl Error {
    /// How a caller sees this error. Internal ones carry details meant for the log only.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Forbidden | Error::NotNow(_) => ErrorKind::Forbidden,
            Error::Conflict(_) => ErrorKind::Conflict,
            #[cfg(feature = "db")]
            Error::Refused(_) => ErrorKind::Conflict,
            Error::Fenced { .. } => ErrorKind::Conflict,
            Error::BadCredentials | Error::InvalidToken => ErrorKind::Unauthenticated,
            Error::Throttled(_) => ErrorKind::Throttled,
            Error::QuotaExceeded(_) => ErrorKind::TooLarge,
            Error::NoSpace => ErrorKind::NoSpace,
            #[cfg(feature = "db")]
            Error::Database(_) | Error::Migration(_) => ErrorKind::Internal,
            Error::Secret(_) | Error::Storage(_) => ErrorKind::Internal,
        }
    }
}

/// The message shown for an internal failure, whose details go to the log only.
pub const INTERNAL_MESSAGE: &str =
    "internal error; the administrator can find details in the server log";

/// A wait in words a person reads at a glance: "40 s", "3 min 20 s", "15 min".
pub(crate) fn wait_words(seconds: u64) -> String {
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_in_wait_is_said_in_minutes_and_seconds() {
        assert_eq!(wait_words(40), "40 s");
        assert_eq!(wait_words(900), "15 min");
        assert_eq!(wait_words(256), "4 min 16 s");
        assert_eq!(
            Error::Throttled(256).to_string(),
            "too many failed log-in attempts; try again in 4 min 16 s"
        );
    }
}
