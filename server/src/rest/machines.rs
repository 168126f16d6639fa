//! Machines as the caller sees them (`/api/v1/machines…`): the list with filters, one machine
//! with its disk, hardware and latest job, its boot events, and its BMC — power state, power
//! actions and the next boot device — through the same control path as the machine page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lab::model::{BootEvent, MachineFilter};
use lab::rest_api::{BmcTest, BootDeviceRequest, MachineDetail, Paged, PowerRequest, PowerStatus};
use serde::Deserialize;

use super::{ApiError, ApiResult, Body, Caller, Id, Params};
use crate::state::AppState;

/// `GET /api/v1/machines?tag=&state=&free_from=&free_until=&limit=&offset=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct MachineQuery {
    tag: String,
    state: String,
    free_from: Option<i64>,
    free_until: Option<i64>,
    limit: Option<usize>,
    offset: Option<usize>,
}

#[utoipa::path(get, operation_id = "list_machines", path = "/api/v1/machines", tag = "machines", params(MachineQuery), responses((status = 200, description = "The machines the caller sees", body = Paged<lab::model::Machine>), super::Failures))]
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(query): Params<MachineQuery>,
) -> ApiResult<Json<Paged<lab::model::Machine>>> {
    let filter = MachineFilter {
        tag: query.tag,
        state: query.state,
        free_from: query.free_from,
        free_until: query.free_until,
    };
    let machines = state.lab.find_machines(&actor, &filter).await?;
    Ok(Json(Paged::of(machines, query.limit, query.offset)))
}

#[utoipa::path(get, operation_id = "show_machine", path = "/api/v1/machines/{id}", tag = "machines", params(("id" = i64, Path)), responses((status = 200, description = "One machine", body = MachineDetail), super::Failures))]
pub async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<MachineDetail>> {
    let lab = &state.lab;
    let machine = lab.machine(&actor, id).await?;
    let (disk, _) = lab.machine_disk(&actor, id).await?;
    let hardware = lab.machine_hardware(&actor, id).await?;
    let agent_seen_at = lab.machine_agent_seen(&actor, id).await?;
    let latest_job = lab.latest_job(&actor, id).await?;
    Ok(Json(MachineDetail {
        machine,
        disk,
        hardware,
        agent_seen_at,
        latest_job,
    }))
}

#[utoipa::path(get, path = "/api/v1/machines/{id}/boot-events", tag = "machines", params(("id" = i64, Path), super::Page), responses((status = 200, description = "Its boot events, newest first", body = Paged<BootEvent>), super::Failures))]
pub async fn boot_events(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Params(page): Params<super::Page>,
) -> ApiResult<Json<Paged<BootEvent>>> {
    let events = state.lab.boot_events(&actor, id).await?;
    Ok(Json(page.of(events)))
}

#[utoipa::path(get, path = "/api/v1/machines/{id}/power", tag = "machines", params(("id" = i64, Path)), responses((status = 200, description = "The power state its BMC reports", body = PowerStatus), super::Failures))]
pub async fn power_state(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<PowerStatus>> {
    let (power, checked_at) = state.conductor.power_state(&actor, id).await?;
    Ok(Json(PowerStatus {
        state: if power == bmc::PowerState::On {
            "on"
        } else {
            "off"
        }
        .into(),
        checked_at,
    }))
}

#[utoipa::path(post, path = "/api/v1/machines/{id}/power", tag = "machines", params(("id" = i64, Path)), request_body = PowerRequest, responses((status = 204, description = "Done"), super::Failures))]
pub async fn power(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Body(request): Body<PowerRequest>,
) -> ApiResult<StatusCode> {
    let action = bmc::PowerAction::parse(&request.action)
        .ok_or_else(|| ApiError::invalid("action", "must be on, off, soft-off, cycle or reset"))?;
    state.conductor.power(&actor, id, action).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/machines/{id}/boot-device", tag = "machines", params(("id" = i64, Path)), request_body = BootDeviceRequest, responses((status = 204, description = "Set"), super::Failures))]
pub async fn boot_device(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
    Body(request): Body<BootDeviceRequest>,
) -> ApiResult<StatusCode> {
    let device = bmc::BootDevice::parse(&request.device)
        .ok_or_else(|| ApiError::invalid("device", "must be pxe, disk, cdrom or bios-setup"))?;
    let boot = bmc::BootOverride {
        device,
        persistent: request.persistent,
        uefi: request.uefi,
    };
    state.conductor.set_boot(&actor, id, boot).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks the BMC what it is (an admin's or manager's check of the address and credentials).
#[utoipa::path(post, path = "/api/v1/machines/{id}/bmc-test", tag = "machines", params(("id" = i64, Path)), responses((status = 200, description = "What the BMC says about itself", body = BmcTest), super::Failures))]
pub async fn bmc_test(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Id(id): Id,
) -> ApiResult<Json<BmcTest>> {
    let info = state.conductor.identify(&actor, id).await?;
    Ok(Json(BmcTest {
        answer: info.to_string(),
    }))
}
