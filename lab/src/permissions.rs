//! Per-machine grants to users and groups, and the effective level of an actor on a machine.

use crate::audit::record;
use crate::model::{Grant, Level, Subject};
use crate::{Actor, Error, Lab, Result};

/// The best level among a user's direct grants and their groups' grants on machine `$1`, user `$2`.
pub(crate) const LEVEL_SQL: &str = "SELECT MAX(g.level) FROM grants g
     WHERE g.machine_id = $1
       AND (g.user_id = $2 OR g.group_id IN (SELECT group_id FROM group_members WHERE user_id = $2))";

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: i64,
    machine_id: i64,
    user_id: Option<i64>,
    group_id: Option<i64>,
    level: i64,
    subject_name: String,
}

impl Lab {
    /// The actor's effective level on a machine; `None` when they may not even see it.
    pub async fn level(&self, actor: &Actor, machine_id: i64) -> Result<Option<Level>> {
        if actor.is_admin {
            return Ok(Some(Level::Manage));
        }
        let Some(user_id) = actor.user_id else {
            return Ok(None);
        };
        let level: Option<i64> = sqlx::query_scalar(LEVEL_SQL)
            .bind(machine_id)
            .bind(user_id)
            .fetch_one(&self.db)
            .await?;
        Ok(level.and_then(Level::from_i64))
    }

