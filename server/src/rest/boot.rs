//! `GET /boot/{mac}.ipxe`: the iPXE script for the machine with that MAC (any notation), as the
//! lab decides. Machines cannot log in, so this route is open; it tells nothing but what the
//! machine should boot, and records the request.
//!
//! iPXE asks `/boot/${net0/mac}.ipxe?arch=${buildarch}&platform=${platform}`. A machine with a
//! boot job (or an unknown one, when the discovery policy enlists) gets the management OS,
//! whose kernel and initrd are `GET /boot/mgmt/kernel` and `/boot/mgmt/initrd`, open too. Its
//! one-time enrolment token goes only to the address baas' DHCP saw that MAC at (or the
//! machine's fixed address): anyone else asking for the script gets no token.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use conductor::session::ClientAddress;
use lab::boot::{BootPlan, BootRequest, Purpose};
use netboot::ipxe::Script;
use serde::Deserialize;

use super::{ApiError, ApiResult};
use crate::state::AppState;
use lab::ErrorKind;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct BootQuery {
    arch: String,
    platform: String,
}

#[utoipa::path(get, path = "/boot/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "`<mac>.ipxe`"), BootQuery), responses((status = 200, description = "The machine's iPXE script", content_type = "text/plain", body = String), (status = 404, description = "Not a boot script name", content_type = "text/plain", body = String)))]
pub async fn boot_script(
    State(state): State<AppState>,
    Path(file): Path<String>,
    query: Result<Query<BootQuery>, axum::extract::rejection::QueryRejection>,
    address: Option<Extension<ClientAddress>>,
) -> Response {
    // A machine's firmware sends what it sends: an odd query is no reason not to boot it.
    let Query(query) = query.unwrap_or_default();
    let Some(mac) = file.strip_suffix(".ipxe") else {
        return plain(
            StatusCode::NOT_FOUND,
            "#!ipxe\necho baas: boot scripts are /boot/<mac>.ipxe\nexit 1\n",
        );
    };
    let dhcp_address = lab::validate::parse_mac(mac)
        .and_then(|mac| state.boot_clients.address_of(&mac))
        .map(|ip| ip.to_string());
    let request = BootRequest {
        mac: mac.to_string(),
        architecture: query.arch,
        vendor_class: query.platform,
        address: address.map(|Extension(a)| a.0).unwrap_or_default(),
        dhcp_address,
        management_os: lab::boot::ManagementOsBuilds {
            x86_64: state.management_os.is_some(),
            arm64: state.management_os_arm64.is_some(),
        },
    };
    let script = match state.lab.boot_plan(&request).await {
        Ok(BootPlan::LocalDisk { machine, platform }) => Script::LocalDisk {
            uefi: platform.is_uefi(),
            note: format!("{machine} has nothing scheduled; booting from its disk"),
        },
        Ok(BootPlan::ManagementOs {
            machine,
            purpose,
            enrolment_token,
            platform,
        }) => {
            // The lab sends a machine only the build of its architecture.
            let (os, files) = match platform {
                lab::model::Platform::Arm64Uefi => {
                    (state.management_os_arm64.as_deref(), "mgmt/arm64")
                }
                _ => (state.management_os.as_deref(), "mgmt"),
            };
            let extra = os.map(|os| os.cmdline.as_str()).unwrap_or_default();
            let note = match (&machine, purpose) {
                (Some(name), Purpose::Job(id)) => {
                    format!("{name}: management OS for boot job {id}")
                }
                _ => format!("{mac} is new here: the management OS takes its inventory"),
            };
            // Relative URLs: under ProxyDHCP `${next-server}` is the address server, not baas.
            Script::Kernel {
                kernel: format!("{files}/kernel"),
                initrd: os
                    .and_then(|os| os.initrd.as_ref())
                    .map(|_| format!("{files}/initrd")),
                cmdline: format!(
                    "{extra} baas.url={} baas.token={enrolment_token} baas.purpose={} baas.mac={}",
                    state.public_url,
                    purpose.as_str(),
                    lab::validate::parse_mac(mac).unwrap_or_default()
                )
                .trim_start()
                .to_string(),
                note,
            }
        }
        Ok(BootPlan::Unknown { uefi }) => Script::LocalDisk {
            uefi,
            note: format!("{mac} is not in the inventory; an admin can adopt it"),
        },
        Ok(BootPlan::Unvouched { uefi, reason, .. }) => {
            tracing::warn!(mac, client = ?request.address, %reason, "management OS withheld");
            Script::LocalDisk { uefi, note: reason }
        }
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
    // The script carries the enrolment token: the log names what was served, not the token.
    let served = match &script {
        Script::LocalDisk { .. } => "local disk",
        Script::Kernel { .. } => "management OS",
    };
    tracing::info!(mac, client = %request.address, served, "boot script served");
    plain(StatusCode::OK, &script.render())
}

/// `GET /boot/mgmt/kernel` and `/boot/mgmt/initrd`: the configured management OS files.
#[utoipa::path(get, path = "/boot/mgmt/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "`kernel` or `initrd`")), responses((status = 200, description = "The management OS file", content_type = "application/octet-stream", body = Vec<u8>), super::Failures))]
pub async fn management_os_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    serve_management_os_file(state.management_os.as_deref(), &file).await
}

