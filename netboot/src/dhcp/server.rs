//! The ProxyDHCP listeners: UDP 67 (beside the site's DHCP server, so the socket shares the
//! port) and 4011, answering with [`super::proxy::answer`]. Malformed and uninteresting
//! datagrams are dropped and counted; one bad packet never stops the loop.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use super::proxy::{self, Destination, Ignored, ProxyConfig, ServerPort};

/// Where to listen.
#[derive(Debug, Clone)]
pub struct ProxyListen {
    /// UDP 67; `None` turns it off.
    pub dhcp: Option<SocketAddr>,
    /// UDP 4011; `None` turns it off.
    pub pxe: Option<SocketAddr>,
    /// Only this network interface (SO_BINDTODEVICE), so replies leave where requests came in.
    pub interface: Option<String>,
}

/// One answer sent, for the boot events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpReport {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// `offer` or `ack`.
    pub kind: &'static str,
    /// The boot file or script URL handed out.
    pub boot: String,
    pub client: SocketAddr,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct DhcpCounters {
    pub received: AtomicU64,
    pub answered: AtomicU64,
    pub malformed: AtomicU64,
    pub ignored: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
#[error("ProxyDHCP cannot listen on {addr}: {reason}")]
pub struct DhcpError {
    pub addr: SocketAddr,
    pub reason: String,
}

/// The running listeners.
pub struct ProxyServer {
    pub counters: Arc<DhcpCounters>,
    pub local_addrs: Vec<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

type Reporter = Arc<dyn Fn(DhcpReport) + Send + Sync>;

impl ProxyServer {
    pub async fn start(
        listen: ProxyListen,
        config: ProxyConfig,
        report: impl Fn(DhcpReport) + Send + Sync + 'static,
    ) -> Result<ProxyServer, DhcpError> {
        let counters = Arc::new(DhcpCounters::default());
        let report: Reporter = Arc::new(report);
        let config = Arc::new(config);
        let mut tasks = Vec::new();
        let mut local_addrs = Vec::new();
        // A broadcast reply must leave through the interface its request came in on, and a
        // socket bound to 0.0.0.0 cannot say which that was: so one socket per interface.
        let interfaces: Vec<Option<String>> = match &listen.interface {
            Some(name) => vec![Some(name.clone())],
            None => {
                let found = network_interfaces();
                if found.is_empty() {
                    vec![None]
                } else {
                    found.into_iter().map(Some).collect()
                }
            }
        };
        for (addr, port) in [
            (listen.dhcp, ServerPort::Dhcp),
            (listen.pxe, ServerPort::Pxe),
        ] {
            let Some(addr) = addr else { continue };
            let per_interface = addr.ip().is_unspecified() || listen.interface.is_some();
            let devices = if per_interface {
                interfaces.clone()
            } else {
                vec![None]
            };
            for device in devices {
                let socket = bind(addr, device.as_deref())?;
                local_addrs.push(socket.local_addr().map_err(|e| DhcpError {
                    addr,
                    reason: e.to_string(),
                })?);
                tasks.push(tokio::spawn(serve(
                    socket,
                    port,
                    config.clone(),
                    counters.clone(),
                    report.clone(),
                )));
            }
        }
        Ok(ProxyServer {
            counters,
            local_addrs,
            tasks,
        })
    }
}

/// The host's network interfaces other than loopback (`/sys/class/net`).
fn network_interfaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lo")
        .collect();
    names.sort();
    names
}

fn bind(addr: SocketAddr, interface: Option<&str>) -> Result<tokio::net::UdpSocket, DhcpError> {
    let error = |e: std::io::Error| DhcpError {
        addr,
        reason: e.to_string(),
    };
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(error)?;
    // The site's DHCP server may hold port 67 too; broadcasts reach both sockets.
    socket.set_reuse_address(true).map_err(error)?;
    socket.set_broadcast(true).map_err(error)?;
    if let Some(interface) = interface {
        socket
            .bind_device(Some(interface.as_bytes()))
            .map_err(error)?;
    }
    socket.set_nonblocking(true).map_err(error)?;
    socket.bind(&addr.into()).map_err(error)?;
    tokio::net::UdpSocket::from_std(socket.into()).map_err(error)
}

async fn serve(
    socket: tokio::net::UdpSocket,
    port: ServerPort,
    config: Arc<ProxyConfig>,
    counters: Arc<DhcpCounters>,
    report: Reporter,
) {
    let mut buffer = vec![0u8; 1500];
    loop {
        let (len, source) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(e) => {
                tracing::warn!(error = %e, "ProxyDHCP receive failed");
                continue;
            }
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        let SocketAddr::V4(source) = source else {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let reply = proxy::decode(&buffer[..len])
            .and_then(|request| proxy::answer(&request, port, source, &config));
        let reply = match reply {
            Ok(reply) => reply,
            Err(Ignored::Malformed(reason)) => {
                counters.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%source, %reason, "ProxyDHCP dropped a malformed datagram");
                continue;
            }
            Err(reason) => {
                counters.ignored.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(%source, %reason, "ProxyDHCP ignored a datagram");
                continue;
            }
        };
        let destination = match reply.to {
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
            Destination::Relay(relay) => SocketAddrV4::new(relay, 67),
            Destination::Unicast(client) => client,
        };
        match socket.send_to(&proxy::encode(&reply), destination).await {
            Ok(_) => {
                counters.answered.fetch_add(1, Ordering::Relaxed);
                let kind = if port == ServerPort::Dhcp {
                    "offer"
                } else {
                    "ack"
                };
                report(DhcpReport {
                    mac: reply.mac,
                    kind,
                    boot: reply.boot,
                    client: SocketAddr::V4(source),
                });
            }
            Err(e) => tracing::warn!(%destination, error = %e, "ProxyDHCP send failed"),
        }
    }
}
