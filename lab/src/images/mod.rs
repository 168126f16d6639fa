//! The image library: who sees which image, versions by name, quotas, and the files on disk.
//!
//! An image's bytes live in `<image_dir>/<id>.img`, exactly as machines receive them. Uploads
//! write to `<image_dir>/.partial/` and are renamed into place only when complete, verified and
//! synced (see [`upload`]), so a listed image is always whole.

pub(crate) mod probe;
pub(crate) mod upload;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::{Compression, Image, ImageFilter, ImageFormat, ImageUsage, UserRef, Visibility};
use crate::{validate, Actor, Error, Lab, Result};

pub use upload::{Ending, UPLOAD_IDLE_SECONDS};

/// An image and where its bytes are, for streaming them out.
#[derive(Debug, Clone)]
pub struct ImageFile {
    pub image: Image,
    pub path: PathBuf,
}

/// The image directory and the state of uploads being written right now.
pub(crate) struct ImageStore {
    dir: PathBuf,
    partial: PathBuf,
    /// Per upload: the running checksum of the bytes received so far, behind a lock that keeps
    /// two requests from appending to one upload at once.
    receiving: Mutex<HashMap<String, Arc<tokio::sync::Mutex<upload::Receiving>>>>,
    /// Uploads being checked, converted and committed by this process.
    processing: Mutex<HashSet<String>>,
}

impl ImageStore {
    pub(crate) fn open(dir: PathBuf) -> Result<ImageStore> {
        let partial = dir.join(".partial");
        std::fs::create_dir_all(&partial)
            .map_err(|e| Error::Storage(format!("creating {}: {e}", partial.display())))?;
        Ok(ImageStore {
            dir,
            partial,
            receiving: Mutex::default(),
            processing: Mutex::default(),
        })
    }

    pub(crate) fn image_path(&self, id: i64) -> PathBuf {
        self.dir.join(format!("{id}.img"))
    }

    /// A working file of upload `id`: `part` holds the received bytes, others are conversions.
    fn work_path(&self, id: &str, kind: &str) -> PathBuf {
        self.partial.join(format!("{id}.{kind}"))
    }
}

#[derive(sqlx::FromRow)]
struct ImageRow {
    id: i64,
    name: String,
    version: i64,
    owner_id: i64,
    owner_name: String,
    visibility: String,
    group_name: Option<String>,
    description: String,
    format: String,
    compression: String,
    stored_size: i64,
    content_size: Option<i64>,
    sha256: String,
    raw_sha256: String,
    source: String,
    created_at: i64,
    last_used_at: Option<i64>,
    ready_pattern: String,
}

impl ImageRow {
    fn into_image(self, actor: &Actor) -> Image {
        Image {
            can_manage: actor.is_admin || actor.is(self.owner_id),
            id: self.id,
            name: self.name,
            version: self.version,
            owner: UserRef {
                id: self.owner_id,
                username: self.owner_name,
            },
            visibility: Visibility::parse(&self.visibility).unwrap_or(Visibility::Private),
            group: self.group_name,
            description: self.description,
            format: ImageFormat::parse(&self.format).unwrap_or(ImageFormat::Raw),
            compression: Compression::parse(&self.compression).unwrap_or(Compression::None),
            stored_size: self.stored_size,
            content_size: self.content_size,
            sha256: self.sha256,
            content_sha256: self.raw_sha256,
            source: self.source,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            ready_pattern: self.ready_pattern,
        }
    }
}

const IMAGE_SELECT: &str = "SELECT i.id, i.name, i.version, i.owner_id, u.username AS owner_name,
        i.visibility, g.name AS group_name, i.description, i.format, i.compression,
        i.stored_size, i.content_size, i.sha256, i.raw_sha256, i.source, i.created_at,
        i.last_used_at, i.ready_pattern
    FROM images i JOIN users u ON u.id = i.owner_id LEFT JOIN groups g ON g.id = i.group_id";

/// Images `$1` (user id, or -1) may see; `$2` is whether they are an admin.
const VISIBLE: &str = "($2 OR i.owner_id = $1 OR i.visibility = 'public'
    OR (i.visibility = 'group' AND i.group_id IN
        (SELECT group_id FROM group_members WHERE user_id = $1)))";

