//! Who is acting: every state-changing call names its actor, for authorization and the audit log.

/// The authenticated party behind a request or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `None` for the operating-system shell (`baas user …`), which is trusted like an admin.
    pub user_id: Option<i64>,
    pub username: String,
    pub is_admin: bool,
    /// Client address as seen by the server, for the audit log.
    pub address: String,
}

impl Actor {
    pub fn user(user_id: i64, username: &str, is_admin: bool, address: &str) -> Self {
        Actor {
            user_id: Some(user_id),
            username: username.to_string(),
            is_admin,
            address: address.to_string(),
        }
    }

    /// An admin at the server's shell.
    pub fn shell() -> Self {
        let who = std::env::var("USER").unwrap_or_else(|_| "shell".to_string());
        Actor {
            user_id: None,
            username: format!("shell:{who}"),
            is_admin: true,
            address: "local".to_string(),
        }
    }

    /// baas itself, for housekeeping it does on its own (expiring media, say).
    pub fn system() -> Self {
        Actor {
            user_id: None,
            username: "baas".to_string(),
            is_admin: true,
            address: "internal".to_string(),
        }
    }

    pub fn require_admin(&self) -> crate::Result<()> {
        if self.is_admin {
            Ok(())
        } else {
            Err(crate::Error::Forbidden)
        }
    }

    pub fn is(&self, user_id: i64) -> bool {
        self.user_id == Some(user_id)
    }
}
