//! The DHCP listeners: UDP 67 — as ProxyDHCP beside the site's DHCP server (so the socket
//! shares the port), or as the subnet's authoritative server —, the PXE boot server port
//! 4011, and DHCPv6's UDP 547 (joined to All_DHCP_Relay_Agents_and_Servers, ff02::1:2).
//! Malformed, uninteresting and over-rate datagrams are dropped and counted; one bad packet
//! never stops the loop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use super::authoritative::{self, LeaseBook, NetworkConfig};
use super::limiter::ClientLimiter;
use super::message::{self, Destination, Ignored, Outcome, ProxyConfig, ServerPort};
use super::proxy;
use super::v6::{self, Mode6};

/// Where to listen.
#[derive(Debug, Clone)]
pub struct DhcpListen {
    /// UDP 67; `None` turns it off.
    pub dhcp: Option<SocketAddr>,
    /// UDP 4011; `None` turns it off.
    pub pxe: Option<SocketAddr>,
    /// The lab networks answered on, one socket each (SO_BINDTODEVICE), so replies leave where
    /// requests came in. Never every interface by default: answering PXE on a network nobody
    /// named would hijack its machines' boots.
    pub interfaces: Vec<String>,
}

/// What UDP 67 does.
#[derive(Clone)]
pub enum DhcpMode {
    /// Boot information only, beside the site's DHCP server.
    Proxy(ProxyConfig),
    /// Addresses from `leases` and boot information, for a subnet without a DHCP server.
    Authoritative(NetworkConfig, Arc<dyn LeaseBook>),
}

impl DhcpMode {
    fn boot(&self) -> &ProxyConfig {
        match self {
            DhcpMode::Proxy(config) => config,
            DhcpMode::Authoritative(network, _) => &network.boot,
        }
    }
}

/// One request handled, for the boot events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpReport {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// `offer`, `ack`, `nak`, or what was noted (`released 10.0.0.5`, …).
    pub kind: String,
    /// The boot file or script URL handed out (empty when none).
    pub boot: String,
    /// The client's address: leased here (authoritative mode), or asked of the site's server
    /// (a PXE client's REQUEST that ProxyDHCP noted).
    pub leased: Option<IpAddr>,
    pub client: SocketAddr,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct DhcpCounters {
    pub received: AtomicU64,
    pub answered: AtomicU64,
    pub malformed: AtomicU64,
    pub ignored: AtomicU64,
    /// Dropped because their client sent more than its share.
    pub rate_limited: AtomicU64,
    /// Let pass while another server answers (see [`DhcpServer::answering`]).
    pub standby: AtomicU64,
}

impl DhcpCounters {
    /// Counts a datagram that gets no answer, and says why in the log: malformed ones at
    /// debug, those the lease store could not answer as a warning, the rest at trace.
    fn count_unanswered(&self, source: &dyn std::fmt::Display, reason: &Ignored) {
        match reason {
            Ignored::Malformed(_) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%source, %reason, "DHCP dropped a malformed datagram");
            }
            Ignored::Unavailable(_) => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%source, %reason, "DHCP could not answer");
            }
            _ => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(%source, %reason, "DHCP ignored a datagram");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("DHCP cannot listen on {addr}: {reason}")]
pub struct DhcpError {
    pub addr: SocketAddr,
    pub reason: String,
}

/// The running listeners.
pub struct DhcpServer {
    pub counters: Arc<DhcpCounters>,
    /// Cleared, the server lets every datagram pass unanswered (counted as `standby`): another
    /// server answers the network meanwhile.
    answering: Arc<AtomicBool>,
    pub local_addrs: Vec<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DhcpServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

type Reporter = Arc<dyn Fn(DhcpReport) + Send + Sync>;

/// What every listener task shares (`M`: DHCPv4's or DHCPv6's mode).
struct Shared<M> {
    mode: M,
    counters: Arc<DhcpCounters>,
    answering: Arc<AtomicBool>,
    limiter: ClientLimiter,
    report: Reporter,
}

impl DhcpServer {
    pub async fn start(
        listen: DhcpListen,
        mode: DhcpMode,
        report: impl Fn(DhcpReport) + Send + Sync + 'static,
    ) -> Result<DhcpServer, DhcpError> {
        let ports = [
            (listen.dhcp, ServerPort::Dhcp),
            (listen.pxe, ServerPort::Pxe),
        ];
        let fallback = SocketAddr::from(([0, 0, 0, 0], 67));
        launch(
            mode,
            report,
            ports,
            &listen.interfaces,
            fallback,
            |addr, device, _| bind(addr, device),
            serve,
        )
    }
}

/// Binds each port on each named interface and starts its listener. A broadcast (or
/// link-local) reply must leave through the interface its request came in on, and a socket
/// bound to every interface cannot say which that was: so one socket per interface.
fn launch<M, F>(
    mode: M,
    report: impl Fn(DhcpReport) + Send + Sync + 'static,
    ports: [(Option<SocketAddr>, ServerPort); 2],
    interfaces: &[String],
    named_in_errors: SocketAddr,
    bind: impl Fn(SocketAddr, &str, ServerPort) -> Result<tokio::net::UdpSocket, DhcpError>,
    serve: impl Fn(tokio::net::UdpSocket, ServerPort, Arc<Shared<M>>) -> F,
) -> Result<DhcpServer, DhcpError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if interfaces.is_empty() {
        return Err(DhcpError {
            addr: ports
                .iter()
                .find_map(|(addr, _)| *addr)
                .unwrap_or(named_in_errors),
            reason: "no network interface named to answer on".into(),
        });
    }
    let counters = Arc::new(DhcpCounters::default());
    let answering = Arc::new(AtomicBool::new(true));
    let shared = Arc::new(Shared {
        mode,
        counters: counters.clone(),
        answering: answering.clone(),
        limiter: ClientLimiter::default(),
        report: Arc::new(report),
    });
    let mut tasks = Vec::new();
    let mut local_addrs = Vec::new();
    for (addr, port) in ports {
        let Some(addr) = addr else { continue };
        for device in interfaces {
            let socket = bind(addr, device, port)?;
            local_addrs.push(socket.local_addr().map_err(|e| DhcpError {
                addr,
                reason: e.to_string(),
            })?);
            tasks.push(tokio::spawn(serve(socket, port, shared.clone())));
        }
    }
    Ok(DhcpServer {
        counters,
        answering,
        local_addrs,
        tasks,
    })
}

