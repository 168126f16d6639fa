//! The lab's nouns as plain data: what callers read and submit. Compiles without a database so
//! the browser half of the UI shares these exact types.

use serde::{Deserialize, Serialize};

/// How much a user may do with one machine. Ordered: each level includes the ones below.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")] // on the wire as in requests and forms: "view", "use", "manage"
pub enum Level {
    /// See the machine and who holds it.
    View = 1,
    /// Reserve it; during an own reservation, power-control and boot it.
    Use = 2,
    /// Edit it and see all its reservations.
    Manage = 3,
}

impl Level {
    pub fn from_i64(value: i64) -> Option<Level> {
        match value {
            1 => Some(Level::View),
            2 => Some(Level::Use),
            3 => Some(Level::Manage),
            _ => None,
        }
    }

    pub fn parse(value: &str) -> Option<Level> {
        match value {
            "view" => Some(Level::View),
            "use" => Some(Level::Use),
            "manage" => Some(Level::Manage),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::View => "view",
            Level::Use => "use",
            Level::Manage => "manage",
        }
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        // On the wire as their text, the same word the database and the forms use.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!(concat!("unknown ", stringify!($name), " '{}'"), text))
                })
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(value: &str) -> Option<Self> {
                match value { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// CPU architecture and firmware, which decide the network boot program a machine gets.
    Platform { X86_64Bios => "x86_64-bios", X86_64Uefi => "x86_64-uefi", Arm64Uefi => "arm64-uefi" }
);
impl Platform {
    /// Whether the machine boots through UEFI (else legacy BIOS).
    pub fn is_uefi(self) -> bool {
        self != Platform::X86_64Bios
    }

    /// The platform a boot request suggests: iPXE's `${buildarch}` and `${platform}` (or the
    /// DHCP client architecture and vendor class).
    pub fn guess(architecture: &str, vendor_class: &str) -> Platform {
        let efi = vendor_class.to_ascii_lowercase().contains("efi");
        match architecture {
            "arm64" | "aarch64" => Platform::Arm64Uefi,
            _ if efi => Platform::X86_64Uefi,
            _ => Platform::X86_64Bios,
        }
    }
}

/// The network boot program (the first file a PXE or UEFI HTTP boot client fetches: an iPXE
/// binary, a file of the TFTP root, also served over HTTP) for each kind of firmware. Admins
/// change it on the Settings page; a machine may name its own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootPrograms {
    /// Legacy BIOS PXE (client architecture 0).
    pub x86_64_bios: String,
    /// x86 UEFI, PXE or HTTP boot (architectures 6 (32-bit), 7, 9, 16).
    pub x86_64_uefi: String,
    /// arm64 UEFI, PXE or HTTP boot (architectures 11, 19).
    pub arm64_uefi: String,
    /// Clients whose architecture code baas does not know.
    pub unknown: String,
}

impl Default for BootPrograms {
    /// Debian's `ipxe` package (`/usr/lib/ipxe`) for x86. It has no arm64 binary: arm64 gets
    /// the GRUB network image the server makes at start from Debian's arm64 GRUB modules.
    fn default() -> Self {
        BootPrograms {
            x86_64_bios: "undionly.kpxe".into(),
            x86_64_uefi: "ipxe.efi".into(),
            arm64_uefi: "baas-grubnetaa64.efi".into(),
            unknown: "ipxe.efi".into(),
        }
    }
}

impl BootPrograms {
    /// The program for a platform; `None` is a client whose architecture is unknown.
    pub fn for_platform(&self, platform: Option<Platform>) -> &str {
        match platform {
            Some(Platform::X86_64Bios) => &self.x86_64_bios,
            Some(Platform::X86_64Uefi) => &self.x86_64_uefi,
            Some(Platform::Arm64Uefi) => &self.arm64_uefi,
            None => &self.unknown,
        }
    }
}

string_enum!(
    /// The kind of baseboard management controller, if any.
    BmcKind { None => "none", Ipmi => "ipmi", Redfish => "redfish" }
);
string_enum!(
    /// Whether a machine can be booked. `resetting` is baas' own: the machine is being put back
    /// to its reset image after a reservation.
    MachineState { Available => "available", Maintenance => "maintenance", Retired => "retired", Resetting => "resetting" }
);
string_enum!(
    /// Life of a reservation: active ones block their slot; the others are history.
    ReservationState { Active => "active", Released => "released", Cancelled => "cancelled" }
);

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    /// Own image quota; `None` means the lab's default.
    #[serde(default)]
    pub image_quota_bytes: Option<i64>,
    /// Moves on with every password change; sessions from an older version are void.
    #[serde(default)]
    pub credentials_version: i64,
    pub groups: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub is_admin: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: i64,
    pub username: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub members: Vec<UserRef>,
}

