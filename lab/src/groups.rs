//! Groups of users, so that machines can be granted to a team at once.

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::{Group, UserRef};
use crate::store::is_unique_violation;
use crate::{validate, Actor, Error, Lab, Result};

impl Lab {
    pub async fn create_group(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<Group> {
        actor.require_admin()?;
        let mut errors = FieldErrors::default();
        let name = validate::identifier(&mut errors, "name", name);
        let description = validate::text(
            &mut errors,
            "description",
            description,
            validate::MAX_TEXT,
            false,
        );
        errors.into_result()?;
        let mut tx = self.write().await?;
        let id = match sqlx::query_scalar::<_, i64>(
            "INSERT INTO groups (name, description) VALUES ($1, $2) RETURNING id",
        )
        .bind(&name)
        .bind(&description)
        .fetch_one(&mut *tx)
        .await
        {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::invalid("name", "is already taken"))
            }
            Err(e) => return Err(e.into()),
        };
        record(
            &mut tx,
            actor,
            "group.create",
            &format!("group:{name}"),
            &description,
        )
        .await?;
        tx.commit().await?;
        Ok(Group {
            id,
            name,
            description,
            members: Vec::new(),
        })
    }

    /// All groups with their members, for admins.
    pub async fn groups(&self, actor: &Actor) -> Result<Vec<Group>> {
        actor.require_admin()?;
        let groups: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, description FROM groups ORDER BY name")
                .fetch_all(&self.db)
                .await?;
        let members: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT m.group_id, u.id, u.username FROM group_members m JOIN users u ON u.id = m.user_id
             ORDER BY u.username",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(groups
            .into_iter()
            .map(|(id, name, description)| Group {
                id,
                name,
                description,
                members: members
                    .iter()
                    .filter(|(group_id, _, _)| *group_id == id)
                    .map(|(_, user_id, username)| UserRef {
                        id: *user_id,
                        username: username.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Adds (`member = true`) or removes a user from a group.
    pub async fn set_membership(
        &self,
        actor: &Actor,
        group_id: i64,
        user_id: i64,
        member: bool,
    ) -> Result<()> {
        actor.require_admin()?;
        let group: String = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1")
            .bind(group_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or(Error::NotFound("group"))?;
        let username: String = sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let mut tx = self.write().await?;
        let sql = if member {
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2"
        };
        sqlx::query(sql)
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let action = if member {
            "group.add_member"
        } else {
            "group.remove_member"
        };
        record(
            &mut tx,
            actor,
            action,
            &format!("group:{group}"),
            &format!("user:{username}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_group(&self, actor: &Actor, group_id: i64) -> Result<()> {
        actor.require_admin()?;
        let mut tx = self.write().await?;
        let name: Option<String> =
            sqlx::query_scalar("DELETE FROM groups WHERE id = $1 RETURNING name")
                .bind(group_id)
                .fetch_optional(&mut *tx)
                .await?;
        let name = name.ok_or(Error::NotFound("group"))?;
        record(&mut tx, actor, "group.delete", &format!("group:{name}"), "").await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn group_names_of(&self, user_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id
             WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(&self.db)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing;

    #[tokio::test]
    async fn members_are_added_once_and_removed() {
        let (lab, _dir) = testing::lab().await;
        let alice = testing::user(&lab, "alice").await;
        let admin = testing::admin();
        let group = lab.create_group(&admin, "kernel-team", "").await.unwrap();
        let alice_id = alice.user_id.unwrap();
        lab.set_membership(&admin, group.id, alice_id, true)
            .await
            .unwrap();
        lab.set_membership(&admin, group.id, alice_id, true)
            .await
            .unwrap();
        assert_eq!(lab.groups(&admin).await.unwrap()[0].members.len(), 1);
        assert_eq!(
            lab.user(alice_id).await.unwrap().unwrap().groups,
            ["kernel-team"]
        );
        lab.set_membership(&admin, group.id, alice_id, false)
            .await
            .unwrap();
        assert!(lab.groups(&admin).await.unwrap()[0].members.is_empty());
        assert!(lab.create_group(&alice, "mine", "").await.is_err());
    }
}
