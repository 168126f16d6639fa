//! Any datagram through DHCPv6's decoder and both modes' answers on both ports (547 and the
//! boot server's 4011), from a link-local source, and every answer through the encoder and
//! decoder again: no panic, and an answer is always a server message to the client.
#![no_main]

use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use netboot::dhcp::v6::{self, BootConfig6, Mode6, NetworkConfig6};
use netboot::dhcp::{BootFiles, LeaseBook, LeaseFuture, ServerPort};

/// Leases one address per call: enough to walk every branch of the authoritative answers.
#[derive(Default)]
struct Book(Mutex<u16>);

impl LeaseBook<Ipv6Addr> for Book {
    fn offer<'a>(&'a self, _: &'a str, wanted: Option<Ipv6Addr>) -> LeaseFuture<'a, Option<Ipv6Addr>> {
        Box::pin(async move {
            let mut next = self.0.lock().unwrap();
            *next = next.wrapping_add(1);
            Ok(wanted.or(Some(Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 1, *next))))
        })
    }
    fn bind<'a>(&'a self, _: &'a str, address: Ipv6Addr) -> LeaseFuture<'a, bool> {
        Box::pin(async move { Ok(address.segments()[7] % 2 == 0) })
    }
    fn release<'a>(&'a self, _: &'a str, _: Option<Ipv6Addr>) -> LeaseFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn decline<'a>(&'a self, _: &'a str, _: Ipv6Addr) -> LeaseFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

fuzz_target!(|datagram: &[u8]| {
    let Ok(request) = v6::decode(datagram) else { return };
    let boot = BootConfig6 {
        server: Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 2),
        http_base: "http://[fd99::2]:3000".into(),
        files: Arc::new(BootFiles::default()),
    };
    let modes = [
        Mode6::Proxy(boot.clone()),
        Mode6::Authoritative(
            NetworkConfig6 {
                boot,
                prefix: (Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 0), 64),
                dns: vec![],
                lease_seconds: 3600,
            },
            Arc::new(Book::default()),
        ),
    ];
    let source = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0x00ff, 0xfe12, 0x3456);
    for mode in &modes {
        for port in [ServerPort::Dhcp, ServerPort::Pxe] {
            let answered = futures_lite::future::block_on(v6::answer(&request, port, &source, mode));
            if let Ok(v6::Answer6 { reply: Some(reply), .. }) = answered {
                let wire = v6::encode(&reply);
                let again = v6::decode(&wire).expect("our own answer decodes");
                assert!(matches!(
                    again.msg_type(),
                    dhcproto::v6::MessageType::Advertise | dhcproto::v6::MessageType::Reply
                ));
            }
        }
    }
});