/// Who holds (or will next hold) a machine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub reservation_id: i64,
    pub username: String,
    pub start_at: i64,
    pub end_at: i64,
}

/// A machine as one viewer may see it: never its BMC credentials.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub id: i64,
    pub name: String,
    pub macs: Vec<String>,
    pub platform: Platform,
    pub bmc_kind: BmcKind,
    pub bmc_address: String,
    pub bmc_username_set: bool,
    pub bmc_password_set: bool,
    /// SHA-256 of the BMC's TLS certificate (64 lower-case hex digits), or empty.
    pub bmc_tls_pin: String,
    /// RMCP+ cipher suite for IPMI BMCs.
    pub ipmi_cipher_suite: i64,
    /// Fixed IPv4 address handed out when baas is the lab subnet's DHCP server, or empty.
    pub ip_address: String,
    /// The machine's own network boot program (a file of the TFTP root), or empty for the
    /// lab's by platform.
    #[serde(default)]
    pub boot_program: String,
    pub location: String,
    pub tags: Vec<String>,
    pub description: String,
    pub state: MachineState,
    /// Why baas put the machine in its state (a failed reset), or empty.
    #[serde(default)]
    pub state_reason: String,
    /// The viewer's effective level on this machine.
    pub my_level: Level,
    pub holder: Option<Holder>,
    pub next: Option<Holder>,
}

/// Which machines a list shows; empty fields match every machine. Times are Unix seconds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineFilter {
    pub tag: String,
    /// `available`, `maintenance` or `retired`.
    pub state: String,
    /// With `free_until`: only available machines with no active reservation in between.
    pub free_from: Option<i64>,
    pub free_until: Option<i64>,
}

/// A machine form as submitted. Strings so that every bad value comes back as a field error;
/// a field left out counts as empty.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineInput {
    pub name: String,
    /// One or more MAC addresses separated by commas, spaces or new lines.
    pub macs: String,
    pub platform: String,
    pub bmc_kind: String,
    pub bmc_address: String,
    /// Empty keeps the stored value when editing.
    pub bmc_username: String,
    /// Empty keeps the stored value when editing.
    pub bmc_password: String,
    /// SHA-256 fingerprint of a self-signed Redfish certificate, hex with or without colons.
    pub bmc_tls_pin: String,
    /// RMCP+ cipher suite for IPMI BMCs: 1, 2 or 3; empty means 3.
    pub ipmi_cipher_suite: String,
    /// Fixed IPv4 address for authoritative DHCP; empty for none.
    pub ip_address: String,
    /// A network boot program of the TFTP root for this machine alone (e.g. `snponly.efi`);
    /// empty for the lab's by platform.
    pub boot_program: String,
    pub location: String,
    /// Comma or space separated.
    pub tags: String,
    pub description: String,
    pub state: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    User(i64),
    Group(i64),
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: i64,
    pub machine_id: i64,
    pub subject: Subject,
    pub subject_name: String,
    pub level: Level,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: i64,
    pub machine_id: i64,
    pub machine_name: String,
    pub user_id: i64,
    pub username: String,
    pub start_at: i64,
    pub end_at: i64,
    pub note: String,
    pub state: ReservationState,
    pub created_at: i64,
    /// The set booked with it in one step (the id of the set's first reservation), if any.
    #[serde(default)]
    pub set_id: Option<i64>,
}

/// Booking limits set by admins; they bind everyone but admins.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_duration_hours: i64,
    pub max_advance_days: i64,
    /// Image storage of users without their own quota (changed with its own call).
    #[serde(default)]
    pub default_image_quota_bytes: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_duration_hours: 72,
            max_advance_days: 30,
            default_image_quota_bytes: 50 << 30,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor_name: String,
    pub address: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Substring filters over the audit log; empty means "any".
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub limit: i64,
}

/// `2026-11-22 14:05 UTC` for a UNIX time.
pub fn format_utc(unix: i64) -> String {
    utc_minutes(unix, ' ')
        .map(|t| format!("{t} UTC"))
        .unwrap_or_else(|| unix.to_string())
}

