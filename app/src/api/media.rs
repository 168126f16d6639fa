//! Virtual media: attach an ISO from the library to a machine's BMC, detach it, see the history.
//! The conductor of the request's context does the inserting and ejecting.

use lab::model::MediaAttachment;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The machine page's media panel: recent attachments and the ISOs the caller could attach.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaOverview {
    pub attachments: Vec<MediaAttachment>,
    /// (image id, "name vN") of the uncompressed ISOs the caller may see.
    pub isos: Vec<(i64, String)>,
}

#[server(endpoint = "media/panel")]
pub async fn media_panel(machine_id: i64) -> Result<MediaOverview, AppError> {
    use crate::auth::{actor, lab};
    let actor = actor().await?;
    let lab = lab()?;
    let attachments = lab.media_attachments(&actor, machine_id).await?;
    let filter = lab::model::ImageFilter {
        format: "iso".into(),
        ..Default::default()
    };
    let isos = lab
        .images(&actor, &filter)
        .await?
        .into_iter()
        .filter(|i| i.compression == lab::model::Compression::None)
        .map(|i| {
            (
                i.id,
                format!("{} v{} ({})", i.name, i.version, i.owner.username),
            )
        })
        .collect();
    Ok(MediaOverview { attachments, isos })
}

#[server(endpoint = "media/attach")]
pub async fn attach_media(machine_id: i64, image_id: i64) -> Result<MediaAttachment, AppError> {
    use crate::auth::{actor, conductor};
    let actor = actor().await?;
    Ok(conductor()?
        .attach_media(&actor, machine_id, image_id)
        .await?)
}

#[server(endpoint = "media/detach")]
pub async fn detach_media(attachment_id: i64) -> Result<MediaAttachment, AppError> {
    use crate::auth::{actor, conductor};
    let actor = actor().await?;
    Ok(conductor()?.detach_media(&actor, attachment_id).await?)
}
