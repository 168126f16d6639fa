//! The boot plane's protocols, apart from policy: a read-only TFTP server for the network boot
//! programs (iPXE, and GRUB for arm64), the ProxyDHCP and authoritative DHCP answers that point
//! firmware at them, and the scripts those programs run (iPXE's, GRUB's). Callers learn of every
//! TFTP request through a [`TransferReport`] callback and decide themselves what to record.

pub mod dhcp;
pub mod files;
pub mod grub;
pub mod ipxe;
pub mod tftp;

pub use files::NetbootFiles;
pub use tftp::{TftpConfig, TftpError, TftpServer, TransferReport};
