//! User accounts: creation, log-in, passwords, disabling, and the first admin.

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::{NewUser, User};
use crate::store::{is_unique_violation, Flag};
use crate::throttle::{Counted, LoginClient};
use crate::{password, validate, Actor, Error, Lab, Result};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    password_hash: String,
    #[sqlx(try_from = "Flag")]
    is_admin: bool,
    #[sqlx(try_from = "Flag")]
    disabled: bool,
    created_at: i64,
    image_quota_bytes: Option<i64>,
    credentials_version: i64,
}

impl UserRow {
    fn into_user(self, groups: Vec<String>) -> User {
        User {
            id: self.id,
            username: self.username,
            display_name: self.display_name,
            is_admin: self.is_admin,
            disabled: self.disabled,
            created_at: self.created_at,
            image_quota_bytes: self.image_quota_bytes,
            credentials_version: self.credentials_version,
            groups,
        }
    }
}

/// The flags are compared, not named: SQLite declares them BOOLEAN, a type sqlx's `Any` driver
/// refuses to read from a plain column (see [`Flag`]).
const USER_COLUMNS: &str =
    "id, username, display_name, password_hash, (is_admin = TRUE) AS is_admin, \
     (disabled = TRUE) AS disabled, created_at, image_quota_bytes, credentials_version";

/// What the first start did about the admin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Users exist already; nothing was done.
    Existing,
    /// `admin` was created with the password given in the environment.
    Created,
    /// `admin` was created with this generated password, to be shown once.
    Generated(String),
}

