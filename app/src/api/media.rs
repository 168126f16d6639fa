//! Virtual media: attach an ISO from the library to a machine's BMC, detach it, see the history.
//! baas is the bastion: the BMC fetches the ISO from baas through a URL only this attachment's
//! token opens, and never learns anything else.

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
    use crate::auth::{actor, lab};
    let settings = crate::power::BmcSettings::current();
    control::attach(&lab()?, &settings, &actor().await?, machine_id, image_id).await
}

#[server(endpoint = "media/detach")]
pub async fn detach_media(attachment_id: i64) -> Result<MediaAttachment, AppError> {
    use crate::auth::{actor, lab};
    let settings = crate::power::BmcSettings::current();
    control::detach(&lab()?, &settings, &actor().await?, attachment_id).await
}

/// Attaching and detaching through the BMC, for the page and the REST API alike.
#[cfg(feature = "ssr")]
pub mod control {
    use lab::model::MediaAttachment;
    use lab::{Actor, Lab};

    use crate::error::{AppError, ErrorKind};
    use crate::power::{BmcSettings, MEDIA_INSERT_TIMEOUT};

    /// Gives the machine's BMC a one-time URL of the ISO `image_id` and has it insert it.
    pub async fn attach(
        lab: &Lab,
        settings: &BmcSettings,
        actor: &Actor,
        machine_id: i64,
        image_id: i64,
    ) -> Result<MediaAttachment, AppError> {
        let grant = lab.begin_attach(actor, machine_id, image_id).await?;
        let file_name = grant.attachment.image.replace(' ', "-");
        let url = format!(
            "{}/media/{}/{file_name}.iso",
            settings.public_url.trim_end_matches('/'),
            grant.token
        );
        let outcome = match crate::api::bmc::control::driver(&grant.bmc, settings)? {
            bmc::Driver::Redfish(redfish) => redfish
                .insert_media(&url, MEDIA_INSERT_TIMEOUT)
                .await
                .map(|slot| format!("inserted into {} ({})", slot.id, slot.path))
                .map_err(|error| format!("{}: insert failed: {error}", grant.bmc.machine_name)),
            bmc::Driver::Ipmi(_) => Err("IPMI has no virtual media".to_string()),
        };
        let detail = match &outcome {
            Ok(answer) => format!("ok: {answer}"),
            Err(error) => format!("failed: {error}"),
        };
        lab.record_bmc_action(actor, &grant.bmc, "media_insert", &detail)
            .await?;
        let attachment = lab.finish_attach(grant.attachment.id, outcome).await?;
        if attachment.state == lab::model::MediaState::Failed {
            return Err(AppError::new(ErrorKind::Upstream, attachment.bmc_answer));
        }
        Ok(attachment)
    }

    /// Ejects the medium and closes its URL.
    pub async fn detach(
        lab: &Lab,
        settings: &BmcSettings,
        actor: &Actor,
        attachment_id: i64,
    ) -> Result<MediaAttachment, AppError> {
        let release = lab.begin_detach(actor, attachment_id).await?;
        let answer = match crate::api::bmc::control::driver(&release.bmc, settings)? {
            bmc::Driver::Redfish(redfish) => {
                match crate::power::with_retries(|| redfish.eject_media()).await {
                    Ok(slots) => format!("ejected {} device(s)", slots.len()),
                    Err(error) => format!("eject failed: {error}"),
                }
            }
            bmc::Driver::Ipmi(_) => "IPMI has no virtual media".to_string(),
        };
        lab.record_bmc_action(actor, &release.bmc, "media_eject", &answer)
            .await?;
        Ok(lab.finish_detach(attachment_id, &answer).await?)
    }
}
