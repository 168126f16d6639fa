//! The public REST API's request and response bodies (`/api/v1/…`), beside the model types it
//! returns as they are. One definition, used by the server that answers and by the `baas`
//! command-line client that asks. Times are Unix seconds.

use serde::{Deserialize, Serialize};

use crate::agent_protocol::HardwareReport;
use crate::model::{Job, Machine};

/// One page of a list, with the total the filter matched.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
}

/// Lists are cut at this many items unless the caller asks for fewer (or more, up to
/// [`MAX_LIMIT`]).
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

impl<T> Paged<T> {
    /// The page of `all` from `offset`, at most `limit` (default [`DEFAULT_LIMIT`], at most
    /// [`MAX_LIMIT`]) long.
    pub fn of(all: Vec<T>, limit: Option<usize>, offset: Option<usize>) -> Paged<T> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let offset = offset.unwrap_or(0);
        let total = all.len();
        let items = all.into_iter().skip(offset).take(limit).collect();
        Paged {
            items,
            total,
            limit,
            offset,
        }
    }
}

/// A machine with what its page shows beside it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineDetail {
    #[serde(flatten)]
    pub machine: Machine,
    /// What the disk holds: a verified image (`name vN`) or `unknown`.
    pub disk: String,
    /// The agent's last hardware report, and when the agent was last heard from.
    pub hardware: Option<HardwareReport>,
    pub agent_seen_at: Option<i64>,
    /// The machine's latest job.
    pub latest_job: Option<Job>,
}

