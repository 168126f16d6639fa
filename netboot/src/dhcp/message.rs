//! What a DHCP message means for network boot, shared by the ProxyDHCP answers (`proxy`) and
//! the authoritative server's (`authoritative`): decoding and encoding, which client is a PXE
//! client and which boot program or script it gets, the reply's header and PXE options, and
//! what came of one request.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{
    Architecture, DhcpOption, DhcpOptions, Message, MessageType, Opcode, OptionCode,
};
use dhcproto::{Decodable, Decoder, Encodable};

/// Which of the proxy's ports a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerPort {
    /// 67, shared with the site's DHCP server: broadcast DISCOVERs.
    Dhcp,
    /// 4011: the PXE client's unicast boot server request.
    Pxe,
}

/// What a client's architecture code (RFC 4578 option 93, or the `Arch` of its vendor class)
/// says about the boot program it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// x86 legacy BIOS (0).
    Bios,
    /// x86-64 UEFI: PXE (6, 7, 9) or HTTP boot (16).
    X86_64Efi,
    /// arm64 UEFI: PXE (11) or HTTP boot (19).
    Arm64Efi,
}

impl Firmware {
    /// The firmware an architecture code names (IANA's processor architecture registry); `None`
    /// for codes this server has no boot program kind for (Itanium, 32-bit ARM, RISC-V…).
    pub fn of(architecture: u16) -> Option<Firmware> {
        match architecture {
            0 => Some(Firmware::Bios),
            6 | 7 | 9 | 16 => Some(Firmware::X86_64Efi),
            11 | 19 => Some(Firmware::Arm64Efi),
            _ => None,
        }
    }
}

/// Chooses the boot program (a file of the TFTP root) a network-boot client gets. The lab's
/// policy lives behind it: a table per firmware, a machine's own choice.
pub trait ChooseBootFile: Send + Sync {
    /// The file for the client with `mac` (`aa:bb:…`); `firmware` is `None` when its
    /// architecture code is unknown.
    fn boot_file(&self, mac: &str, firmware: Option<Firmware>) -> String;
}

/// A fixed table of boot programs per firmware, the same for every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFiles {
    pub bios: String,
    pub x86_64_efi: String,
    pub arm64_efi: String,
    /// For clients whose architecture is unknown.
    pub unknown: String,
}

impl Default for BootFiles {
    /// Debian's `ipxe` package (`/usr/lib/ipxe`) for x86, baas' GRUB image for arm64.
    fn default() -> Self {
        BootFiles {
            bios: "undionly.kpxe".into(),
            x86_64_efi: "ipxe.efi".into(),
            arm64_efi: "baas-grubnetaa64.efi".into(),
            unknown: "ipxe.efi".into(),
        }
    }
}

impl ChooseBootFile for BootFiles {
    fn boot_file(&self, _mac: &str, firmware: Option<Firmware>) -> String {
        match firmware {
            Some(Firmware::Bios) => &self.bios,
            Some(Firmware::X86_64Efi) => &self.x86_64_efi,
            Some(Firmware::Arm64Efi) => &self.arm64_efi,
            None => &self.unknown,
        }
        .clone()
    }
}

#[derive(Clone)]
pub struct ProxyConfig {
    /// The address clients reach this server at: siaddr (iPXE drops a proxy offer whose siaddr
    /// is 0) and the server identifier.
    pub server: Ipv4Addr,
    /// Base of the boot script URL iPXE clients get, e.g. `http://10.99.0.2:3000`.
    pub http_base: String,
    pub files: std::sync::Arc<dyn ChooseBootFile>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("server", &self.server)
            .field("http_base", &self.http_base)
            .finish_non_exhaustive()
    }
}

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255:68, for clients without an address yet.
    Broadcast,
    /// Straight back to where the request came from (port 4011 requests).
    Unicast(SocketAddrV4),
    /// To the relay agent at giaddr, port 67.
    Relay(Ipv4Addr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub message: Message,
    pub to: Destination,
    /// The client's MAC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The boot file or URL handed out, for the boot event.
    pub boot: String,
}

/// Why a datagram got no answer; each is counted by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    #[error("not a DHCP packet: {0}")]
    Malformed(String),
    #[error("not a PXE client")]
    NotPxe,
    #[error("not a request")]
    NotRequest,
    #[error("DHCP message type {0} needs no proxy answer")]
    Uninteresting(String),
    #[error("no address for this client")]
    NoAddress,
    #[error("{0}")]
    Unavailable(String),
}

