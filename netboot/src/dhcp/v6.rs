//! DHCPv6 for network boot (RFC 8415, boot options of RFC 5970): the boot file URL (option 59)
//! for clients whose vendor class (enterprise 343) says `PXEClient` or `HTTPClient`, or whose
//! user class says `iPXE`, chosen by client architecture (option 61) as for DHCPv4.
//!
//! Two modes, like DHCPv4's:
//! - beside the site's DHCPv6 server (`Mode6::Proxy`): boot information only. EDK2 takes an
//!   Advertise without IA_NA but with vendor class `PXEClient` as a boot server's offer
//!   (`ProxyBinl` in its PxeBcDhcp6.c), leases its address from the site's server, and then
//!   asks for the boot file again by a Request from and to UDP 4011, answered here; iPXE on a
//!   SLAAC network with the "other configuration" flag asks by Information-request.
//! - as the provisioning network's server (`Mode6::Authoritative`): IA_NA addresses from a
//!   [`LeaseBook`] (the inventory's fixed addresses and a pool), with the boot file URL in the
//!   Advertise and the Reply. The vendor class is not echoed there: EDK2 would take the offer
//!   for a boot server's too and ask again on port 4011 (UEFI HTTP boot's `HTTPClient` is).
//!
//! Pure packets in, packets out; the sockets are `server`'s. DHCPv6 names clients by DUID, and
//! the lab knows machines by MAC: the MAC comes from a link-layer DUID (types 1 and 3), else
//! from the EUI-64 link-local address the request came from. A client with neither is not
//! answered (it cannot be told from another).

use std::net::Ipv6Addr;
use std::sync::Arc;

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, Message, MessageType, OptionCode, Status, StatusCode,
    UnknownOption, VendorClass, IANA,
};
use dhcproto::{Decodable, Decoder, Encodable};

use super::authoritative::{LeaseBook, LeaseError};
use super::message::{
    architecture_from_class, choose_boot, format_mac, BootTarget, ChooseBootFile, Ignored,
    ServerPort,
};

/// RFC 5970's boot file URL.
pub const BOOTFILE_URL: u16 = 59;
/// The IANA enterprise number in PXE and UEFI HTTP boot vendor classes (Intel's).
const PXE_ENTERPRISE: u32 = 343;

/// What every DHCPv6 answer about booting needs.
#[derive(Clone)]
pub struct BootConfig6 {
    /// The address clients reach this server at: the host of `tftp://` boot file URLs, and the
    /// source of this server's DUID.
    pub server: Ipv6Addr,
    /// Base of the HTTP URLs handed out (iPXE scripts, UEFI HTTP boot programs), reachable over
    /// IPv6, e.g. `http://[fd00::2]:8080`.
    pub http_base: String,
    pub files: Arc<dyn ChooseBootFile>,
}

impl std::fmt::Debug for BootConfig6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootConfig6")
            .field("server", &self.server)
            .field("http_base", &self.http_base)
            .finish_non_exhaustive()
    }
}

impl BootConfig6 {
    /// This server's DUID: DUID-UUID (RFC 6355) made of its address, so it stays the same
    /// across restarts (clients renew with it) and differs between servers.
    pub fn duid(&self) -> Vec<u8> {
        let mut duid = vec![0, 4];
        duid.extend_from_slice(&self.server.octets());
        duid
    }
}

/// What the authoritative server tells clients besides their address.
#[derive(Debug, Clone)]
pub struct NetworkConfig6 {
    pub boot: BootConfig6,
    /// The prefix addresses are handed out of (Confirm answers "not on link" outside it).
    pub prefix: (Ipv6Addr, u8),
    pub dns: Vec<Ipv6Addr>,
    pub lease_seconds: u32,
}

/// What the DHCPv6 listener does.
#[derive(Clone)]
pub enum Mode6 {
    /// Boot information only, beside the site's DHCPv6 server or on a SLAAC network.
    Proxy(BootConfig6),
    /// IA_NA addresses from the book and boot information.
    Authoritative(NetworkConfig6, Arc<dyn LeaseBook<Ipv6Addr>>),
}

impl Mode6 {
    pub fn boot(&self) -> &BootConfig6 {
        match self {
            Mode6::Proxy(boot) => boot,
            Mode6::Authoritative(network, _) => &network.boot,
        }
    }
}

/// What came of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer6 {
    /// The message to send back to the client, if any.
    pub reply: Option<Message>,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// `advertise`, `reply`, or what was noted (`released fd00::5`, …).
    pub kind: String,
    /// The boot file URL handed out (empty when none).
    pub boot: String,
    /// The address bound or offered to the client here (authoritative mode).
    pub leased: Option<Ipv6Addr>,
}

/// Parses a datagram into a client message; relayed messages (RELAY-FORW) and server messages
/// are not for this server, anything that does not parse is malformed.
pub fn decode(datagram: &[u8]) -> Result<Message, Ignored> {
    let Some(&kind) = datagram.first() else {
        return Err(Ignored::Malformed("empty datagram".into()));
    };
    if datagram.len() < 4 {
        return Err(Ignored::Malformed("shorter than a DHCPv6 header".into()));
    }
    // Relay agents are not supported: a relay message is not a client message.
    if matches!(kind, 12 | 13) {
        return Err(Ignored::Uninteresting("relayed message".into()));
    }
    // The vendored dhcproto decodes each option from its own length; a panic left in it is a
    // malformed datagram, not a dead listener.
    match std::panic::catch_unwind(|| Message::decode(&mut Decoder::new(datagram))) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(Ignored::Malformed(e.to_string())),
        Err(_) => Err(Ignored::Malformed("the decoder gave up on it".into())),
    }
}

