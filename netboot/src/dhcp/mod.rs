//! DHCP for network boot: the ProxyDHCP answers PXE clients give rise to. Packets in, packets
//! out — sockets and policy live elsewhere.

pub mod proxy;

pub use proxy::{answer, decode, BootFiles, Destination, Ignored, ProxyConfig, Reply, ServerPort};
