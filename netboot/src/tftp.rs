//! Read-only TFTP rooted at one directory (async-tftp: RFC 1350, option negotiation with
//! blksize, tsize, timeout and windowsize — RFC 7440, which EDK2 asks for). Write requests are
//! refused; client paths cannot leave the root (`..`, absolute and prefixed paths are refused
//! before any file is touched). Symbolic links placed in the root by the admin are followed:
//! Debian's `/usr/lib/ipxe/ipxe.efi` is one. Files the server made itself
//! ([`NetbootFiles`]) are served by their names ahead of the root's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_tftp::packet;
use async_tftp::server::handlers::{DirHandler, DirHandlerMode};
use async_tftp::server::{Handler, TftpServerBuilder};

use crate::files::NetbootFiles;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct TftpConfig {
    pub addr: SocketAddr,
    /// The root directory, and the files the server made itself.
    pub files: NetbootFiles,
    /// Largest block size granted to a client that asks for one (RFC 2348).
    pub max_block_size: u16,
    /// Largest window granted to a client that asks for one (RFC 7440).
    pub max_window_size: u16,
}

impl TftpConfig {
    pub fn new(addr: SocketAddr, root: impl Into<PathBuf>) -> Self {
        TftpConfig {
            addr,
            files: NetbootFiles::new(root),
            max_block_size: 65464,
            max_window_size: 64,
        }
    }
}

/// One read or write request as the server answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferReport {
    pub client: SocketAddr,
    /// The path as the client sent it.
    pub path: String,
    /// The file's size when it is being sent; `None` when refused.
    pub size: Option<u64>,
    /// Why the request was refused, if it was.
    pub refused: Option<String>,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct TftpCounters {
    pub served: AtomicU64,
    pub refused: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum TftpError {
    #[error("TFTP root {path}: {reason}")]
    Root { path: PathBuf, reason: String },
    #[error("TFTP cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

type Reporter = Arc<dyn Fn(TransferReport) + Send + Sync>;

/// A running TFTP server; dropping the handle does not stop it (it runs until the process ends
/// or [`TftpServer::abort`]).
pub struct TftpServer {
    pub local_addr: SocketAddr,
    pub counters: Arc<TftpCounters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TftpServer {
    fn drop(&mut self) {
        self.abort();
    }
}

impl TftpServer {
    /// Binds and starts serving; `report` hears of every request.
    pub async fn start(
        config: TftpConfig,
        report: impl Fn(TransferReport) + Send + Sync + 'static,
    ) -> Result<TftpServer, TftpError> {
        let inner = DirHandler::new(&config.files.root, DirHandlerMode::ReadOnly).map_err(|e| {
            TftpError::Root {
                path: config.files.root.clone(),
                reason: e.to_string(),
            }
        })?;
        let counters = Arc::new(TftpCounters::default());
        let handler = ReportingHandler {
            inner,
            made: config.files.clone(),
            report: Arc::new(report),
            counters: counters.clone(),
        };
        let socket = std::net::UdpSocket::bind(config.addr).map_err(|e| TftpError::Bind {
            addr: config.addr,
            reason: e.to_string(),
        })?;
        let local_addr = socket.local_addr().map_err(|e| TftpError::Bind {
            addr: config.addr,
            reason: e.to_string(),
        })?;
        let bind_error = |e: async_tftp::Error| TftpError::Bind {
            addr: config.addr,
            reason: e.to_string(),
        };
        let server = TftpServerBuilder::with_handler(handler)
            .std_socket(socket)
            .map_err(bind_error)?
            .block_size_limit(config.max_block_size)
            .window_size_limit(config.max_window_size)
            .build()
            .await
            .map_err(bind_error)?;
        // async-tftp's sockets belong to async-io's reactor. Run from a tokio task, every
        // datagram is a wake-up handed from the reactor's thread to a tokio worker; on its own
        // thread under `async_io::block_on`, the serving thread polls the reactor itself.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("tftp".into())
            .spawn(move || {
                let serve = async {
                    if let Err(e) = server.serve().await {
                        tracing::error!(error = %e, "TFTP server stopped");
                    }
                };
                let stop = async {
                    let _ = stopped.await;
                };
                async_io::block_on(futures_lite::future::or(serve, stop));
            })
            .map_err(|e| TftpError::Bind {
                addr: config.addr,
                reason: format!("starting the TFTP thread: {e}"),
            })?;
        tracing::info!(%local_addr, root = %config.files.root.display(), "TFTP serving");
        Ok(TftpServer {
            local_addr,
            counters,
            stop: Some(stop),
        })
    }

    pub fn abort(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The bytes of one transfer, read from the file in place. async-tftp (as patched in
/// `vendor/async-tftp`) polls a transfer's reader from that transfer's own blocking thread, so
/// a read here is a plain `read(2)` — from the page cache for boot files — with no hand-off to
/// another thread per block, and no copy of the file held in memory.
pub struct TransferReader(std::fs::File);

impl futures_lite::AsyncRead for TransferReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(std::io::Read::read(&mut self.get_mut().0, buf))
    }
}

/// The directory handler, refusing writes and reporting every request.
struct ReportingHandler {
    inner: DirHandler,
    made: NetbootFiles,
    report: Reporter,
    counters: Arc<TftpCounters>,
}

impl ReportingHandler {
    fn tell(
        &self,
        client: &SocketAddr,
        path: &Path,
        size: Option<u64>,
        refused: Option<&packet::Error>,
    ) {
        let counter = if refused.is_some() {
            &self.counters.refused
        } else {
            &self.counters.served
        };
        counter.fetch_add(1, Ordering::Relaxed);
        (self.report)(TransferReport {
            client: *client,
            path: path.display().to_string(),
            size,
            refused: refused.map(describe),
        });
    }
}

impl Handler for ReportingHandler {
    type Reader = TransferReader;
    type Writer = <DirHandler as Handler>::Writer;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        let made = path.to_str().and_then(|name| self.made.made(name));
        let opened = match made {
            Some(file) => open_made(file),
            // The directory handler checks the path and opens the file.
            None => match self.inner.read_req_open(client, path).await {
                Ok((file, size)) => Ok((TransferReader(file.into_inner().await), size)),
                Err(error) => Err(error),
            },
        };
        match &opened {
            Ok((_, size)) => self.tell(client, path, *size, None),
            Err(error) => self.tell(client, path, None, Some(error)),
        }
        opened
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        let refusal = packet::Error::IllegalOperation;
        self.tell(client, path, None, Some(&refusal));
        Err(refusal)
    }
}

/// A file the server made, opened as the directory handler opens the root's.
fn open_made(path: &Path) -> Result<(TransferReader, Option<u64>), packet::Error> {
    let file = std::fs::File::open(path).map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "a file baas made is unreadable");
        packet::Error::FileNotFound
    })?;
    let size = file.metadata().map(|meta| meta.len()).ok();
    Ok((TransferReader(file), size))
}

fn describe(error: &packet::Error) -> String {
    match error {
        packet::Error::FileNotFound => "file not found".into(),
        packet::Error::PermissionDenied => "outside the TFTP root".into(),
        packet::Error::IllegalOperation => "writes are refused".into(),
        other => format!("{other:?}"),
    }
}
