//! Configuration: built-in defaults, then a TOML file, then `BAAS_*` environment variables.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the TOML file may set; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http_addr: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    session_ttl_minutes: Option<i64>,
    secure_cookies: Option<bool>,
    site_root: Option<PathBuf>,
    image_dir: Option<PathBuf>,
    public_url: Option<String>,
    bmc_timeout_seconds: Option<u64>,
    console_log_kib: Option<u64>,
    console_idle_minutes: Option<u64>,
    tftp_addr: Option<String>,
    tftp_root: Option<PathBuf>,
    dhcp_mode: Option<String>,
    dhcp_addr: Option<String>,
    pxe_addr: Option<String>,
    dhcp_interfaces: Option<String>,
    boot_server_ip: Option<String>,
    boot_server_ip6: Option<String>,
    dhcp6_mode: Option<String>,
    dhcp6_addr: Option<String>,
    pxe6_addr: Option<String>,
    dhcp6_subnet: Option<String>,
    dhcp6_pool: Option<String>,
    dhcp6_dns: Option<String>,
    dhcp_subnet: Option<String>,
    dhcp_pool: Option<String>,
    dhcp_router: Option<String>,
    dhcp_dns: Option<String>,
    dhcp_lease_seconds: Option<i64>,
    mgmt_kernel: Option<PathBuf>,
    mgmt_initrd: Option<PathBuf>,
    mgmt_cmdline: Option<String>,
    mgmt_arm64_kernel: Option<PathBuf>,
    mgmt_arm64_initrd: Option<PathBuf>,
    mgmt_arm64_cmdline: Option<String>,
    grub_arm64_modules: Option<PathBuf>,
    job_netboot_timeout_seconds: Option<i64>,
    job_enrol_timeout_seconds: Option<i64>,
    job_progress_timeout_seconds: Option<i64>,
    job_reboot_timeout_seconds: Option<i64>,
}

/// The management OS that boot jobs (and enlisted machines) boot: a kernel and initrd served
/// at `/boot/mgmt/kernel` and `/boot/mgmt/initrd`, and extra kernel command line.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagementOs {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
}

/// What baas hands out as the subnet's authoritative DHCP server.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthoritativeDhcp {
    /// Subnet, dynamic pool, lease time; the boot server's and router's addresses are reserved.
    pub plan: lab::leases::AddressPlan,
    pub router: Option<std::net::Ipv4Addr>,
    pub dns: Vec<std::net::Ipv4Addr>,
}

/// DHCPv6: where it listens and what it hands out.
#[derive(Debug, Clone, PartialEq)]
pub struct Dhcp6 {
    /// UDP 547 on each of `dhcp_interfaces`.
    pub addr: SocketAddr,
    /// The PXE boot server's UDP 4011 (`None`: off).
    pub pxe: Option<SocketAddr>,
    /// The IPv6 address clients reach baas at: the host of `tftp://` boot file URLs.
    pub server: std::net::Ipv6Addr,
    /// The base of the HTTP URLs handed to IPv6 clients: the public URL, with its host
    /// replaced by `[server]` when it is an IPv4 address.
    pub http_base: String,
    /// Set when baas hands out IPv6 addresses (IA_NA); boot information only otherwise.
    pub authoritative: Option<AuthoritativeDhcp6>,
    /// Asked for by `dhcp6_mode` (a failure to listen stops the start), rather than on by
    /// default beside DHCPv4 (a failure is logged and DHCPv4 goes on).
    pub explicit: bool,
}

/// What baas hands out as the provisioning network's DHCPv6 server.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthoritativeDhcp6 {
    /// Prefix, pool, lease time; the boot server's address is reserved.
    pub plan: lab::leases::AddressPlan<std::net::Ipv6Addr>,
    pub dns: Vec<std::net::Ipv6Addr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the web UI, API and boot HTTP listen.
    pub http_addr: SocketAddr,
    /// Holds the SQLite database and the secret key.
    pub data_dir: PathBuf,
    pub database_url: String,
    /// A session ends after this many seconds of inactivity (configured in minutes).
    pub session_ttl_seconds: i64,
    /// Mark cookies `Secure` (set when served over HTTPS through a proxy).
    pub secure_cookies: bool,
    /// The built site (`pkg/` with wasm, js, css) produced by cargo-leptos.
    pub site_root: PathBuf,
    /// The image library's files (and unfinished uploads, under `.partial/`).
    pub image_dir: PathBuf,
    /// The URL machines and BMCs use to reach this server (virtual media, later boot scripts).
    pub public_url: String,
    /// Bound for one BMC operation.
    pub bmc_timeout: std::time::Duration,
    /// The most a machine's (and a job's) recorded console keeps, in bytes.
    pub console_log_bytes: u64,
    /// A console viewer that sends nothing for this long is disconnected (the recording goes on).
    pub console_idle_seconds: u64,
    /// How long each phase of a job may take.
    pub job_timeouts: lab::jobs::JobTimeouts,
    /// Where TFTP listens; `None` when turned off.
    pub tftp_addr: Option<SocketAddr>,
    /// What TFTP serves: the iPXE binaries.
    pub tftp_root: PathBuf,
    /// ProxyDHCP on UDP 67 (`None`: off, or DHCP mode off).
    pub dhcp_addr: Option<SocketAddr>,
    /// ProxyDHCP's PXE port 4011 (`None`: off).
    pub pxe_addr: Option<SocketAddr>,
    /// The lab networks DHCP answers on. Empty: no DHCP at all, so a first start on a laptop
    /// or an office server never answers PXE clients on a network nobody chose.
    pub dhcp_interfaces: Vec<String>,
    /// The IPv4 address PXE clients reach baas at (siaddr), from `boot_server_ip` or the
    /// public URL's host; needed only when DHCPv4 runs (an IPv6-only lab has none).
    pub boot_server_ip: Option<std::net::Ipv4Addr>,
    /// DHCPv6 (`None`: off).
    pub dhcp6: Option<Dhcp6>,
    /// Set in authoritative DHCP mode: UDP 67 hands out addresses.
    pub dhcp_authoritative: Option<AuthoritativeDhcp>,
    /// `None` until a kernel is configured: boot jobs then wait.
    pub management_os: Option<ManagementOs>,
    /// The same for arm64 machines (served at `/boot/mgmt/arm64/…`); without it their boot
    /// jobs wait, never booting the x86-64 build.
    pub management_os_arm64: Option<ManagementOs>,
    /// GRUB's arm64-efi modules, from which baas makes the arm64 boot program at start (`None`:
    /// none found; arm64 machines then need a boot program the admin provides).
    pub grub_arm64_modules: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{name}: {message}")]
    Value { name: &'static str, message: String },
}

