//! What every HTTP handler shares: the lab, the conductor and the boot plane's settings.

use leptos::prelude::LeptosOptions;

/// Shared state of the HTTP handlers.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub lab: lab::Lab,
    /// What drives BMCs and acts on machines for the pages and the API.
    pub conductor: conductor::Conductor,
    /// What boot jobs boot; `None` until configured.
    pub management_os: Option<std::sync::Arc<crate::config::ManagementOs>>,
    /// The arm64 build, for arm64 machines.
    #[from_ref(skip)]
    pub management_os_arm64: Option<std::sync::Arc<crate::config::ManagementOs>>,
    /// The URL machines reach baas at, for the management OS's command line.
    pub public_url: String,
    /// Where DHCP saw each booting MAC: only that address gets its enrolment token.
    pub boot_clients: crate::boot_clients::BootClients,
    pub agent_nonces: crate::rest::NonceBook,
    /// The network-boot programs TFTP serves (the root's iPXE binaries, baas' own GRUB image),
    /// also served over HTTP to UEFI HTTP boot.
    pub netboot_files: std::sync::Arc<netboot::NetbootFiles>,
}