/// Encodes a reply for the wire.
pub fn encode(message: &Message) -> Vec<u8> {
    message.to_vec().unwrap_or_default()
}

/// The client's MAC: from a link-layer DUID (DUID-LLT, DUID-LL of an Ethernet address), else
/// from the modified EUI-64 of the link-local address the request came from.
pub fn client_mac(request: &Message, source: &Ipv6Addr) -> Option<[u8; 6]> {
    if let Some(DhcpOption::ClientId(duid)) = request.opts().get(OptionCode::ClientId) {
        let ethernet = |at: usize| {
            (duid.len() == at + 6 && duid[2..4] == [0, 1])
                .then(|| <[u8; 6]>::try_from(&duid[at..]).ok())
                .flatten()
        };
        let from_duid = match duid.get(..2) {
            Some([0, 1]) => ethernet(8),
            Some([0, 3]) => ethernet(4),
            _ => None,
        };
        if from_duid.is_some() {
            return from_duid;
        }
    }
    let octets = source.octets();
    let link_local = source.is_unicast_link_local();
    if link_local && octets[11] == 0xff && octets[12] == 0xfe {
        return Some([
            octets[8] ^ 0x02,
            octets[9],
            octets[10],
            octets[13],
            octets[14],
            octets[15],
        ]);
    }
    None
}

/// The client's vendor class data, when it is PXE's or UEFI HTTP boot's (enterprise 343).
fn pxe_vendor_class(request: &Message) -> Option<&[u8]> {
    match request.opts().get(OptionCode::VendorClass) {
        Some(DhcpOption::VendorClass(VendorClass { num, data })) if *num == PXE_ENTERPRISE => data
            .iter()
            .find(|item| item.starts_with(b"PXEClient") || item.starts_with(b"HTTPClient"))
            .map(Vec::as_slice),
        _ => None,
    }
}

fn is_ipxe(request: &Message) -> bool {
    matches!(request.opts().get(OptionCode::UserClass),
        Some(DhcpOption::UserClass(class)) if class.data.iter().any(|item| item.as_slice() == b"iPXE"))
}

/// Whether the request comes from network-boot firmware or iPXE.
pub fn is_boot_client(request: &Message) -> bool {
    pxe_vendor_class(request).is_some() || is_ipxe(request)
}

fn is_http_client(request: &Message) -> bool {
    pxe_vendor_class(request).is_some_and(|class| class.starts_with(b"HTTPClient"))
}

/// The boot file URL for a boot client: iPXE's script, a UEFI HTTP boot program by HTTP, or a
/// PXE firmware's program by `tftp://[server]/file`.
fn boot_url(request: &Message, mac: &str, config: &BootConfig6) -> String {
    let architecture = match request.opts().get(OptionCode::ClientArchType) {
        Some(DhcpOption::ClientArchType(types)) if !types.is_empty() => types[0],
        _ => pxe_vendor_class(request)
            .map(architecture_from_class)
            .unwrap_or(dhcproto::v4::Architecture::from(u16::MAX)),
    };
    match choose_boot(
        architecture,
        is_ipxe(request),
        is_http_client(request),
        mac,
        &config.http_base,
        config.files.as_ref(),
    ) {
        BootTarget::Url(url) => url,
        BootTarget::TftpFile(file) => format!("tftp://[{}]/{file}", config.server),
    }
}

/// The reply's frame: the client's transaction, our DUID, the client's DUID echoed.
fn reply_to(request: &Message, kind: MessageType, config: &BootConfig6) -> Message {
    let mut reply = Message::new_with_id(kind, request.xid());
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::ServerId(config.duid()));
    if let Some(client) = request.opts().get(OptionCode::ClientId) {
        opts.insert(client.clone());
    }
    reply
}

/// The boot file URL, and the vendor class echoed for UEFI HTTP boot (always) and for PXE
/// (`echo_pxe`: only where this server is the boot server rather than the address server).
fn add_boot_options(request: &Message, boot: &str, echo_pxe: bool, opts: &mut DhcpOptions) {
    opts.insert(DhcpOption::Unknown(UnknownOption::new(
        OptionCode::Unknown(BOOTFILE_URL),
        boot.as_bytes().to_vec(),
    )));
    if pxe_vendor_class(request).is_some() && (echo_pxe || is_http_client(request)) {
        let class: &[u8] = if is_http_client(request) {
            b"HTTPClient"
        } else {
            b"PXEClient"
        };
        opts.insert(DhcpOption::VendorClass(VendorClass {
            num: PXE_ENTERPRISE,
            data: vec![class.to_vec()],
        }));
    }
}

fn status(status: Status, message: &str) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode {
        status,
        msg: message.into(),
    })
}

/// The client's IA_NAs, each with the address it asks for (if any).
fn identity_associations(request: &Message) -> Vec<(u32, Option<Ipv6Addr>)> {
    request
        .opts()
        .iter()
        .filter_map(|option| match option {
            DhcpOption::IANA(ia) => {
                let wanted = ia.opts.iter().find_map(|option| match option {
                    DhcpOption::IAAddr(address) => Some(address.addr),
                    _ => None,
                });
                Some((ia.id, wanted))
            }
            _ => None,
        })
        .collect()
}