/// `2026-11-22T14:05:00Z`, for machines (`<time datetime=…>`).
pub fn format_rfc3339(unix: i64) -> String {
    utc_minutes(unix, 'T')
        .map(|t| format!("{t}:00Z"))
        .unwrap_or_default()
}

/// The value of an `<input type="datetime-local">` (`2026-11-22T14:05`, read as UTC) for a UNIX time.
pub fn to_datetime_local(unix: i64) -> String {
    utc_minutes(unix, 'T').unwrap_or_default()
}

/// `2026-11-22<separator>14:05` in UTC, if `unix` is a representable time.
fn utc_minutes(unix: i64, separator: char) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}{separator}{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    ))
}

/// Parses `2026-11-22T14:05` (or with seconds) as UTC.
pub fn parse_datetime_local(value: &str) -> Option<i64> {
    let value = value.trim();
    let format_minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let format_seconds =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(value, &format_minutes)
        .or_else(|_| time::PrimitiveDateTime::parse(value, &format_seconds))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_values_round_trip_as_utc() {
        let t = parse_datetime_local("2026-11-22T14:05").unwrap();
        assert_eq!(to_datetime_local(t), "2026-11-22T14:05");
        assert_eq!(format_utc(t), "2026-11-22 14:05 UTC");
        assert_eq!(format_rfc3339(t), "2026-11-22T14:05:00Z");
        assert_eq!(parse_datetime_local("2026-11-22 14:05"), None);
        assert_eq!(parse_datetime_local("tomorrow"), None);
    }

    #[test]
    fn levels_are_ordered_view_use_manage() {
        assert!(Level::View < Level::Use && Level::Use < Level::Manage);
        assert_eq!(Level::parse("use"), Some(Level::Use));
        assert_eq!(Level::from_i64(4), None);
    }
}

string_enum!(
    /// Who besides its owner (and admins) sees an image.
    Visibility { Private => "private", Group => "group", Public => "public" }
);
string_enum!(
    /// What the image's (decompressed) bytes are.
    ImageFormat { Raw => "raw", Qcow2 => "qcow2", Iso => "iso" }
);
string_enum!(
    /// How the stored bytes are compressed; told by their magic bytes, never by a file name.
    Compression { None => "none", Gzip => "gzip", Xz => "xz", Zstd => "zstd" }
);

/// One version of an image in the library.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub owner: UserRef,
    pub visibility: Visibility,
    /// The group that sees a `Group`-visible image.
    pub group: Option<String>,
    pub description: String,
    pub format: ImageFormat,
    pub compression: Compression,
    /// Bytes on disk, which are the bytes machines receive.
    pub stored_size: i64,
    /// Uncompressed or virtual size, where the content tells it.
    pub content_size: Option<i64>,
    pub sha256: String,
    /// SHA-256 of the uncompressed content of a raw image (what a deploy writes); empty for
    /// other formats and for images from before it was recorded, until first deployed.
    pub content_sha256: String,
    /// `upload` or the URL it was imported from.
    pub source: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The console line that says a machine booted from it is up (e.g. `login:`); empty: a
    /// deploy counts as up once the new system printed and no failure showed for a while.
    #[serde(default)]
    pub ready_pattern: String,
    /// Whether the caller may change or delete it.
    pub can_manage: bool,
}

/// Filter for the library list; empty fields match everything.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageFilter {
    /// Part of the name or description.
    pub search: String,
    /// `raw`, `qcow2`, `iso` or empty.
    pub format: String,
    /// Only the caller's own images.
    pub mine: bool,
    /// Every version rather than only the newest of each name.
    pub all_versions: bool,
}

/// What a new upload (or import) will become.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUpload {
    pub name: String,
    pub description: String,
    /// `private`, `group` or `public`.
    pub visibility: String,
    /// The group's name, for `group` visibility.
    pub group: String,
    /// Total bytes, when the client knows them up front (needed to resume).
    pub length: Option<i64>,
    /// Hex SHA-256 the client expects; the upload fails if the bytes differ.
    pub sha256: String,
    /// The client's file name, used only to catch a name that promises another compression.
    pub filename: String,
    /// For imports: where the server fetches the bytes.
    pub source_url: String,
}

string_enum!(
    /// Where an upload stands.
    UploadState { Receiving => "receiving", Processing => "processing", Done => "done", Failed => "failed" }
);

