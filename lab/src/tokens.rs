//! API tokens: how scripts and `curl` act as a user without a browser session. The secret is
//! shown once; only its SHA-256 is stored, so a leaked database does not leak tokens.

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::ApiToken;
use crate::{validate, Actor, Error, Lab, Result};

const PREFIX: &str = "baas_";

impl Lab {
    /// Creates a token for the actor; returns it with its secret, which is not kept.
    pub async fn create_api_token(&self, actor: &Actor, name: &str) -> Result<(ApiToken, String)> {
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        let mut errors = FieldErrors::default();
        let name = validate::text(&mut errors, "name", name, validate::MAX_NAME, true);
        errors.into_result()?;
        let secret = format!("{PREFIX}{}", crate::secrets::random_token(32));
        let now = crate::now();
        let mut tx = self.db.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(user_id)
        .bind(&name)
        .bind(crate::secrets::token_sha256(&secret))
        .bind(now)
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
            },
            secret,
        ))
    }

    /// The actor's own tokens.
    pub async fn api_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        let rows: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY id",
        )
        .bind(actor.user_id.unwrap_or(-1))
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at, last_used_at)| ApiToken {
                id,
                name,
                created_at,
                last_used_at,
            })
            .collect())
    }

    /// Revokes one of the actor's tokens (admins: anyone's).
    pub async fn revoke_api_token(&self, actor: &Actor, id: i64) -> Result<()> {
        let mut tx = self.db.begin().await?;
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

    /// The user a bearer token acts for. Unknown tokens and disabled users are refused alike.
    pub async fn token_actor(&self, secret: &str, address: &str) -> Result<Actor> {
        if !secret.starts_with(PREFIX) {
            return Err(Error::InvalidToken);
        }
        let row: Option<(i64, i64, String, bool)> = sqlx::query_as(
            "SELECT t.id, u.id, u.username, u.is_admin FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND NOT u.disabled",
        )
        .bind(crate::secrets::token_sha256(secret))
        .fetch_optional(&self.db)
        .await?;
        let (token_id, user_id, username, is_admin) = row.ok_or(Error::InvalidToken)?;
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
    use crate::store::testing::{lab, user};
    use crate::Error;

    #[tokio::test]
    async fn a_token_acts_for_its_user_until_revoked_or_the_user_is_disabled() {
        let (lab, _dir) = lab().await;
        let alice = user(&lab, "alice").await;
        let (token, secret) = lab.create_api_token(&alice, "laptop").await.unwrap();
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
        let admin = crate::store::testing::admin();
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
}
