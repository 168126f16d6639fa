//! ProxyDHCP (PXE 2.1; RFC 4578): tells PXE clients where their boot program is, alongside the
//! site's own DHCP server, and never hands out an address.
//!
//! A firmware PXE client (EDK2, a NIC's PXE ROM) gets the iPXE binary for its architecture
//! (option 93) to fetch over TFTP; a client that is already iPXE (user class `iPXE`, option 77,
//! or iPXE's encapsulated option 175) gets the HTTP URL of its boot script instead, so the
//! chain ends after one TFTP transfer. EDK2 repeats its request to port 4011 and gets an ACK
//! there. Relayed requests (giaddr set) are answered to the relay, as load testers like
//! perfdhcp need.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, DhcpOptions, Message, MessageType, Opcode};

use super::message::{
    add_pxe_options, boot_target, format_mac, is_pxe_client, reply_header, requested_address,
    Destination, Ignored, Outcome, ProxyConfig, Reply, ServerPort,
};

/// The proxy's handling of one datagram: an answer, or — for a PXE client asking the site's
/// server for its address — a note of where that MAC is, since its boot script will be asked
/// for from there.
pub fn handle(
    request: &Message,
    port: ServerPort,
    source: SocketAddrV4,
    config: &ProxyConfig,
) -> Result<Outcome, Ignored> {
    match answer(request, port, source, config) {
        Ok(reply) => Ok(Outcome::Reply {
            reply,
            leased: None,
        }),
        Err(Ignored::Uninteresting(kind)) => match requested_address(request) {
            Some(address) => Ok(Outcome::Noted {
                mac: format_mac(request.chaddr()),
                what: "request to another server for".into(),
                seen: Some(address),
            }),
            None => Err(Ignored::Uninteresting(kind)),
        },
        Err(other) => Err(other),
    }
}

