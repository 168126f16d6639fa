//! The boot plane's protocols, apart from policy: a read-only TFTP server for the network boot
//! programs (iPXE), the ProxyDHCP answers that point PXE clients at them, and the iPXE scripts. Callers learn of every TFTP request through a
//! [`TransferReport`] callback and decide themselves what to record.

pub mod dhcp;
pub mod ipxe;
pub mod tftp;

pub use tftp::{TftpConfig, TftpError, TftpServer, TransferReport};
