//! Authoritative DHCP (RFC 2131) for a lab subnet with no DHCP server of its own: the
//! DISCOVER/OFFER/REQUEST/ACK/NAK exchange, RELEASE and DECLINE, with the boot program (or the
//! iPXE script URL) in the same answer for PXE clients. Which address a client gets is not
//! decided here: a [`LeaseBook`] (the lab's leases) is asked.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::pin::Pin;

use dhcproto::v4::{DhcpOption, DhcpOptions, Message, MessageType, Opcode, OptionCode};

use super::message::{
    add_pxe_options, boot_target, format_mac, is_pxe_client, reply_header, wanted_address,
    Destination, Ignored, Outcome, ProxyConfig, Reply,
};

pub type LeaseFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LeaseError>> + Send + 'a>>;

/// The lease store could not answer (a database error): the client gets no reply and retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("lease store: {0}")]
pub struct LeaseError(pub String);

/// Who gets which address (`A`: IPv4 for DHCPv4, IPv6 for DHCPv6's IA_NA). MACs are
/// `aa:bb:cc:dd:ee:ff`.
pub trait LeaseBook<A = Ipv4Addr>: Send + Sync {
    /// The address to offer, if any; `requested` is the client's wish (option 50, or the
    /// address in its IA_NA).
    fn offer<'a>(&'a self, mac: &'a str, requested: Option<A>) -> LeaseFuture<'a, Option<A>>;
    /// The address to advertise, without holding it (DHCPv6's Solicit; the Request binds).
    fn propose<'a>(&'a self, mac: &'a str, requested: Option<A>) -> LeaseFuture<'a, Option<A>> {
        self.offer(mac, requested)
    }
    /// Binds `address` to the client; `false` means it may not have it (NAK).
    fn bind<'a>(&'a self, mac: &'a str, address: A) -> LeaseFuture<'a, bool>;
    /// The client gave `address` back, or (`None`) took another server's offer.
    fn release<'a>(&'a self, mac: &'a str, address: Option<A>) -> LeaseFuture<'a, ()>;
    /// The client found `address` in use.
    fn decline<'a>(&'a self, mac: &'a str, address: A) -> LeaseFuture<'a, ()>;
}

/// What the server tells clients besides their address.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Server identifier, siaddr and boot programs, as for the ProxyDHCP.
    pub boot: ProxyConfig,
    pub netmask: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub lease_seconds: u32,
}

/// Handles one request that arrived on port 67.
pub async fn answer(
    request: &Message,
    config: &NetworkConfig,
    leases: &dyn LeaseBook,
) -> Result<Outcome, Ignored> {
    if request.opcode() != Opcode::BootRequest {
        return Err(Ignored::NotRequest);
    }
    let mac = format_mac(request.chaddr());
    let opts = request.opts();
    let requested = match opts.get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(address)) => Some(*address),
        _ => None,
    };
    let server_id = match opts.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(address)) => Some(*address),
        _ => None,
    };
    let ours = config.boot.server;
    let store = |e: LeaseError| Ignored::Unavailable(e.to_string());
    match opts.msg_type() {
        Some(MessageType::Discover) => {
            let Some(address) = leases.offer(&mac, requested).await.map_err(store)? else {
                return Err(Ignored::NoAddress);
            };
            let reply = reply(request, MessageType::Offer, Some(address), &mac, config)?;
            Ok(Outcome::Reply {
                reply,
                leased: Some(address),
            })
        }
        Some(MessageType::Request) => {
            if server_id.is_some_and(|id| id != ours) {
                // SELECTING another server's offer: ours is free again.
                leases.release(&mac, None).await.map_err(store)?;
                return Ok(Outcome::Noted {
                    mac,
                    what: "took another server's offer".into(),
                    seen: None,
                });
            }
            // SELECTING and INIT-REBOOT name the address in option 50; RENEWING and
            // REBINDING use ciaddr.
            let Some(address) = wanted_address(request) else {
                return Err(Ignored::Malformed("REQUEST names no address".into()));
            };
            if leases.bind(&mac, address).await.map_err(store)? {
                let reply = reply(request, MessageType::Ack, Some(address), &mac, config)?;
                Ok(Outcome::Reply {
                    reply,
                    leased: Some(address),
                })
            } else {
                Ok(Outcome::Reply {
                    reply: nak(request, &mac, config),
                    leased: None,
                })
            }
        }
        Some(MessageType::Release) if server_id.is_none_or(|id| id == ours) => {
            let address = request.ciaddr();
            leases.release(&mac, Some(address)).await.map_err(store)?;
            Ok(Outcome::Noted {
                mac,
                what: format!("released {address}"),
                seen: None,
            })
        }
        Some(MessageType::Decline) if server_id.is_none_or(|id| id == ours) => {
            let Some(address) = requested else {
                return Err(Ignored::Malformed("DECLINE names no address".into()));
            };
            leases.decline(&mac, address).await.map_err(store)?;
            Ok(Outcome::Noted {
                mac,
                what: format!("declined {address} (in use)"),
                seen: None,
            })
        }
        other => Err(Ignored::Uninteresting(format!("{other:?}"))),
    }
}