/// The environment variables read, for `--help`.
pub const ENVIRONMENT_HELP: &str = "\
Configuration (file keys in baas.toml, overridden by the environment):
  BAAS_CONFIG               TOML file to read (default: ./baas.toml when present)
  BAAS_HTTP_ADDR            http_addr: listen address (default 127.0.0.1:3000)
  BAAS_DATA_DIR             data_dir: database and secret key (default ./data)
  DATABASE_URL              database_url (default sqlite://<data_dir>/baas.db)
  BAAS_SESSION_TTL_MINUTES  session_ttl_minutes: idle time before a session ends (default 720)
  BAAS_SECURE_COOKIES       secure_cookies: true behind HTTPS (default false)
  BAAS_IMAGE_DIR            image_dir: image library files (default <data_dir>/images)
  BAAS_PUBLIC_URL           public_url: URL machines and BMCs reach baas at (default http://<http_addr>)
  BAAS_BMC_TIMEOUT_SECONDS  bmc_timeout_seconds: bound for one BMC operation (default 5)
  BAAS_CONSOLE_LOG_KIB      console_log_kib: recorded console kept per machine and per job,
                            oldest output dropped first (default 4096; under <data_dir>/consoles)
  BAAS_CONSOLE_IDLE_MINUTES console_idle_minutes: a console viewer idle this long is
                            disconnected; the recording goes on (default 10)
  BAAS_TFTP_ADDR            tftp_addr: TFTP listen address, or off (default 0.0.0.0:69; port 69 needs
                            root or CAP_NET_BIND_SERVICE)
  BAAS_TFTP_ROOT            tftp_root: directory TFTP serves read-only (default /usr/lib/ipxe,
                            Debian's ipxe package)
  BAAS_DHCP_INTERFACES      dhcp_interfaces: the lab network interfaces DHCP answers on, comma
                            separated (default none: DHCP and the PXE port stay off until named)
  BAAS_DHCP_MODE            dhcp_mode: proxy (answer PXE clients beside the site's DHCP server),
                            authoritative (baas is the subnet's DHCP server) or off (default proxy)
  BAAS_DHCP_ADDR            dhcp_addr: DHCP listen address, or off (default 0.0.0.0:67)
  BAAS_PXE_ADDR             pxe_addr: PXE boot server port, or off (default 0.0.0.0:4011)
  BAAS_BOOT_SERVER_IP       boot_server_ip: IPv4 address PXE clients reach baas at (default: the
                            host of BAAS_PUBLIC_URL)
  BAAS_DHCP_SUBNET          dhcp_subnet: authoritative mode: the subnet served, like 10.0.0.0/24
  BAAS_DHCP_POOL            dhcp_pool: authoritative mode: dynamic addresses for machines not in the
                            inventory, like 10.0.0.100-10.0.0.199 (default: none, only fixed addresses)
  BAAS_DHCP_ROUTER          dhcp_router: authoritative mode: default gateway handed out (default none)
  BAAS_DHCP_DNS             dhcp_dns: authoritative mode: DNS servers, comma separated (default none)
  BAAS_DHCP_LEASE_SECONDS   dhcp_lease_seconds: authoritative mode: lease time (default 3600)
  BAAS_DHCP6_MODE           dhcp6_mode: DHCPv6 on dhcp_interfaces: proxy (boot information only,
                            beside the site's DHCPv6 server or on a SLAAC network), authoritative
                            (baas hands out IPv6 addresses) or off (default: proxy when DHCP is on
                            and baas has an IPv6 address, off otherwise)
  BAAS_DHCP6_ADDR           dhcp6_addr: DHCPv6 listen address (default [::]:547)
  BAAS_PXE6_ADDR            pxe6_addr: the IPv6 PXE boot server port, or off (default [::]:4011)
  BAAS_BOOT_SERVER_IP6      boot_server_ip6: IPv6 address clients reach baas at (default: the host
                            of BAAS_PUBLIC_URL when it is an IPv6 address)
  BAAS_DHCP6_SUBNET         dhcp6_subnet: authoritative DHCPv6: the prefix served, like fd00::/64
  BAAS_DHCP6_POOL           dhcp6_pool: authoritative DHCPv6: dynamic addresses, like
                            fd00::1000-fd00::1fff (default: none, only machines' fixed addresses)
  BAAS_DHCP6_DNS            dhcp6_dns: authoritative DHCPv6: DNS servers, comma separated
  BAAS_MGMT_KERNEL          mgmt_kernel: kernel of the management OS that jobs boot (default
                            <data_dir>/mgmt/vmlinuz, built by mgmt/build.sh; empty: none, jobs
                            wait and unknown machines are not enlisted)
  BAAS_MGMT_INITRD          mgmt_initrd: its initrd (default <data_dir>/mgmt/initrd.img)
  BAAS_MGMT_CMDLINE         mgmt_cmdline: extra kernel command line (default console=tty0
                            console=ttyS0,115200); baas adds baas.url, baas.token, baas.purpose
  BAAS_MGMT_ARM64_KERNEL    mgmt_arm64_kernel, mgmt_arm64_initrd, mgmt_arm64_cmdline: the same for
  BAAS_MGMT_ARM64_INITRD    arm64 machines (default <data_dir>/mgmt-arm64/, built by mgmt/build.sh
  BAAS_MGMT_ARM64_CMDLINE   --arch arm64; console=tty0 console=ttyAMA0,115200); without it their
                            jobs wait
  BAAS_GRUB_ARM64_MODULES   grub_arm64_modules: GRUB's arm64-efi modules, from which baas makes the
                            arm64 network boot program at start, baas-grubnetaa64.efi (default
                            <data_dir>/mgmt-arm64/grub/arm64-efi from mgmt/build.sh --arch arm64,
                            else /usr/lib/grub/arm64-efi; empty: none). Needs grub-mkimage
                            (grub-common) and an http:// public URL
  BAAS_JOB_NETBOOT_TIMEOUT_SECONDS   job_netboot_timeout_seconds: a job fails when the machine has not
                            network-booted this long after its power cycle (default 600)
  BAAS_JOB_ENROL_TIMEOUT_SECONDS     job_enrol_timeout_seconds: ... when no agent enrolled this long
                            after the management OS was served (default 600)
  BAAS_JOB_PROGRESS_TIMEOUT_SECONDS  job_progress_timeout_seconds: ... when the agent said nothing
                            this long while saving, writing or verifying (default 120)
  BAAS_JOB_REBOOT_TIMEOUT_SECONDS    job_reboot_timeout_seconds: how long a verified deploy waits
                            for the machine's network boot to its disk (default 600)
  BAAS_SITE_ROOT            site_root: built web assets (default ./target/site; LEPTOS_SITE_ROOT also read)
  BAAS_ADMIN_PASSWORD       password for the `admin` account created on first start
                            (default: generated and printed once)
  RUST_LOG                  log filter (default info)";

impl Config {
    /// How the conductor talks to BMCs.
    pub fn bmc_settings(&self) -> conductor::BmcSettings {
        conductor::BmcSettings {
            timeout: self.bmc_timeout,
            public_url: self.public_url.clone(),
            console_dir: self.data_dir.join("consoles"),
            console_log_bytes: self.console_log_bytes,
            console_idle_seconds: self.console_idle_seconds,
        }
    }

    /// Loads from `file` (or `BAAS_CONFIG`, or `./baas.toml` if present) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], reading variables through `env` (tests pass their own).
    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env("BAAS_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("baas.toml")).filter(|p| p.exists()));
        let from_file = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
            None => FileConfig::default(),
        };

        let http_addr = env("BAAS_HTTP_ADDR")
            .or(from_file.http_addr)
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let http_addr = http_addr.parse().map_err(|_| ConfigError::Value {
            name: "http_addr",
            message: format!("'{http_addr}' is not an address like 127.0.0.1:3000"),
        })?;
        let data_dir = env("BAAS_DATA_DIR")
            .map(PathBuf::from)
            .or(from_file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = env("DATABASE_URL")
            .or(from_file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("baas.db").display()));
        let session_ttl_minutes = match env("BAAS_SESSION_TTL_MINUTES") {
            Some(value) => value.parse().map_err(|_| ConfigError::Value {
                name: "session_ttl_minutes",
                message: format!("'{value}' is not a whole number of minutes"),
            })?,
            None => from_file.session_ttl_minutes.unwrap_or(720),
        };
        if session_ttl_minutes < 1 {
            return Err(ConfigError::Value {
                name: "session_ttl_minutes",
                message: "must be at least 1".into(),
            });
        }
        let secure_cookies = match env("BAAS_SECURE_COOKIES") {
            Some(value) => matches!(value.as_str(), "1" | "true" | "yes"),
            None => from_file.secure_cookies.unwrap_or(false),
        };
        let site_root = env("BAAS_SITE_ROOT")
            .or_else(|| env("LEPTOS_SITE_ROOT"))
            .map(PathBuf::from)
            .or(from_file.site_root)
            .unwrap_or_else(|| PathBuf::from("target/site"));
        let image_dir = env("BAAS_IMAGE_DIR")
            .map(PathBuf::from)
            .or(from_file.image_dir)
            .unwrap_or_else(|| data_dir.join("images"));
        let public_url = env("BAAS_PUBLIC_URL")
            .or(from_file.public_url)
            .unwrap_or_else(|| format!("http://{http_addr}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Value {
                name: "public_url",
                message: format!("'{public_url}' is not an http:// or https:// URL"),
            });
        }
        let console_log_kib = match env("BAAS_CONSOLE_LOG_KIB") {
            Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError::Value {
                name: "console_log_kib",
                message: format!("not a number of KiB: {v:?}"),
            })?,
            None => from_file.console_log_kib.unwrap_or(4096),
        };
        if !(8..=1024 * 1024).contains(&console_log_kib) {
            return Err(ConfigError::Value {
                name: "console_log_kib",
                message: format!("{console_log_kib} is outside 8..=1048576"),
            });
        }
        let console_idle_minutes = match env("BAAS_CONSOLE_IDLE_MINUTES") {
            Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError::Value {
                name: "console_idle_minutes",
                message: format!("not a number of minutes: {v:?}"),
            })?,
            None => from_file.console_idle_minutes.unwrap_or(10),
        };
        if !(1..=24 * 60).contains(&console_idle_minutes) {
            return Err(ConfigError::Value {
                name: "console_idle_minutes",
                message: format!("{console_idle_minutes} is outside 1..=1440"),
            });
        }
        let bmc_timeout_seconds = match env("BAAS_BMC_TIMEOUT_SECONDS") {
            Some(value) => value.parse().map_err(|_| ConfigError::Value {
                name: "bmc_timeout_seconds",
                message: format!("'{value}' is not a whole number of seconds"),
            })?,
            None => from_file.bmc_timeout_seconds.unwrap_or(5),
        };
        if !(1..=300).contains(&bmc_timeout_seconds) {
            return Err(ConfigError::Value {
                name: "bmc_timeout_seconds",
                message: "must be between 1 and 300".into(),
            });
        }
        let tftp_addr = env("BAAS_TFTP_ADDR")
            .or(from_file.tftp_addr)
            .unwrap_or_else(|| "0.0.0.0:69".into());
        let tftp_addr = match tftp_addr.trim() {
            "off" => None,
            text => Some(text.parse().map_err(|_| ConfigError::Value {
                name: "tftp_addr",
                message: format!("'{text}' is neither an address like 0.0.0.0:69 nor off"),
            })?),
        };
        let tftp_root = env("BAAS_TFTP_ROOT")
            .map(PathBuf::from)
            .or(from_file.tftp_root)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/ipxe"));
        let listen = |name: &'static str, variable: &str, file: Option<String>, default: &str| {
            let text = env(variable).or(file).unwrap_or_else(|| default.into());
            match text.trim() {
                "off" => Ok(None),
                text => text.parse().map(Some).map_err(|_| ConfigError::Value {
                    name,
                    message: format!("'{text}' is neither an address like {default} nor off"),
                }),
            }
        };
        let dhcp_interfaces = env("BAAS_DHCP_INTERFACES")
            .or(from_file.dhcp_interfaces)
            .unwrap_or_default();
        let dhcp_interfaces: Vec<String> = dhcp_interfaces
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = dhcp_interfaces.iter().find(|name| {
            name.len() > 15 || name.contains(['/', ' ']) || *name == "." || *name == ".."
        }) {
            return Err(ConfigError::Value {
                name: "dhcp_interfaces",
                message: format!("'{bad}' is not a network interface name"),
            });
        }
        let dhcp_mode = env("BAAS_DHCP_MODE")
            .or(from_file.dhcp_mode)
            .unwrap_or_else(|| "proxy".into());
        let (dhcp_addr, pxe_addr) = match dhcp_mode.trim() {
            // Nothing answers DHCP until an admin names the lab's interfaces.
            "proxy" | "authoritative" if dhcp_interfaces.is_empty() => (None, None),
            "proxy" | "authoritative" => (
                listen(
                    "dhcp_addr",
                    "BAAS_DHCP_ADDR",
                    from_file.dhcp_addr,
                    "0.0.0.0:67",
                )?,
                listen(
                    "pxe_addr",
                    "BAAS_PXE_ADDR",
                    from_file.pxe_addr,
                    "0.0.0.0:4011",
                )?,
            ),
            "off" => (None, None),
            other => {
                return Err(ConfigError::Value {
                    name: "dhcp_mode",
                    message: format!("'{other}' is not proxy, authoritative or off"),
                })
            }
        };
        let url_host = url_host(&public_url);
        let dhcp4_on = dhcp_addr.is_some() || pxe_addr.is_some();
        let boot_server_ip = match env("BAAS_BOOT_SERVER_IP").or(from_file.boot_server_ip) {
            Some(text) => Some(text.trim().parse().map_err(|_| ConfigError::Value {
                name: "boot_server_ip",
                message: format!("'{text}' is not an IPv4 address"),
            })?),
            None => url_host.parse().ok(),
        };
        if dhcp4_on && boot_server_ip.is_none() {
            return Err(ConfigError::Value {
                name: "boot_server_ip",
                message: format!(
                    "'{url_host}' is not an IPv4 address; set BAAS_BOOT_SERVER_IP or give BAAS_PUBLIC_URL an IPv4 host (or BAAS_DHCP_MODE=off on an IPv6-only network)"
                ),
            });
        }
        let boot_server_ip6: Option<std::net::Ipv6Addr> = match env("BAAS_BOOT_SERVER_IP6")
            .or(from_file.boot_server_ip6)
        {
            Some(text) => Some(
                text.trim()
                    .parse()
                    .ok()
                    .filter(|ip: &std::net::Ipv6Addr| !ip.is_unspecified() && !ip.is_multicast())
                    .ok_or_else(|| ConfigError::Value {
                        name: "boot_server_ip6",
                        message: format!("'{text}' is not an IPv6 unicast address"),
                    })?,
            ),
            None => url_host
                .strip_prefix('[')
                .and_then(|host| host.strip_suffix(']'))
                .and_then(|host| host.parse().ok()),
        };
        // One lease time for both families.
        let dhcp_lease_seconds = match env("BAAS_DHCP_LEASE_SECONDS") {
            Some(value) => Some(value.trim().parse().map_err(|_| ConfigError::Value {
                name: "dhcp_lease_seconds",
                message: format!("'{value}' is not a whole number of seconds"),
            })?),
            None => from_file.dhcp_lease_seconds,
        };
        let explicit_dhcp6 = env("BAAS_DHCP6_MODE").or(from_file.dhcp6_mode);
        let dhcp6_mode = match explicit_dhcp6.as_deref().map(str::trim) {
            Some(mode @ ("proxy" | "authoritative" | "off")) => mode.to_string(),
            Some(other) => {
                return Err(ConfigError::Value {
                    name: "dhcp6_mode",
                    message: format!("'{other}' is not proxy, authoritative or off"),
                })
            }
            None if dhcp4_on && boot_server_ip6.is_some() => "proxy".into(),
            None => "off".into(),
        };
        let dhcp6 = if dhcp6_mode == "off" || dhcp_interfaces.is_empty() {
            None
        } else {
            let server = boot_server_ip6.ok_or_else(|| ConfigError::Value {
                name: "boot_server_ip6",
                message: "DHCPv6 needs baas' IPv6 address: set BAAS_BOOT_SERVER_IP6 or give BAAS_PUBLIC_URL an IPv6 host like http://[fd00::2]:8080".into(),
            })?;
            let addr = listen(
                "dhcp6_addr",
                "BAAS_DHCP6_ADDR",
                from_file.dhcp6_addr,
                "[::]:547",
            )?
            .ok_or_else(|| ConfigError::Value {
                name: "dhcp6_addr",
                message: "is off; turn DHCPv6 off with BAAS_DHCP6_MODE=off".into(),
            })?;
            let pxe = listen(
                "pxe6_addr",
                "BAAS_PXE6_ADDR",
                from_file.pxe6_addr,
                "[::]:4011",
            )?;
            let authoritative = if dhcp6_mode == "authoritative" {
                let (plan, dns) = address_plan(
                    &PLAN_V6,
                    env("BAAS_DHCP6_SUBNET").or(from_file.dhcp6_subnet),
                    env("BAAS_DHCP6_POOL").or(from_file.dhcp6_pool),
                    env("BAAS_DHCP6_DNS").or(from_file.dhcp6_dns),
                    dhcp_lease_seconds.unwrap_or(3600),
                    server,
                )?;
                Some(AuthoritativeDhcp6 { plan, dns })
            } else {
                None
            };
            Some(Dhcp6 {
                explicit: explicit_dhcp6.is_some(),
                addr,
                pxe,
                server,
                http_base: http_base_for(&public_url, &url_host, server),
                authoritative,
            })
        };
        let dhcp_authoritative = if dhcp_mode.trim() == "authoritative" {
            let settings = AuthoritativeSettings {
                subnet: env("BAAS_DHCP_SUBNET").or(from_file.dhcp_subnet),
                pool: env("BAAS_DHCP_POOL").or(from_file.dhcp_pool),
                router: env("BAAS_DHCP_ROUTER").or(from_file.dhcp_router),
                dns: env("BAAS_DHCP_DNS").or(from_file.dhcp_dns),
                lease_seconds: dhcp_lease_seconds,
            };
            // Checked above: DHCPv4 is on, so its address is known.
            let server = boot_server_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            Some(settings.resolve(server)?)
        } else {
            None
        };
        // The management OS `mgmt/build.sh` put under the data directory serves by default;
        // a configured path overrides it, and an empty one turns it off.
        let path = |name: &str| env(name).map(PathBuf::from);
        let management_os = load_management_os(
            &data_dir.join("mgmt"),
            ["mgmt_kernel", "mgmt_initrd", "mgmt_cmdline"],
            (
                path("BAAS_MGMT_KERNEL").or(from_file.mgmt_kernel),
                path("BAAS_MGMT_INITRD").or(from_file.mgmt_initrd),
                env("BAAS_MGMT_CMDLINE").or(from_file.mgmt_cmdline),
            ),
            "console=tty0 console=ttyS0,115200",
        )?;
        let management_os_arm64 = load_management_os(
            &data_dir.join("mgmt-arm64"),
            [
                "mgmt_arm64_kernel",
                "mgmt_arm64_initrd",
                "mgmt_arm64_cmdline",
            ],
            (
                path("BAAS_MGMT_ARM64_KERNEL").or(from_file.mgmt_arm64_kernel),
                path("BAAS_MGMT_ARM64_INITRD").or(from_file.mgmt_arm64_initrd),
                env("BAAS_MGMT_ARM64_CMDLINE").or(from_file.mgmt_arm64_cmdline),
            ),
            "console=tty0 console=ttyAMA0,115200",
        )?;
        // Debian's arm64 GRUB modules: as mgmt/build.sh unpacks them beside the arm64 build, or
        // installed (grub-efi-arm64-bin on an arm64 server).
        let grub_arm64_modules =
            match path("BAAS_GRUB_ARM64_MODULES").or(from_file.grub_arm64_modules) {
                Some(dir) if dir.as_os_str().is_empty() => None,
                Some(dir) if !dir.join("linux.mod").is_file() => {
                    return Err(ConfigError::Value {
                        name: "grub_arm64_modules",
                        message: format!("{} holds no GRUB modules (linux.mod)", dir.display()),
                    })
                }
                Some(dir) => Some(dir),
                None => [
                    data_dir.join("mgmt-arm64/grub/arm64-efi"),
                    PathBuf::from("/usr/lib/grub/arm64-efi"),
                ]
                .into_iter()
                .find(|dir| dir.join("linux.mod").is_file()),
            };
        let defaults = lab::jobs::JobTimeouts::default();
        let timeout = |name: &'static str, file: Option<i64>, default: i64| {
            let variable = format!("BAAS_{}", name.to_ascii_uppercase());
            let seconds = match env(&variable) {
                Some(value) => value.parse().map_err(|_| ConfigError::Value {
                    name,
                    message: format!("'{value}' is not a whole number of seconds"),
                })?,
                None => file.unwrap_or(default),
            };
            if !(5..=86_400).contains(&seconds) {
                return Err(ConfigError::Value {
                    name,
                    message: "must be between 5 and 86400 seconds".into(),
                });
            }
            Ok(seconds)
        };
        let job_timeouts = lab::jobs::JobTimeouts {
            netboot: timeout(
                "job_netboot_timeout_seconds",
                from_file.job_netboot_timeout_seconds,
                defaults.netboot,
            )?,
            enrol: timeout(
                "job_enrol_timeout_seconds",
                from_file.job_enrol_timeout_seconds,
                defaults.enrol,
            )?,
            progress: timeout(
                "job_progress_timeout_seconds",
                from_file.job_progress_timeout_seconds,
                defaults.progress,
            )?,
            reboot: timeout(
                "job_reboot_timeout_seconds",
                from_file.job_reboot_timeout_seconds,
                defaults.reboot,
            )?,
        };
        Ok(Config {
            job_timeouts,
            management_os,
            management_os_arm64,
            grub_arm64_modules,
            dhcp_authoritative,
            dhcp_addr,
            pxe_addr,
            dhcp_interfaces,
            boot_server_ip,
            dhcp6,
            tftp_addr,
            tftp_root,
            public_url: public_url.trim_end_matches('/').to_string(),
            bmc_timeout: std::time::Duration::from_secs(bmc_timeout_seconds),
            console_log_bytes: console_log_kib * 1024,
            console_idle_seconds: console_idle_minutes * 60,
            image_dir,
            http_addr,
            data_dir,
            database_url,
            session_ttl_seconds: session_ttl_minutes * 60,
            secure_cookies,
            site_root,
        })
    }
}

/// The host of a URL as written: `10.0.0.2`, `[fd00::2]`, `baas.lab`.
fn url_host(url: &str) -> String {
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    match authority.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or_default()),
        None => authority.split(':').next().unwrap_or_default().to_string(),
    }
}

