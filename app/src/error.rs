//! The error every server function returns: JSON on the wire (`{"kind":…,"error":…,"fields":[…]}`)
//! with a matching HTTP status, and readable in the browser.

pub use lab::ErrorKind;
use lab::FieldError;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Every error of the server functions (the REST API has its own, of the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl AppError {
    pub fn new(kind: ErrorKind, error: impl Into<String>) -> Self {
        let error = AppError {
            kind,
            error: error.into(),
            fields: Vec::new(),
        };
        error.set_response_status();
        error
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorKind::Unauthenticated, "please log in")
    }

    pub fn invalid(field: &str, message: &str) -> Self {
        let mut error = Self::new(ErrorKind::Invalid, format!("{field}: {message}"));
        error.fields.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        error
    }

    /// The message for one form field, if this error names it.
    pub fn field(&self, name: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.field == name)
            .map(|f| f.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }

    /// Makes the HTTP response carry this error's status. A server function's response (and an
    /// SSR page whose data failed) is built after the function returns, so the status is put
    /// into the response options while the request's context is still current.
    fn set_response_status(&self) {
        #[cfg(feature = "ssr")]
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = http::StatusCode::from_u16(self.kind.status()) {
                response.set_status(status);
            }
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let kind = match value {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        };
        AppError::new(kind, value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<lab::Error> for AppError {
    fn from(error: lab::Error) -> Self {
        let kind = error.kind();
        if kind == ErrorKind::Internal {
            return AppError::internal(error);
        }
        let mut app_error = AppError::new(kind, error.to_string());
        app_error.fields = error.field_errors().to_vec();
        app_error
    }
}

#[cfg(feature = "ssr")]
impl From<conductor::Error> for AppError {
    fn from(error: conductor::Error) -> Self {
        match error {
            conductor::Error::Lab(error) => error.into(),
            error => AppError::new(error.kind(), error.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// An infrastructure failure: logged in full, reported without details.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        AppError::new(ErrorKind::Internal, lab::INTERNAL_MESSAGE)
    }
}