/// An OFFER or ACK with the address, the network's options and, for PXE clients, what to boot.
fn reply(
    request: &Message,
    kind: MessageType,
    address: Option<Ipv4Addr>,
    mac: &str,
    config: &NetworkConfig,
) -> Result<Reply, Ignored> {
    let boot = if is_pxe_client(request) {
        Some(boot_target(request, mac, &config.boot)?)
    } else {
        None
    };
    let mut message = reply_header(request, config.boot.server);
    message
        .set_ciaddr(request.ciaddr())
        .set_yiaddr(address.unwrap_or(Ipv4Addr::UNSPECIFIED));
    if let Some(boot) = &boot {
        message.set_fname_str(boot);
    }
    let mut options = DhcpOptions::new();
    options.insert(DhcpOption::MessageType(kind));
    options.insert(DhcpOption::ServerIdentifier(config.boot.server));
    let lease = config.lease_seconds;
    options.insert(DhcpOption::AddressLeaseTime(lease));
    options.insert(DhcpOption::Renewal(lease / 2));
    options.insert(DhcpOption::Rebinding(lease / 8 * 7));
    options.insert(DhcpOption::SubnetMask(config.netmask));
    if let Some(router) = config.router {
        options.insert(DhcpOption::Router(vec![router]));
    }
    if !config.dns.is_empty() {
        options.insert(DhcpOption::DomainNameServer(config.dns.clone()));
    }
    if boot.is_some() {
        add_pxe_options(request, &mut options);
    }
    message.set_opts(options);
    Ok(Reply {
        message,
        to: destination(request),
        mac: mac.to_string(),
        boot: boot.unwrap_or_default(),
    })
}

fn nak(request: &Message, mac: &str, config: &NetworkConfig) -> Reply {
    let mut message = reply_header(request, Ipv4Addr::UNSPECIFIED);
    message.set_ciaddr(request.ciaddr());
    let mut options = DhcpOptions::new();
    options.insert(DhcpOption::MessageType(MessageType::Nak));
    options.insert(DhcpOption::ServerIdentifier(config.boot.server));
    options.insert(DhcpOption::Message(
        "address not available to this client".into(),
    ));
    message.set_opts(options);
    // RFC 2131 4.3.2: a NAK goes to the relay or is broadcast, never to the refused address.
    let to = if request.giaddr().is_unspecified() {
        Destination::Broadcast
    } else {
        Destination::Relay(request.giaddr())
    };
    Reply {
        message,
        to,
        mac: mac.to_string(),
        boot: String::new(),
    }
}

