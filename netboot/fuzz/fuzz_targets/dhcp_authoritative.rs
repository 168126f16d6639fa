//! Any datagram through the authoritative server's answer with a lease book that hands out
//! one address: no panic, offers and ACKs carry that address, NAKs none.
#![no_main]

use std::net::Ipv4Addr;

use dhcproto::v4::MessageType;
use libfuzzer_sys::fuzz_target;
use netboot::dhcp::authoritative::answer;
use netboot::dhcp::message::Outcome;
use netboot::dhcp::{decode, BootFiles, LeaseBook, LeaseFuture, NetworkConfig, ProxyConfig};

const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

struct OneAddress;

impl LeaseBook for OneAddress {
    fn offer<'a>(&'a self, _: &'a str, _: Option<Ipv4Addr>) -> LeaseFuture<'a, Option<Ipv4Addr>> {
        Box::pin(async { Ok(Some(ADDRESS)) })
    }
    fn bind<'a>(&'a self, _: &'a str, address: Ipv4Addr) -> LeaseFuture<'a, bool> {
        Box::pin(async move { Ok(address == ADDRESS) })
    }
    fn release<'a>(&'a self, _: &'a str, _: Option<Ipv4Addr>) -> LeaseFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn decline<'a>(&'a self, _: &'a str, _: Ipv4Addr) -> LeaseFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

fuzz_target!(|datagram: &[u8]| {
    let Ok(request) = decode(datagram) else { return };
    let config = NetworkConfig {
        boot: ProxyConfig {
            server: Ipv4Addr::new(10, 99, 0, 2),
            http_base: "http://10.99.0.2:3000".into(),
            files: std::sync::Arc::new(BootFiles::default()),
        },
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        router: Some(Ipv4Addr::new(10, 99, 0, 1)),
        dns: vec![],
        lease_seconds: 3600,
    };
    let outcome = futures_lite::future::block_on(answer(&request, &config, &OneAddress));
    if let Ok(Outcome::Reply { reply, .. }) = outcome {
        let wire = netboot::dhcp::message::encode(&reply);
        let back = decode(&wire).expect("our own reply decodes");
        match back.opts().msg_type() {
            Some(MessageType::Nak) => assert_eq!(back.yiaddr(), Ipv4Addr::UNSPECIFIED),
            _ => assert_eq!(back.yiaddr(), ADDRESS),
        }
    }
});