/// The public URL as IPv6 clients must see it: unchanged unless its host is an IPv4 address,
/// which they cannot reach; then `[server]` in its place.
fn http_base_for(public_url: &str, host: &str, server: std::net::Ipv6Addr) -> String {
    let public_url = public_url.trim_end_matches('/');
    if host.parse::<Ipv4Addr>().is_err() {
        return public_url.to_string();
    }
    // The host follows the scheme (and any user information): replaced there, not in a path.
    let Some((scheme, rest)) = public_url.split_once("://") else {
        return public_url.to_string();
    };
    let (user, hostport) = match rest.split('/').next().unwrap_or_default().rsplit_once('@') {
        Some((user, _)) => (format!("{user}@"), &rest[user.len() + 1..]),
        None => (String::new(), rest),
    };
    format!(
        "{scheme}://{user}{}",
        hostport.replacen(host, &format!("[{server}]"), 1)
    )
}

/// What one address family's authoritative settings are called, and what they look like.
struct PlanSettings {
    subnet: &'static str,
    pool: &'static str,
    dns: &'static str,
    server: &'static str,
    family: &'static str,
    prefix_lengths: std::ops::RangeInclusive<u8>,
    /// `a subnet like 10.0.0.0/24 (prefix 8 to 30)`
    subnet_example: &'static str,
    /// `10.0.0.100-10.0.0.199`
    pool_example: &'static str,
    missing: &'static str,
}