    /// Fails unless the actor holds `needed` on the machine. A machine the actor may not see is
    /// reported as not found, so ids do not leak which machines exist.
    pub(crate) async fn require(
        &self,
        actor: &Actor,
        machine_id: i64,
        needed: Level,
    ) -> Result<Level> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM machines WHERE id = $1")
            .bind(machine_id)
            .fetch_optional(&self.db)
            .await?;
        if exists.is_none() {
            return Err(Error::NotFound("machine"));
        }
        match self.level(actor, machine_id).await? {
            None => Err(Error::NotFound("machine")),
            Some(level) if level < needed => Err(Error::Forbidden),
            Some(level) => Ok(level),
        }
    }

    /// Grants `level` on a machine to a user or group, replacing an earlier grant to the same subject.
    pub async fn grant(
        &self,
        actor: &Actor,
        machine_id: i64,
        subject: Subject,
        level: Level,
    ) -> Result<()> {
        actor.require_admin()?;
        let machine: String = sqlx::query_scalar("SELECT name FROM machines WHERE id = $1")
            .bind(machine_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or(Error::NotFound("machine"))?;
        let subject_name = self.subject_name(subject).await?;
        let mut tx = self.write().await?;
        let (clear, insert, id) = match subject {
            Subject::User(id) => (
                "DELETE FROM grants WHERE machine_id = $1 AND user_id = $2",
                "INSERT INTO grants (machine_id, user_id, level) VALUES ($1, $2, $3)",
                id,
            ),
            Subject::Group(id) => (
                "DELETE FROM grants WHERE machine_id = $1 AND group_id = $2",
                "INSERT INTO grants (machine_id, group_id, level) VALUES ($1, $2, $3)",
                id,
            ),
        };
        sqlx::query(clear)
            .bind(machine_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(insert)
            .bind(machine_id)
            .bind(id)
            .bind(level as i64)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            actor,
            "grant.set",
            &format!("machine:{machine}"),
            &format!("{subject_name} {}", level.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn revoke(&self, actor: &Actor, grant_id: i64) -> Result<()> {
        actor.require_admin()?;
        let grant = self
            .grants_where(None, Some(grant_id))
            .await?
            .pop()
            .ok_or(Error::NotFound("grant"))?;
        let mut tx = self.write().await?;
        let machine: String = sqlx::query_scalar("SELECT name FROM machines WHERE id = $1")
            .bind(grant.machine_id)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM grants WHERE id = $1")
            .bind(grant_id)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            actor,
            "grant.revoke",
            &format!("machine:{machine}"),
            &grant.subject_name,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Grants on one machine, for those who manage it.
    /// The user or group a grant form names (`kind` is `user` or `group`); admins only.
    pub async fn subject_named(&self, actor: &Actor, kind: &str, name: &str) -> Result<Subject> {
        actor.require_admin()?;
        let name = name.trim();
        match kind {
            "user" => self
                .user_by_name(actor, name)
                .await
                .map(|user| Subject::User(user.id))
                .map_err(|_| Error::invalid("subject_name", "no user has this name")),
            "group" => self
                .groups(actor)
                .await?
                .into_iter()
                .find(|group| group.name == name)
                .map(|group| Subject::Group(group.id))
                .ok_or_else(|| Error::invalid("subject_name", "no group has this name")),
            _ => Err(Error::invalid("subject_kind", "must be user or group")),
        }
    }

    pub async fn grants(&self, actor: &Actor, machine_id: i64) -> Result<Vec<Grant>> {
        self.require(actor, machine_id, Level::Manage).await?;
        self.grants_where(Some(machine_id), None).await
    }

    /// Grants of one machine and/or one grant id (`None` matches any).
    async fn grants_where(
        &self,
        machine_id: Option<i64>,
        grant_id: Option<i64>,
    ) -> Result<Vec<Grant>> {
        let rows: Vec<GrantRow> = sqlx::query_as(
            "SELECT g.id, g.machine_id, g.user_id, g.group_id, g.level,
                    COALESCE('user:' || u.username, 'group:' || gr.name) AS subject_name
             FROM grants g LEFT JOIN users u ON u.id = g.user_id LEFT JOIN groups gr ON gr.id = g.group_id
             WHERE ($1 IS NULL OR g.machine_id = $1) AND ($2 IS NULL OR g.id = $2)
             ORDER BY g.id",
        )
        .bind(machine_id)
        .bind(grant_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(
                |GrantRow {
                     id,
                     machine_id,
                     user_id,
                     group_id,
                     level,
                     subject_name,
                 }| {
                    let subject = match (user_id, group_id) {
                        (Some(user), _) => Subject::User(user),
                        (None, Some(group)) => Subject::Group(group),
                        (None, None) => return None,
                    };
                    Some(Grant {
                        id,
                        machine_id,
                        subject,
                        subject_name,
                        level: Level::from_i64(level)?,
                    })
                },
            )
            .collect())
    }

    async fn subject_name(&self, subject: Subject) -> Result<String> {
        let (sql, id, prefix, what) = match subject {
            Subject::User(id) => (
                "SELECT username FROM users WHERE id = $1",
                id,
                "user",
                "user",
            ),
            Subject::Group(id) => (
                "SELECT name FROM groups WHERE id = $1",
                id,
                "group",
                "group",
            ),
        };
        let name: Option<String> = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        name.map(|n| format!("{prefix}:{n}"))
            .ok_or(Error::NotFound(what))
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Level, Subject};
    use crate::testing;
    use crate::Error;

    #[tokio::test]
    async fn effective_level_is_the_best_of_direct_and_group_grants() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let alice = testing::user(&lab, "alice").await;
        let bob = testing::user(&lab, "bob").await;
        let machine = lab
            .create_machine(&admin, testing::machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        assert_eq!(lab.level(&alice, machine.id).await.unwrap(), None);
        assert!(matches!(
            lab.machine(&alice, machine.id).await,
            Err(Error::NotFound(_))
        ));

        let team = lab.create_group(&admin, "team", "").await.unwrap();
        lab.set_membership(&admin, team.id, alice.user_id.unwrap(), true)
            .await
            .unwrap();
        lab.grant(&admin, machine.id, Subject::Group(team.id), Level::View)
            .await
            .unwrap();
        assert_eq!(
            lab.level(&alice, machine.id).await.unwrap(),
            Some(Level::View)
        );
        lab.grant(
            &admin,
            machine.id,
            Subject::User(alice.user_id.unwrap()),
            Level::Manage,
        )
        .await
        .unwrap();
        assert_eq!(
            lab.level(&alice, machine.id).await.unwrap(),
            Some(Level::Manage)
        );
        lab.grant(
            &admin,
            machine.id,
            Subject::User(alice.user_id.unwrap()),
            Level::Use,
        )
        .await
        .unwrap();
        assert_eq!(
            lab.level(&alice, machine.id).await.unwrap(),
            Some(Level::Use)
        );
        assert_eq!(lab.level(&bob, machine.id).await.unwrap(), None);
        assert_eq!(
            lab.level(&admin, machine.id).await.unwrap(),
            Some(Level::Manage)
        );

        assert!(matches!(
            lab.grants(&alice, machine.id).await,
            Err(Error::Forbidden)
        ));
        let grants = lab.grants(&admin, machine.id).await.unwrap();
        assert_eq!(grants.len(), 2);
        assert!(matches!(
            lab.grant(
                &alice,
                machine.id,
                Subject::User(bob.user_id.unwrap()),
                Level::Use
            )
            .await,
            Err(Error::Forbidden)
        ));
        for grant in grants {
            lab.revoke(&admin, grant.id).await.unwrap();
        }
        assert_eq!(lab.level(&alice, machine.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn users_only_ever_list_machines_they_may_view() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let alice = testing::user(&lab, "alice").await;
        let seen = lab
            .create_machine(&admin, testing::machine_input("seen", "52:54:00:00:00:01"))
            .await
            .unwrap();
        lab.create_machine(
            &admin,
            testing::machine_input("hidden", "52:54:00:00:00:02"),
        )
        .await
        .unwrap();
        lab.grant(
            &admin,
            seen.id,
            Subject::User(alice.user_id.unwrap()),
            Level::View,
        )
        .await
        .unwrap();
        let names: Vec<String> = lab
            .machines(&alice)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["seen"]);
        assert_eq!(lab.machines(&admin).await.unwrap().len(), 2);
    }
}