/// Where DHCPv6 listens.
#[derive(Debug, Clone)]
pub struct Dhcp6Listen {
    /// UDP 547, normally `[::]:547`.
    pub addr: SocketAddr,
    /// The PXE boot server's UDP 4011 (`[::]:4011`); `None` turns it off.
    pub pxe: Option<SocketAddr>,
    /// The lab networks answered on, one socket each, as for DHCPv4.
    pub interfaces: Vec<String>,
}

/// DHCPv6 servers and relay agents (RFC 8415): clients send to it from their link-local address.
const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

impl DhcpServer {
    /// DHCPv6 on `listen.addr` of each named interface, answering as `mode` says; its own
    /// counters and standby switch.
    pub async fn start_v6(
        listen: Dhcp6Listen,
        mode: Mode6,
        report: impl Fn(DhcpReport) + Send + Sync + 'static,
    ) -> Result<DhcpServer, DhcpError> {
        let ports = [
            (Some(listen.addr), ServerPort::Dhcp),
            (listen.pxe, ServerPort::Pxe),
        ];
        launch(
            mode,
            report,
            ports,
            &listen.interfaces,
            listen.addr,
            |addr, device, port| bind6(addr, device, port == ServerPort::Dhcp),
            serve6,
        )
    }
}

fn bind6(
    addr: SocketAddr,
    interface: &str,
    multicast: bool,
) -> Result<tokio::net::UdpSocket, DhcpError> {
    let error = |e: std::io::Error| DhcpError {
        addr,
        reason: format!("on interface {interface}: {e}"),
    };
    // The interface's index, for the multicast group; sysfs spares a libc call.
    let index: u32 = std::fs::read_to_string(format!("/sys/class/net/{interface}/ifindex"))
        .map_err(error)?
        .trim()
        .parse()
        .map_err(|_| DhcpError {
            addr,
            reason: format!("interface {interface} has no index"),
        })?;
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).map_err(error)?;
    socket.set_only_v6(true).map_err(error)?;
    // The site's DHCPv6 server may hold port 547 too; multicasts reach both sockets.
    socket.set_reuse_address(true).map_err(error)?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(error)?;
    socket.set_nonblocking(true).map_err(error)?;
    socket.bind(&addr.into()).map_err(error)?;
    if multicast {
        socket
            .join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, index)
            .map_err(error)?;
    }
    tokio::net::UdpSocket::from_std(socket.into()).map_err(error)
}

/// How many DHCPv6 requests one socket answers at once: an authoritative answer waits on the
/// lease store, and one request's queries need not hold up the next client's.
const DHCP6_IN_FLIGHT: usize = 64;

