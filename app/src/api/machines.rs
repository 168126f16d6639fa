//! The inventory as users see it, machine forms, and per-machine grants.

use lab::model::{Grant, Limits, Machine, MachineInput, Reservation};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Everything the machine page shows, read at one instant `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineDetail {
    pub machine: Machine,
    pub reservations: Vec<Reservation>,
    /// Only for those who manage the machine.
    pub grants: Option<Vec<Grant>>,
    pub limits: Limits,
    pub now: i64,
    pub viewer_id: i64,
    pub viewer_is_admin: bool,
    /// Whether the viewer may use the BMC now (admin, manager, or during their own reservation).
    pub can_control_power: bool,
    /// Network boot steps seen for this machine, newest first.
    pub boot_events: Vec<lab::model::BootEvent>,
    /// What happens to the machine after each reservation.
    pub reset: lab::model::ResetPolicy,
    /// The viewer's unread notices about this machine (the page's banner).
    pub notices: Vec<lab::model::Notice>,
    /// For managers: the raw images the reset may write.
    pub reset_images: Vec<lab::model::JobImage>,
}

/// What the boot services can hand out, from the server's configuration (request context).
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Default)]
pub struct NetbootSettings {
    /// The management OS builds configured, by architecture.
    pub management_os: lab::boot::ManagementOsBuilds,
    /// The TFTP root, where the boot programs are (also served over HTTP).
    pub firmware_dir: std::sync::Arc<std::path::PathBuf>,
    /// The boot programs baas made itself (served ahead of the root's).
    pub made_programs: std::sync::Arc<Vec<String>>,
}

/// The admin's view of network discovery: the policy and the DHCP leases handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryOverview {
    pub policy: lab::model::DiscoveryPolicy,
    pub leases: Vec<lab::model::DhcpLease>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardData {
    pub machines: Vec<Machine>,
    pub mine: Vec<Reservation>,
    pub now: i64,
}

#[server(endpoint = "dashboard")]
pub async fn dashboard() -> Result<DashboardData, AppError> {
    use crate::auth::{actor, lab};
    let actor = actor().await?;
    let lab = lab()?;
    Ok(DashboardData {
        machines: lab.machines(&actor).await?,
        mine: lab.my_reservations(&actor).await?,
        now: lab::now(),
    })
}

#[server(endpoint = "machine")]
pub async fn machine_page(id: i64) -> Result<MachineDetail, AppError> {
    use crate::auth::{actor, lab};
    let actor = actor().await?;
    let lab = lab()?;
    let machine = lab.machine(&actor, id).await?;
    let manage = machine.my_level >= lab::model::Level::Manage;
    let grants = if manage {
        Some(lab.grants(&actor, id).await?)
    } else {
        None
    };
    let reset_images = if manage {
        raw_images().await?
    } else {
        Vec::new()
    };
    Ok(MachineDetail {
        reservations: lab.machine_reservations(&actor, id).await?,
        machine,
        grants,
        limits: lab.limits().await?,
        now: lab::now(),
        viewer_id: actor.user_id.unwrap_or_default(),
        viewer_is_admin: actor.is_admin,
        can_control_power: lab.may_control_power(&actor, id).await?,
        boot_events: lab.boot_events(&actor, id).await?,
        reset: lab.reset_policy(&actor, id).await?,
        notices: lab
            .notices(&actor, true)
            .await?
            .into_iter()
            .filter(|n| n.machine_id == Some(id))
            .collect(),
        reset_images,
    })
}

/// Boots the machine into the management OS at its next network boot.
#[server(endpoint = "boot_job")]
pub async fn request_boot_job(machine_id: i64) -> Result<lab::model::Job, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?
        .request_management_boot(&actor().await?, machine_id)
        .await?)
}

#[server(endpoint = "cancel_boot_job")]
pub async fn cancel_boot_job(job_id: i64) -> Result<lab::model::Job, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.cancel_job(&actor().await?, job_id).await?)
}

#[server(endpoint = "admin/discovery")]
pub async fn get_discovery() -> Result<DiscoveryOverview, AppError> {
    use crate::auth::{admin, lab};
    let (admin, lab) = (admin().await?, lab()?);
    Ok(DiscoveryOverview {
        policy: lab.discovery_policy().await?,
        leases: lab.dhcp_leases(&admin).await?,
    })
}

#[server(endpoint = "admin/set_discovery_policy")]
pub async fn set_discovery_policy(policy: String) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    let admin = admin().await?;
    let policy = lab::model::DiscoveryPolicy::parse(policy.trim())
        .ok_or_else(|| AppError::invalid("policy", "must be ignore or enlist"))?;
    Ok(lab()?.set_discovery_policy(&admin, policy).await?)
}

/// Machines that asked to network-boot and are not in the inventory.
#[server(endpoint = "admin/discovered")]
pub async fn discovered_machines() -> Result<Vec<lab::model::DiscoveredMachine>, AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?.discovered_machines(&admin().await?).await?)
}

/// Takes a discovered machine into the inventory in one step.
#[server(endpoint = "admin/adopt")]
pub async fn adopt_machine(
    mac: String,
    name: String,
    platform: String,
) -> Result<Machine, AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?
        .adopt_machine(&admin().await?, &mac, &name, &platform)
        .await?)
}

#[server(endpoint = "admin/create_machine")]
pub async fn create_machine(input: MachineInput) -> Result<Machine, AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?.create_machine(&admin().await?, input).await?)
}

#[server(endpoint = "update_machine")]
pub async fn update_machine(id: i64, input: MachineInput) -> Result<Machine, AppError> {
    use crate::auth::{actor, lab};
    Ok(lab()?.update_machine(&actor().await?, id, input).await?)
}

#[server(endpoint = "admin/delete_machine")]
pub async fn delete_machine(id: i64) -> Result<(), AppError> {
    use crate::auth::{admin, conductor};
    Ok(conductor()?.delete_machine(&admin().await?, id).await?)
}

/// Grants `level` (view, use, manage) to a user or group named in the form.
#[server(endpoint = "admin/set_grant")]
pub async fn set_grant(
    machine_id: i64,
    subject_kind: String,
    subject_name: String,
    level: String,
) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    use lab::model::Level;
    let admin = admin().await?;
    let lab = lab()?;
    let level = Level::parse(&level)
        .ok_or_else(|| AppError::invalid("level", "must be view, use or manage"))?;
    let subject = lab
        .subject_named(&admin, &subject_kind, &subject_name)
        .await?;
    Ok(lab.grant(&admin, machine_id, subject, level).await?)
}

#[server(endpoint = "admin/revoke_grant")]
pub async fn revoke_grant(grant_id: i64) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?.revoke(&admin().await?, grant_id).await?)
}

/// Sets what happens to a machine after each reservation (managers). `image_id` empty: the
/// lab's default.
#[server(endpoint = "set_reset_policy")]
pub async fn set_reset_policy(
    machine_id: i64,
    image_id: String,
    save_before_reset: Option<String>,
) -> Result<lab::model::ResetPolicy, AppError> {
    use crate::auth::{actor, lab};
    let image_id = match image_id.trim() {
        "" => None,
        text => Some(
            text.parse::<i64>()
                .map_err(|_| AppError::invalid("image", "choose an image from the list"))?,
        ),
    };
    Ok(lab()?
        .set_reset_policy(
            &actor().await?,
            machine_id,
            image_id,
            save_before_reset.is_some(),
        )
        .await?)
}

/// Raw images the viewer may see, for reset image choices.
#[server(endpoint = "raw_images")]
pub async fn raw_images() -> Result<Vec<lab::model::JobImage>, AppError> {
    use crate::auth::{actor, lab};
    let filter = lab::model::ImageFilter {
        format: "raw".into(),
        all_versions: true,
        ..Default::default()
    };
    Ok(lab()?
        .images(&actor().await?, &filter)
        .await?
        .into_iter()
        .map(|i| lab::model::JobImage {
            id: i.id,
            name: format!("{} ({})", i.name, i.owner.username),
            version: i.version,
        })
        .collect())
}

#[server(endpoint = "admin/default_reset_image")]
pub async fn default_reset_image() -> Result<Option<lab::model::JobImage>, AppError> {
    use crate::auth::{admin, lab};
    admin().await?;
    Ok(lab()?.default_reset_image().await?)
}

#[server(endpoint = "admin/set_default_reset_image")]
pub async fn set_default_reset_image(
    image_id: String,
) -> Result<Option<lab::model::JobImage>, AppError> {
    use crate::auth::{admin, lab};
    let image_id = match image_id.trim() {
        "" => None,
        text => Some(
            text.parse::<i64>()
                .map_err(|_| AppError::invalid("image", "choose an image from the list"))?,
        ),
    };
    Ok(lab()?
        .set_default_reset_image(&admin().await?, image_id)
        .await?)
}
