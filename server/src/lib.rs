//! The `baas` server: configuration, the HTTP service, the boot services, the CLI. Composes the
//! lab (state and rules), the conductor (what acts on machines) and the web app; holds no rules
//! of its own.

pub mod boot_clients;
mod boot_events;
mod boot_programs;
pub mod client;
pub mod config;
pub mod event_relay;
pub mod grub_image;
pub mod http;
mod lease_book;
pub mod listener;
pub mod local_admin;
pub mod rest;
pub mod sessions;
mod state;

use std::path::Path;

use anyhow::Context;
use lab::{Lab, SecretBox};

use crate::config::Config;

/// Opens the lab under the configured data directory, creating it and its secret key if needed.
pub async fn open_lab(config: &Config) -> anyhow::Result<Lab> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // Private, also when it was created before baas made its files private.
    for dir in [&config.data_dir, &config.image_dir] {
        if dir.exists() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private", dir.display()))?;
        }
    }
    let secrets = SecretBox::load_or_create(&config.data_dir.join("secret.key"))?;
    Lab::open(&config.database_url, secrets, config.image_dir.clone())
        .await
        .with_context(|| format!("opening database {}", config.database_url))
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let lab = open_lab(&config).await?;
    match lab
        .bootstrap_admin(std::env::var("BAAS_ADMIN_PASSWORD").ok().as_deref())
        .await?
    {
        lab::Bootstrap::Generated(password) => {
            eprintln!("\n  First start: created user 'admin' with password: {password}\n  (shown once; change it under My account)\n");
        }
        lab::Bootstrap::Created => tracing::info!("created user 'admin' with BAAS_ADMIN_PASSWORD"),
        lab::Bootstrap::Existing => {}
    }
    if !Path::new(&config.site_root).join("pkg").exists() {
        tracing::warn!(site_root = %config.site_root.display(), "no built web assets found; run `cargo leptos build`");
    }
    let leader = conductor::Leadership::of(&lab);
    // One instance: its own leftovers at start. Several: the leader's hourly pass, which leaves
    // alone what another instance touched within the hour.
    let upload_quiet_seconds = match lab.engine() {
        lab::Engine::Sqlite => {
            let cleaned = lab.recover_uploads(0).await?;
            if cleaned > 0 {
                tracing::info!(cleaned, "removed unfinished uploads and stray image files");
            }
            0
        }
        lab::Engine::Postgres => 3600,
    };
    tokio::spawn({
        let lab = lab.clone();
        async move {
            if let Err(error) = event_relay::carry_events(lab).await {
                tracing::error!(%error, "live events do not cross to other instances");
            }
        }
    });
    let conductor = conductor::Conductor::new(lab.clone(), config.bmc_settings());
    conductor::duties::spawn_all(
        &conductor,
        &leader,
        conductor::duties::DutySettings {
            job_timeouts: config.job_timeouts,
            upload_quiet_seconds,
        },
    );
    let clients = boot_clients::BootClients::default();
    let events = boot_events::BootEvents::start(lab.clone());
    let netboot_files = grub_image::netboot_files(&config).await;
    // Held until the server stops: dropping them stops the services.
    let tftp = match config.tftp_addr {
        Some(addr) => Some(start_tftp(addr, &netboot_files, &events, &clients).await?),
        None => None,
    };
    let dhcp = start_dhcp(&config, &lab, &events, &clients).await?;
    let dhcp6 = start_dhcp6(&config, &lab, &events, &clients).await?;
    for server in dhcp.iter().chain(dhcp6.iter()) {
        tokio::spawn(answer_dhcp_while_leading(
            server.answering(),
            leader.clone(),
        ));
    }
    if dhcp.is_some() || dhcp6.is_some() {
        tokio::spawn(boot_programs::keep_reloading(lab.clone()));
    }
    tokio::spawn(log_boot_counters(
        tftp.as_ref().map(|tftp| tftp.counters.clone()),
        dhcp.as_ref().map(|dhcp| dhcp.counters.clone()),
        dhcp6.as_ref().map(|dhcp| dhcp.counters.clone()),
    ));
    let router = http::router_with(conductor, &config, clients.clone(), netboot_files).await?;
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding {}", config.http_addr))?;
    tracing::info!("baas listening on http://{}", config.http_addr);
    listener::serve(listener, router, shutdown_signal()).await?;
    Ok(())
}