/// The proxy's answer to one request that arrived on `port` from `source`.
pub fn answer(
    request: &Message,
    port: ServerPort,
    source: SocketAddrV4,
    config: &ProxyConfig,
) -> Result<Reply, Ignored> {
    if request.opcode() != Opcode::BootRequest {
        return Err(Ignored::NotRequest);
    }
    let opts = request.opts();
    if !is_pxe_client(request) {
        return Err(Ignored::NotPxe);
    }
    let kind = match (opts.msg_type(), port) {
        (Some(MessageType::Discover), ServerPort::Dhcp) => MessageType::Offer,
        (Some(MessageType::Request), ServerPort::Pxe) => MessageType::Ack,
        (other, _) => {
            return Err(Ignored::Uninteresting(format!("{other:?}")));
        }
    };
    let mac = format_mac(request.chaddr());
    let boot = boot_target(request, &mac, config)?;

    let mut reply = reply_header(request, config.server);
    reply.set_fname_str(&boot);
    let mut options = DhcpOptions::new();
    options.insert(DhcpOption::MessageType(kind));
    options.insert(DhcpOption::ServerIdentifier(config.server));
    add_pxe_options(request, &mut options);
    // No PXE vendor options (43): with them EDK2 would take the file from this offer and skip
    // the port-4011 request; without them it asks the boot server at siaddr:4011, as PXE
    // firmware expects to, and gets the same answer there.
    reply.set_opts(options);

    let to = if request.giaddr() != Ipv4Addr::UNSPECIFIED {
        Destination::Relay(request.giaddr())
    } else if port == ServerPort::Pxe {
        Destination::Unicast(source)
    } else {
        Destination::Broadcast
    };
    Ok(Reply {
        message: reply,
        to,
        mac,
        boot,
    })
}
#[cfg(test)]
mod tests {
    /// The fuzz seeds of this checkout. Read at run time: a test binary built in another clone
    /// that shares the target directory must not look in that clone.
    fn seeds_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
            .join("fuzz/seeds")
    }

    use super::*;
    use crate::dhcp::message::*;
    use dhcproto::v4::{Architecture, OptionCode};
    use dhcproto::{Decodable, Decoder, Encodable};

    /// The fuzz seeds (real PXE requests from packet captures) and every input that once
    /// crashed a fuzz target, replayed on the stable compiler with each test run.
    #[test]
    fn fuzz_seeds_and_past_crashes_are_answered_or_dropped_without_panicking() {
        let seeds = seeds_dir();
        let mut decoded = 0;
        for entry in std::fs::read_dir(seeds).unwrap() {
            let datagram = std::fs::read(entry.unwrap().path()).unwrap();
            if let Ok(request) = decode(&datagram) {
                decoded += 1;
                for port in [ServerPort::Dhcp, ServerPort::Pxe] {
                    if let Ok(reply) = answer(&request, port, client(), &config()) {
                        assert!(decode(&encode(&reply)).is_ok());
                    }
                }
            }
        }
        assert!(decoded >= 16, "the captured PXE requests decode: {decoded}");
    }

    /// Inputs that panicked dhcproto 0.15 (found by fuzzing). The vendored dhcproto decodes
    /// them without panicking — asked directly, without the `catch_unwind` guard — and none of
    /// them gets an answer.
    #[test]
    fn datagrams_that_panicked_the_decoder_are_decoded_safely_and_never_answered() {
        let mut valid = Message::default();
        valid.set_chaddr(&MAC);
        let valid = valid.to_vec().unwrap();
        assert!(decode(&valid).is_ok());
        let mut long_hardware_address = valid.clone();
        long_hardware_address[2] = 17;
        // Options placed where the end option was.
        let with_option = |option: &[u8]| {
            let mut datagram = valid[..240].to_vec();
            datagram.extend_from_slice(&[53, 1, 1]);
            datagram.extend_from_slice(option);
            datagram.push(255);
            datagram
        };
        let crashes = seeds_dir();
        let mut cases: Vec<(Vec<u8>, String)> = vec![
            (
                long_hardware_address.clone(),
                "hardware address of 17 bytes".into(),
            ),
            (
                with_option(&[80, 1, 0]),
                "Rapid Commit with a payload".into(),
            ),
            (with_option(&[81, 1, 0]), "client FQDN of one byte".into()),
            (with_option(&[151, 0]), "empty status code".into()),
            (
                with_option(&[152, 3, 0, 0, 0]),
                "short bulk leasequery time".into(),
            ),
            (
                with_option(&[94, 2, 1, 2]),
                "short interface identifier".into(),
            ),
            (
                with_option(&[94, 3, 1, 2, 3, 94, 3, 1, 2, 3]),
                "two interface identifiers, concatenated".into(),
            ),
            (with_option(&[60, 9, b'P']), "option past the end".into()),
        ];
        for entry in std::fs::read_dir(crashes).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("crash-")
            {
                cases.push((std::fs::read(&path).unwrap(), path.display().to_string()));
            }
        }
        for (datagram, why) in &cases {
            // The root fix: dhcproto itself, no guard around it.
            if let Ok(message) = Message::decode(&mut Decoder::new(datagram)) {
                assert!(message.chaddr().len() <= 16, "{why}");
            }
            if let Ok(request) = decode(datagram) {
                for port in [ServerPort::Dhcp, ServerPort::Pxe] {
                    assert!(
                        answer(&request, port, client(), &config()).is_err(),
                        "{why} was answered"
                    );
                }
            }
        }
        assert!(matches!(
            decode(&long_hardware_address),
            Err(Ignored::Malformed(_))
        ));
        assert!(matches!(decode(&valid[..100]), Err(Ignored::Malformed(_))));
        assert!(decode(&with_option(&[80, 0])).is_ok());
    }

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    fn config() -> ProxyConfig {
        ProxyConfig {
            server: Ipv4Addr::new(10, 99, 0, 2),
            http_base: "http://10.99.0.2:3000".into(),
            files: std::sync::Arc::new(BootFiles::default()),
        }
    }

    fn client() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 50), 4011)
    }

    /// A request as a PXE client sends it, through the encoder and decoder like a real one.
    fn pxe_request(
        kind: MessageType,
        class: &str,
        arch: Option<u16>,
        user_class: Option<&str>,
    ) -> Message {
        let mut message = Message::default();
        message.set_xid(0x1234_5678).set_chaddr(&MAC);
        let opts = message.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ClassIdentifier(class.as_bytes().to_vec()));
        if let Some(arch) = arch {
            opts.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(
                arch,
            )));
        }
        if let Some(user_class) = user_class {
            opts.insert(DhcpOption::UserClass(user_class.as_bytes().to_vec()));
        }
        opts.insert(DhcpOption::ClientMachineIdentifier(vec![0; 17]));
        decode(&message.to_vec().unwrap()).unwrap()
    }

    #[test]
    fn a_pxe_clients_request_to_the_site_server_tells_its_address() {
        let class = "PXEClient:Arch:00000:UNDI:002001";
        let with_requested = |message: Message, address: Ipv4Addr| {
            let mut message = message;
            message
                .opts_mut()
                .insert(DhcpOption::RequestedIpAddress(address));
            decode(&message.to_vec().unwrap()).unwrap()
        };
        let request = pxe_request(MessageType::Request, class, Some(0), Some("iPXE"));
        let asked = with_requested(request.clone(), Ipv4Addr::new(10, 99, 0, 114));
        assert_eq!(
            requested_address(&asked),
            Some(Ipv4Addr::new(10, 99, 0, 114))
        );
        // Renewing: no option 50, the address it has is in ciaddr.
        let mut renewing = request.clone();
        renewing.set_ciaddr(Ipv4Addr::new(10, 99, 0, 115));
        assert_eq!(
            requested_address(&renewing),
            Some(Ipv4Addr::new(10, 99, 0, 115))
        );
        assert_eq!(requested_address(&request), None, "nothing asked for");
        let discover = pxe_request(MessageType::Discover, class, Some(0), None);
        assert_eq!(
            requested_address(&with_requested(discover, Ipv4Addr::new(10, 99, 0, 9))),
            None
        );
        let not_pxe = pxe_request(MessageType::Request, "android-dhcp-14", None, None);
        assert_eq!(
            requested_address(&with_requested(not_pxe, Ipv4Addr::new(10, 99, 0, 9))),
            None
        );
    }

    /// UEFI HTTP boot (x86-64 arch 16, arm64 arch 19) takes the binary by URL, served by baas,
    /// and only with `HTTPClient` echoed.
    #[test]
    fn uefi_http_boot_gets_the_url_of_its_ipxe_binary_and_httpclient_echoed() {
        for (class, arch, url) in [
            (
                "HTTPClient:Arch:00016:UNDI:003001",
                Some(16),
                "http://10.99.0.2:3000/boot/firmware/ipxe.efi",
            ),
            (
                "HTTPClient:Arch:00016:UNDI:003001",
                None,
                "http://10.99.0.2:3000/boot/firmware/ipxe.efi",
            ),
            (
                "HTTPClient:Arch:00019:UNDI:003001",
                Some(19),
                "http://10.99.0.2:3000/boot/firmware/baas-grubnetaa64.efi",
            ),
        ] {
            let request = pxe_request(MessageType::Discover, class, arch, None);
            let reply = answer(&request, ServerPort::Dhcp, client(), &config()).unwrap();
            let offer = decode(&encode(&reply)).unwrap();
            assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
            let fname = offer.fname_str().unwrap().unwrap().trim_end_matches('\0');
            assert_eq!(fname, url, "{class}");
            assert!(matches!(
                offer.opts().get(OptionCode::ClassIdentifier),
                Some(DhcpOption::ClassIdentifier(c)) if c == b"HTTPClient"
            ));
        }
        // Once iPXE runs, it asks for its script as any iPXE does.
        let ipxe = pxe_request(
            MessageType::Discover,
            "HTTPClient:Arch:00016:UNDI:003001",
            Some(16),
            Some("iPXE"),
        );
        let reply = answer(&ipxe, ServerPort::Dhcp, client(), &config()).unwrap();
        assert!(
            reply
                .boot
                .contains("/boot/52:54:00:12:34:56.ipxe?arch=x86_64&platform=efi"),
            "{}",
            reply.boot
        );
    }

    /// A client of an architecture baas has no kind for (2: Itanium) gets the table's default
    /// and is answered like any other, never dropped or crashed on.
    #[test]
    fn an_unknown_architecture_gets_the_default_boot_program() {
        let odd_arch = pxe_request(
            MessageType::Discover,
            "PXEClient:Arch:00002:UNDI:003000",
            Some(2),
            None,
        );
        let config = ProxyConfig {
            files: std::sync::Arc::new(BootFiles {
                unknown: "snponly.efi".into(),
                ..BootFiles::default()
            }),
            ..config()
        };
        let reply = answer(&odd_arch, ServerPort::Dhcp, client(), &config).unwrap();
        assert_eq!(reply.boot, "snponly.efi");
        assert_eq!(reply.message.fname().unwrap_or_default(), b"snponly.efi");
    }

    /// The chooser sees the client's MAC: a machine with its own program gets it, by PXE and
    /// by HTTP boot alike.
    #[test]
    fn the_boot_program_is_chosen_per_client() {
        struct OwnProgram;
        impl crate::dhcp::message::ChooseBootFile for OwnProgram {
            fn boot_file(&self, mac: &str, firmware: Option<Firmware>) -> String {
                match (mac, firmware) {
                    ("52:54:00:12:34:56", Some(Firmware::X86_64Efi)) => "snponly.efi".into(),
                    _ => "ipxe.efi".into(),
                }
            }
        }
        let config = ProxyConfig {
            files: std::sync::Arc::new(OwnProgram),
            ..config()
        };
        let pxe = pxe_request(
            MessageType::Discover,
            "PXEClient:Arch:00007:UNDI:003000",
            Some(7),
            None,
        );
        assert_eq!(
            answer(&pxe, ServerPort::Dhcp, client(), &config)
                .unwrap()
                .boot,
            "snponly.efi"
        );
        let http = pxe_request(
            MessageType::Discover,
            "HTTPClient:Arch:00016:UNDI:003001",
            Some(16),
            None,
        );
        assert_eq!(
            answer(&http, ServerPort::Dhcp, client(), &config)
                .unwrap()
                .boot,
            "http://10.99.0.2:3000/boot/firmware/snponly.efi"
        );
    }

    #[test]
    fn firmware_pxe_gets_the_ipxe_binary_for_its_architecture() {
        for (class, arch, file) in [
            ("PXEClient:Arch:00000:UNDI:002001", Some(0), "undionly.kpxe"),
            ("PXEClient:Arch:00007:UNDI:003000", Some(7), "ipxe.efi"),
            ("PXEClient:Arch:00007:UNDI:003000", None, "ipxe.efi"),
            (
                "PXEClient:Arch:00011:UNDI:003000",
                Some(11),
                "baas-grubnetaa64.efi",
            ),
        ] {
            let request = pxe_request(MessageType::Discover, class, arch, None);
            let reply = answer(&request, ServerPort::Dhcp, client(), &config()).unwrap();
            let offer = decode(&encode(&reply)).unwrap();
            assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
            let fname = offer.fname_str().unwrap().unwrap().trim_end_matches('\0');
            assert_eq!(fname, file, "{class}");
            assert_eq!(offer.siaddr(), Ipv4Addr::new(10, 99, 0, 2));
            assert_eq!(
                offer.yiaddr(),
                Ipv4Addr::UNSPECIFIED,
                "a proxy hands out no address"
            );
            assert_eq!(offer.xid(), 0x1234_5678);
            assert_eq!(offer.chaddr(), MAC);
            assert!(matches!(
                offer.opts().get(OptionCode::ClassIdentifier),
                Some(DhcpOption::ClassIdentifier(c)) if c == b"PXEClient"
            ));
            assert!(offer
                .opts()
                .get(OptionCode::ClientMachineIdentifier)
                .is_some());
            assert_eq!(reply.to, Destination::Broadcast);
        }
    }

    #[test]
    fn ipxe_gets_its_script_url_and_port_4011_requests_get_an_ack_back_to_the_sender() {
        let request = pxe_request(
            MessageType::Discover,
            "PXEClient:Arch:00000:UNDI:002001",
            Some(0),
            Some("iPXE"),
        );
        let reply = answer(&request, ServerPort::Dhcp, client(), &config()).unwrap();
        assert_eq!(
            reply.boot,
            "http://10.99.0.2:3000/boot/52:54:00:12:34:56.ipxe?arch=i386&platform=pcbios"
        );
        let request = pxe_request(
            MessageType::Request,
            "PXEClient:Arch:00007:UNDI:003000",
            Some(7),
            None,
        );
        let reply = answer(&request, ServerPort::Pxe, client(), &config()).unwrap();
        assert_eq!(reply.message.opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(reply.to, Destination::Unicast(client()));
        assert_eq!(reply.boot, "ipxe.efi");
    }

    #[test]
    fn relayed_requests_are_answered_to_the_relay() {
        let mut request = pxe_request(
            MessageType::Discover,
            "PXEClient:Arch:00000:UNDI:002001",
            Some(0),
            None,
        );
        request.set_giaddr(Ipv4Addr::new(10, 1, 2, 1));
        let reply = answer(&request, ServerPort::Dhcp, client(), &config()).unwrap();
        assert_eq!(reply.to, Destination::Relay(Ipv4Addr::new(10, 1, 2, 1)));
        assert_eq!(reply.message.giaddr(), Ipv4Addr::new(10, 1, 2, 1));
    }

    #[test]
    fn other_clients_messages_and_garbage_get_no_answer() {
        let plain = pxe_request(MessageType::Discover, "dhcpcd-9.4.1", None, None);
        assert_eq!(
            answer(&plain, ServerPort::Dhcp, client(), &config()),
            Err(Ignored::NotPxe)
        );
        let request_on_67 = pxe_request(
            MessageType::Request,
            "PXEClient:Arch:00000:UNDI:002001",
            Some(0),
            None,
        );
        assert!(matches!(
            answer(&request_on_67, ServerPort::Dhcp, client(), &config()),
            Err(Ignored::Uninteresting(_))
        ));
        for short in [&b""[..], &[0u8; 10][..], &[1u8; 200][..]] {
            assert!(matches!(decode(short), Err(Ignored::Malformed(_))));
        }
        // Header-sized noise may parse; it is still never answered.
        let noise = [0xffu8; 300];
        if let Ok(message) = decode(&noise) {
            assert!(answer(&message, ServerPort::Dhcp, client(), &config()).is_err());
        }
        let mut reply_packet = plain.clone();
        reply_packet.set_opcode(Opcode::BootReply);
        assert_eq!(
            answer(&reply_packet, ServerPort::Dhcp, client(), &config()),
            Err(Ignored::NotRequest)
        );
    }
}