/// RFC 2131 4.1: to the relay; to a client that has an address at that address; otherwise
/// broadcast (a unicast to an address the client does not have yet would need an ARP entry
/// this socket cannot add).
fn destination(request: &Message) -> Destination {
    if !request.giaddr().is_unspecified() {
        Destination::Relay(request.giaddr())
    } else if !request.ciaddr().is_unspecified() {
        Destination::Unicast(SocketAddrV4::new(request.ciaddr(), 68))
    } else {
        Destination::Broadcast
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use dhcproto::{Decodable, Decoder, Encodable};

    use super::*;
    use crate::dhcp::message::{decode, encode, BootFiles};

    /// An in-memory book: one fixed address per MAC, the rest refused.
    #[derive(Default)]
    struct Book {
        fixed: HashMap<String, Ipv4Addr>,
        log: Mutex<Vec<String>>,
    }

    impl LeaseBook for Book {
        fn offer<'a>(
            &'a self,
            mac: &'a str,
            _: Option<Ipv4Addr>,
        ) -> LeaseFuture<'a, Option<Ipv4Addr>> {
            Box::pin(async move { Ok(self.fixed.get(mac).copied()) })
        }
        fn bind<'a>(&'a self, mac: &'a str, address: Ipv4Addr) -> LeaseFuture<'a, bool> {
            Box::pin(async move { Ok(self.fixed.get(mac) == Some(&address)) })
        }
        fn release<'a>(&'a self, mac: &'a str, address: Option<Ipv4Addr>) -> LeaseFuture<'a, ()> {
            self.log
                .lock()
                .unwrap()
                .push(format!("release {mac} {address:?}"));
            Box::pin(async { Ok(()) })
        }
        fn decline<'a>(&'a self, mac: &'a str, address: Ipv4Addr) -> LeaseFuture<'a, ()> {
            self.log
                .lock()
                .unwrap()
                .push(format!("decline {mac} {address}"));
            Box::pin(async { Ok(()) })
        }
    }

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    const MAC_TEXT: &str = "52:54:00:12:34:56";

    fn config() -> NetworkConfig {
        NetworkConfig {
            boot: ProxyConfig {
                server: Ipv4Addr::new(10, 99, 0, 2),
                http_base: "http://10.99.0.2:3000".into(),
                files: std::sync::Arc::new(BootFiles::default()),
            },
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            router: Some(Ipv4Addr::new(10, 99, 0, 1)),
            dns: vec![Ipv4Addr::new(10, 99, 0, 1)],
            lease_seconds: 3600,
        }
    }

    fn book() -> Book {
        Book {
            fixed: HashMap::from([(MAC_TEXT.to_string(), Ipv4Addr::new(10, 99, 0, 21))]),
            ..Book::default()
        }
    }

    fn request(kind: MessageType, extra: Vec<DhcpOption>, pxe: bool) -> Message {
        let mut message = Message::default();
        message
            .set_xid(0x1234)
            .set_chaddr(&MAC)
            .set_flags(dhcproto::v4::Flags::default().set_broadcast());
        let mut options = DhcpOptions::new();
        options.insert(DhcpOption::MessageType(kind));
        if pxe {
            options.insert(DhcpOption::ClassIdentifier(
                b"PXEClient:Arch:00000:UNDI:002001".to_vec(),
            ));
            options.insert(DhcpOption::ClientSystemArchitecture(0.into()));
        }
        for option in extra {
            options.insert(option);
        }
        message.set_opts(options);
        // Through the wire format, as a client sends it.
        decode(&message.to_vec().unwrap()).unwrap()
    }

    fn reply_of(outcome: Outcome) -> (Message, Destination) {
        match outcome {
            Outcome::Reply { reply, .. } => {
                let wire = encode(&reply);
                (Message::decode(&mut Decoder::new(&wire)).unwrap(), reply.to)
            }
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_pxe_discover_gets_its_address_options_and_boot_program_in_one_offer() {
        let outcome = answer(
            &request(MessageType::Discover, vec![], true),
            &config(),
            &book(),
        )
        .await
        .unwrap();
        let (offer, to) = reply_of(outcome);
        assert_eq!(to, Destination::Broadcast);
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 99, 0, 21));
        assert_eq!(offer.siaddr(), Ipv4Addr::new(10, 99, 0, 2));
        assert_eq!(
            offer
                .fname_str()
                .and_then(Result::ok)
                .map(|f| f.trim_end_matches('\0')),
            Some("undionly.kpxe")
        );
        let opts = offer.opts();
        assert_eq!(
            opts.get(OptionCode::SubnetMask),
            Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
        );
        assert_eq!(
            opts.get(OptionCode::AddressLeaseTime),
            Some(&DhcpOption::AddressLeaseTime(3600))
        );
        assert_eq!(
            opts.get(OptionCode::Renewal),
            Some(&DhcpOption::Renewal(1800))
        );
        assert_eq!(
            opts.get(OptionCode::Rebinding),
            Some(&DhcpOption::Rebinding(3150))
        );
        assert_eq!(
            opts.get(OptionCode::Router),
            Some(&DhcpOption::Router(vec![Ipv4Addr::new(10, 99, 0, 1)]))
        );
        assert!(
            matches!(opts.get(OptionCode::ClassIdentifier), Some(DhcpOption::ClassIdentifier(c)) if c == b"PXEClient")
        );
    }

    #[tokio::test]
    async fn a_plain_client_gets_an_address_without_boot_options_and_unknown_ones_get_silence() {
        let (offer, _) = reply_of(
            answer(
                &request(MessageType::Discover, vec![], false),
                &config(),
                &book(),
            )
            .await
            .unwrap(),
        );
        assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 99, 0, 21));
        assert_eq!(offer.fname_str(), None);
        assert!(offer.opts().get(OptionCode::ClassIdentifier).is_none());
        let nobody = Book::default();
        assert_eq!(
            answer(
                &request(MessageType::Discover, vec![], false),
                &config(),
                &nobody
            )
            .await,
            Err(Ignored::NoAddress)
        );
    }

    #[tokio::test]
    async fn requests_for_the_clients_address_are_acked_and_others_nakked() {
        let selecting = request(
            MessageType::Request,
            vec![
                DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 99, 0, 21)),
                DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 99, 0, 2)),
            ],
            false,
        );
        let (ack, _) = reply_of(answer(&selecting, &config(), &book()).await.unwrap());
        assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(ack.yiaddr(), Ipv4Addr::new(10, 99, 0, 21));

        // INIT-REBOOT with an address from another network.
        let wrong = request(
            MessageType::Request,
            vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(
                192, 168, 1, 9,
            ))],
            false,
        );
        let (nak, to) = reply_of(answer(&wrong, &config(), &book()).await.unwrap());
        assert_eq!(nak.opts().msg_type(), Some(MessageType::Nak));
        assert_eq!(nak.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(to, Destination::Broadcast);

        // RENEWING: the address is in ciaddr, the ACK goes straight to it.
        let mut renewing = request(MessageType::Request, vec![], false);
        renewing.set_ciaddr(Ipv4Addr::new(10, 99, 0, 21));
        let (ack, to) = reply_of(answer(&renewing, &config(), &book()).await.unwrap());
        assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(
            to,
            Destination::Unicast(SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 21), 68))
        );
    }

    #[tokio::test]
    async fn release_decline_and_another_servers_offer_reach_the_book_without_a_reply() {
        let book = book();
        let other_server = request(
            MessageType::Request,
            vec![
                DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 99, 0, 150)),
                DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 99, 0, 1)),
            ],
            false,
        );
        let outcome = answer(&other_server, &config(), &book).await.unwrap();
        assert!(matches!(outcome, Outcome::Noted { .. }), "{outcome:?}");
        let mut release = request(
            MessageType::Release,
            vec![DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 99, 0, 2))],
            false,
        );
        release.set_ciaddr(Ipv4Addr::new(10, 99, 0, 21));
        answer(&release, &config(), &book).await.unwrap();
        let decline = request(
            MessageType::Decline,
            vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 99, 0, 21))],
            false,
        );
        answer(&decline, &config(), &book).await.unwrap();
        let no_address = request(MessageType::Decline, vec![], false);
        assert!(matches!(
            answer(&no_address, &config(), &book).await,
            Err(Ignored::Malformed(_))
        ));
        assert_eq!(
            *book.log.lock().unwrap(),
            [
                format!("release {MAC_TEXT} None"),
                format!("release {MAC_TEXT} Some(10.99.0.21)"),
                format!("decline {MAC_TEXT} 10.99.0.21"),
            ]
        );
    }

    #[tokio::test]
    async fn a_relayed_discover_is_answered_to_the_relay() {
        let mut relayed = request(MessageType::Discover, vec![], true);
        relayed.set_giaddr(Ipv4Addr::new(10, 50, 0, 1));
        let (_, to) = reply_of(answer(&relayed, &config(), &book()).await.unwrap());
        assert_eq!(to, Destination::Relay(Ipv4Addr::new(10, 50, 0, 1)));
    }
}