async fn serve6(socket: tokio::net::UdpSocket, port: ServerPort, shared: Arc<Shared<Mode6>>) {
    let socket = Arc::new(socket);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(DHCP6_IN_FLIGHT));
    let counters = &shared.counters;
    let mut buffer = vec![0u8; 1500];
    loop {
        let (len, source) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(e) => {
                tracing::warn!(error = %e, "DHCPv6 receive failed");
                continue;
            }
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        if !shared.answering.load(Ordering::Relaxed) {
            counters.standby.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let SocketAddr::V6(source) = source else {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let request = match v6::decode(&buffer[..len]) {
            Ok(request) => request,
            Err(reason) => {
                counters.count_unanswered(&source, &reason);
                continue;
            }
        };
        // Fairness by client. A client without a MAC to tell gets no answer anyway: dropped
        // before it takes a place among the answers in flight.
        let Some(mac) = v6::client_mac(&request, source.ip()) else {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if !shared.limiter.allow(mac) {
            counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // Waits here when the socket already answers its share: the kernel's receive buffer,
        // not an unbounded queue of tasks, holds what comes meanwhile.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let (socket, shared) = (socket.clone(), shared.clone());
        tokio::spawn(async move {
            answer6(&socket, port, source, request, &shared).await;
            drop(permit);
        });
    }
}

/// Answers one DHCPv6 request and sends the reply back where it came from.
async fn answer6(
    socket: &tokio::net::UdpSocket,
    port: ServerPort,
    source: SocketAddrV6,
    request: dhcproto::v6::Message,
    shared: &Shared<Mode6>,
) {
    let counters = &shared.counters;
    let answer = match v6::answer(&request, port, source.ip(), &shared.mode).await {
        Ok(answer) => answer,
        Err(reason) => {
            counters.count_unanswered(&source, &reason);
            return;
        }
    };
    let report = DhcpReport {
        mac: answer.mac,
        kind: answer.kind,
        boot: answer.boot,
        leased: answer.leased.map(IpAddr::V6),
        client: SocketAddr::V6(source),
    };
    let Some(reply) = answer.reply else {
        (shared.report)(report);
        return;
    };
    // Back to the client's link-local address and port, on the interface it came in on.
    let destination = SocketAddrV6::new(*source.ip(), source.port(), 0, source.scope_id());
    let wire = v6::encode(&reply);
    if wire.is_empty() {
        tracing::warn!(%destination, "DHCPv6 could not encode its answer");
        return;
    }
    match socket.send_to(&wire, destination).await {
        Ok(_) => {
            counters.answered.fetch_add(1, Ordering::Relaxed);
            (shared.report)(report);
        }
        Err(e) => tracing::warn!(%destination, error = %e, "DHCPv6 send failed"),
    }
}

impl DhcpServer {
    /// The switch between answering and standing by (answering from the start).
    pub fn answering(&self) -> Arc<AtomicBool> {
        self.answering.clone()
    }
}

fn bind(addr: SocketAddr, interface: &str) -> Result<tokio::net::UdpSocket, DhcpError> {
    let error = |e: std::io::Error| DhcpError {
        addr,
        reason: format!("on interface {interface}: {e}"),
    };
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(error)?;
    // The site's DHCP server may hold port 67 too; broadcasts reach both sockets.
    socket.set_reuse_address(true).map_err(error)?;
    socket.set_broadcast(true).map_err(error)?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(error)?;
    socket.set_nonblocking(true).map_err(error)?;
    socket.bind(&addr.into()).map_err(error)?;
    tokio::net::UdpSocket::from_std(socket.into()).map_err(error)
}

async fn serve(socket: tokio::net::UdpSocket, port: ServerPort, shared: Arc<Shared<DhcpMode>>) {
    let counters = &shared.counters;
    let mut buffer = vec![0u8; 1500];
    loop {
        let (len, source) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(e) => {
                tracing::warn!(error = %e, "DHCP receive failed");
                continue;
            }
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        if !shared.answering.load(Ordering::Relaxed) {
            counters.standby.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%source, "DHCP standby: not answering (another instance leads)");
            continue;
        }
        let SocketAddr::V4(source) = source else {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let request = match message::decode(&buffer[..len]) {
            Ok(request) => request,
            Err(reason) => {
                counters.count_unanswered(&source, &reason);
                continue;
            }
        };
        let mut mac = [0u8; 6];
        for (to, from) in mac.iter_mut().zip(request.chaddr()) {
            *to = *from;
        }
        if !shared.limiter.allow(mac) {
            counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let outcome = match (&shared.mode, port) {
            (DhcpMode::Authoritative(network, leases), ServerPort::Dhcp) => {
                authoritative::answer(&request, network, leases.as_ref()).await
            }
            (mode, port) => proxy::handle(&request, port, source, mode.boot()),
        };
        let (reply, leased) = match outcome {
            Ok(Outcome::Reply { reply, leased }) => (reply, leased),
            Ok(Outcome::Noted { mac, what, seen }) => {
                (shared.report)(DhcpReport {
                    mac,
                    kind: what,
                    boot: String::new(),
                    leased: seen.map(IpAddr::V4),
                    client: SocketAddr::V4(source),
                });
                continue;
            }
            Err(reason) => {
                counters.count_unanswered(&source, &reason);
                continue;
            }
        };
        let destination = match reply.to {
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
            Destination::Relay(relay) => SocketAddrV4::new(relay, 67),
            Destination::Unicast(client) => client,
        };
        match socket.send_to(&message::encode(&reply), destination).await {
            Ok(_) => {
                counters.answered.fetch_add(1, Ordering::Relaxed);
                let kind = match reply.message.opts().msg_type() {
                    Some(dhcproto::v4::MessageType::Offer) => "offer",
                    Some(dhcproto::v4::MessageType::Nak) => "nak",
                    _ => "ack",
                };
                (shared.report)(DhcpReport {
                    mac: reply.mac,
                    kind: kind.to_string(),
                    boot: reply.boot,
                    leased: leased.map(IpAddr::V4),
                    client: SocketAddr::V4(source),
                });
            }
            Err(e) => tracing::warn!(%destination, error = %e, "DHCP send failed"),
        }
    }
}