/// Parses a datagram; anything that is not a well-formed BOOTP/DHCP message is refused.
pub fn decode(datagram: &[u8]) -> Result<Message, Ignored> {
    check_header(datagram).map_err(|reason| Ignored::Malformed(reason.into()))?;
    // dhcproto is patched (vendor/dhcproto/PATCHES.md) where fuzzing found it panicking; should
    // it still have a panic in store, that is a malformed datagram, not a dead listener.
    match std::panic::catch_unwind(|| Message::decode(&mut Decoder::new(datagram))) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(Ignored::Malformed(e.to_string())),
        Err(_) => Err(Ignored::Malformed("the decoder gave up on it".into())),
    }
}

/// The fixed BOOTP header: long enough, a hardware address that fits its 16 bytes, and the DHCP
/// magic cookie (dhcproto reads but does not check it).
fn check_header(datagram: &[u8]) -> Result<(), &'static str> {
    const OPTIONS: usize = 240;
    if datagram.len() < OPTIONS {
        return Err("shorter than a BOOTP header");
    }
    if datagram[2] > 16 {
        return Err("hardware address longer than 16 bytes");
    }
    if datagram[236..OPTIONS] != [99, 130, 83, 99] {
        return Err("no DHCP magic cookie");
    }
    Ok(())
}

/// The address a PXE client's DHCPREQUEST to another server (the site's) asks for: its
/// requested-address option, or the address it already has. ProxyDHCP does not answer it, but
/// it tells which address that MAC boots from.
pub fn requested_address(request: &Message) -> Option<Ipv4Addr> {
    if request.opcode() != Opcode::BootRequest
        || request.opts().msg_type() != Some(MessageType::Request)
        || !is_pxe_client(request)
    {
        return None;
    }
    wanted_address(request)
}

/// The address a DHCPREQUEST is about (RFC 2131 4.3.2): option 50 when SELECTING or in
/// INIT-REBOOT, else the `ciaddr` of a RENEWING or REBINDING client.
pub(crate) fn wanted_address(request: &Message) -> Option<Ipv4Addr> {
    let requested = match request.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(address)) => Some(*address),
        _ => None,
    };
    requested.or(Some(request.ciaddr()).filter(|address| !address.is_unspecified()))
}

/// Whether the request comes from network-boot firmware: PXE firmware or iPXE (vendor class
/// `PXEClient…`) or UEFI HTTP boot (`HTTPClient…`).
pub(crate) fn is_pxe_client(request: &Message) -> bool {
    matches!(request.opts().get(OptionCode::ClassIdentifier),
        Some(DhcpOption::ClassIdentifier(class))
            if class.starts_with(b"PXEClient") || class.starts_with(b"HTTPClient"))
}

/// Whether the client is UEFI HTTP boot firmware (vendor class `HTTPClient…`): it fetches its
/// boot file by URL and needs `HTTPClient` echoed in the answer.
pub(crate) fn is_http_client(request: &Message) -> bool {
    matches!(request.opts().get(OptionCode::ClassIdentifier),
        Some(DhcpOption::ClassIdentifier(class)) if class.starts_with(b"HTTPClient"))
}

/// What a PXE client is told to boot: iPXE (user class `iPXE`, or option 175) gets the URL of
/// its boot script, PXE firmware the iPXE binary for its architecture (option 93, or the Arch
/// field of the vendor class).
pub(crate) fn boot_target(
    request: &Message,
    mac: &str,
    config: &ProxyConfig,
) -> Result<String, Ignored> {
    let opts = request.opts();
    let architecture = match opts.get(OptionCode::ClientSystemArchitecture) {
        Some(DhcpOption::ClientSystemArchitecture(arch)) => *arch,
        _ => match opts.get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(class)) => architecture_from_class(class),
            _ => Architecture::X86_Bios,
        },
    };
    let is_ipxe = matches!(opts.get(OptionCode::UserClass), Some(DhcpOption::UserClass(class)) if class.windows(4).any(|w| w == b"iPXE"))
        || opts.get(OptionCode::Unknown(175)).is_some();
    Ok(
        match choose_boot(
            architecture,
            is_ipxe,
            is_http_client(request),
            mac,
            &config.http_base,
            config.files.as_ref(),
        ) {
            BootTarget::Url(url) => url,
            BootTarget::TftpFile(file) => file,
        },
    )
}

