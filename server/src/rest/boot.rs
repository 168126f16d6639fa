//! `GET /boot/{mac}.ipxe`: the iPXE script for the machine with that MAC (any notation), as the
//! lab decides. Machines cannot log in, so this route is open; it tells nothing but what the
//! machine should boot, and records the request.
//!
//! iPXE asks `/boot/${net0/mac}.ipxe?arch=${buildarch}&platform=${platform}`.

use app::auth::ClientAddress;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use lab::boot::{BootPlan, BootRequest};
use lab::model::Platform;
use netboot::ipxe::Script;
use serde::Deserialize;

use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BootQuery {
    arch: String,
    platform: String,
}

pub async fn boot_script(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(query): Query<BootQuery>,
    address: Option<Extension<ClientAddress>>,
) -> Response {
    let Some(mac) = file.strip_suffix(".ipxe") else {
        return plain(
            StatusCode::NOT_FOUND,
            "#!ipxe\necho baas: boot scripts are /boot/<mac>.ipxe\nexit 1\n",
        );
    };
    let request = BootRequest {
        mac: mac.to_string(),
        architecture: query.arch,
        vendor_class: query.platform,
        address: address.map(|Extension(a)| a.0).unwrap_or_default(),
    };
    let script = match state.lab.boot_plan(&request).await {
        Ok(BootPlan::LocalDisk { machine, platform }) => Script::LocalDisk {
            uefi: platform != Platform::X86_64Bios,
            note: format!("{machine} has nothing scheduled; booting from its disk"),
        },
        Ok(BootPlan::Unknown { uefi }) => Script::LocalDisk {
            uefi,
            note: format!("{mac} is not in the inventory; an admin can adopt it"),
        },
        Err(lab::Error::Invalid(_)) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "#!ipxe\necho baas: not a MAC address\nexit 1\n",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "boot script");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "#!ipxe\necho baas: internal error\nexit 1\n",
            );
        }
    };
    tracing::info!(mac, client = %request.address, ?script, "boot script served");
    plain(StatusCode::OK, &script.render())
}

fn plain(status: StatusCode, body: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