/// An upload as its owner sees it: how far it got and what became of it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub id: String,
    pub owner_id: i64,
    pub name: String,
    pub length: Option<i64>,
    pub received: i64,
    pub state: UploadState,
    pub error: String,
    pub image_id: Option<i64>,
    pub source_url: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user's image storage: used (images plus uploads in progress) against the quota.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUsage {
    pub used: i64,
    pub quota: i64,
}

/// An API token as listed; the secret itself is shown once, at creation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// `None`: valid until revoked.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Past `expires_at` when read.
    #[serde(default)]
    pub expired: bool,
}

/// Byte count for people: `1.5 GiB`.
pub fn format_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

string_enum!(
    /// Where a virtual media attachment stands.
    MediaState { Attaching => "attaching", Attached => "attached", Failed => "failed", Detached => "detached" }
);

/// An ISO inserted (or once inserted) into a machine's BMC as virtual media.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaAttachment {
    pub id: i64,
    pub machine_id: i64,
    /// `None` once the image has been deleted.
    pub image_id: Option<i64>,
    /// `name vN` of the image.
    pub image: String,
    pub username: String,
    pub state: MediaState,
    /// What the BMC said to the insert or eject, or why it failed.
    pub bmc_answer: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub detached_at: Option<i64>,
}

/// An address baas handed out as the lab subnet's DHCP server.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpLease {
    pub address: String,
    /// Empty for a declined (quarantined) address.
    pub mac: String,
    /// `offered`, `bound` or `declined`.
    pub state: String,
    pub expires_at: i64,
    /// The inventory machine with that MAC.
    pub machine: Option<String>,
}

/// A machine that asked to boot but is not in the inventory.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredMachine {
    pub mac: String,
    /// As the client told it (iPXE `${buildarch}`, DHCP option 93).
    pub architecture: String,
    pub vendor_class: String,
    pub address: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub times_seen: i64,
    /// What the management OS found, for a machine the enlist policy booted.
    #[serde(default)]
    pub hardware: Option<crate::agent_protocol::HardwareReport>,
}

string_enum!(
    /// What a job does once the machine runs the management OS: *deploy* writes an image to
    /// the disk (optionally saving the disk first), *save* reads the disk into a new image
    /// version and writes nothing, *inventory* reports the hardware only, *boot* boots the
    /// management OS and leaves it to the user.
    JobKind { Deploy => "deploy", Save => "save", Inventory => "inventory", Boot => "boot" }
);
string_enum!(
    /// Where a job is. Every state but the last four is *active*; a machine has at most one
    /// active job. *booting* watches the machine's console after the reboot to the written
    /// disk; *boot-unobserved* ends a job whose write was verified and whose machine was
    /// rebooted, but whose boot nobody could see (no console).
    JobState {
        Queued => "queued",
        Powering => "powering",
        Netbooting => "netbooting",
        Enrolled => "enrolled",
        Saving => "saving",
        Writing => "writing",
        Verifying => "verifying",
        Rebooting => "rebooting",
        Booting => "booting",
        Booted => "booted",
        BootUnobserved => "boot-unobserved",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl JobState {
    /// Ended, one way or another.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Booted | JobState::BootUnobserved | JobState::Failed | JobState::Cancelled
        )
    }

    /// Every state of a running job, in the order a job goes through them.
    pub const ACTIVE: &'static [JobState] = &[
        JobState::Queued,
        JobState::Powering,
        JobState::Netbooting,
        JobState::Enrolled,
        JobState::Saving,
        JobState::Writing,
        JobState::Verifying,
        JobState::Rebooting,
        JobState::Booting,
    ];

    /// The active states before the agent's final word: the management OS is due or running.
    pub const BEFORE_REBOOT: &'static [JobState] = JobState::ACTIVE.split_at(7).0;

    /// The agent is at work and owes baas word of it: enrolled, saving, writing or verifying.
    pub fn agent_at_work(self) -> bool {
        matches!(
            self,
            JobState::Enrolled | JobState::Saving | JobState::Writing | JobState::Verifying
        )
    }
}

string_enum!(
    /// What an unknown machine that network-boots gets: its own disk, or the inventory OS.
    DiscoveryPolicy { Ignore => "ignore", Enlist => "enlist" }
);

/// A state a job went through, with when and why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPhase {
    pub state: JobState,
    pub at: i64,
    pub detail: String,
}

/// Bytes moved in the job's current phase.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub done: i64,
    /// 0 when unknown.
    pub total: i64,
    pub bytes_per_second: i64,
    pub at: Option<i64>,
}

/// An image version a job reads or wrote.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobImage {
    pub id: i64,
    pub name: String,
    pub version: i64,
}