/// `GET /boot/mgmt/arm64/kernel` and `…/initrd`: the arm64 build's files.
#[utoipa::path(get, path = "/boot/mgmt/arm64/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "`kernel` or `initrd`")), responses((status = 200, description = "The arm64 management OS file", content_type = "application/octet-stream", body = Vec<u8>), super::Failures))]
pub async fn arm64_management_os_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    serve_management_os_file(state.management_os_arm64.as_deref(), &file).await
}

async fn serve_management_os_file(
    os: Option<&crate::config::ManagementOs>,
    file: &str,
) -> ApiResult<Response> {
    let path = match (file, os) {
        ("kernel", Some(os)) => Some(os.kernel.clone()),
        ("initrd", Some(os)) => os.initrd.clone(),
        _ => None,
    };
    let Some(path) = path else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "no such management OS file (BAAS_MGMT_KERNEL, BAAS_MGMT_INITRD)",
        ));
    };
    let opened = match tokio::fs::File::open(&path).await {
        Ok(file) => file.metadata().await.map(|meta| (file, meta.len())),
        Err(e) => Err(e),
    };
    match opened {
        Ok((reader, length)) => {
            tracing::info!(file, bytes = length, "management OS file served");
            Ok((
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (header::CONTENT_LENGTH, length.to_string()),
                ],
                axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                    reader,
                    256 << 10,
                )),
            )
                .into_response())
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "management OS file unreadable");
            Err(ApiError::new(
                ErrorKind::Internal,
                "management OS file unreadable",
            ))
        }
    }
}

/// `GET /boot/firmware/{file}`: a network-boot binary (iPXE) for UEFI HTTP boot, which takes
/// by URL what PXE firmware takes by TFTP — the same files, from the same directory. Only a
/// plain file name directly in it is served (no path, no hidden file).
#[utoipa::path(get, path = "/boot/firmware/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "A file of the TFTP root, e.g. `ipxe.efi`")), responses((status = 200, description = "The binary", content_type = "application/octet-stream", body = Vec<u8>), super::Failures))]
pub async fn firmware_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let not_found = || ApiError::new(ErrorKind::NotFound, "no such network-boot file");
    if !lab::validate::is_plain_file_name(&file) {
        return Err(not_found());
    }
    let path = state.firmware_dir.join(&file);
    let opened = async {
        let reader = tokio::fs::File::open(&path).await?;
        let meta = reader.metadata().await?;
        Ok::<_, std::io::Error>((reader, meta))
    }
    .await;
    let (reader, meta) = match opened {
        Ok((reader, meta)) if meta.is_file() => (reader, meta),
        _ => return Err(not_found()),
    };
    tracing::info!(
        file,
        bytes = meta.len(),
        "network-boot file served over HTTP"
    );
    let content_type = if file.ends_with(".efi") {
        "application/efi"
    } else {
        "application/octet-stream"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_LENGTH, meta.len().to_string()),
        ],
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            reader,
            256 << 10,
        )),
    )
        .into_response())
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
