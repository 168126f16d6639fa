//! The audit log: who changed what, when, from where. Written in the same transaction as the
//! change it records, so the log and the state never disagree.

use sqlx::AnyConnection;

use crate::model::{AuditEntry, AuditFilter};
use crate::{Actor, Lab, Result};

/// Appends one entry on `conn` (normally the change's own transaction).
pub(crate) async fn record(
    conn: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_name, address, action, target, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(crate::now())
    .bind(actor.user_id)
    .bind(&actor.username)
    .bind(&actor.address)
    .bind(action)
    .bind(target)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor_name: String,
    address: String,
    action: String,
    target: String,
    detail: String,
}

impl Lab {
    /// Newest first, filtered by substrings of actor, action and target. Admins only.
    pub async fn audit_log(&self, actor: &Actor, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        actor.require_admin()?;
        let limit = if filter.limit <= 0 {
            200
        } else {
            filter.limit.min(1000)
        };
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor_name, address, action, target, detail FROM audit_log
             WHERE ($1 = '' OR LOWER(actor_name) LIKE '%' || LOWER($1) || '%')
               AND ($2 = '' OR LOWER(action) LIKE '%' || LOWER($2) || '%')
               AND ($3 = '' OR LOWER(target) LIKE '%' || LOWER($3) || '%')
             ORDER BY id DESC LIMIT $4",
        )
        .bind(filter.actor.trim())
        .bind(filter.action.trim())
        .bind(filter.target.trim())
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                actor_name: r.actor_name,
                address: r.address,
                action: r.action,
                target: r.target,
                detail: r.detail,
            })
            .collect())
    }

    /// Records an event that changes no other table (log-in, log-out).
    pub async fn audit_event(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<()> {
        let mut conn = self.db.acquire().await?;
        record(&mut conn, actor, action, target, detail).await
    }
}

#[cfg(test)]
mod tests {
    use crate::model::AuditFilter;
    use crate::testing;
    use crate::Error;

    #[tokio::test]
    async fn audit_log_is_admin_only_and_filters_by_substring() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        testing::user(&lab, "bob").await;
        assert!(matches!(
            lab.audit_log(&alice, &AuditFilter::default()).await,
            Err(Error::Forbidden)
        ));
        let all = lab
            .audit_log(&testing::admin(), &AuditFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        let filter = AuditFilter {
            target: "BOB".into(),
            ..Default::default()
        };
        let bob = lab.audit_log(&testing::admin(), &filter).await.unwrap();
        assert_eq!(bob.len(), 1);
        assert_eq!(bob[0].action, "user.create");
    }
}