impl Lab {
    /// Creates `admin` when the database has no user at all.
    pub async fn bootstrap_admin(&self, password: Option<&str>) -> Result<Bootstrap> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.db)
            .await?;
        if count > 0 {
            return Ok(Bootstrap::Existing);
        }
        let (password, outcome) = match password.filter(|p| !p.is_empty()) {
            Some(p) => (p.to_string(), Bootstrap::Created),
            None => {
                let generated = crate::secrets::random_token(15);
                (generated.clone(), Bootstrap::Generated(generated))
            }
        };
        let new = NewUser {
            username: "admin".into(),
            display_name: "Administrator".into(),
            password,
            is_admin: true,
        };
        match self.create_user(&Actor::shell(), new).await {
            Ok(_) => Ok(outcome),
            // Another instance starting at the same moment created it first.
            Err(error) => match self.user_by_name(&Actor::shell(), "admin").await {
                Ok(_) => Ok(Bootstrap::Existing),
                Err(_) => Err(error),
            },
        }
    }

    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User> {
        actor.require_admin()?;
        let mut errors = FieldErrors::default();
        let username = validate::identifier(&mut errors, "username", &new.username);
        let display_name = validate::text(
            &mut errors,
            "display_name",
            &new.display_name,
            validate::MAX_TEXT,
            false,
        );
        validate::password(&mut errors, "password", &new.password);
        errors.into_result()?;
        let hash = password::hash(&new.password)?;
        let mut tx = self.write().await?;
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (username, display_name, password_hash, is_admin, disabled, created_at)
             VALUES ($1, $2, $3, $4, FALSE, $5) RETURNING id",
        )
        .bind(&username)
        .bind(&display_name)
        .bind(&hash)
        .bind(new.is_admin)
        .bind(crate::now())
        .fetch_one(&mut *tx)
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::invalid("username", "is already taken"));
            }
            Err(e) => return Err(e.into()),
        };
        let role = if new.is_admin { "admin" } else { "user" };
        record(
            &mut tx,
            actor,
            "user.create",
            &format!("user:{username}"),
            role,
        )
        .await?;
        tx.commit().await?;
        self.user(id).await?.ok_or(Error::NotFound("user"))
    }

    /// One user by id, with group names, for resolving sessions. No authorization: internal use.
    pub async fn user(&self, id: i64) -> Result<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.db)
                .await?;
        match row {
            Some(row) => {
                let groups = self.group_names_of(row.id).await?;
                Ok(Some(row.into_user(groups)))
            }
            None => Ok(None),
        }
    }

    /// One user by name, for admins and the shell.
    pub async fn user_by_name(&self, actor: &Actor, username: &str) -> Result<User> {
        actor.require_admin()?;
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ))
        .bind(username.trim())
        .fetch_optional(&self.db)
        .await?;
        let row = row.ok_or(Error::NotFound("user"))?;
        let groups = self.group_names_of(row.id).await?;
        Ok(row.into_user(groups))
    }

    /// All users, for admins.
    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        actor.require_admin()?;
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(&self.db)
        .await?;
        let memberships: Vec<(i64, String)> = sqlx::query_as(
            "SELECT m.user_id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id ORDER BY g.name",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let groups = memberships
                    .iter()
                    .filter(|(user_id, _)| *user_id == row.id)
                    .map(|(_, name)| name.clone())
                    .collect();
                row.into_user(groups)
            })
            .collect())
    }

    /// Checks a log-in from an unknown client at `address`.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<User> {
        self.authenticate_client(
            username,
            password,
            LoginClient {
                address,
                devices: &[],
            },
        )
        .await
    }

    /// Checks a log-in. Unknown user, wrong password and disabled account fail alike, in alike
    /// time; repeated failures are throttled (see [`crate::throttle`]).
    pub async fn authenticate_client(
        &self,
        username: &str,
        password: &str,
        client: LoginClient<'_>,
    ) -> Result<User> {
        let username = username.trim();
        let address = client.address;
        let counted = self.counted(username, client).await?;
        if let Some(wait) = self.login_wait(&counted).await? {
            return Err(Error::Throttled(wait));
        }
        let row: Option<UserRow> = if username.len() <= validate::MAX_NAME && password.len() <= 1024
        {
            sqlx::query_as(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
            ))
            .bind(username)
            .fetch_optional(&self.db)
            .await?
        } else {
            None
        };
        let stored_hash = row
            .as_ref()
            .map(|r| r.password_hash.as_str())
            .unwrap_or(password::decoy());
        let password = password.to_string();
        let stored_hash = stored_hash.to_string();
        // Asked again once a verification slot is ours: a burst of guesses sent at once queues
        // for the slots, and the failures counted meanwhile lock the rest of it out.
        let slot = password::slot().await.ok_or(Error::BadCredentials)?;
        if let Some(wait) = self.login_wait(&counted).await? {
            return Err(Error::Throttled(wait));
        }
        // The slot is held until the outcome is recorded (dropped at the end of this call).
        let (verified, _slot) = slot.verify(password, stored_hash).await;
        let attempt = Actor {
            user_id: row.as_ref().map(|r| r.id),
            username: username.chars().take(validate::MAX_NAME).collect(),
            is_admin: false,
            address: address.to_string(),
        };
        match row {
            Some(row) if verified && !row.disabled => {
                self.login_succeeded(&counted).await?;
                self.audit_event(
                    &attempt,
                    "session.login",
                    &format!("user:{}", row.username),
                    "",
                )
                .await?;
                let groups = self.group_names_of(row.id).await?;
                Ok(row.into_user(groups))
            }
            _ => {
                self.login_failed(&counted).await?;
                self.audit_event(
                    &attempt,
                    "session.login_failed",
                    &format!("user:{}", attempt.username),
                    "",
                )
                .await?;
                Err(Error::BadCredentials)
            }
        }
    }

    /// Sets another user's password (admins) or one's own without the current one (shell).
    /// Every session of that user ends.
    pub async fn set_password(
        &self,
        actor: &Actor,
        user_id: i64,
        new_password: &str,
    ) -> Result<()> {
        actor.require_admin()?;
        self.store_password(actor, user_id, new_password, "user.password_reset")
            .await?;
        // A reset is what an admin does when an account may be in other hands: its API tokens
        // go too (a user's own change keeps theirs, which they list and revoke themselves).
        sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// A user changes their own password, proving they know the current one. Every session of
    /// theirs ends; the returned credentials version lets the caller's own session carry on.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        current: &str,
        new_password: &str,
    ) -> Result<i64> {
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        // Whoever holds a session or a token must not get unlimited guesses at the password
        // through this form (counted on the user, so strangers cannot block the owner's change).
        let counted = Counted::PasswordChange {
            user: format!("change:{user_id}"),
        };
        if let Some(wait) = self.login_wait(&counted).await? {
            return Err(Error::Throttled(wait));
        }
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let current = current.to_string();
        let ok = password::verify_queued(current, hash).await;
        if !ok {
            self.login_failed(&counted).await?;
            return Err(Error::invalid(
                "current_password",
                "is not your current password",
            ));
        }
        self.store_password(actor, user_id, new_password, "user.password_change")
            .await
    }

    /// The user a session belongs to: enabled, and logged in with the credentials they still
    /// have (a password change or reset since then voids the session).
    pub async fn session_user(
        &self,
        user_id: i64,
        credentials_version: i64,
    ) -> Result<Option<User>> {
        Ok(self
            .user(user_id)
            .await?
            .filter(|u| !u.disabled && u.credentials_version == credentials_version))
    }

    /// Stores the new hash and moves the credentials version on; returns the new version.
    async fn store_password(
        &self,
        actor: &Actor,
        user_id: i64,
        new_password: &str,
        action: &str,
    ) -> Result<i64> {
        let mut errors = FieldErrors::default();
        validate::password(&mut errors, "new_password", new_password);
        errors.into_result()?;
        let hash = password::hash(new_password)?;
        let mut tx = self.write().await?;
        let updated: Option<(String, i64)> = sqlx::query_as(
            "UPDATE users SET password_hash = $1, credentials_version = credentials_version + 1 \
             WHERE id = $2 RETURNING username, credentials_version",
        )
        .bind(&hash)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (username, version) = updated.ok_or(Error::NotFound("user"))?;
        // New credentials, no old trust: browsers are known to the account again by logging in.
        sqlx::query("DELETE FROM known_devices WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, actor, action, &format!("user:{username}"), "").await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Disables or re-enables an account. A disabled user cannot log in and loses open sessions.
    pub async fn set_disabled(&self, actor: &Actor, user_id: i64, disabled: bool) -> Result<()> {
        actor.require_admin()?;
        if actor.is(user_id) && disabled {
            return Err(Error::Conflict(
                "you cannot disable your own account".into(),
            ));
        }
        let mut tx = self.write().await?;
        let username: Option<String> =
            sqlx::query_scalar("UPDATE users SET disabled = $1 WHERE id = $2 RETURNING username")
                .bind(disabled)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        let username = username.ok_or(Error::NotFound("user"))?;
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        record(&mut tx, actor, action, &format!("user:{username}"), "").await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn first_start_creates_admin_once_with_a_generated_password() {
        let (lab, _dir) = testing::lab().await;
        let Bootstrap::Generated(password) = lab.bootstrap_admin(None).await.unwrap() else {
            panic!("expected a generated password");
        };
        assert!(password.len() >= 16);
        let admin = lab
            .authenticate("admin", &password, "127.0.0.1")
            .await
            .unwrap();
        assert!(admin.is_admin);
        assert_eq!(
            lab.bootstrap_admin(Some("other-password")).await.unwrap(),
            Bootstrap::Existing
        );
    }

    /// Two instances starting at once on one database both bootstrap: one creates `admin`, the
    /// other finds it, and neither fails its start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_first_starts_at_once_create_admin_once_and_both_start() {
        let (lab, _dir) = testing::lab().await;
        let (one, two) = tokio::join!(
            lab.bootstrap_admin(Some("first-password")),
            lab.bootstrap_admin(Some("second-password"))
        );
        let mut outcomes = [one.unwrap(), two.unwrap()];
        outcomes.sort_by_key(|o| o == &Bootstrap::Existing);
        assert_eq!(outcomes, [Bootstrap::Created, Bootstrap::Existing]);
        assert_eq!(lab.users(&testing::admin()).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn login_errors_do_not_reveal_whether_the_user_exists() {
        let (lab, _dir) = testing::lab().await;
        testing::user(&lab, "alice").await;
        let unknown = lab
            .authenticate("mallory", "password123", "10.0.0.1")
            .await
            .unwrap_err();
        let wrong = lab
            .authenticate("alice", "wrong-password", "10.0.0.2")
            .await
            .unwrap_err();
        assert_eq!(unknown.to_string(), wrong.to_string());
        assert!(lab
            .authenticate("alice", "password123", "10.0.0.3")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn disabled_users_cannot_log_in_until_re_enabled() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let id = alice.user_id.unwrap();
        lab.set_disabled(&testing::admin(), id, true).await.unwrap();
        assert!(matches!(
            lab.authenticate("alice", "password123", "a").await,
            Err(Error::BadCredentials)
        ));
        lab.set_disabled(&testing::admin(), id, false)
            .await
            .unwrap();
        assert!(lab.authenticate("alice", "password123", "a").await.is_ok());
        assert!(matches!(
            lab.set_disabled(&alice, id, true).await,
            Err(Error::Forbidden)
        ));
    }

    fn from<'a>(address: &'a str, devices: &'a [String]) -> LoginClient<'a> {
        LoginClient { address, devices }
    }

    /// A lab on a clock the test moves, and alice on it.
    async fn lab_with_alice() -> (Lab, tempfile::TempDir, i64) {
        let (lab, dir) = testing::lab().await;
        let lab = lab.with_clock(crate::Clock::manual(1_800_000_000));
        let alice = testing::user(&lab, "alice").await.user_id.unwrap();
        (lab, dir, alice)
    }

    #[tokio::test]
    async fn failures_for_an_account_from_one_address_lock_that_client_only() {
        let (lab, _dir, _) = lab_with_alice().await;
        for _ in 0..5 {
            let _ = lab.authenticate("alice", "nope-nope", "10.1.1.1").await;
        }
        // The right password from that address waits, and is told how long.
        let refused = lab.authenticate("Alice", "password123", "10.1.1.1").await;
        assert!(matches!(refused, Err(Error::Throttled(1))), "{refused:?}");
        // Alice elsewhere is not locked out by them.
        assert!(lab
            .authenticate("alice", "password123", "10.9.9.9")
            .await
            .is_ok());
        lab.clock.advance(2);
        assert!(lab
            .authenticate("alice", "password123", "10.1.1.1")
            .await
            .is_ok());
    }

    /// Guesses sent all at once do not slip past the back-off: they queue for the password
    /// checks, and once the first few failed the rest are refused unchecked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_guesses_at_once_gets_only_a_few_checked() {
        let (lab, _dir, _) = lab_with_alice().await;
        let guesses: Vec<_> = (0..40)
            .map(|n| {
                let lab = lab.clone();
                tokio::spawn(async move {
                    lab.authenticate("alice", &format!("guess-{n}"), "10.1.1.1")
                        .await
                })
            })
            .collect();
        let mut checked = 0;
        for guess in guesses {
            match guess.await.unwrap() {
                Err(Error::BadCredentials) => checked += 1,
                Err(Error::Throttled(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(
            checked <= 5 + password::AT_ONCE,
            "{checked} of 40 guesses sent at once were checked"
        );
    }

    #[tokio::test]
    async fn an_address_guessing_many_accounts_is_locked_for_all_of_them() {
        let (lab, _dir, _) = lab_with_alice().await;
        for n in 0..20 {
            let _ = lab
                .authenticate(&format!("user{n}"), "guess-guess", "10.6.6.6")
                .await;
        }
        assert!(matches!(
            lab.authenticate("alice", "password123", "10.6.6.6").await,
            Err(Error::Throttled(_))
        ));
        assert!(lab
            .authenticate("alice", "password123", "10.7.7.7")
            .await
            .is_ok());
    }

    /// Strangers from many addresses lock the account for unknown clients, but a browser that
    /// logged in to it before still gets in (slowed down, never refused).
    #[tokio::test]
    async fn strangers_cannot_lock_the_owner_out_of_a_browser_that_logged_in_before() {
        let (lab, _dir, alice) = lab_with_alice().await;
        let user = lab
            .authenticate_client("alice", "password123", from("10.0.0.5", &[]))
            .await
            .unwrap();
        let device = vec![lab.remember_device(user.id, &[]).await.unwrap()];
        for n in 0..40 {
            let _ = lab
                .authenticate("alice", "guess-guess", &format!("10.6.{n}.1"))
                .await;
        }
        let unknown = lab
            .authenticate_client("alice", "password123", from("10.0.0.5", &[]))
            .await;
        assert!(matches!(unknown, Err(Error::Throttled(_))), "{unknown:?}");
        // Another account's device token does not count for alice.
        let bob = testing::user(&lab, "bob").await.user_id.unwrap();
        let bobs = vec![lab.remember_device(bob, &[]).await.unwrap()];
        assert!(matches!(
            lab.authenticate_client("alice", "password123", from("10.0.0.5", &bobs))
                .await,
            Err(Error::Throttled(_))
        ));
        let known = lab
            .authenticate_client("alice", "password123", from("10.0.0.5", &device))
            .await;
        assert_eq!(known.unwrap().id, alice);
        // The same token is kept, and it stays known only for so long without a log-in.
        assert_eq!(
            lab.remember_device(alice, &device).await.unwrap(),
            device[0]
        );
        lab.clock.advance(crate::throttle::DEVICE_DAYS * 86_400 + 1);
        let token = lab.remember_device(alice, &device).await.unwrap();
        assert_ne!(token, device[0], "an expired device token was renewed");
    }

    /// A known device's own failures lock that device, not the account for its other devices.
    #[tokio::test]
    async fn a_known_device_that_fails_is_locked_on_its_own() {
        let (lab, _dir, alice) = lab_with_alice().await;
        let laptop = vec![lab.remember_device(alice, &[]).await.unwrap()];
        let desktop = vec![lab.remember_device(alice, &[]).await.unwrap()];
        for _ in 0..5 {
            let _ = lab
                .authenticate_client("alice", "nope-nope", from("10.0.0.5", &laptop))
                .await;
        }
        assert!(matches!(
            lab.authenticate_client("alice", "password123", from("10.0.0.5", &laptop))
                .await,
            Err(Error::Throttled(_))
        ));
        assert!(lab
            .authenticate_client("alice", "password123", from("10.0.0.5", &desktop))
            .await
            .is_ok());
    }

    /// Two instances on one database spend one budget: N instances do not give N times the
    /// guesses.
    #[tokio::test]
    async fn every_instance_spends_one_budget() {
        let (lab, dir, _) = lab_with_alice().await;
        let other = Lab::open(
            lab.database_url(),
            crate::SecretBox::new([1; 32]),
            dir.path().join("images-2"),
        )
        .await
        .unwrap()
        .with_clock(lab.clock.clone());
        for attempt in 0..5 {
            let instance = if attempt % 2 == 0 { &lab } else { &other };
            let _ = instance
                .authenticate("alice", "nope-nope", "10.1.1.1")
                .await;
        }
        assert!(matches!(
            other.authenticate("alice", "password123", "10.1.1.1").await,
            Err(Error::Throttled(_))
        ));
    }

    /// An admin's reset ends the account's API tokens (its sessions end with the new password).
    #[tokio::test]
    async fn a_password_reset_revokes_the_accounts_api_tokens() {
        let (lab, _dir, alice) = lab_with_alice().await;
        let actor = Actor::user(alice, "alice", false, "10.1.1.1");
        let (_, secret) = lab.create_api_token(&actor, "ci", Some(1)).await.unwrap();
        assert!(lab.token_actor(&secret, "10.1.1.1").await.is_ok());
        lab.set_password(&testing::admin(), alice, "a-new-password-1")
            .await
            .unwrap();
        assert!(matches!(
            lab.token_actor(&secret, "10.1.1.1").await,
            Err(Error::InvalidToken)
        ));
    }

    /// The password-change form is no way around the log-in back-off.
    #[tokio::test]
    async fn guessing_the_current_password_in_the_change_form_is_throttled() {
        let (lab, _dir, _) = lab_with_alice().await;
        let user = lab
            .authenticate("alice", "password123", "10.1.1.1")
            .await
            .unwrap();
        let alice = Actor::user(user.id, &user.username, user.is_admin, "10.1.1.1");
        for _ in 0..5 {
            let guess = lab
                .change_own_password(&alice, "guess-guess", "new-password-1")
                .await;
            assert!(matches!(guess, Err(Error::Invalid(_))), "{guess:?}");
        }
        let refused = lab
            .change_own_password(&alice, "password123", "new-password-1")
            .await;
        assert!(matches!(refused, Err(Error::Throttled(_))), "{refused:?}");
    }

    #[tokio::test]
    async fn own_password_change_needs_the_current_password() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let err = lab
            .change_own_password(&alice, "wrong", "new-password-1")
            .await
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "current_password");
        let err = lab
            .change_own_password(&alice, "password123", "short")
            .await
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "new_password");
        lab.change_own_password(&alice, "password123", "new-password-1")
            .await
            .unwrap();
        assert!(lab
            .authenticate("alice", "new-password-1", "b")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_password_change_or_reset_voids_sessions_from_before_it() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let id = alice.user_id.unwrap();
        let admin = testing::admin();
        let at_login = lab.authenticate("alice", "password123", "a").await.unwrap();
        let version = at_login.credentials_version;
        assert!(lab.session_user(id, version).await.unwrap().is_some());

        let after_change = lab
            .change_own_password(&alice, "password123", "new-password-1")
            .await
            .unwrap();
        assert!(after_change > version);
        assert!(lab.session_user(id, version).await.unwrap().is_none());
        assert!(lab.session_user(id, after_change).await.unwrap().is_some());

        lab.set_password(&admin, id, "reset-password-2")
            .await
            .unwrap();
        assert!(lab.session_user(id, after_change).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn usernames_are_unique_and_validated_without_writing_anything() {
        let (lab, _dir) = testing::lab().await;
        testing::user(&lab, "alice").await;
        let duplicate = NewUser {
            username: "alice".into(),
            display_name: String::new(),
            password: "password123".into(),
            is_admin: false,
        };
        let err = lab
            .create_user(&testing::admin(), duplicate)
            .await
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "username");
        let bad = NewUser {
            username: "bad name".into(),
            display_name: "x".repeat(500),
            password: "short".into(),
            is_admin: false,
        };
        let err = lab.create_user(&testing::admin(), bad).await.unwrap_err();
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(fields, ["username", "display_name", "password"]);
        assert_eq!(lab.users(&testing::admin()).await.unwrap().len(), 1);
    }
}
