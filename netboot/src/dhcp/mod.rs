//! DHCP for network boot: the ProxyDHCP answers PXE clients get beside the site's DHCP server
//! (`proxy`), the authoritative server's answers for a lab subnet without one
//! (`authoritative`), both pure packets-in, packets-out over what a message means for booting
//! (`message`); DHCPv6's answers in both modes (`v6`); and the UDP listeners (`server`).

pub mod authoritative;
mod limiter;
pub mod message;
pub mod proxy;
pub mod server;
pub mod v6;

pub use authoritative::{LeaseBook, LeaseError, LeaseFuture, NetworkConfig};
pub use message::{
    decode, BootFiles, ChooseBootFile, Destination, Firmware, Ignored, ProxyConfig, Reply,
    ServerPort,
};
pub use proxy::answer;
pub use server::{
    Dhcp6Listen, DhcpCounters, DhcpError, DhcpListen, DhcpMode, DhcpReport, DhcpServer,
};
pub use v6::{BootConfig6, Mode6, NetworkConfig6};
