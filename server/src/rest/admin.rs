//! What admins do on the portal's admin pages, for scripts: users, groups and memberships,
//! machines and their grants, booking limits, the audit log, and machines found on the network.
//! The lab checks that the caller is an admin (or manages the machine, for its grants).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use lab::model::{
    AuditEntry, AuditFilter, DiscoveredMachine, Grant, Group, Level, Limits, Machine, MachineInput,
    NewUser, User,
};
use lab::rest_api::{Adoption, NewGrant, NewGroup, Paged, Settings, SettingsChange, UserChange};
use serde::Deserialize;

use super::{ApiError, ApiResult, Body, Caller, Id, Page, Params};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/users", tag = "admin", params(Page), responses((status = 200, description = "Every account", body = Paged<User>), super::Failures))]
pub async fn users(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(page): Params<Page>,
) -> ApiResult<Json<Paged<User>>> {
    Ok(Json(page.of(state.lab.users(&actor).await?)))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUser, responses((status = 201, description = "Created", body = User), super::Failures))]
pub async fn create_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.lab.create_user(&actor, new).await?),
    ))
}

/// Disables or re-enables an account, or sets its password.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", params(("id" = i64, Path)), request_body = UserChange, responses((status = 204, description = "Changed"), super::Failures))]
pub async fn change_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Body(change): Body<UserChange>,
) -> ApiResult<StatusCode> {
    actor.require_admin().map_err(ApiError::from)?;
    if let Some(disabled) = change.disabled {
        state.lab.set_disabled(&actor, id, disabled).await?;
    }
    if let Some(password) = change.password {
        state.lab.set_password(&actor, id, &password).await?;
    }
    if let Some(quota) = change.image_quota_bytes {
        state.lab.set_image_quota(&actor, id, Some(quota)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "admin", params(Page), responses((status = 200, description = "Every group with its members", body = Paged<Group>), super::Failures))]
pub async fn groups(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(page): Params<Page>,
) -> ApiResult<Json<Paged<Group>>> {
    Ok(Json(page.of(state.lab.groups(&actor).await?)))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "admin", request_body = NewGroup, responses((status = 201, description = "Created", body = Group), super::Failures))]
