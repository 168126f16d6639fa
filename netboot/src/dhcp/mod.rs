//! DHCP for network boot: the ProxyDHCP answers PXE clients get beside the site's DHCP server
//! (`proxy`), the authoritative server's answers for a lab subnet without one
//! (`authoritative`), both pure packets-in, packets-out over what a message means for booting
//! (`message`), and the UDP listeners (`server`).

pub mod authoritative;
mod limiter;
pub mod message;
pub mod proxy;
pub mod server;

pub use authoritative::{LeaseBook, LeaseError, LeaseFuture, NetworkConfig};
pub use message::{
    decode, BootFiles, ChooseBootFile, Destination, Firmware, Ignored, ProxyConfig, Reply,
    ServerPort,
};
pub use proxy::answer;
pub use server::{DhcpCounters, DhcpError, DhcpListen, DhcpMode, DhcpReport, DhcpServer};