fn ia_with_address(id: u32, address: Ipv6Addr, lease_seconds: u32) -> DhcpOption {
    let mut opts = DhcpOptions::new();
    opts.insert(DhcpOption::IAAddr(IAAddr {
        addr: address,
        preferred_life: lease_seconds,
        valid_life: lease_seconds,
        opts: DhcpOptions::new(),
    }));
    DhcpOption::IANA(IANA {
        id,
        t1: lease_seconds / 2,
        t2: lease_seconds / 5 * 4,
        opts,
    })
}

fn ia_with_status(id: u32, code: Status, message: &str) -> DhcpOption {
    let mut opts = DhcpOptions::new();
    opts.insert(status(code, message));
    DhcpOption::IANA(IANA {
        id,
        t1: 0,
        t2: 0,
        opts,
    })
}

/// Handles one client message that came from `source` to `port` (547, or 4011 for the boot
/// server's Request).
pub async fn answer(
    request: &Message,
    port: ServerPort,
    source: &Ipv6Addr,
    mode: &Mode6,
) -> Result<Answer6, Ignored> {
    let kind = request.msg_type();
    let boot_config = mode.boot();
    let ours = boot_config.duid();
    let server_id = match request.opts().get(OptionCode::ServerId) {
        Some(DhcpOption::ServerId(id)) => Some(id.as_slice()),
        _ => None,
    };
    if port == ServerPort::Pxe {
        return boot_server(request, source, mode.boot());
    }
    match kind {
        MessageType::Solicit | MessageType::Confirm | MessageType::Rebind
            if server_id.is_some() =>
        {
            return Err(Ignored::Malformed(format!(
                "{kind:?} carries a server identifier"
            )));
        }
        MessageType::Request | MessageType::Renew | MessageType::Release | MessageType::Decline
            if server_id != Some(ours.as_slice()) =>
        {
            return noted_elsewhere(request, kind, source);
        }
        MessageType::InformationRequest if server_id.is_some_and(|id| id != ours) => {
            return Err(Ignored::Uninteresting(format!(
                "{kind:?} for another server"
            )));
        }
        _ => {}
    }
    if kind != MessageType::InformationRequest && request.opts().get(OptionCode::ClientId).is_none()
    {
        return Err(Ignored::Malformed(format!(
            "{kind:?} without a client identifier"
        )));
    }
    let Some(mac) = client_mac(request, source) else {
        return Err(Ignored::Malformed(
            "no MAC address in the client's DUID or link-local address".into(),
        ));
    };
    let mac = format_mac(&mac);
    let boot = is_boot_client(request).then(|| boot_url(request, &mac, boot_config));
    match mode {
        Mode6::Proxy(config) => proxy(request, kind, mac, boot, config),
        Mode6::Authoritative(network, leases) => {
            authoritative(request, kind, mac, boot, network, leases.as_ref())
                .await
                .map_err(|e| Ignored::Unavailable(e.to_string()))?
        }
    }
}

/// The boot server on UDP 4011 (PXE over IPv6): EDK2's Request for the boot file of the offer
/// it chose this server for, in either mode. It carries this server's DUID.
fn boot_server(
    request: &Message,
    source: &Ipv6Addr,
    config: &BootConfig6,
) -> Result<Answer6, Ignored> {
    let ours = config.duid();
    match request.opts().get(OptionCode::ServerId) {
        Some(DhcpOption::ServerId(id)) if *id == ours => {}
        _ => {
            return Err(Ignored::Uninteresting(
                "boot request for another server".into(),
            ))
        }
    }
    if request.msg_type() != MessageType::Request || pxe_vendor_class(request).is_none() {
        return Err(Ignored::NotPxe);
    }
    let mac = client_mac(request, source).ok_or_else(|| {
        Ignored::Malformed("no MAC address in the client's DUID or link-local address".into())
    })?;
    let mac = format_mac(&mac);
    let boot = boot_url(request, &mac, config);
    let mut reply = reply_to(request, MessageType::Reply, config);
    add_boot_options(request, &boot, true, reply.opts_mut());
    Ok(Answer6 {
        reply: Some(reply),
        mac,
        kind: "boot reply".into(),
        boot,
        leased: None,
    })
}

/// A boot client's Request for the site's server's address: not ours to answer, but it says
/// which address that MAC boots from (its TFTP transfer comes from there), as DHCPv4's proxy
/// notes a REQUEST to another server.
fn noted_elsewhere(
    request: &Message,
    kind: MessageType,
    source: &Ipv6Addr,
) -> Result<Answer6, Ignored> {
    let uninteresting = || Ignored::Uninteresting(format!("{kind:?} for another server"));
    let to_a_server = request.opts().get(OptionCode::ServerId).is_some();
    if kind != MessageType::Request || !to_a_server || !is_boot_client(request) {
        return Err(uninteresting());
    }
    let address = identity_associations(request)
        .into_iter()
        .find_map(|(_, address)| address)
        .ok_or_else(uninteresting)?;
    let mac = client_mac(request, source).ok_or_else(uninteresting)?;
    Ok(Answer6 {
        reply: None,
        mac: format_mac(&mac),
        kind: "request to another server for".into(),
        boot: String::new(),
        leased: Some(address),
    })
}

