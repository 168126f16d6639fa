//! Admin-only operations: users, groups, booking limits, audit log.

use lab::model::{AuditEntry, Group, Limits, User};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[server(endpoint = "admin/users")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?.users(&admin().await?).await?)
}

/// `is_admin` is a checkbox: present ("on") when ticked.
#[server(endpoint = "admin/create_user")]
pub async fn create_user(
    username: String,
    display_name: String,
    password: String,
    is_admin: Option<String>,
) -> Result<User, AppError> {
    use crate::auth::{admin, lab};
    let new = lab::model::NewUser {
        username,
        display_name,
        password,
        is_admin: is_admin.is_some(),
    };
    Ok(lab()?.create_user(&admin().await?, new).await?)
}

#[server(endpoint = "admin/set_user_disabled")]
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?
        .set_disabled(&admin().await?, user_id, disabled)
        .await?)
}

#[server(endpoint = "admin/reset_password")]
pub async fn reset_password(user_id: i64, new_password: String) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?
        .set_password(&admin().await?, user_id, &new_password)
        .await?)
}

#[server(endpoint = "admin/groups")]
pub async fn list_groups() -> Result<Vec<Group>, AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?.groups(&admin().await?).await?)
}

#[server(endpoint = "admin/create_group")]
pub async fn create_group(name: String, description: String) -> Result<Group, AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?
        .create_group(&admin().await?, &name, &description)
        .await?)
}

#[server(endpoint = "admin/delete_group")]
pub async fn delete_group(group_id: i64) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    Ok(lab()?.delete_group(&admin().await?, group_id).await?)
}

/// Adds (`member = true`) or removes the user named `username` from a group.
#[server(endpoint = "admin/set_group_member")]
pub async fn set_group_member(
    group_id: i64,
    username: String,
    member: bool,
) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    let admin = admin().await?;
    let lab = lab()?;
    let user = lab
        .user_by_name(&admin, &username)
        .await
        .map_err(|_| AppError::invalid("username", "no user has this name"))?;
    Ok(lab
        .set_membership(&admin, group_id, user.id, member)
        .await?)
}

#[server(endpoint = "admin/audit")]
pub async fn audit_log(
    actor: String,
    action: String,
    target: String,
) -> Result<Vec<AuditEntry>, AppError> {
    use crate::auth::{admin, lab};
    let filter = lab::model::AuditFilter {
        actor,
        action,
        target,
        limit: 500,
    };
    Ok(lab()?.audit_log(&admin().await?, &filter).await?)
}

#[server(endpoint = "limits")]
pub async fn get_limits() -> Result<Limits, AppError> {
    use crate::auth::{actor, lab};
    actor().await?;
    Ok(lab()?.limits().await?)
}

/// The internal networks imports by URL may fetch from, as the Settings form shows them.
#[server(endpoint = "admin/import_networks")]
pub async fn import_networks() -> Result<String, AppError> {
    use crate::auth::{admin, lab};
    admin().await?;
    Ok(lab()?.egress_policy().await?.to_text())
}

#[server(endpoint = "admin/set_import_networks")]
pub async fn set_import_networks(allowed_networks: String) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    let admin = admin().await?;
    lab()?
        .set_import_networks(&admin, &allowed_networks)
        .await?;
    Ok(())
}

/// The lab's boot programs and whether each is in the TFTP root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootProgramsView {
    pub programs: lab::model::BootPrograms,
    /// Where the programs are looked for.
    pub tftp_root: String,
    /// The programs named (by the table or a machine) that are not there.
    pub missing: Vec<String>,
}

#[server(endpoint = "admin/boot_programs")]
pub async fn boot_programs() -> Result<BootProgramsView, AppError> {
    use crate::auth::{admin, lab};
    admin().await?;
    let lab = lab()?;
    let programs = lab.boot_programs().await?;
    let settings = use_context::<crate::api::machines::NetbootSettings>().unwrap_or_default();
    let root = settings.firmware_dir;
    // Names are plain file names (checked when stored): they stay inside the root.
    let missing = lab
        .boot_program_book()
        .named()
        .into_iter()
        .filter(|name| !settings.made_programs.iter().any(|made| made == name))
        .filter(|name| !root.join(name).is_file())
        .map(str::to_string)
        .collect();
    Ok(BootProgramsView {
        programs,
        tftp_root: root.display().to_string(),
        missing,
    })
}

#[server(endpoint = "admin/set_boot_programs")]
pub async fn set_boot_programs(
    x86_64_bios: String,
    x86_64_uefi: String,
    arm64_uefi: String,
    unknown: String,
) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    let admin = admin().await?;
    lab()?
        .set_boot_programs(
            &admin,
            lab::model::BootPrograms {
                x86_64_bios,
                x86_64_uefi,
                arm64_uefi,
                unknown,
            },
        )
        .await?;
    Ok(())
}

/// Numbers arrive as text so that a bad value is reported against its field.
#[server(endpoint = "admin/set_limits")]
pub async fn set_limits(
    max_duration_hours: String,
    max_advance_days: String,
) -> Result<(), AppError> {
    use crate::auth::{admin, lab};
    let admin = admin().await?;
    let parse = |field: &str, value: &str| {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| AppError::invalid(field, "must be a whole number"))
    };
    let limits = Limits {
        max_duration_hours: parse("max_duration_hours", &max_duration_hours)?,
        max_advance_days: parse("max_advance_days", &max_advance_days)?,
        ..Limits::default()
    };
    Ok(lab()?.set_limits(&admin, limits).await?)
}
