//! Any datagram through the ProxyDHCP's decoder and answer on both ports, and every answer
//! through the encoder: no panic, and an answer always goes somewhere sensible.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use netboot::dhcp::{answer, decode, BootFiles, Destination, ProxyConfig, ServerPort};

fuzz_target!(|datagram: &[u8]| {
    let Ok(request) = decode(datagram) else { return };
    let config = ProxyConfig {
        server: Ipv4Addr::new(10, 99, 0, 2),
        http_base: "http://10.99.0.2:3000".into(),
        files: std::sync::Arc::new(BootFiles::default()),
    };
    let source = SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 50), 68);
    for port in [ServerPort::Dhcp, ServerPort::Pxe] {
        if let Ok(reply) = answer(&request, port, source, &config) {
            assert!(!netboot::dhcp::message::encode(&reply).is_empty());
            if let Destination::Relay(relay) = reply.to {
                assert!(!relay.is_unspecified());
            }
        }
    }
});