/// Beside the site's server: boot information for boot clients, never an address.
fn proxy(
    request: &Message,
    kind: MessageType,
    mac: String,
    boot: Option<String>,
    config: &BootConfig6,
) -> Result<Answer6, Ignored> {
    let Some(boot) = boot else {
        return Err(Ignored::NotPxe);
    };
    // No IA_NA in the Advertise: EDK2 drops one whose IA_NA carries an error status, and takes
    // one without as a boot server's offer beside the site's address offer.
    let reply_kind = match kind {
        MessageType::Solicit => MessageType::Advertise,
        MessageType::InformationRequest => MessageType::Reply,
        other => return Err(Ignored::Uninteresting(format!("{other:?}"))),
    };
    let mut reply = reply_to(request, reply_kind, config);
    let opts = reply.opts_mut();
    add_boot_options(request, &boot, true, opts);
    Ok(Answer6 {
        reply: Some(reply),
        mac,
        kind: label(reply_kind).into(),
        boot,
        leased: None,
    })
}

/// As the network's server: addresses from the book, and boot information for boot clients.
async fn authoritative(
    request: &Message,
    kind: MessageType,
    mac: String,
    boot: Option<String>,
    network: &NetworkConfig6,
    leases: &dyn LeaseBook<Ipv6Addr>,
) -> Result<Result<Answer6, Ignored>, LeaseError> {
    let config = &network.boot;
    let rapid =
        kind == MessageType::Solicit && request.opts().get(OptionCode::RapidCommit).is_some();
    let reply_kind = match kind {
        MessageType::Solicit if !rapid => MessageType::Advertise,
        MessageType::Solicit
        | MessageType::Request
        | MessageType::Confirm
        | MessageType::Renew
        | MessageType::Rebind
        | MessageType::Release
        | MessageType::Decline
        | MessageType::InformationRequest => MessageType::Reply,
        other => return Ok(Err(Ignored::Uninteresting(format!("{other:?}")))),
    };
    let mut reply = reply_to(request, reply_kind, config);
    let mut leased = None;
    let mut noted = None;
    let opts = reply.opts_mut();
    match kind {
        MessageType::Solicit => {
            if rapid {
                opts.insert(DhcpOption::RapidCommit);
            }
            for (id, wanted) in identity_associations(request) {
                let bound = if rapid {
                    match leases.offer(&mac, wanted).await? {
                        Some(address) => leases.bind(&mac, address).await?.then_some(address),
                        None => None,
                    }
                } else {
                    leases.propose(&mac, wanted).await?
                };
                match bound {
                    Some(address) => {
                        // Proposed, not leased, until the Request binds it.
                        if rapid {
                            leased = Some(address);
                        } else {
                            noted = Some(format!("advertise proposing {address}"));
                        }
                        opts.insert(ia_with_address(id, address, network.lease_seconds));
                    }
                    None => opts.insert(ia_with_status(
                        id,
                        Status::NoAddrsAvail,
                        "no address for this client",
                    )),
                }
            }
        }
        MessageType::Request | MessageType::Renew | MessageType::Rebind => {
            for (id, wanted) in identity_associations(request) {
                let address = match wanted {
                    Some(address) => Some(address),
                    None => leases.offer(&mac, None).await?,
                };
                let bound = match address {
                    Some(address) if leases.bind(&mac, address).await? => Some(address),
                    _ => None,
                };
                match (bound, wanted) {
                    (Some(address), _) => {
                        leased = Some(address);
                        opts.insert(ia_with_address(id, address, network.lease_seconds));
                    }
                    // A renewal or rebinding of an address it may not keep: lifetimes 0.
                    (None, Some(address)) if kind != MessageType::Request => {
                        opts.insert(ia_with_address(id, address, 0));
                    }
                    (None, _) => opts.insert(ia_with_status(
                        id,
                        Status::NoAddrsAvail,
                        "address not available to this client",
                    )),
                }
            }
        }
        MessageType::Confirm => {
            let addresses: Vec<Ipv6Addr> = identity_associations(request)
                .into_iter()
                .filter_map(|(_, address)| address)
                .collect();
            if addresses.is_empty() {
                return Ok(Err(Ignored::Malformed("Confirm names no address".into())));
            }
            let on_link = addresses
                .iter()
                .all(|address| in_prefix(*address, network.prefix));
            opts.insert(if on_link {
                status(Status::Success, "all addresses are on this link")
            } else {
                status(Status::NotOnLink, "an address is not on this link")
            });
        }
        MessageType::Release | MessageType::Decline => {
            for (_, address) in identity_associations(request) {
                let Some(address) = address else { continue };
                if kind == MessageType::Release {
                    leases.release(&mac, Some(address)).await?;
                    noted = Some(format!("released {address}"));
                } else {
                    leases.decline(&mac, address).await?;
                    noted = Some(format!("declined {address} (in use)"));
                }
            }
            opts.insert(status(Status::Success, "done"));
        }
        _ => {}
    }
    if !network.dns.is_empty() {
        opts.insert(DhcpOption::DomainNameServers(network.dns.clone()));
    }
    if let Some(boot) = &boot {
        add_boot_options(request, boot, false, opts);
    }
    Ok(Ok(Answer6 {
        reply: Some(reply),
        mac,
        kind: noted.unwrap_or_else(|| label(reply_kind).into()),
        boot: boot.unwrap_or_default(),
        leased,
    }))
}

fn in_prefix(address: Ipv6Addr, (network, len): (Ipv6Addr, u8)) -> bool {
    let mask = match len {
        0 => 0,
        n => u128::MAX << (128 - u32::from(n.min(128))),
    };
    u128::from(address) & mask == u128::from(network) & mask
}