/// A deploy, save, inventory or plain management-OS boot of one machine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub machine_id: i64,
    pub machine: String,
    pub kind: JobKind,
    pub state: JobState,
    pub requested_by: Option<String>,
    /// The image a deploy writes.
    pub image: Option<JobImage>,
    /// The image name a save writes the next version of (empty: no save).
    pub save_as: String,
    /// The version a save produced.
    pub saved_image: Option<JobImage>,
    pub created_at: i64,
    pub scheduled_at: i64,
    pub state_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// For a failed job: the step that failed and why.
    pub failed_step: String,
    pub reason: String,
    /// The agent's last message.
    pub agent_said: String,
    pub progress: JobProgress,
    /// Oldest first; filled in by [`crate::Lab::job`], empty in lists.
    pub phases: Vec<JobPhase>,
    /// The batch the job is one machine of, if any.
    #[serde(default)]
    pub batch_id: Option<i64>,
}

string_enum!(
    /// How a batch's machines get the image: each from baas (*direct*), or through the relay,
    /// a pipeline of the batch's own agents, each streaming from the one before it (*relay*).
    Transfer { Direct => "direct", Relay => "relay" }
);

/// One image deployed to many machines: one ordinary deploy job per machine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub id: i64,
    pub requested_by: Option<String>,
    pub image: Option<JobImage>,
    pub transfer: Transfer,
    pub created_at: i64,
    /// Each machine's latest job in the batch (a retry replaces a failed one), by machine name.
    pub jobs: Vec<Job>,
}

/// How a batch's machines stand, counted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTally {
    pub machines: usize,
    pub booted: usize,
    /// Written, verified and rebooted, but their boot could not be watched (no console).
    pub unobserved: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub active: usize,
    /// Bytes written so far and in all, over the machines writing or done writing.
    pub bytes_done: i64,
    pub bytes_total: i64,
    /// The machines' write rates together.
    pub bytes_per_second: i64,
}

impl BatchTally {
    /// Seconds until every machine has written the image at the current rates, if known.
    pub fn seconds_left(&self) -> Option<i64> {
        (self.bytes_per_second > 0).then(|| {
            let left = (self.bytes_total - self.bytes_done).max(0);
            (left + self.bytes_per_second - 1) / self.bytes_per_second
        })
    }

    /// `3 booted, 1 failed, 4 running` (with the unobserved and cancelled ones when there are).
    pub fn summary(&self) -> String {
        let mut line = format!("{} booted", self.booted);
        if self.unobserved > 0 {
            line.push_str(&format!(", {} boot unobserved", self.unobserved));
        }
        line.push_str(&format!(
            ", {} failed, {} running",
            self.failed, self.active
        ));
        if self.cancelled > 0 {
            line.push_str(&format!(", {} cancelled", self.cancelled));
        }
        line
    }
}

impl Batch {
    pub fn tally(&self) -> BatchTally {
        let mut tally = BatchTally {
            machines: self.jobs.len(),
            ..Default::default()
        };
        // Every machine writes the same image: its size is known once one of them writes.
        let size = self
            .jobs
            .iter()
            .map(|j| j.progress.total)
            .max()
            .unwrap_or(0);
        for job in &self.jobs {
            match job.state {
                JobState::Booted => tally.booted += 1,
                JobState::BootUnobserved => tally.unobserved += 1,
                JobState::Failed => tally.failed += 1,
                JobState::Cancelled => tally.cancelled += 1,
                _ => tally.active += 1,
            }
            let written = match job.state {
                JobState::Writing => job.progress.done,
                JobState::Verifying
                | JobState::Rebooting
                | JobState::Booting
                | JobState::Booted
                | JobState::BootUnobserved => size,
                // Failed or cancelled: nothing more will be written there.
                JobState::Failed | JobState::Cancelled => continue,
                _ => 0,
            };
            tally.bytes_done += written;
            tally.bytes_total += size;
            if job.state == JobState::Writing {
                tally.bytes_per_second += job.progress.bytes_per_second;
            }
        }
        tally
    }

    /// Every machine's job has ended.
    pub fn finished(&self) -> bool {
        self.jobs.iter().all(|j| j.state.is_final())
    }
}

/// One step of a network boot, as the boot services saw it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEvent {
    pub at: i64,
    pub mac: String,
    /// `dhcp`, `tftp`, `script`.
    pub kind: String,
    pub detail: String,
}