pub async fn create_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(new): Body<NewGroup>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    let group = state
        .lab
        .create_group(&actor, &new.name, &new.description)
        .await?;
    Ok((StatusCode::CREATED, Json(group)))
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "admin", params(("id" = i64, Path)), responses((status = 204, description = "Deleted"), super::Failures))]
pub async fn delete_group(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.lab.delete_group(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT` adds the user to the group, `DELETE` takes them out.
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{username}", tag = "admin", params(("id" = i64, Path), ("username" = String, Path)), responses((status = 204, description = "A member now"), super::Failures))]
pub async fn add_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    membership(&state, &actor, &id, &username, true).await
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{username}", tag = "admin", params(("id" = i64, Path), ("username" = String, Path)), responses((status = 204, description = "Not a member any more"), super::Failures))]
pub async fn remove_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    membership(&state, &actor, &id, &username, false).await
}

async fn membership(
    state: &AppState,
    actor: &lab::Actor,
    group: &str,
    username: &str,
    member: bool,
) -> ApiResult<StatusCode> {
    let group: i64 = group.parse().map_err(|_| lab::Error::NotFound("group"))?;
    let user = state.lab.user_by_name(actor, username).await?;
    state
        .lab
        .set_membership(actor, group, user.id, member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/machines", tag = "admin", request_body = MachineInput, responses((status = 201, description = "Created", body = Machine), super::Failures))]
pub async fn create_machine(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(input): Body<MachineInput>,
) -> ApiResult<(StatusCode, Json<Machine>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.lab.create_machine(&actor, input).await?),
    ))
}

/// Replaces a machine's settings; empty BMC credentials keep the stored ones.
#[utoipa::path(put, path = "/api/v1/machines/{id}", tag = "admin", params(("id" = i64, Path)), request_body = MachineInput, responses((status = 200, description = "Changed", body = Machine), super::Failures))]
pub async fn update_machine(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Body(input): Body<MachineInput>,
) -> ApiResult<Json<Machine>> {
    Ok(Json(state.lab.update_machine(&actor, id, input).await?))
}

#[utoipa::path(delete, path = "/api/v1/machines/{id}", tag = "admin", params(("id" = i64, Path)), responses((status = 204, description = "Deleted with its history"), super::Failures))]
pub async fn delete_machine(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.conductor.delete_machine(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/machines/{id}/grants", tag = "admin", params(("id" = i64, Path), Page), responses((status = 200, description = "Who may do what with it", body = Paged<Grant>), super::Failures))]
pub async fn grants(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Params(page): Params<Page>,
) -> ApiResult<Json<Paged<Grant>>> {
    Ok(Json(page.of(state.lab.grants(&actor, id).await?)))
}

/// Sets a user's or group's level on the machine (replacing an earlier one).
#[utoipa::path(post, path = "/api/v1/machines/{id}/grants", tag = "admin", params(("id" = i64, Path)), request_body = NewGrant, responses((status = 201, description = "Granted; the machine's grants", body = Vec<Grant>), super::Failures))]
pub async fn grant(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Body(new): Body<NewGrant>,
) -> ApiResult<(StatusCode, Json<Vec<Grant>>)> {
    let level = Level::parse(&new.level)
        .ok_or_else(|| ApiError::invalid("level", "must be view, use or manage"))?;
    let subject = state
        .lab
        .subject_named(&actor, &new.subject_kind, &new.subject_name)
        .await?;
    state.lab.grant(&actor, id, subject, level).await?;
    Ok((
        StatusCode::CREATED,
        Json(state.lab.grants(&actor, id).await?),
    ))
}

#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "admin", params(("id" = i64, Path)), responses((status = 204, description = "Revoked"), super::Failures))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.lab.revoke(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Booking limits: anyone may read them (the reserve form shows them), admins set them.
#[utoipa::path(get, path = "/api/v1/settings/limits", tag = "admin", responses((status = 200, description = "The limits", body = Limits), super::Failures))]
pub async fn limits(State(state): State<AppState>, Caller(_): Caller) -> ApiResult<Json<Limits>> {
    Ok(Json(state.lab.limits().await?))
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "admin", responses((status = 200, description = "The lab-wide settings", body = Settings), super::Failures))]
pub async fn settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> ApiResult<Json<Settings>> {
    actor.require_admin().map_err(ApiError::from)?;
    Ok(Json(current_settings(&state).await?))
}

/// Changes what the body names; each change is checked (and audited) by the lab.
#[utoipa::path(patch, path = "/api/v1/settings", tag = "admin", request_body = SettingsChange, responses((status = 200, description = "The settings now", body = Settings), super::Failures))]
pub async fn change_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Body(change): Body<SettingsChange>,
) -> ApiResult<Json<Settings>> {
    actor.require_admin().map_err(ApiError::from)?;
    let lab = &state.lab;
    if change.max_duration_hours.is_some() || change.max_advance_days.is_some() {
        let current = lab.limits().await?;
        let limits = Limits {
            max_duration_hours: change
                .max_duration_hours
                .unwrap_or(current.max_duration_hours),
            max_advance_days: change.max_advance_days.unwrap_or(current.max_advance_days),
            ..current
        };
        lab.set_limits(&actor, limits).await?;
    }
    if let Some(quota) = change.default_image_quota_bytes {
        lab.set_default_image_quota(&actor, quota).await?;
    }
    if let Some(policy) = change.discovery_policy {
        lab.set_discovery_policy(&actor, policy).await?;
    }
    if let Some(networks) = change.import_networks {
        lab.set_import_networks(&actor, &networks).await?;
    }
    if let Some(patterns) = change.console_failure_patterns {
        lab.set_failure_patterns(&actor, &patterns).await?;
    }
    if let Some(seconds) = change.console_settle_seconds {
        lab.set_settle_seconds(&actor, seconds).await?;
    }
    if let Some(days) = change.discovered_keep_days {
        lab.set_discovered_keep_days(&actor, days).await?;
    }
    if let Some(programs) = change.boot_programs {
        lab.set_boot_programs(&actor, programs).await?;
    }
    Ok(Json(current_settings(&state).await?))
}

async fn current_settings(state: &AppState) -> lab::Result<Settings> {
    Ok(Settings {
        limits: state.lab.limits().await?,
        discovery_policy: state.lab.discovery_policy().await?,
        import_networks: state.lab.egress_policy().await?.to_text(),
        console_failure_patterns: state.lab.failure_patterns().await?.join("\n"),
        console_settle_seconds: state.lab.settle_seconds().await?,
        discovered_keep_days: state.lab.discovered_keep_days().await?,
        boot_programs: state.lab.boot_programs().await?,
    })
}

/// `GET /api/v1/audit?actor=&action=&target=&limit=`, newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct AuditQuery {
    /// A username.
    actor: String,
    /// Like `machine.update` or a prefix such as `machine.`.
    action: String,
    target: String,
    limit: Option<usize>,
    offset: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditQuery), responses((status = 200, description = "Audit entries", body = Paged<AuditEntry>), super::Failures))]
pub async fn audit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(query): Params<AuditQuery>,
) -> ApiResult<Json<Paged<AuditEntry>>> {
    let filter = AuditFilter {
        actor: query.actor,
        action: query.action,
        target: query.target,
        limit: 10_000,
    };
    let entries = state.lab.audit_log(&actor, &filter).await?;
    Ok(Json(Paged::of(entries, query.limit, query.offset)))
}

#[utoipa::path(get, path = "/api/v1/discovered", tag = "admin", params(Page), responses((status = 200, description = "Machines that asked to boot and are not in the inventory", body = Paged<DiscoveredMachine>), super::Failures))]
pub async fn discovered(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(page): Params<Page>,
) -> ApiResult<Json<Paged<DiscoveredMachine>>> {
    Ok(Json(page.of(state.lab.discovered_machines(&actor).await?)))
}

#[utoipa::path(post, path = "/api/v1/discovered/{mac}/adopt", tag = "admin", params(("mac" = String, Path)), request_body = Adoption, responses((status = 201, description = "Now in the inventory", body = Machine), super::Failures))]
pub async fn adopt(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(mac): Path<String>,
    Body(adoption): Body<Adoption>,
) -> ApiResult<(StatusCode, Json<Machine>)> {
    let machine = state
        .lab
        .adopt_machine(&actor, &mac, &adoption.name, &adoption.platform)
        .await?;
    Ok((StatusCode::CREATED, Json(machine)))
}