/// TFTP for the network boot programs. Every request is logged, and becomes a boot event when
/// DHCP told which MAC is at the client's address; a bind failure names the port.
async fn start_tftp(
    addr: std::net::SocketAddr,
    files: &netboot::NetbootFiles,
    events: &boot_events::BootEvents,
    clients: &boot_clients::BootClients,
) -> anyhow::Result<netboot::TftpServer> {
    let config = netboot::TftpConfig {
        files: files.clone(),
        ..netboot::TftpConfig::new(addr, &files.root)
    };
    let (events, clients) = (events.clone(), clients.clone());
    netboot::TftpServer::start(config, move |report| {
        let detail = match &report.refused {
            None => {
                tracing::info!(client = %report.client, path = %report.path, size = ?report.size, "TFTP sending");
                format!("sent {} ({} bytes)", report.path, report.size.unwrap_or(0))
            }
            Some(why) => {
                tracing::info!(client = %report.client, path = %report.path, %why, "TFTP refused");
                format!("refused {}: {why}", report.path)
            }
        };
        if let Some(mac) = clients.mac_of(report.client.ip()) {
            events.record(&mac, "tftp", detail);
        }
    })
    .await
    .with_context(|| {
        format!(
            "starting TFTP on port {} (ports below 1024 need root or CAP_NET_BIND_SERVICE; \
             BAAS_TFTP_ADDR=off turns TFTP off, BAAS_TFTP_ROOT names the directory)",
            addr.port()
        )
    })
}

/// DHCP on 67 (ProxyDHCP, or the subnet's authoritative server) and the PXE boot server on
/// 4011 when configured; every answer becomes a boot event of its MAC.
async fn start_dhcp(
    config: &Config,
    lab: &Lab,
    events: &boot_events::BootEvents,
    clients: &boot_clients::BootClients,
) -> anyhow::Result<Option<netboot::dhcp::DhcpServer>> {
    if config.dhcp_interfaces.is_empty() {
        tracing::info!(
            "DHCP off: no lab network named (BAAS_DHCP_INTERFACES=eth1 answers PXE clients on eth1)"
        );
        return Ok(None);
    }
    if config.dhcp_addr.is_none() && config.pxe_addr.is_none() {
        return Ok(None);
    }
    let listen = netboot::dhcp::DhcpListen {
        dhcp: config.dhcp_addr,
        pxe: config.pxe_addr,
        interfaces: config.dhcp_interfaces.clone(),
    };
    let Some(server_ip) = config.boot_server_ip else {
        anyhow::bail!("DHCP needs baas' IPv4 address (BAAS_BOOT_SERVER_IP)");
    };
    let boot = netboot::dhcp::ProxyConfig {
        server: server_ip,
        http_base: config.public_url.clone(),
        files: std::sync::Arc::new(boot_programs::LabBootPrograms(lab.clone())),
    };
    let (mode, name) = match &config.dhcp_authoritative {
        None => (netboot::dhcp::DhcpMode::Proxy(boot), "ProxyDHCP"),
        Some(dhcp) => {
            let network = netboot::dhcp::NetworkConfig {
                boot,
                netmask: dhcp.plan.netmask(),
                router: dhcp.router,
                dns: dhcp.dns.clone(),
                lease_seconds: u32::try_from(dhcp.plan.lease_seconds).unwrap_or(3600),
            };
            let leases = lease_book::LabLeases {
                lab: lab.clone(),
                plan: dhcp.plan.clone(),
            };
            (
                netboot::dhcp::DhcpMode::Authoritative(network, std::sync::Arc::new(leases)),
                "DHCP (authoritative)",
            )
        }
    };
    let server = netboot::dhcp::DhcpServer::start(listen, mode, record_dhcp(events, clients, None))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "starting {name}: {e} (ports below 1024 need root or CAP_NET_BIND_SERVICE; \
                 BAAS_DHCP_MODE=off turns DHCP off)"
            )
        })?;
    tracing::info!(addresses = ?server.local_addrs, %server_ip, "{name} listening");
    Ok(Some(server))
}

/// DHCPv6 on UDP 547 (and the IPv6 PXE boot server on 4011) of the named interfaces, when
/// configured; every answer becomes a boot event of its MAC, as for DHCPv4.
async fn start_dhcp6(
    config: &Config,
    lab: &Lab,
    events: &boot_events::BootEvents,
    clients: &boot_clients::BootClients,
) -> anyhow::Result<Option<netboot::dhcp::DhcpServer>> {
    let Some(dhcp6) = &config.dhcp6 else {
        return Ok(None);
    };
    let boot = netboot::dhcp::BootConfig6 {
        server: dhcp6.server,
        http_base: dhcp6.http_base.clone(),
        files: std::sync::Arc::new(boot_programs::LabBootPrograms(lab.clone())),
    };
    let (mode, name) = match &dhcp6.authoritative {
        None => (
            netboot::dhcp::Mode6::Proxy(boot),
            "DHCPv6 (boot information)",
        ),
        Some(authoritative) => {
            let network = netboot::dhcp::NetworkConfig6 {
                boot,
                prefix: (authoritative.plan.network, authoritative.plan.prefix_len),
                dns: authoritative.dns.clone(),
                lease_seconds: u32::try_from(authoritative.plan.lease_seconds).unwrap_or(3600),
            };
            let leases = lease_book::LabLeases {
                lab: lab.clone(),
                plan: authoritative.plan.clone(),
            };
            (
                netboot::dhcp::Mode6::Authoritative(network, std::sync::Arc::new(leases)),
                "DHCPv6 (authoritative)",
            )
        }
    };
    let listen = netboot::dhcp::Dhcp6Listen {
        addr: dhcp6.addr,
        pxe: dhcp6.pxe,
        interfaces: config.dhcp_interfaces.clone(),
    };
    // Clients heard from their link-local address fetch from their autoconfigured one on the
    // lab's /64, which is baas' own.
    let record = record_dhcp(events, clients, Some(dhcp6.server));
    let server = match netboot::dhcp::DhcpServer::start_v6(listen, mode, record).await {
        Ok(server) => server,
        // Asked for, a failure stops the start; on by default beside DHCPv4, it is said and
        // DHCPv4 goes on alone.
        Err(e) if !dhcp6.explicit => {
            tracing::warn!(error = %e, "{name} is off: it could not listen (BAAS_DHCP6_MODE=off says so for good)");
            return Ok(None);
        }
        Err(e) => anyhow::bail!(
            "starting {name}: {e} (ports below 1024 need root or CAP_NET_BIND_SERVICE; \
             BAAS_DHCP6_MODE=off turns DHCPv6 off)"
        ),
    };
    tracing::info!(addresses = ?server.local_addrs, server_ip = %dhcp6.server, http = %dhcp6.http_base, "{name} listening");
    Ok(Some(server))
}

