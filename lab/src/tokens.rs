//! API tokens: how scripts and `curl` act as a user without a browser session. The secret is
//! shown once; only its SHA-256 is stored, so a leaked database does not leak tokens.

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::ApiToken;
use crate::store::Flag;
use crate::{validate, Actor, Error, Lab, Result};

const PREFIX: &str = "baas_";
/// The longest lifetime a token may be given, in days.
pub const MAX_TOKEN_DAYS: i64 = 366;

impl Lab {
    /// Creates a token for the actor, valid for `valid_days` (1 to [`MAX_TOKEN_DAYS`]) or, with
    /// `None`, until revoked; returns it with its secret, which is not kept.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        valid_days: Option<i64>,
    ) -> Result<(ApiToken, String)> {
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        let mut errors = FieldErrors::default();
        let name = validate::text(&mut errors, "name", name, validate::MAX_NAME, true);
        if valid_days.is_some_and(|days| !(1..=MAX_TOKEN_DAYS).contains(&days)) {
            errors.add(
                "valid_days",
                format!("must be between 1 and {MAX_TOKEN_DAYS} days, or never"),
            );
        }
        errors.into_result()?;
        let secret = format!("{PREFIX}{}", crate::secrets::random_token(32));
        let now = crate::now();
        let expires_at = valid_days.map(|days| now + days * 86_400);
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(&name)
        .bind(crate::secrets::token_sha256(&secret))
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            actor,
            "token.create",
            &format!("token:{id}"),
            &name,
        )
        .await?;
        tx.commit().await?;
        Ok((
            ApiToken {
                id,
                name,
                created_at: now,
                last_used_at: None,
                expires_at,
                expired: false,
            },
            secret,
        ))
    }

    /// The actor's own tokens.
    pub async fn api_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        type Row = (i64, String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, created_at, last_used_at, expires_at FROM api_tokens
             WHERE user_id = $1 ORDER BY id",
        )
        .bind(actor.user_id.unwrap_or(-1))
        .fetch_all(&self.db)
        .await?;
        let now = crate::now();
        Ok(rows
            .into_iter()
            .map(
                |(id, name, created_at, last_used_at, expires_at)| ApiToken {
                    id,
                    name,
                    created_at,
                    last_used_at,
                    expires_at,
                    expired: expires_at.is_some_and(|at| at <= now),
                },
            )
            .collect())
    }

    /// Revokes one of the actor's tokens (admins: anyone's).
    pub async fn revoke_api_token(&self, actor: &Actor, id: i64) -> Result<()> {
        let mut tx = self.write().await?;
        let deleted = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND ($2 OR user_id = $3)")
            .bind(id)
            .bind(actor.is_admin)
            .bind(actor.user_id.unwrap_or(-1))
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound("token"));
        }
        record(&mut tx, actor, "token.revoke", &format!("token:{id}"), "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user a bearer token acts for. Unknown, expired and revoked tokens and disabled users
    /// are refused alike.
    pub async fn token_actor(&self, secret: &str, address: &str) -> Result<Actor> {
        if !secret.starts_with(PREFIX) {
            return Err(Error::InvalidToken);
        }
        let row: Option<(i64, i64, String, Flag)> = sqlx::query_as(
            "SELECT t.id, u.id, u.username, (u.is_admin = TRUE) FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND NOT u.disabled AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(crate::secrets::token_sha256(secret))
        .bind(crate::now())
        .fetch_optional(&self.db)
        .await?;
        let (token_id, user_id, username, Flag(is_admin)) = row.ok_or(Error::InvalidToken)?;
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(crate::now())
            .bind(token_id)
            .execute(&self.db)
            .await?;
        Ok(Actor::user(user_id, &username, is_admin, address))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{lab, user};
    use crate::Error;

    #[tokio::test]
    async fn a_token_acts_for_its_user_until_revoked_or_the_user_is_disabled() {
        let (lab, _dir) = lab().await;
        let alice = user(&lab, "alice").await;
        let (token, secret) = lab.create_api_token(&alice, "laptop", None).await.unwrap();
        assert!(secret.starts_with("baas_") && secret.len() > 40);
        let actor = lab.token_actor(&secret, "10.0.0.1").await.unwrap();
        assert_eq!(
            (actor.user_id, actor.username.as_str()),
            (alice.user_id, "alice")
        );
        assert!(lab.api_tokens(&alice).await.unwrap()[0]
            .last_used_at
            .is_some());
        assert!(matches!(
            lab.token_actor("baas_not-a-token", "x").await,
            Err(Error::InvalidToken)
        ));

        let bob = user(&lab, "bob").await;
        assert!(matches!(
            lab.revoke_api_token(&bob, token.id).await,
            Err(Error::NotFound(_))
        ));
        let admin = crate::testing::admin();
        lab.set_disabled(&admin, alice.user_id.unwrap(), true)
            .await
            .unwrap();
        assert!(matches!(
            lab.token_actor(&secret, "x").await,
            Err(Error::InvalidToken)
        ));
        lab.set_disabled(&admin, alice.user_id.unwrap(), false)
            .await
            .unwrap();
        lab.revoke_api_token(&alice, token.id).await.unwrap();
        assert!(matches!(
            lab.token_actor(&secret, "x").await,
            Err(Error::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn a_token_stops_working_when_it_expires_and_lifetimes_are_bounded() {
        let (lab, _dir) = lab().await;
        let alice = user(&lab, "alice").await;
        let (token, secret) = lab.create_api_token(&alice, "ci", Some(30)).await.unwrap();
        let expected = crate::now() + 30 * 86_400;
        assert!((expected - 2..=expected).contains(&token.expires_at.unwrap()));
        assert!(lab.token_actor(&secret, "x").await.is_ok());
        for days in [0, -1, super::MAX_TOKEN_DAYS + 1] {
            let err = lab
                .create_api_token(&alice, "bad", Some(days))
                .await
                .unwrap_err();
            assert_eq!(err.field_errors()[0].field, "valid_days");
        }
        // Time passes: the expiry is moved into the past.
        sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
            .bind(crate::now() - 1)
            .bind(token.id)
            .execute(&lab.db)
            .await
            .unwrap();
        assert!(matches!(
            lab.token_actor(&secret, "x").await,
            Err(Error::InvalidToken)
        ));
        let listed = lab.api_tokens(&alice).await.unwrap();
        assert!(listed[0].expired, "still listed, and marked expired");
    }
}