fn label(kind: MessageType) -> &'static str {
    match kind {
        MessageType::Advertise => "advertise",
        _ => "reply",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::message::BootFiles;
    use std::collections::HashMap;
    use std::sync::Mutex;

    const SERVER: Ipv6Addr = Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 2);
    /// The EUI-64 link-local address of 52:54:00:12:34:56, as EDK2 and iPXE make it.
    const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0x00ff, 0xfe12, 0x3456);
    const MAC: &str = "52:54:00:12:34:56";

    fn boot() -> BootConfig6 {
        BootConfig6 {
            server: SERVER,
            http_base: "http://[fd99::2]:8080".into(),
            files: Arc::new(BootFiles::default()),
        }
    }

    /// A Solicit as OVMF's PXE sends it (PxeBcDhcp6.c): DUID-UUID, an IA_NA, arch 7 and the
    /// vendor class `PXEClient:Arch:00007:UNDI:003000`.
    fn edk2(kind: MessageType) -> Message {
        let mut message = Message::new_with_id(kind, [1, 2, 3]);
        let opts = message.opts_mut();
        let mut duid = vec![0, 4];
        duid.extend_from_slice(&[0x11; 16]);
        opts.insert(DhcpOption::ClientId(duid));
        opts.insert(DhcpOption::IANA(IANA {
            id: 0x1234,
            t1: 0,
            t2: 0,
            opts: DhcpOptions::new(),
        }));
        opts.insert(DhcpOption::ClientArchType(vec![
            dhcproto::v4::Architecture::from(7),
        ]));
        opts.insert(DhcpOption::VendorClass(VendorClass {
            num: 343,
            data: vec![b"PXEClient:Arch:00007:UNDI:003000".to_vec()],
        }));
        message
    }

    /// iPXE's Information-request (dhcpv6.c): DUID-UUID, user class `iPXE`, arch 7.
    fn ipxe_information_request() -> Message {
        let mut message = edk2(MessageType::InformationRequest);
        set(
            &mut message,
            DhcpOption::UserClass(dhcproto::v6::UserClass {
                data: vec![b"iPXE".to_vec()],
            }),
        );
        message
    }

    /// Puts `option` in place of any of its kind.
    fn set(message: &mut Message, option: DhcpOption) {
        let opts = message.opts_mut();
        let _ = opts
            .remove_all(OptionCode::from(&option))
            .map(|drained| drained.count());
        opts.insert(option);
    }

    fn option(message: &Message, code: u16) -> Option<&DhcpOption> {
        message.opts().get(OptionCode::Unknown(code)).or_else(|| {
            message
                .opts()
                .iter()
                .find(|option| u16::from(OptionCode::from(*option)) == code)
        })
    }

    fn bootfile(message: &Message) -> String {
        match option(message, BOOTFILE_URL) {
            Some(DhcpOption::Unknown(url)) => String::from_utf8(url.data().to_vec()).unwrap(),
            other => panic!("no boot file URL: {other:?}"),
        }
    }

    fn vendor_class(message: &Message) -> Option<Vec<u8>> {
        match message.opts().get(OptionCode::VendorClass) {
            Some(DhcpOption::VendorClass(class)) => {
                assert_eq!(class.num, 343);
                Some(class.data.concat())
            }
            _ => None,
        }
    }

    /// Every answer crosses the wire: encoded, decoded again, as the client reads it.
    async fn ask(request: &Message, port: ServerPort, mode: &Mode6) -> Result<Answer6, Ignored> {
        let request = decode(&encode(request)).expect("the request decodes");
        let mut answer = answer(&request, port, &LINK_LOCAL, mode).await?;
        if let Some(reply) = &answer.reply {
            answer.reply = Some(decode(&encode(reply)).expect("the reply decodes"));
        }
        Ok(answer)
    }

    #[tokio::test]
    async fn beside_the_sites_server_edk2_gets_a_boot_server_offer_and_its_boot_file_on_4011() {
        let mode = Mode6::Proxy(boot());
        let advertise = ask(&edk2(MessageType::Solicit), ServerPort::Dhcp, &mode)
            .await
            .unwrap();
        assert_eq!(advertise.mac, MAC);
        let message = advertise.reply.unwrap();
        assert_eq!(message.msg_type(), MessageType::Advertise);
        assert_eq!(message.xid(), [1, 2, 3]);
        assert_eq!(bootfile(&message), "tftp://[fd99::2]/ipxe.efi");
        // EDK2's ProxyBinl: no IA_NA at all, vendor class PXEClient echoed.
        assert!(message.opts().get(OptionCode::IANA).is_none());
        assert_eq!(vendor_class(&message).unwrap(), b"PXEClient");
        assert_eq!(
            message.opts().get(OptionCode::ServerId),
            Some(&DhcpOption::ServerId(boot().duid()))
        );
        assert!(matches!(
            message.opts().get(OptionCode::ClientId),
            Some(DhcpOption::ClientId(duid)) if duid[..2] == [0, 4]
        ));

        // The address comes from the site's server: its Request is not for us.
        let mut request = edk2(MessageType::Request);
        set(
            &mut request,
            DhcpOption::ServerId(vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6]),
        );
        assert!(matches!(
            ask(&request, ServerPort::Pxe, &mode).await,
            Err(Ignored::Uninteresting(_))
        ));
        // Without the address it asks for, nothing to note; with it, the address is noted
        // (its TFTP transfer will come from there) and nothing is sent.
        assert!(matches!(
            ask(&request, ServerPort::Dhcp, &mode).await,
            Err(Ignored::Uninteresting(_))
        ));
        let mut with_address = request.clone();
        let mut ia_opts = DhcpOptions::new();
        ia_opts.insert(DhcpOption::IAAddr(IAAddr {
            addr: "fd99::123".parse().unwrap(),
            preferred_life: 0,
            valid_life: 0,
            opts: DhcpOptions::new(),
        }));
        set(
            &mut with_address,
            DhcpOption::IANA(IANA {
                id: 0x1234,
                t1: 0,
                t2: 0,
                opts: ia_opts,
            }),
        );
        let noted = ask(&with_address, ServerPort::Dhcp, &mode).await.unwrap();
        assert_eq!(noted.reply, None);
        assert_eq!(noted.leased, Some("fd99::123".parse().unwrap()));
        assert_eq!(noted.mac, MAC);
        // Then it asks the boot server, port 4011, with our DUID.
        let mut binl = edk2(MessageType::Request);
        set(&mut binl, DhcpOption::ServerId(boot().duid()));
        let reply = ask(&binl, ServerPort::Pxe, &mode).await.unwrap();
        let message = reply.reply.unwrap();
        assert_eq!(message.msg_type(), MessageType::Reply);
        assert_eq!(bootfile(&message), "tftp://[fd99::2]/ipxe.efi");
        assert_eq!(reply.boot, "tftp://[fd99::2]/ipxe.efi");
    }

    #[tokio::test]
    async fn ipxe_on_a_slaac_network_gets_its_script_url_by_information_request() {
        for mode in [Mode6::Proxy(boot()), authoritative(Book::default())] {
            let reply = ask(&ipxe_information_request(), ServerPort::Dhcp, &mode)
                .await
                .unwrap();
            let message = reply.reply.unwrap();
            assert_eq!(message.msg_type(), MessageType::Reply);
            assert_eq!(
                bootfile(&message),
                "http://[fd99::2]:8080/boot/52:54:00:12:34:56.ipxe?arch=x86_64&platform=efi"
            );
            assert_eq!(reply.leased, None);
        }
    }

    #[tokio::test]
    async fn uefi_http_boot_over_ipv6_gets_a_url_and_its_vendor_class_back() {
        for mode in [Mode6::Proxy(boot()), authoritative(Book::default())] {
            let mut solicit = edk2(MessageType::Solicit);
            set(
                &mut solicit,
                DhcpOption::ClientArchType(vec![dhcproto::v4::Architecture::from(16)]),
            );
            set(
                &mut solicit,
                DhcpOption::VendorClass(VendorClass {
                    num: 343,
                    data: vec![b"HTTPClient:Arch:00016:UNDI:003000".to_vec()],
                }),
            );
            let message = ask(&solicit, ServerPort::Dhcp, &mode)
                .await
                .unwrap()
                .reply
                .unwrap();
            assert_eq!(
                bootfile(&message),
                "http://[fd99::2]:8080/boot/firmware/ipxe.efi"
            );
            assert_eq!(vendor_class(&message).unwrap(), b"HTTPClient");
        }
    }

    /// An in-memory lease book: one address per MAC from fd99::100 on.
    #[derive(Default)]
    struct Book {
        bound: Mutex<HashMap<String, Ipv6Addr>>,
        released: Mutex<Vec<Ipv6Addr>>,
    }

    impl LeaseBook<Ipv6Addr> for Book {
        fn offer<'a>(
            &'a self,
            mac: &'a str,
            _requested: Option<Ipv6Addr>,
        ) -> super::super::LeaseFuture<'a, Option<Ipv6Addr>> {
            Box::pin(async move {
                let bound = self.bound.lock().unwrap();
                let next = 0x100 + bound.len() as u16;
                Ok(Some(
                    bound
                        .get(mac)
                        .copied()
                        .unwrap_or(Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, next)),
                ))
            })
        }
        fn bind<'a>(
            &'a self,
            mac: &'a str,
            address: Ipv6Addr,
        ) -> super::super::LeaseFuture<'a, bool> {
            Box::pin(async move {
                let mut bound = self.bound.lock().unwrap();
                if bound.iter().any(|(other, a)| *a == address && other != mac) {
                    return Ok(false);
                }
                bound.insert(mac.to_string(), address);
                Ok(true)
            })
        }
        fn release<'a>(
            &'a self,
            _mac: &'a str,
            address: Option<Ipv6Addr>,
        ) -> super::super::LeaseFuture<'a, ()> {
            Box::pin(async move {
                self.released.lock().unwrap().extend(address);
                Ok(())
            })
        }
        fn decline<'a>(
            &'a self,
            _mac: &'a str,
            _address: Ipv6Addr,
        ) -> super::super::LeaseFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
    }

    fn authoritative(book: Book) -> Mode6 {
        Mode6::Authoritative(
            NetworkConfig6 {
                boot: boot(),
                prefix: ("fd99::".parse().unwrap(), 64),
                dns: vec![SERVER],
                lease_seconds: 3600,
            },
            Arc::new(book),
        )
    }

    fn ia_address(message: &Message) -> Option<(Ipv6Addr, u32)> {
        match message.opts().get(OptionCode::IANA) {
            Some(DhcpOption::IANA(ia)) => {
                assert_eq!(ia.id, 0x1234, "the client's IAID");
                match ia.opts.get(OptionCode::IAAddr) {
                    Some(DhcpOption::IAAddr(address)) => Some((address.addr, address.valid_life)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    #[tokio::test]
    async fn as_the_networks_server_edk2_leases_an_address_with_its_boot_file() {
        let mode = authoritative(Book::default());
        let advertise = ask(&edk2(MessageType::Solicit), ServerPort::Dhcp, &mode)
            .await
            .unwrap();
        let message = advertise.reply.unwrap();
        assert_eq!(message.msg_type(), MessageType::Advertise);
        let offered: Ipv6Addr = "fd99::100".parse().unwrap();
        assert_eq!(ia_address(&message), Some((offered, 3600)));
        assert_eq!(bootfile(&message), "tftp://[fd99::2]/ipxe.efi");
        // Not echoed: EDK2 would take this for a boot server's offer and ask on 4011.
        assert_eq!(vendor_class(&message), None);
        assert_eq!(
            message.opts().get(OptionCode::DomainNameServers),
            Some(&DhcpOption::DomainNameServers(vec![SERVER]))
        );

        let mut request = edk2(MessageType::Request);
        set(&mut request, DhcpOption::ServerId(boot().duid()));
        let reply = ask(&request, ServerPort::Dhcp, &mode).await.unwrap();
        assert_eq!(reply.leased, Some(offered));
        let message = reply.reply.unwrap();
        assert_eq!(message.msg_type(), MessageType::Reply);
        assert_eq!(ia_address(&message), Some((offered, 3600)));
        assert_eq!(bootfile(&message), "tftp://[fd99::2]/ipxe.efi");

        // Another server's Request is not ours to answer.
        let mut elsewhere = edk2(MessageType::Request);
        set(&mut elsewhere, DhcpOption::ServerId(vec![0, 4, 9, 9]));
        assert!(ask(&elsewhere, ServerPort::Dhcp, &mode).await.is_err());
    }

    fn with_address(kind: MessageType, address: &str, server: bool) -> Message {
        let mut message = edk2(kind);
        let mut ia_opts = DhcpOptions::new();
        ia_opts.insert(DhcpOption::IAAddr(IAAddr {
            addr: address.parse().unwrap(),
            preferred_life: 0,
            valid_life: 0,
            opts: DhcpOptions::new(),
        }));
        set(
            &mut message,
            DhcpOption::IANA(IANA {
                id: 0x1234,
                t1: 0,
                t2: 0,
                opts: ia_opts,
            }),
        );
        if server {
            set(&mut message, DhcpOption::ServerId(boot().duid()));
        }
        message
    }

    fn status_of(message: &Message) -> Option<Status> {
        match message.opts().get(OptionCode::StatusCode) {
            Some(DhcpOption::StatusCode(code)) => Some(code.status),
            _ => None,
        }
    }

    #[tokio::test]
    async fn confirm_renew_release_and_an_address_taken_by_another_client() {
        let mode = authoritative(Book::default());
        let confirm = ask(
            &with_address(MessageType::Confirm, "fd99::100", false),
            ServerPort::Dhcp,
            &mode,
        )
        .await
        .unwrap()
        .reply
        .unwrap();
        assert_eq!(status_of(&confirm), Some(Status::Success));
        let moved = ask(
            &with_address(MessageType::Confirm, "fd42::100", false),
            ServerPort::Dhcp,
            &mode,
        )
        .await
        .unwrap()
        .reply
        .unwrap();
        assert_eq!(status_of(&moved), Some(Status::NotOnLink));

        let renewed = ask(
            &with_address(MessageType::Renew, "fd99::100", true),
            ServerPort::Dhcp,
            &mode,
        )
        .await
        .unwrap();
        assert_eq!(renewed.leased, Some("fd99::100".parse().unwrap()));

        // Another client holds fd99::100 now: this one's renewal of it gets lifetime 0.
        let mut other = with_address(MessageType::Renew, "fd99::100", true);
        set(
            &mut other,
            DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 9]),
        );
        let refused = ask(&other, ServerPort::Dhcp, &mode).await.unwrap();
        assert_eq!(refused.mac, "02:00:00:00:00:09");
        assert_eq!(refused.leased, None);
        assert_eq!(
            ia_address(&refused.reply.unwrap()),
            Some(("fd99::100".parse().unwrap(), 0))
        );

        let released = ask(
            &with_address(MessageType::Release, "fd99::100", true),
            ServerPort::Dhcp,
            &mode,
        )
        .await
        .unwrap();
        assert_eq!(released.kind, "released fd99::100");
        assert_eq!(status_of(&released.reply.unwrap()), Some(Status::Success));
    }

    #[test]
    fn a_clients_mac_comes_from_its_link_layer_duid_or_its_eui64_link_local_address() {
        let mut message = Message::new(MessageType::Solicit);
        let uuid_duid = vec![0, 4, 1, 2, 3];
        set(&mut message, DhcpOption::ClientId(uuid_duid));
        assert_eq!(
            client_mac(&message, &LINK_LOCAL),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        let stable_privacy: Ipv6Addr = "fe80::1c2d:3e4f:5a6b:7c8d".parse().unwrap();
        assert_eq!(client_mac(&message, &stable_privacy), None);
        assert_eq!(client_mac(&message, &SERVER), None);
        // DUID-LL (type 3) and DUID-LLT (type 1) of an Ethernet address.
        set(
            &mut message,
            DhcpOption::ClientId(vec![0, 3, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
        );
        assert_eq!(
            client_mac(&message, &stable_privacy),
            Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
        );
        set(
            &mut message,
            DhcpOption::ClientId(vec![
                0, 1, 0, 1, 9, 9, 9, 9, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xfe,
            ]),
        );
        assert_eq!(
            client_mac(&message, &stable_privacy),
            Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xfe])
        );
    }

    #[tokio::test]
    async fn clients_that_are_not_booting_or_cannot_be_told_apart_get_no_boot_answer() {
        let mode = Mode6::Proxy(boot());
        let mut plain = edk2(MessageType::Solicit);
        set(
            &mut plain,
            DhcpOption::VendorClass(VendorClass {
                num: 311,
                data: vec![b"MSFT 5.0".to_vec()],
            }),
        );
        assert_eq!(
            ask(&plain, ServerPort::Dhcp, &mode).await,
            Err(Ignored::NotPxe)
        );
        let request = decode(&encode(&edk2(MessageType::Solicit))).unwrap();
        let stable_privacy: Ipv6Addr = "fe80::1c2d:3e4f:5a6b:7c8d".parse().unwrap();
        assert!(matches!(
            answer(&request, ServerPort::Dhcp, &stable_privacy, &mode).await,
            Err(Ignored::Malformed(_))
        ));
        let mut with_server = edk2(MessageType::Solicit);
        set(&mut with_server, DhcpOption::ServerId(boot().duid()));
        assert!(ask(&with_server, ServerPort::Dhcp, &mode).await.is_err());
    }

    /// The DHCPv6 fuzz seeds (the messages EDK2 and iPXE send, as their sources build them)
    /// and every input that once crashed the fuzz target, replayed with each test run: the
    /// seeds decode and the boot clients' ones are answered; nothing panics.
    #[tokio::test]
    async fn the_fuzz_seeds_are_answered_and_past_crashes_decoded_without_panicking() {
        let seeds = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
            .join("fuzz/seeds6");
        let mut answered = Vec::new();
        for entry in std::fs::read_dir(seeds).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let datagram = std::fs::read(&path).unwrap();
            // The root fix: the vendored dhcproto itself, no guard around it.
            let _ = Message::decode(&mut Decoder::new(&datagram));
            let Ok(request) = decode(&datagram) else {
                assert!(
                    name.starts_with("crash-"),
                    "the seed {name} does not decode"
                );
                continue;
            };
            for mode in [Mode6::Proxy(boot()), authoritative(Book::default())] {
                for port in [ServerPort::Dhcp, ServerPort::Pxe] {
                    if let Ok(Answer6 {
                        reply: Some(reply), ..
                    }) = answer(&request, port, &LINK_LOCAL, &mode).await
                    {
                        assert!(decode(&encode(&reply)).is_ok());
                        answered.push(name.clone());
                    }
                }
            }
        }
        for seed in [
            "edk2-solicit",
            "edk2-boot-server-request",
            "ipxe-information-request",
        ] {
            assert!(
                answered.iter().any(|name| name == seed),
                "{seed}: {answered:?}"
            );
        }
    }

    /// Datagrams that panicked or misread dhcproto 0.15's DHCPv6 decoder (vendor/dhcproto/
    /// PATCHES.md): option lengths shorter than the option's fixed part, and the class options
    /// it encoded with their item count as length. The patched decoder answers each without
    /// the `catch_unwind` guard; every truncation of a real request is dropped or decoded.
    #[tokio::test]
    async fn malformed_dhcpv6_datagrams_are_dropped_without_panicking() {
        let header = [1u8, 0, 0, 1];
        let with = |option: &[u8]| [&header[..], option].concat();
        let cases = [
            with(&[0, 16, 0, 2, 0, 0]),          // vendor class of 2 bytes
            with(&[0, 13, 0, 1, 0]),             // status code of 1 byte
            with(&[0, 11, 0, 5, 1, 2, 3, 4, 5]), // authentication of 5 bytes
            with(&[0, 17, 0, 3, 0, 0, 1]),       // vendor options of 3 bytes
            with(&[0, 7, 0, 0]),                 // preference without its byte
            with(&[0, 3, 0, 4, 0, 0, 0, 1]),     // IA_NA shorter than its 12 bytes
            with(&[0, 61, 0, 1, 7]),             // client architecture of 1 byte
            with(&[0, 59, 0xff, 0xff, b'x']),    // option past the end
            vec![12, 0, 0, 0],                   // a relay's message
            vec![1, 0],                          // shorter than a header
        ];
        for datagram in &cases {
            if let Ok(message) = Message::decode(&mut Decoder::new(datagram)) {
                let _ = message.to_vec();
            }
            if let Ok(request) = decode(datagram) {
                assert!(
                    ask(&request, ServerPort::Dhcp, &Mode6::Proxy(boot()))
                        .await
                        .is_err(),
                    "{datagram:?} was answered"
                );
            }
        }
        let real = encode(&ipxe_information_request());
        for len in 0..real.len() {
            let _ = decode(&real[..len]);
        }
        // The class options' length is their bytes: decoded back item for item.
        let decoded = decode(&real).unwrap();
        assert!(is_ipxe(&decoded));
        assert!(pxe_vendor_class(&decoded).is_some());
    }
}
