//! `GET /boot/{mac}.ipxe`: the iPXE script for the machine with that MAC (any notation), as the
//! lab decides; `GET /boot/{mac}.grub` the same decision for baas' arm64 GRUB image, which reads
//! `/boot/grub/grub.cfg` first. Machines cannot log in, so these routes are open; they tell
//! nothing but what the machine should boot, and record the request.
//!
//! iPXE asks `/boot/${net0/mac}.ipxe?arch=${buildarch}&platform=${platform}`. A machine with a
//! boot job (or an unknown one, when the discovery policy enlists) gets the management OS,
//! whose kernel and initrd are `GET /boot/mgmt/kernel` and `/boot/mgmt/initrd`, open too. Its
//! one-time enrolment token goes only to the address baas' DHCP saw that MAC at (or the
//! machine's fixed address): anyone else asking for the script gets no token.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use conductor::session::ClientAddress;
use lab::boot::{BootPlan, BootRequest, Purpose};
use netboot::ipxe::Script;
use serde::Deserialize;

use super::content::serve_boot_file;
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

/// Which boot program asks, by the script name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    /// `<mac>.ipxe`: iPXE, any platform.
    Ipxe,
    /// `<mac>.grub`: baas' GRUB image, which is arm64 only.
    Grub,
}

impl Program {
    /// An error answer; its text is for people reading the response, since neither iPXE nor
    /// GRUB runs the body of an answer that is not 200.
    fn failure(self, status: StatusCode, message: &str) -> Response {
        match self {
            Program::Ipxe => plain(status, &format!("#!ipxe\necho baas: {message}\nexit 1\n")),
            Program::Grub => plain(status, &format!("echo 'baas: {message}'\nsleep 10\nexit\n")),
        }
    }
}

#[utoipa::path(get, path = "/boot/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "`<mac>.ipxe` (iPXE) or `<mac>.grub` (baas' arm64 GRUB)"), BootQuery), responses((status = 200, description = "The machine's script", content_type = "text/plain", body = String), (status = 404, description = "Not a boot script name", content_type = "text/plain", body = String)))]
pub async fn boot_script(
    State(state): State<AppState>,
    Path(file): Path<String>,
    query: Result<Query<BootQuery>, axum::extract::rejection::QueryRejection>,
    address: Option<Extension<ClientAddress>>,
) -> Response {
    // A machine's firmware sends what it sends: an odd query is no reason not to boot it.
    let Query(mut query) = query.unwrap_or_default();
    let (mac, program) = if let Some(mac) = file.strip_suffix(".ipxe") {
        (mac, Program::Ipxe)
    } else if let Some(mac) = file.strip_suffix(".grub") {
        // Only arm64 machines run baas' GRUB image, and it asks without a query.
        if query.arch.is_empty() {
            query.arch = "arm64".into();
            query.platform = "efi".into();
        }
        (mac, Program::Grub)
    } else {
        return Program::Ipxe.failure(
            StatusCode::NOT_FOUND,
            "boot scripts are /boot/<mac>.ipxe or /boot/<mac>.grub",
        );
    };
    let asking = address
        .as_ref()
        .and_then(|Extension(a)| a.0.parse::<std::net::IpAddr>().ok());
    let dhcp_address = lab::validate::parse_mac(mac)
        .and_then(|mac| match asking {
            Some(asking) => state.boot_clients.vouching_address(&mac, asking),
            None => state.boot_clients.address_of(&mac),
        })
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
            // iPXE: relative URLs (under ProxyDHCP `${next-server}` is the address server, not
            // baas). GRUB: paths on the server its image names as root.
            let files = match program {
                Program::Ipxe => files.to_string(),
                Program::Grub => {
                    let base = netboot::grub::GrubServer::from_url(&state.public_url)
                        .map(|server| server.base)
                        .unwrap_or_default();
                    format!("{base}/boot/{files}")
                }
            };
            let extra = os.map(|os| os.cmdline.as_str()).unwrap_or_default();
            let note = match (&machine, purpose) {
                (Some(name), Purpose::Job(id)) => {
                    format!("{name}: management OS for boot job {id}")
                }
                _ => format!("{mac} is new here: the management OS takes its inventory"),
            };
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
            return program.failure(StatusCode::BAD_REQUEST, "not a MAC address")
        }
        Err(e) => {
            tracing::error!(error = %e, "boot script");
            return program.failure(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    // The script carries the enrolment token: the log names what was served, not the token.
    let served = match &script {
        Script::LocalDisk { .. } => "local disk",
        Script::Kernel { .. } => "management OS",
    };
    tracing::info!(mac, client = %request.address, served, ?program, "boot script served");
    let text = match program {
        Program::Ipxe => script.render(),
        Program::Grub => script.grub(),
    };
    plain(StatusCode::OK, &text)
}

/// `GET /boot/grub/grub.cfg`: the first configuration baas' GRUB image reads, the same for
/// every machine: it asks for the machine's own script by MAC.
#[utoipa::path(get, path = "/boot/grub/grub.cfg", tag = "network boot", security(()), responses((status = 200, description = "GRUB's first configuration", content_type = "text/plain", body = String), super::Failures))]
pub async fn grub_config(State(state): State<AppState>) -> ApiResult<Response> {
    let server = netboot::grub::GrubServer::from_url(&state.public_url)
        .map_err(|reason| ApiError::new(ErrorKind::NotFound, reason.to_string()))?;
    Ok(plain(StatusCode::OK, &netboot::grub::first_config(&server)))
}

/// `GET /boot/mgmt/kernel` and `/boot/mgmt/initrd`: the configured management OS files.
#[utoipa::path(get, path = "/boot/mgmt/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "`kernel` or `initrd`"), ("Range" = Option<String>, Header)), responses((status = 200, description = "The management OS file", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "A range of it", body = Vec<u8>), (status = 416, description = "A range outside the file"), super::Failures))]
pub async fn management_os_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_management_os_file(state.management_os.as_deref(), &file, &headers)
}