/// `POST /api/v1/reservations`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReservation {
    pub machine_id: i64,
    pub start_at: i64,
    pub end_at: i64,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/reservations/any`: `count` free machines with `tag` that the caller may use,
/// all or none.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnyReservation {
    pub tag: String,
    /// How many machines (1 when left out).
    #[serde(default)]
    pub count: Option<u32>,
    pub start_at: i64,
    pub end_at: i64,
    #[serde(default)]
    pub note: String,
}

/// Machines booked together in one step: one reservation each, sharing `set_id`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationSet {
    /// The id by which the set is deployed to (`--reservation`): its first reservation's.
    pub set_id: i64,
    pub reservations: Vec<crate::model::Reservation>,
}

/// `PATCH /api/v1/reservations/{id}`: a new end (extend or shorten) and, before the
/// reservation began, a new start; a field left out keeps its value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationChange {
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
}

/// `POST /api/v1/jobs`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    pub machine_id: i64,
    /// `deploy`, `save`, `inventory` or `boot` (the management OS only).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::model::JobKind))]
    pub kind: String,
    /// The image a deploy writes.
    #[serde(default)]
    pub image_id: Option<i64>,
    /// Save the disk first (a deploy) or only (a save) as the next version of this image name.
    #[serde(default)]
    pub save_as: String,
    /// When to start; absent or past: now.
    #[serde(default)]
    pub at: Option<i64>,
}

/// `POST /api/v1/machines/{id}/power`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerRequest {
    /// `on`, `off`, `soft-off`, `cycle` or `reset`.
    #[cfg_attr(feature = "openapi", schema(value_type = PowerVerb))]
    pub action: String,
}

/// `GET /api/v1/machines/{id}/power`: the state as the BMC reported it, and when.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerStatus {
    /// `on` or `off`.
    pub state: String,
    pub checked_at: i64,
}

/// `PUT /api/v1/machines/{id}/boot-device`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootDeviceRequest {
    /// `pxe`, `disk`, `cdrom` or `bios-setup`.
    #[cfg_attr(feature = "openapi", schema(value_type = BootDeviceName))]
    pub device: String,
    /// Every boot from now on, not only the next one.
    #[serde(default)]
    pub persistent: bool,
    #[serde(default)]
    pub uefi: bool,
}

/// `POST /api/v1/tokens`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub name: String,
    /// Days until it expires; absent: never.
    #[serde(default)]
    pub valid_days: Option<i64>,
}

/// The answer to `POST /api/v1/tokens`: the secret, shown this once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub token: String,
    pub expires_at: Option<i64>,
}

/// `GET /api/v1/whoami`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {
    pub id: Option<i64>,
    pub username: String,
    pub is_admin: bool,
}

/// `PATCH /api/v1/users/{id}`: what to change; a field left out stays.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserChange {
    pub disabled: Option<bool>,
    /// A new password (at least 12 characters); the user's sessions end.
    pub password: Option<String>,
    /// The user's own image storage quota in bytes.
    pub image_quota_bytes: Option<i64>,
}

/// `POST /api/v1/groups`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// `POST /api/v1/machines/{id}/grants`: a level on the machine for a user or group, by name.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGrant {
    /// `user` or `group`.
    #[cfg_attr(feature = "openapi", schema(value_type = SubjectKind))]
    pub subject_kind: String,
    pub subject_name: String,
    /// `view`, `use` or `manage`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::model::Level))]
    pub level: String,
}

/// `POST /api/v1/discovered/{mac}/adopt`: an unknown machine into the inventory.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adoption {
    pub name: String,
    /// `x86_64-bios`, `x86_64-uefi` or `arm64-uefi`; empty: as its boot requests suggested.
    #[serde(default)]
    pub platform: String,
}

/// `POST /api/v1/machines/{id}/media`: an uncompressed ISO from the library.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRequest {
    pub image_id: i64,
}

/// `PATCH /api/v1/images/{id}`: a field left out keeps its value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageChange {
    pub description: Option<String>,
    /// `private`, `group` or `public`.
    pub visibility: Option<String>,
    /// The group that sees a `group` image.
    pub group: Option<String>,
    /// The console line that says a machine booted from the image is up (`""`: none).
    pub ready_pattern: Option<String>,
}

/// `GET /api/v1/settings`: the lab-wide settings admins change on the Settings page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub limits: crate::model::Limits,
    /// `ignore` or `enlist` (boot unknown machines into the management OS for an inventory).
    pub discovery_policy: crate::model::DiscoveryPolicy,
    /// Internal networks imports by URL may fetch from, one CIDR a line.
    pub import_networks: String,
    /// Console lines that fail a deploy's boot (a kernel panic, a missing root…), one a line.
    pub console_failure_patterns: String,
    /// How long a deployed system without a ready pattern must print without a failure to
    /// count as up.
    pub console_settle_seconds: i64,
    /// Days an unadopted discovered machine is kept after it last asked to boot.
    pub discovered_keep_days: i64,
    /// The network boot program per firmware (files of the TFTP root).
    pub boot_programs: crate::model::BootPrograms,
}

/// `PATCH /api/v1/settings`: a field left out keeps its value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChange {
    pub max_duration_hours: Option<i64>,
    pub max_advance_days: Option<i64>,
    /// Image storage of users without a quota of their own.
    pub default_image_quota_bytes: Option<i64>,
    pub discovery_policy: Option<crate::model::DiscoveryPolicy>,
    pub import_networks: Option<String>,
    pub console_failure_patterns: Option<String>,
    pub console_settle_seconds: Option<i64>,
    pub discovered_keep_days: Option<i64>,
    /// The whole table: every firmware's program.
    pub boot_programs: Option<crate::model::BootPrograms>,
}

/// `POST /api/v1/account/password`: the caller's own password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/v1/machines/{id}/bmc-test`: the BMC's own description.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BmcTest {
    pub answer: String,
}

// The words some request fields take, as enums in the OpenAPI document. The fields stay text so
// a wrong word is answered with the field named, like every other bad value.
crate::model::string_enum!(
    /// A power action a BMC is asked for.
    PowerVerb { On => "on", Off => "off", SoftOff => "soft-off", Cycle => "cycle", Reset => "reset" }
);
crate::model::string_enum!(
    /// A next boot device.
    BootDeviceName { Pxe => "pxe", Disk => "disk", Cdrom => "cdrom", BiosSetup => "bios-setup" }
);
crate::model::string_enum!(
    /// Whom a grant is for.
    SubjectKind { User => "user", Group => "group" }
);

/// `POST /api/v1/batches`: one image to many machines, all or none.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBatch {
    pub image_id: i64,
    /// The machines (ids); or leave empty and name a reservation.
    #[serde(default)]
    pub machines: Vec<i64>,
    /// Every machine of this reservation of the caller's, or of the set it was booked with.
    #[serde(default)]
    pub reservation: Option<i64>,
    /// `auto` (the relay from three machines on), `relay` or `direct`.
    #[serde(default)]
    pub transfer: Option<String>,
}
