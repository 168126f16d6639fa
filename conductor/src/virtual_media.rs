//! Virtual media through the BMC: baas is the bastion. The BMC fetches the ISO from baas
//! through a URL only this attachment's token opens, and never learns anything else. The lab
//! grants and records; this inserts and ejects.

use bmc::Driver;
use lab::model::{MediaAttachment, MediaState};
use lab::{Actor, Lab};

use crate::bmc_control::{required_driver, with_retries, BmcSettings, MEDIA_INSERT_TIMEOUT};
use crate::{Conductor, Error, Result};

impl Conductor {
    /// Gives the machine's BMC a one-time URL of the ISO `image_id` and has it insert it.
    pub async fn attach_media(
        &self,
        actor: &Actor,
        machine_id: i64,
        image_id: i64,
    ) -> Result<MediaAttachment> {
        let lab = &self.lab;
        let grant = lab.begin_attach(actor, machine_id, image_id).await?;
        let file_name = grant.attachment.image.replace(' ', "-");
        let url = format!(
            "{}/media/{}/{file_name}.iso",
            self.settings.public_url.trim_end_matches('/'),
            grant.token
        );
        let outcome = match required_driver(&grant.bmc, &self.settings)? {
            Driver::Redfish(redfish) => redfish
                .insert_media(&url, MEDIA_INSERT_TIMEOUT)
                .await
                .map(|slot| format!("inserted into {} ({})", slot.id, slot.path))
                .map_err(|error| format!("{}: insert failed: {error}", grant.bmc.machine_name)),
            Driver::Ipmi(_) => Err("IPMI has no virtual media".to_string()),
        };
        let detail = match &outcome {
            Ok(answer) => format!("ok: {answer}"),
            Err(error) => format!("failed: {error}"),
        };
        lab.record_bmc_action(actor, &grant.bmc, "media_insert", &detail)
            .await?;
        let attachment = lab.finish_attach(grant.attachment.id, outcome).await?;
        if attachment.state == MediaState::Failed {
            return Err(Error::Upstream(attachment.bmc_answer));
        }
        Ok(attachment)
    }

    /// Ejects the medium and closes its URL.
    pub async fn detach_media(&self, actor: &Actor, attachment_id: i64) -> Result<MediaAttachment> {
        let lab = &self.lab;
        let release = lab.begin_detach(actor, attachment_id).await?;
        let answer = match required_driver(&release.bmc, &self.settings)? {
            Driver::Redfish(redfish) => match with_retries(|| redfish.eject_media()).await {
                Ok(slots) => format!("ejected {} device(s)", slots.len()),
                Err(error) => format!("eject failed: {error}"),
            },
            Driver::Ipmi(_) => "IPMI has no virtual media".to_string(),
        };
        lab.record_bmc_action(actor, &release.bmc, "media_eject", &answer)
            .await?;
        Ok(lab.finish_detach(attachment_id, &answer).await?)
    }
}

/// Ends virtual media whose reservation ended or whose URL expired: the lab closes the URL,
/// this asks the BMC to eject and records its answer.
pub async fn expire(lab: &Lab, settings: &BmcSettings, fence: Option<lab::leadership::Fence>) {
    let released = match lab.expire_media_under(fence).await {
        Ok(released) => released,
        Err(error) => {
            tracing::warn!(%error, "expiring virtual media failed");
            return;
        }
    };
    for release in released {
        let answer = match crate::bmc_control::driver(&release.bmc, settings.timeout) {
            Ok(Driver::Redfish(redfish)) => match with_retries(|| redfish.eject_media()).await {
                Ok(slots) => format!("{}; ejected {} device(s)", release.reason, slots.len()),
                Err(error) => format!("{}; eject failed: {error}", release.reason),
            },
            Ok(_) => format!("{}; the BMC has no virtual media", release.reason),
            Err(error) => format!("{}; eject failed: {error}", release.reason),
        };
        tracing::info!(machine = %release.bmc.machine_name, %answer, "virtual media expired");
        if let Err(error) = lab.finish_detach(release.attachment.id, &answer).await {
            tracing::warn!(%error, "recording an eject failed");
        }
    }
}