/// `GET /boot/mgmt/arm64/kernel` and `…/initrd`: the arm64 build's files.
#[utoipa::path(get, path = "/boot/mgmt/arm64/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "`kernel` or `initrd`"), ("Range" = Option<String>, Header)), responses((status = 200, description = "The arm64 management OS file", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "A range of it", body = Vec<u8>), (status = 416, description = "A range outside the file"), super::Failures))]
pub async fn arm64_management_os_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_management_os_file(state.management_os_arm64.as_deref(), &file, &headers)
}

fn serve_management_os_file(
    os: Option<&crate::config::ManagementOs>,
    file: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let path = match (file, os) {
        ("kernel", Some(os)) => Some(os.kernel.clone()),
        ("initrd", Some(os)) => os.initrd.clone(),
        _ => None,
    };
    let not_found = || {
        ApiError::new(
            ErrorKind::NotFound,
            "no such management OS file (BAAS_MGMT_KERNEL, BAAS_MGMT_INITRD)",
        )
    };
    let Some(path) = path else {
        return Err(not_found());
    };
    match serve_boot_file(&path, "application/octet-stream", headers) {
        Ok(Some(response)) => {
            tracing::info!(file, range = ?headers.get(header::RANGE), "management OS file served");
            Ok(response)
        }
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "management OS file unreadable");
            Err(ApiError::new(
                ErrorKind::Internal,
                "management OS file unreadable",
            ))
        }
    }
}

/// `GET /boot/firmware/{file}`: a network-boot program (iPXE, baas' GRUB) for UEFI HTTP boot,
/// which takes by URL what PXE firmware takes by TFTP — the same files. Only a plain file name
/// directly in the TFTP root, or one baas made, is served (no path, no hidden file).
#[utoipa::path(get, path = "/boot/firmware/{file}", tag = "network boot", security(()), params(("file" = String, Path, description = "A file of the TFTP root, e.g. `ipxe.efi`"), ("Range" = Option<String>, Header)), responses((status = 200, description = "The binary", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "A range of it", body = Vec<u8>), (status = 416, description = "A range outside the file"), super::Failures))]
pub async fn firmware_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let not_found = || ApiError::new(ErrorKind::NotFound, "no such network-boot file");
    if !lab::validate::is_plain_file_name(&file) {
        return Err(not_found());
    }
    let Some(path) = state.netboot_files.resolve(&file) else {
        return Err(not_found());
    };
    let content_type = if file.ends_with(".efi") {
        "application/efi"
    } else {
        "application/octet-stream"
    };
    match serve_boot_file(&path, content_type, &headers) {
        Ok(Some(response)) => {
            tracing::info!(file, "network-boot file served over HTTP");
            Ok(response)
        }
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "network-boot file unreadable");
            Err(not_found())
        }
    }
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
