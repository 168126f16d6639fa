//! The image library as the pages see it; uploads themselves go through the REST API
//! (`/api/v1/uploads`), which streams bytes that server functions would have to buffer.

use lab::model::{ApiToken, Image, ImageUsage};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The library page's data: the visible images, the caller's storage and their groups.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Library {
    pub images: Vec<Image>,
    pub usage: ImageUsage,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageWithVersions {
    pub image: Image,
    pub versions: Vec<Image>,
    pub groups: Vec<String>,
}

#[cfg(feature = "ssr")]
async fn own_groups(lab: &lab::Lab, actor: &lab::Actor) -> Result<Vec<String>, AppError> {
    Ok(match actor.user_id {
        Some(id) => lab.user(id).await?.map(|u| u.groups).unwrap_or_default(),
        None => Vec::new(),
    })
}

#[server(endpoint = "images")]
pub async fn image_library(
    search: String,
    format: String,
    mine: bool,
    all_versions: bool,
) -> Result<Library, AppError> {
    use crate::auth::{actor, lab};
    let actor = actor().await?;
    let lab = lab()?;
    let filter = lab::model::ImageFilter {
        search,
        format,
        mine,
        all_versions,
    };
    Ok(Library {
        images: lab.images(&actor, &filter).await?,
        usage: lab.image_usage(&actor).await?,
        groups: own_groups(&lab, &actor).await?,
    })
}

#[server(endpoint = "image")]
pub async fn image_detail(id: i64) -> Result<ImageWithVersions, AppError> {
    use crate::auth::{actor, lab};
    let actor = actor().await?;
    let lab = lab()?;
    Ok(ImageWithVersions {
        image: lab.image(&actor, id).await?,
        versions: lab.image_versions(&actor, id).await?,
        groups: own_groups(&lab, &actor).await?,
    })
}

#[server(endpoint = "update_image")]
pub async fn update_image(
    id: i64,
    description: String,
    visibility: String,
    group: String,
) -> Result<Image, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?
        .update_image(&actor().await?, id, &description, &visibility, &group)
        .await?)
}

#[server(endpoint = "delete_image")]
pub async fn delete_image(id: i64) -> Result<(), AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.delete_image(&actor().await?, id).await?)
}

#[server(endpoint = "tokens")]
pub async fn api_tokens() -> Result<Vec<ApiToken>, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.api_tokens(&actor().await?).await?)
}

/// Returns the secret, which is shown this once. `valid_days`: a whole number of days, or empty
/// for a token that lives until revoked.
#[server(endpoint = "create_token")]
pub async fn create_api_token(name: String, valid_days: String) -> Result<String, AppError> {
    use crate::auth::{actor, lab};
    let valid_days = match valid_days.trim() {
        "" | "never" => None,
        days => Some(days.parse::<i64>().map_err(|_| {
            AppError::from(lab::Error::invalid(
                "valid_days",
                "is not a whole number of days",
            ))
        })?),
    };
    let (_, secret) = lab()?
        .create_api_token(&actor().await?, &name, valid_days)
        .await?;
    Ok(secret)
}

#[server(endpoint = "revoke_token")]
pub async fn revoke_api_token(id: i64) -> Result<(), AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.revoke_api_token(&actor().await?, id).await?)
}

/// Quotas in GiB as text, so a bad value is reported against its field; empty = the default.
#[server(endpoint = "admin/set_image_quota")]
pub async fn set_image_quota(user_id: i64, quota_gib: String) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    let admin = admin().await?;
    let quota = match quota_gib.trim() {
        "" => None,
        value => Some(parse_gib("quota_gib", value)?),
    };
    Ok(lab()?.set_image_quota(&admin, user_id, quota).await?)
}

#[server(endpoint = "admin/set_default_image_quota")]
pub async fn set_default_image_quota(quota_gib: String) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    let admin = admin().await?;
    let quota = parse_gib("quota_gib", &quota_gib)?;
    Ok(lab()?.set_default_image_quota(&admin, quota).await?)
}

#[cfg(feature = "ssr")]
fn parse_gib(field: &str, value: &str) -> Result<i64, AppError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|gib| gib.is_finite() && *gib >= 0.0 && *gib <= 1_000_000.0)
        .map(|gib| (gib * (1u64 << 30) as f64) as i64)
        .ok_or_else(|| AppError::invalid(field, "must be a number of GiB, 0 or more"))
}