impl crate::agent_protocol::HardwareReport {
    /// One line for lists: `4 × Xeon …, 16.0 GiB, 2 disks (1.8 TiB), 2 NICs`.
    pub fn summary(&self) -> String {
        let disk_bytes: u64 = self.disks.iter().map(|d| d.size_bytes).sum();
        format!(
            "{} × {}, {}, {} disk(s) ({}), {} NIC(s)",
            self.cpu_count,
            self.cpu_model,
            format_bytes(self.memory_bytes as i64),
            self.disks.len(),
            format_bytes(disk_bytes as i64),
            self.nics.len()
        )
    }
}

string_enum!(
    /// What a notice is about.
    NoticeKind { Ending => "ending", ResetFailed => "reset_failed", JobEnded => "job_ended" }
);
string_enum!(
    /// How a notice leaves baas besides the portal.
    NoticeChannel { Email => "email", Webhook => "webhook" }
);
string_enum!(
    /// Where a notice's delivery stands: still trying (with retries), done, or given up.
    DeliveryState { Pending => "pending", Sent => "sent", Failed => "failed" }
);
string_enum!(
    /// How baas talks to the lab's SMTP server: plain (a local relay), STARTTLS or TLS from the
    /// first byte.
    SmtpSecurity { None => "none", StartTls => "starttls", Tls => "tls" }
);

/// A notice to one user: a reservation ends soon, or (to admins) a machine's reset failed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: i64,
    pub kind: NoticeKind,
    pub reservation_id: Option<i64>,
    pub machine_id: Option<i64>,
    pub machine_name: String,
    /// The reservation end the notice speaks of (0 when none).
    pub end_at: i64,
    pub subject: String,
    pub body: String,
    /// The portal page of the notice's action (extending the reservation), or empty.
    pub link: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// One notice's trip by email or webhook: the delivery log a user reads on *My account*.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub notice_id: i64,
    pub subject: String,
    pub channel: NoticeChannel,
    /// The address or URL.
    pub target: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: String,
    pub sent_at: Option<i64>,
    pub created_at: i64,
}

/// Which notices a user gets, and where.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticePreferences {
    pub email_address: String,
    pub portal: bool,
    pub email: bool,
    pub webhook: bool,
    pub webhook_url: String,
    /// The signing secret is never shown again, only whether there is one.
    pub webhook_secret_set: bool,
}

/// The notice preferences form as submitted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticePreferencesInput {
    pub email_address: String,
    pub portal: bool,
    pub email: bool,
    pub webhook: bool,
    pub webhook_url: String,
    /// Empty keeps the stored secret.
    pub webhook_secret: String,
}

/// The lab's SMTP server and notice lead times, as admins see them: never the password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeSettings {
    /// Empty: no email is sent.
    pub smtp_host: String,
    pub smtp_port: i64,
    pub smtp_security: SmtpSecurity,
    pub smtp_username: String,
    pub smtp_password_set: bool,
    /// The From address.
    pub sender: String,
    /// How long before a reservation's end notices go out, longest first.
    pub lead_minutes: Vec<i64>,
}

/// The notice settings form as submitted (strings, so every bad value names its field).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeSettingsInput {
    pub smtp_host: String,
    pub smtp_port: String,
    pub smtp_security: String,
    pub smtp_username: String,
    /// Empty keeps the stored password.
    pub smtp_password: String,
    pub sender: String,
    /// Minutes, separated by commas or spaces.
    pub lead_minutes: String,
}

/// What happens to a machine after each reservation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetPolicy {
    /// The machine's own reset image, if set.
    pub image: Option<JobImage>,
    /// The image a reset writes: the machine's own, else the lab's default; none: power off.
    pub effective_image: Option<JobImage>,
    /// Save the holder's disk as an image of theirs before the reset.
    pub save_before_reset: bool,
}

/// One machine's row in the lab calendar.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarRow {
    pub machine_id: i64,
    pub machine_name: String,
    pub tags: Vec<String>,
    pub state: MachineState,
    /// Whether the viewer may book it (*use* or better).
    pub bookable: bool,
    pub bookings: Vec<CalendarBooking>,
}

/// An active reservation as the calendar shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarBooking {
    pub reservation_id: i64,
    pub username: String,
    pub start_at: i64,
    pub end_at: i64,
    /// The viewer's own.
    pub mine: bool,
}

/// The lab calendar for a window, read at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarView {
    pub rows: Vec<CalendarRow>,
    pub from: i64,
    pub to: i64,
    pub now: i64,
}