/// What a network-boot client gets, whichever DHCP it asked by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BootTarget {
    /// A whole URL: iPXE's boot script, or a boot program for UEFI HTTP boot.
    Url(String),
    /// A file of the TFTP root, for PXE firmware.
    TftpFile(String),
}

/// The one decision both DHCPs share: iPXE gets its boot script, firmware the boot program
/// for its architecture (by URL for UEFI HTTP boot, by TFTP otherwise).
pub(crate) fn choose_boot(
    architecture: Architecture,
    is_ipxe: bool,
    is_http: bool,
    mac: &str,
    http_base: &str,
    files: &dyn ChooseBootFile,
) -> BootTarget {
    let http_base = http_base.trim_end_matches('/');
    if is_ipxe {
        return BootTarget::Url(format!(
            "{http_base}/boot/{mac}.ipxe?arch={}&platform={}",
            arch_name(architecture),
            if architecture == Architecture::X86_Bios {
                "pcbios"
            } else {
                "efi"
            }
        ));
    }
    let code = u16::from(architecture);
    let firmware = Firmware::of(code);
    let file = files.boot_file(mac, firmware);
    if firmware.is_none() {
        tracing::warn!(
            mac,
            architecture = code,
            file,
            "a network-boot client of an unknown architecture gets the lab's default boot program"
        );
    }
    if is_http {
        // UEFI HTTP boot takes a whole URL: the same binaries TFTP serves, over HTTP.
        return BootTarget::Url(format!("{http_base}/boot/firmware/{file}"));
    }
    BootTarget::TftpFile(file)
}

/// A BOOTREPLY to `request` from `server`: its transaction, client hardware address, flags and
/// relay; addresses left for the caller (ciaddr and yiaddr are 0).
pub(crate) fn reply_header(request: &Message, server: Ipv4Addr) -> Message {
    let mut reply = Message::default();
    reply
        .set_opcode(Opcode::BootReply)
        .set_htype(request.htype())
        .set_xid(request.xid())
        .set_flags(request.flags())
        .set_chaddr(request.chaddr())
        .set_giaddr(request.giaddr())
        .set_ciaddr(Ipv4Addr::UNSPECIFIED)
        .set_yiaddr(Ipv4Addr::UNSPECIFIED)
        .set_siaddr(server);
    reply
}

/// What a PXE client must find in an answer meant for it: vendor class `PXEClient` and its own
/// machine identifier (option 97) echoed.
pub(crate) fn add_pxe_options(request: &Message, options: &mut DhcpOptions) {
    let class: &[u8] = if is_http_client(request) {
        b"HTTPClient"
    } else {
        b"PXEClient"
    };
    options.insert(DhcpOption::ClassIdentifier(class.to_vec()));
    if let Some(DhcpOption::ClientMachineIdentifier(uuid)) =
        request.opts().get(OptionCode::ClientMachineIdentifier)
    {
        options.insert(DhcpOption::ClientMachineIdentifier(uuid.clone()));
    }
}

/// Encodes a reply for the wire.
pub fn encode(reply: &Reply) -> Vec<u8> {
    reply.message.to_vec().unwrap_or_default()
}

/// `PXEClient:Arch:00007:UNDI:003000` → 7, for clients that send no option 93.
pub(crate) fn architecture_from_class(class: &[u8]) -> Architecture {
    std::str::from_utf8(class)
        .ok()
        .and_then(|text| text.split(':').skip_while(|p| *p != "Arch").nth(1))
        .and_then(|digits| digits.parse::<u16>().ok())
        .map(Architecture::from)
        .unwrap_or(Architecture::X86_Bios)
}

/// iPXE's `${buildarch}` for the script URL; empty for codes of no known kind, so the lab
/// goes by the inventory rather than a guess.
fn arch_name(architecture: Architecture) -> &'static str {
    match Firmware::of(u16::from(architecture)) {
        Some(Firmware::Bios) => "i386",
        Some(Firmware::X86_64Efi) => "x86_64",
        Some(Firmware::Arm64Efi) => "arm64",
        None => "",
    }
}

pub(crate) fn format_mac(chaddr: &[u8]) -> String {
    chaddr
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An OFFER, ACK or NAK to send.
    Reply {
        reply: Reply,
        leased: Option<Ipv4Addr>,
    },
    /// Handled without an answer (RELEASE, DECLINE, a REQUEST for another server); `seen` is
    /// the address the client was noted at, when it tells where the MAC now is.
    Noted {
        mac: String,
        what: String,
        seen: Option<Ipv4Addr>,
    },
}
