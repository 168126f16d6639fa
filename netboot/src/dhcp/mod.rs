//! DHCP for network boot: the ProxyDHCP answers PXE clients get (`proxy`, packets in, packets
//! out) and the UDP listeners that send them (`server`).

pub mod proxy;
pub mod server;

pub use proxy::{answer, decode, BootFiles, Destination, Ignored, ProxyConfig, Reply, ServerPort};
pub use server::{DhcpCounters, DhcpError, DhcpReport, ProxyListen, ProxyServer};
