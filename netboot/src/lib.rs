//! The boot plane's protocols, apart from policy: today a read-only TFTP server for the network
//! boot programs (iPXE). Callers learn of every request through a [`TransferReport`] callback
//! and decide themselves what to record.

pub mod tftp;

pub use tftp::{TftpConfig, TftpError, TftpServer, TransferReport};