impl Lab {
    /// The library as `actor` sees it: their own images, their groups' and public ones (admins:
    /// all), newest version of each name unless the filter asks for all.
    pub async fn images(&self, actor: &Actor, filter: &ImageFilter) -> Result<Vec<Image>> {
        let sql = format!(
            "{IMAGE_SELECT} WHERE {VISIBLE} AND (NOT $5 OR i.owner_id = $1)
               AND ($3 = '' OR LOWER(i.name) LIKE '%' || LOWER($3) || '%'
                    OR LOWER(i.description) LIKE '%' || LOWER($3) || '%')
               AND ($4 = '' OR i.format = $4)
             ORDER BY i.name, u.username, i.version DESC"
        );
        let format = ImageFormat::parse(&filter.format).map_or("", ImageFormat::as_str);
        let rows: Vec<ImageRow> = sqlx::query_as(&sql)
            .bind(actor.user_id.unwrap_or(-1))
            .bind(actor.is_admin)
            .bind(filter.search.trim())
            .bind(format)
            .bind(filter.mine)
            .fetch_all(&self.db)
            .await?;
        let mut seen = std::collections::HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|row| filter.all_versions || seen.insert((row.owner_id, row.name.clone())))
            .map(|row| row.into_image(actor))
            .collect())
    }

    /// One image, if `actor` may see it.
    pub async fn image(&self, actor: &Actor, id: i64) -> Result<Image> {
        let sql = format!("{IMAGE_SELECT} WHERE {VISIBLE} AND i.id = $3");
        let row: Option<ImageRow> = sqlx::query_as(&sql)
            .bind(actor.user_id.unwrap_or(-1))
            .bind(actor.is_admin)
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        row.map(|row| row.into_image(actor))
            .ok_or(Error::NotFound("image"))
    }

    /// Every version of the image's name (same owner) that `actor` may see, newest first.
    pub async fn image_versions(&self, actor: &Actor, id: i64) -> Result<Vec<Image>> {
        let image = self.image(actor, id).await?;
        let sql = format!(
            "{IMAGE_SELECT} WHERE {VISIBLE} AND i.owner_id = $3 AND i.name = $4 ORDER BY i.version DESC"
        );
        let rows: Vec<ImageRow> = sqlx::query_as(&sql)
            .bind(actor.user_id.unwrap_or(-1))
            .bind(actor.is_admin)
            .bind(image.owner.id)
            .bind(&image.name)
            .fetch_all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|row| row.into_image(actor)).collect())
    }

    /// The image's file for streaming; counts as a use.
    pub async fn open_image(&self, actor: &Actor, id: i64) -> Result<ImageFile> {
        let image = self.image(actor, id).await?;
        // A client reading an image in many Range requests writes the row at most once a minute.
        sqlx::query(
            "UPDATE images SET last_used_at = $1
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1 - 60)",
        )
        .bind(crate::now())
        .bind(id)
        .execute(&self.db)
        .await?;
        Ok(ImageFile {
            path: self.images.image_path(id),
            image,
        })
    }

    /// Changes description and visibility. Owner or admin.
    pub async fn update_image(
        &self,
        actor: &Actor,
        id: i64,
        description: &str,
        visibility: &str,
        group: &str,
    ) -> Result<Image> {
        let image = self.image(actor, id).await?;
        if !image.can_manage {
            return Err(Error::Forbidden);
        }
        let mut errors = FieldErrors::default();
        let description = validate::text(
            &mut errors,
            "description",
            description,
            validate::MAX_LONG_TEXT,
            false,
        );
        let (visibility, group_id) = self
            .visibility_choice(&mut errors, actor, visibility, group)
            .await?;
        errors.into_result()?;
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE images SET description = $1, visibility = $2, group_id = $3 WHERE id = $4",
        )
        .bind(&description)
        .bind(visibility.as_str())
        .bind(group_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            actor,
            "image.update",
            &image_target(&image),
            &format!("visibility={visibility}"),
        )
        .await?;
        tx.commit().await?;
        self.image(actor, id).await
    }

    /// Sets the console line that says a machine booted from the image is up (e.g. `login:`;
    /// empty: none). Owner or admin.
    pub async fn set_ready_pattern(&self, actor: &Actor, id: i64, pattern: &str) -> Result<Image> {
        let image = self.image(actor, id).await?;
        if !image.can_manage {
            return Err(Error::Forbidden);
        }
        let mut errors = FieldErrors::default();
        let pattern = validate::text(
            &mut errors,
            "ready_pattern",
            pattern,
            validate::MAX_NAME,
            false,
        );
        if pattern.contains(['\r', '\n']) {
            errors.add(
                "ready_pattern",
                "one line: the text a console line contains",
            );
        }
        errors.into_result()?;
        let mut tx = self.write().await?;
        sqlx::query("UPDATE images SET ready_pattern = $1 WHERE id = $2")
            .bind(&pattern)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            actor,
            "image.update",
            &image_target(&image),
            &format!("ready_pattern={pattern:?}"),
        )
        .await?;
        tx.commit().await?;
        self.image(actor, id).await
    }

    /// Deletes one image version and its file. Owner or admin.
    pub async fn delete_image(&self, actor: &Actor, id: i64) -> Result<()> {
        let image = self.image(actor, id).await?;
        if !image.can_manage {
            return Err(Error::Forbidden);
        }
        let machines = self.image_attached_to(id).await?;
        if !machines.is_empty() {
            return Err(Error::Conflict(format!(
                "the image is attached as virtual media to {}; detach it first",
                machines.join(", ")
            )));
        }
        if let Some(job) = self.image_in_use_by_job(id).await? {
            return Err(Error::Conflict(format!(
                "job {job} is deploying this image; wait for it to end or cancel it first"
            )));
        }
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM images WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            actor,
            "image.delete",
            &image_target(&image),
            &image.sha256,
        )
        .await?;
        tx.commit().await?;
        if let Err(e) = tokio::fs::remove_file(self.images.image_path(id)).await {
            tracing::warn!(image = id, error = %e, "could not remove a deleted image's file");
        }
        Ok(())
    }

    /// The actor's own storage use and quota.
    pub async fn image_usage(&self, actor: &Actor) -> Result<ImageUsage> {
        let user_id = actor.user_id.ok_or(Error::Forbidden)?;
        self.usage_of(user_id, None).await
    }

    /// Any user's use and quota, for admins.
    pub async fn user_image_usage(&self, actor: &Actor, user_id: i64) -> Result<ImageUsage> {
        actor.require_admin()?;
        self.usage_of(user_id, None).await
    }

    /// Sets a user's quota in bytes; `None` returns them to the lab's default. Admins only.
    pub async fn set_image_quota(
        &self,
        actor: &Actor,
        user_id: i64,
        quota: Option<i64>,
    ) -> Result<()> {
        actor.require_admin()?;
        if quota.is_some_and(|q| q < 0) {
            return Err(Error::invalid("quota", "must not be negative"));
        }
        let mut tx = self.write().await?;
        let name: Option<String> = sqlx::query_scalar(
            "UPDATE users SET image_quota_bytes = $1 WHERE id = $2 RETURNING username",
        )
        .bind(quota)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let name = name.ok_or(Error::NotFound("user"))?;
        let detail = quota.map_or("default".to_string(), |q| q.to_string());
        record(
            &mut tx,
            actor,
            "image.quota",
            &format!("user:{name}"),
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The quota of users without their own (kept with the other settings).
    pub async fn default_image_quota(&self) -> Result<i64> {
        Ok(self.limits().await?.default_image_quota_bytes)
    }

    pub async fn set_default_image_quota(&self, actor: &Actor, quota: i64) -> Result<()> {
        actor.require_admin()?;
        if quota < 0 {
            return Err(Error::invalid("quota", "must not be negative"));
        }
        let mut tx = self.write().await?;
        crate::settings::put_setting(&mut tx, crate::settings::DEFAULT_QUOTA_KEY, quota).await?;
        record(
            &mut tx,
            actor,
            "image.default_quota",
            "settings",
            &quota.to_string(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Bytes held by the user's images and unfinished uploads (except `excluding`), and quota.
    async fn usage_of(&self, user_id: i64, excluding: Option<&str>) -> Result<ImageUsage> {
        let (images, uploads, own_quota): (i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT
                (SELECT CAST(COALESCE(SUM(stored_size), 0) AS BIGINT) FROM images WHERE owner_id = $1),
                (SELECT CAST(COALESCE(SUM(COALESCE(length, received)), 0) AS BIGINT) FROM uploads
                  WHERE owner_id = $1 AND state IN ('receiving', 'processing') AND id <> $2),
                (SELECT image_quota_bytes FROM users WHERE id = $1)",
        )
        .bind(user_id)
        .bind(excluding.unwrap_or(""))
        .fetch_one(&self.db)
        .await?;
        let quota = match own_quota {
            Some(quota) => quota,
            None => self.default_image_quota().await?,
        };
        Ok(ImageUsage {
            used: images + uploads,
            quota,
        })
    }

    /// Parses a visibility choice; `group` needs a group the actor belongs to (admins: any).
    async fn visibility_choice(
        &self,
        errors: &mut FieldErrors,
        actor: &Actor,
        visibility: &str,
        group: &str,
    ) -> Result<(Visibility, Option<i64>)> {
        let visibility = match visibility.trim() {
            "" => Visibility::Private,
            other => match Visibility::parse(other) {
                Some(v) => v,
                None => {
                    errors.add("visibility", "must be private, group or public");
                    return Ok((Visibility::Private, None));
                }
            },
        };
        if visibility != Visibility::Group {
            return Ok((visibility, None));
        }
        let group_id: Option<i64> = sqlx::query_scalar(
            "SELECT g.id FROM groups g WHERE g.name = $1
               AND ($2 OR EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = $3))",
        )
        .bind(group.trim())
        .bind(actor.is_admin)
        .bind(actor.user_id.unwrap_or(-1))
        .fetch_optional(&self.db)
        .await?;
        if group_id.is_none() {
            errors.add("group", "must name a group you belong to");
        }
        Ok((visibility, group_id))
    }
}

fn image_target(image: &Image) -> String {
    format!(
        "image:{}/{}:v{}",
        image.owner.username, image.name, image.version
    )
}

/// Flushes a directory so a rename inside it survives a crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
pub(crate) use probe::tests::{iso as test_iso, raw_disk as test_disk};