/// What becomes of one DHCP (or DHCPv6) answer: the client's address learnt for the boot
/// plane's later requests, a log line, and a boot event of its MAC.
fn record_dhcp(
    events: &boot_events::BootEvents,
    clients: &boot_clients::BootClients,
    autoconfigured_on: Option<std::net::Ipv6Addr>,
) -> impl Fn(netboot::dhcp::DhcpReport) + Send + Sync + 'static {
    let (events, clients) = (events.clone(), clients.clone());
    move |report| {
        let seen_at = report.leased.unwrap_or(report.client.ip());
        clients.learn(seen_at, &report.mac);
        if let (Some(prefix), std::net::IpAddr::V6(link_local)) =
            (autoconfigured_on, report.client.ip())
        {
            if let Some(address) =
                boot_clients::autoconfigured_address(prefix, link_local, &report.mac)
            {
                clients.learn(std::net::IpAddr::V6(address), &report.mac);
            }
        }
        tracing::info!(mac = %report.mac, kind = %report.kind, boot = %report.boot, leased = ?report.leased, client = %report.client, "DHCP answered");
        let mut detail = report.kind.clone();
        if let Some(address) = report.leased {
            detail.push_str(&format!(" {address}"));
        }
        if !report.boot.is_empty() {
            detail.push_str(&format!(" boot {}", report.boot));
        }
        detail.push_str(&format!(" (from {})", report.client));
        events.record(&report.mac, "dhcp", detail);
    }
}

/// Every minute in which anything happened: the boot services' counters since start.
async fn log_boot_counters(
    tftp: Option<std::sync::Arc<netboot::tftp::TftpCounters>>,
    dhcp: Option<std::sync::Arc<netboot::dhcp::DhcpCounters>>,
    dhcp6: Option<std::sync::Arc<netboot::dhcp::DhcpCounters>>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let snapshot = |counters: &Option<std::sync::Arc<netboot::dhcp::DhcpCounters>>| {
        counters
            .as_ref()
            .map(|c| {
                (
                    c.received.load(Relaxed),
                    c.answered.load(Relaxed),
                    c.malformed.load(Relaxed),
                    c.ignored.load(Relaxed),
                    c.rate_limited.load(Relaxed),
                    c.standby.load(Relaxed),
                )
            })
            .unwrap_or_default()
    };
    let mut last = None;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let tftp = tftp
            .as_ref()
            .map(|c| (c.served.load(Relaxed), c.refused.load(Relaxed)))
            .unwrap_or_default();
        let (four, six) = (snapshot(&dhcp), snapshot(&dhcp6));
        if last == Some((tftp, four, six)) {
            continue;
        }
        last = Some((tftp, four, six));
        let (served, refused) = tftp;
        let (received, answered, malformed, ignored, rate_limited, standby) = four;
        let (received6, answered6, malformed6, ignored6, rate_limited6, standby6) = six;
        tracing::info!(
            tftp_served = served,
            tftp_refused = refused,
            dhcp_received = received,
            dhcp_answered = answered,
            dhcp_malformed = malformed,
            dhcp_ignored = ignored,
            dhcp_rate_limited = rate_limited,
            dhcp_standby = standby,
            dhcp6_received = received6,
            dhcp6_answered = answered6,
            dhcp6_malformed = malformed6,
            dhcp6_ignored = ignored6,
            dhcp6_rate_limited = rate_limited6,
            dhcp6_standby = standby6,
            "boot service counters"
        );
    }
}

/// DHCP answers only on the leader, so a client never hears two instances; the others keep
/// their sockets and count what they let pass, ready to take over.
async fn answer_dhcp_while_leading(
    answering: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut leader: conductor::Leadership,
) {
    use std::sync::atomic::Ordering;
    loop {
        answering.store(false, Ordering::Relaxed);
        leader.wait().await;
        answering.store(true, Ordering::Relaxed);
        leader.lost().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