const PLAN_V4: PlanSettings = PlanSettings {
    subnet: "dhcp_subnet",
    pool: "dhcp_pool",
    dns: "dhcp_dns",
    server: "BAAS_BOOT_SERVER_IP",
    family: "IPv4",
    prefix_lengths: 8..=30,
    subnet_example: "a subnet like 10.0.0.0/24 (prefix 8 to 30)",
    pool_example: "10.0.0.100-10.0.0.199",
    missing: "authoritative DHCP needs the subnet to serve, like 10.0.0.0/24 (BAAS_DHCP_SUBNET)",
};

const PLAN_V6: PlanSettings = PlanSettings {
    subnet: "dhcp6_subnet",
    pool: "dhcp6_pool",
    dns: "dhcp6_dns",
    server: "BAAS_BOOT_SERVER_IP6",
    family: "IPv6",
    prefix_lengths: 48..=120,
    subnet_example: "a prefix like fd00::/64 (length 48 to 120)",
    pool_example: "fd00::1000-fd00::1fff",
    missing: "authoritative DHCPv6 needs the prefix to serve, like fd00::/64 (BAAS_DHCP6_SUBNET)",
};

/// One family's address plan from its settings as written: the subnet (which must hold the
/// boot server's address, reserved), the pool inside it, the lease time; and its DNS servers.
fn address_plan<A: lab::leases::LeaseAddress>(
    names: &PlanSettings,
    subnet: Option<String>,
    pool: Option<String>,
    dns: Option<String>,
    lease_seconds: i64,
    server: A,
) -> Result<(lab::leases::AddressPlan<A>, Vec<A>), ConfigError> {
    let value = |name: &'static str, message: String| ConfigError::Value { name, message };
    let subnet = subnet
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| value(names.subnet, names.missing.into()))?;
    let (network, prefix_len) = subnet
        .trim()
        .split_once('/')
        .and_then(|(network, len)| Some((network.parse::<A>().ok()?, len.parse::<u8>().ok()?)))
        .filter(|(_, len)| names.prefix_lengths.contains(len))
        .ok_or_else(|| {
            value(
                names.subnet,
                format!("'{subnet}' is not {}", names.subnet_example),
            )
        })?;
    let mut plan = lab::leases::AddressPlan {
        network,
        prefix_len,
        pool: None,
        lease_seconds,
        reserved: vec![server],
    };
    if !(60..=7 * 86_400).contains(&plan.lease_seconds) {
        return Err(value(
            "dhcp_lease_seconds",
            "must be between 60 and 604800".into(),
        ));
    }
    if !plan.contains(server) {
        return Err(value(
            names.subnet,
            format!(
                "{subnet} does not contain the boot server address {server} ({})",
                names.server
            ),
        ));
    }
    if let Some(pool) = pool.filter(|p| !p.trim().is_empty()) {
        let (first, last) = pool.split_once('-').ok_or_else(|| {
            value(
                names.pool,
                format!("'{pool}' is not a range like {}", names.pool_example),
            )
        })?;
        let (first, last) = (
            address_in(&plan, &subnet, names.pool, first)?,
            address_in(&plan, &subnet, names.pool, last)?,
        );
        if first.to_bits() > last.to_bits() {
            return Err(value(names.pool, format!("'{pool}' ends before it starts")));
        }
        plan.pool = Some((first, last));
    }
    let dns = dns
        .unwrap_or_default()
        .split(',')
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            a.trim().parse::<A>().map_err(|_| {
                value(
                    names.dns,
                    format!("'{}' is not an {} address", a.trim(), names.family),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((plan, dns))
}

/// An address of the plan's subnet, as setting `name` must give it.
fn address_in<A: lab::leases::LeaseAddress>(
    plan: &lab::leases::AddressPlan<A>,
    subnet: &str,
    name: &'static str,
    text: &str,
) -> Result<A, ConfigError> {
    text.trim()
        .parse::<A>()
        .ok()
        .filter(|a| plan.contains(*a))
        .ok_or_else(|| ConfigError::Value {
            name,
            message: format!("'{}' is not an address in {subnet}", text.trim()),
        })
}

/// The authoritative DHCP settings as written, before checking.
struct AuthoritativeSettings {
    subnet: Option<String>,
    pool: Option<String>,
    router: Option<String>,
    dns: Option<String>,
    lease_seconds: Option<i64>,
}

impl AuthoritativeSettings {
    fn resolve(self, server: Ipv4Addr) -> Result<AuthoritativeDhcp, ConfigError> {
        let (mut plan, dns) = address_plan(
            &PLAN_V4,
            self.subnet.clone(),
            self.pool,
            self.dns,
            self.lease_seconds.unwrap_or(3600),
            server,
        )?;
        let router = match self.router.filter(|r| !r.trim().is_empty()) {
            Some(router) => Some(address_in(
                &plan,
                self.subnet.as_deref().unwrap_or_default().trim(),
                "dhcp_router",
                &router,
            )?),
            None => None,
        };
        plan.reserved.extend(router);
        Ok(AuthoritativeDhcp { plan, router, dns })
    }
}

/// One architecture's management OS: the configured kernel (empty turns it off) or the one
/// built into `built`, its initrd and command line; `names` are their settings' names.
fn load_management_os(
    built: &Path,
    names: [&'static str; 3],
    (kernel, initrd, cmdline): (Option<PathBuf>, Option<PathBuf>, Option<String>),
    default_cmdline: &str,
) -> Result<Option<ManagementOs>, ConfigError> {
    let [kernel_name, initrd_name, cmdline_name] = names;
    let built_kernel = built.join("vmlinuz");
    let kernel_is_default = kernel.is_none();
    let Some(kernel) = kernel
        .or_else(|| built_kernel.is_file().then_some(built_kernel))
        .filter(|p| !p.as_os_str().is_empty())
    else {
        return Ok(None);
    };
    let built_initrd = built.join("initrd.img");
    let initrd = initrd
        .or_else(|| (kernel_is_default && built_initrd.is_file()).then_some(built_initrd))
        .filter(|p| !p.as_os_str().is_empty());
    for (name, path) in [(kernel_name, Some(&kernel)), (initrd_name, initrd.as_ref())] {
        if let Some(path) = path.filter(|p| !p.is_file()) {
            return Err(ConfigError::Value {
                name,
                message: format!("{} is not a readable file", path.display()),
            });
        }
    }
    let cmdline = cmdline.unwrap_or_else(|| default_cmdline.into());
    if cmdline.chars().any(char::is_control) {
        return Err(ConfigError::Value {
            name: cmdline_name,
            message: "must be one line".into(),
        });
    }
    Ok(Some(ManagementOs {
        kernel,
        initrd,
        cmdline,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("baas.toml");
        std::fs::write(
            &file,
            "http_addr = \"127.0.0.1:4000\"\ndata_dir = \"/srv/baas\"\nsession_ttl_minutes = 5\n",
        )
        .unwrap();
        let config = Config::load_with(Some(&file), |name| {
            (name == "BAAS_HTTP_ADDR").then(|| "127.0.0.1:5000".to_string())
        })
        .unwrap();
        assert_eq!(config.http_addr.port(), 5000);
        assert_eq!(config.data_dir, PathBuf::from("/srv/baas"));
        assert_eq!(config.database_url, "sqlite:///srv/baas/baas.db");
        assert_eq!(config.session_ttl_seconds, 300);
    }

    #[test]
    fn the_built_management_os_serves_by_default_and_configuration_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let load = |kernel: Option<&str>| {
            Config::load_with(None, |name| match name {
                "BAAS_DATA_DIR" => Some(data.clone()),
                "BAAS_MGMT_KERNEL" => kernel.map(str::to_string),
                _ => None,
            })
            .unwrap()
            .management_os
        };
        assert_eq!(load(None), None, "nothing built, nothing served");
        std::fs::create_dir(dir.path().join("mgmt")).unwrap();
        std::fs::write(dir.path().join("mgmt/vmlinuz"), b"k").unwrap();
        std::fs::write(dir.path().join("mgmt/initrd.img"), b"i").unwrap();
        let built = load(None).expect("the built management OS");
        assert_eq!(built.kernel, dir.path().join("mgmt/vmlinuz"));
        assert_eq!(built.initrd, Some(dir.path().join("mgmt/initrd.img")));
        assert_eq!(load(Some("")), None, "an empty path turns it off");
        let other = dir.path().join("other");
        std::fs::write(&other, b"k").unwrap();
        let configured = load(Some(&other.display().to_string())).unwrap();
        assert_eq!((configured.kernel, configured.initrd), (other, None));
    }

    #[test]
    fn the_arm64_management_os_is_its_own_build_with_its_own_console() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let load = || {
            Config::load_with(None, |name| match name {
                "BAAS_DATA_DIR" => Some(data.clone()),
                _ => None,
            })
            .unwrap()
        };
        std::fs::create_dir(dir.path().join("mgmt")).unwrap();
        std::fs::write(dir.path().join("mgmt/vmlinuz"), b"k").unwrap();
        assert!(load().management_os.is_some());
        assert_eq!(
            load().management_os_arm64,
            None,
            "the x86-64 build is not it"
        );
        std::fs::create_dir(dir.path().join("mgmt-arm64")).unwrap();
        std::fs::write(dir.path().join("mgmt-arm64/vmlinuz"), b"k").unwrap();
        std::fs::write(dir.path().join("mgmt-arm64/initrd.img"), b"i").unwrap();
        let arm64 = load().management_os_arm64.expect("the built arm64 OS");
        assert_eq!(arm64.kernel, dir.path().join("mgmt-arm64/vmlinuz"));
        assert_eq!(arm64.initrd, Some(dir.path().join("mgmt-arm64/initrd.img")));
        assert!(
            arm64.cmdline.contains("console=ttyAMA0"),
            "{}",
            arm64.cmdline
        );
    }

    #[test]
    fn dhcp_answers_nowhere_until_an_admin_names_the_lab_interfaces() {
        let config = Config::load_with(None, |_| None).unwrap();
        assert_eq!((config.dhcp_addr, config.pxe_addr), (None, None));
        assert!(config.dhcp_interfaces.is_empty());
        let config = Config::load_with(None, |name| {
            (name == "BAAS_DHCP_INTERFACES").then(|| " lab0, lab1 ,".to_string())
        })
        .unwrap();
        assert_eq!(config.dhcp_interfaces, ["lab0", "lab1"]);
        assert_eq!(config.dhcp_addr, Some("0.0.0.0:67".parse().unwrap()));
        let err = Config::load_with(None, |name| {
            (name == "BAAS_DHCP_INTERFACES").then(|| "../etc".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("dhcp_interfaces:"), "{err}");
    }

    #[test]
    fn each_boot_service_can_be_turned_off() {
        let config = Config::load_with(None, |name| {
            (name == "BAAS_TFTP_ADDR").then(|| "off".to_string())
        })
        .unwrap();
        assert_eq!(config.tftp_addr, None);
        let config = Config::load_with(None, |_| None).unwrap();
        assert_eq!(config.tftp_addr, Some("0.0.0.0:69".parse().unwrap()));
        assert_eq!(config.tftp_root, PathBuf::from("/usr/lib/ipxe"));
        let config = Config::load_with(None, |name| {
            (name == "BAAS_DHCP_INTERFACES").then(|| "lab0".to_string())
        })
        .unwrap();
        assert_eq!(config.dhcp_addr, Some("0.0.0.0:67".parse().unwrap()));
        assert_eq!(config.pxe_addr, Some("0.0.0.0:4011".parse().unwrap()));
        assert_eq!(config.boot_server_ip, Some(std::net::Ipv4Addr::LOCALHOST));
        let config = Config::load_with(None, |name| match name {
            "BAAS_DHCP_MODE" => Some("off".into()),
            "BAAS_PUBLIC_URL" => Some("http://10.99.0.2:3000".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((config.dhcp_addr, config.pxe_addr), (None, None));
        assert_eq!(
            config.boot_server_ip,
            Some(std::net::Ipv4Addr::new(10, 99, 0, 2))
        );
        let err = Config::load_with(None, |name| {
            (name == "BAAS_DHCP_MODE").then(|| "authoritative".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("dhcp_subnet:"), "{err}");
        let err = Config::load_with(None, |name| {
            (name == "BAAS_TFTP_ADDR").then(|| "everywhere".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("tftp_addr:"), "{err}");
    }

    #[test]
    fn authoritative_dhcp_reads_subnet_pool_router_and_dns_and_names_bad_ones() {
        let authoritative = |overrides: &'static [(&'static str, &'static str)]| {
            Config::load_with(None, move |name| {
                let base = [
                    ("BAAS_DHCP_MODE", "authoritative"),
                    ("BAAS_DHCP_INTERFACES", "lab0"),
                    ("BAAS_PUBLIC_URL", "http://10.99.0.2:3000"),
                    ("BAAS_DHCP_SUBNET", "10.99.0.0/24"),
                ];
                overrides
                    .iter()
                    .chain(base.iter())
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            })
        };
        let config = authoritative(&[
            ("BAAS_DHCP_POOL", "10.99.0.100-10.99.0.150"),
            ("BAAS_DHCP_ROUTER", "10.99.0.1"),
            ("BAAS_DHCP_DNS", "10.99.0.1, 9.9.9.9"),
            ("BAAS_DHCP_LEASE_SECONDS", "600"),
        ])
        .unwrap();
        let dhcp = config.dhcp_authoritative.unwrap();
        assert_eq!(dhcp.plan.prefix_len, 24);
        assert_eq!(
            dhcp.plan.pool,
            Some((
                "10.99.0.100".parse().unwrap(),
                "10.99.0.150".parse().unwrap()
            ))
        );
        assert_eq!(dhcp.plan.lease_seconds, 600);
        assert_eq!(
            dhcp.plan.reserved,
            [
                "10.99.0.2".parse::<Ipv4Addr>().unwrap(),
                "10.99.0.1".parse().unwrap()
            ]
        );
        assert_eq!(dhcp.dns.len(), 2);
        assert_eq!(config.dhcp_addr, Some("0.0.0.0:67".parse().unwrap()));
        let only_fixed = authoritative(&[]).unwrap().dhcp_authoritative.unwrap();
        assert_eq!(only_fixed.plan.pool, None);
        for (bad, setting) in [
            (&[("BAAS_DHCP_SUBNET", "10.99.0.0")][..], "dhcp_subnet:"),
            (&[("BAAS_DHCP_SUBNET", "10.98.0.0/24")][..], "dhcp_subnet:"),
            (
                &[("BAAS_DHCP_POOL", "10.99.0.150-10.99.0.100")][..],
                "dhcp_pool:",
            ),
            (
                &[("BAAS_DHCP_POOL", "10.99.1.1-10.99.1.9")][..],
                "dhcp_pool:",
            ),
            (&[("BAAS_DHCP_ROUTER", "router")][..], "dhcp_router:"),
            (&[("BAAS_DHCP_DNS", "1.1.1.1,x")][..], "dhcp_dns:"),
            (
                &[("BAAS_DHCP_LEASE_SECONDS", "5")][..],
                "dhcp_lease_seconds:",
            ),
        ] {
            let err = authoritative(bad).unwrap_err();
            assert!(err.to_string().starts_with(setting), "{bad:?}: {err}");
        }
    }

    #[test]
    fn dhcpv6_follows_the_public_url_and_reads_its_prefix_pool_and_dns() {
        let load = |pairs: &'static [(&'static str, &'static str)]| {
            Config::load_with(None, move |name| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            })
        };
        // An IPv6-only lab: no DHCPv4 (and no IPv4 address needed), DHCPv6 authoritative.
        let config = load(&[
            ("BAAS_DHCP_MODE", "off"),
            ("BAAS_DHCP_INTERFACES", "lab0"),
            ("BAAS_PUBLIC_URL", "http://[fd99::2]:3000"),
            ("BAAS_DHCP6_MODE", "authoritative"),
            ("BAAS_DHCP6_SUBNET", "fd99::/64"),
            ("BAAS_DHCP6_POOL", "fd99::1000-fd99::10ff"),
            ("BAAS_DHCP6_DNS", "fd99::53"),
        ])
        .unwrap();
        assert_eq!(config.boot_server_ip, None);
        let dhcp6 = config.dhcp6.unwrap();
        assert_eq!(
            dhcp6.server,
            "fd99::2".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(dhcp6.http_base, "http://[fd99::2]:3000");
        assert_eq!(dhcp6.addr, "[::]:547".parse().unwrap());
        assert_eq!(dhcp6.pxe, Some("[::]:4011".parse().unwrap()));
        let authoritative = dhcp6.authoritative.unwrap();
        assert_eq!(authoritative.plan.prefix_len, 64);
        assert_eq!(
            authoritative.plan.reserved,
            ["fd99::2".parse::<std::net::Ipv6Addr>().unwrap()]
        );
        assert_eq!(authoritative.dns.len(), 1);
        // Dual stack: ProxyDHCP on IPv4 brings DHCPv6 boot answers once baas has an IPv6
        // address, handing IPv6 clients the public URL with that address as its host.
        let config = load(&[
            ("BAAS_DHCP_INTERFACES", "lab0"),
            ("BAAS_PUBLIC_URL", "http://10.99.0.2:3000/"),
            ("BAAS_BOOT_SERVER_IP6", "fd99::2"),
        ])
        .unwrap();
        let dhcp6 = config.dhcp6.unwrap();
        assert_eq!(dhcp6.http_base, "http://[fd99::2]:3000");
        assert!(dhcp6.authoritative.is_none());
        // Without an IPv6 address, DHCPv6 stays off unless asked for, and then says why.
        let v4_only = load(&[
            ("BAAS_DHCP_INTERFACES", "lab0"),
            ("BAAS_PUBLIC_URL", "http://10.99.0.2:3000"),
        ])
        .unwrap();
        assert_eq!(v4_only.dhcp6, None);
        for (bad, setting) in [
            (
                &[
                    ("BAAS_DHCP6_MODE", "proxy"),
                    ("BAAS_PUBLIC_URL", "http://10.99.0.2:3000"),
                ][..],
                "boot_server_ip6:",
            ),
            (&[("BAAS_DHCP6_MODE", "sometimes")][..], "dhcp6_mode:"),
            (
                &[("BAAS_BOOT_SERVER_IP6", "ff02::1")][..],
                "boot_server_ip6:",
            ),
            (&[("BAAS_DHCP6_MODE", "authoritative")][..], "dhcp6_subnet:"),
            (
                &[
                    ("BAAS_DHCP6_MODE", "authoritative"),
                    ("BAAS_DHCP6_SUBNET", "fd42::/64"),
                ][..],
                "dhcp6_subnet:",
            ),
            (
                &[
                    ("BAAS_DHCP6_MODE", "authoritative"),
                    ("BAAS_DHCP6_SUBNET", "fd99::/64"),
                    ("BAAS_DHCP6_POOL", "fd99::ff-fd99::1"),
                ][..],
                "dhcp6_pool:",
            ),
            (
                &[
                    ("BAAS_DHCP6_MODE", "authoritative"),
                    ("BAAS_DHCP6_SUBNET", "fd99::/64"),
                    ("BAAS_DHCP6_DNS", "10.0.0.1"),
                ][..],
                "dhcp6_dns:",
            ),
            // DHCPv4 needs an IPv4 address to name itself by.
            (
                &[("BAAS_DHCP_MODE", "proxy"), ("BAAS_DHCP6_MODE", "off")][..],
                "boot_server_ip:",
            ),
        ] {
            let err = Config::load_with(None, |name| {
                bad.iter()
                    .chain(
                        [
                            ("BAAS_DHCP_INTERFACES", "lab0"),
                            ("BAAS_DHCP_MODE", "off"),
                            ("BAAS_PUBLIC_URL", "http://[fd99::2]:3000"),
                        ]
                        .iter(),
                    )
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            })
            .unwrap_err();
            assert!(err.to_string().starts_with(setting), "{bad:?}: {err}");
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Config::load_with(None, |name| {
            (name == "BAAS_HTTP_ADDR").then(|| "nowhere".into())
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("http_addr:"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("baas.toml");
        std::fs::write(&file, "htp_addr = \"x\"\n").unwrap();
        let err = Config::load_with(Some(&file), |_| None).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
