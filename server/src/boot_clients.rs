//! Which MAC address is behind which IP address, as the boot services learn it: a PXE client's
//! port-4011 request comes from its new address, so TFTP transfers from that address can be
//! recorded as boot events of the right machine, and only the address a MAC was seen at is
//! handed that machine's enrolment token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Long enough for a PXE client to go from its DHCP answer to its TFTP transfer.
const REMEMBER: Duration = Duration::from_secs(600);

/// Forgotten entries are swept at most this often, not on every packet.
const SWEEP: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
pub struct BootClients {
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    by_address: HashMap<IpAddr, (String, Instant)>,
    swept: Option<Instant>,
}

impl BootClients {
    pub fn learn(&self, address: IpAddr, mac: &str) {
        if address.is_unspecified() {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.swept.is_none_or(|at| at.elapsed() >= SWEEP) {
            seen.by_address.retain(|_, (_, at)| at.elapsed() < REMEMBER);
            seen.swept = Some(Instant::now());
        }
        seen.by_address
            .insert(address, (mac.to_string(), Instant::now()));
    }

    /// Where the boot services last saw `mac` (canonical), if recently.
    pub fn address_of(&self, mac: &str) -> Option<IpAddr> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.by_address
            .iter()
            .filter(|(_, (seen_mac, at))| seen_mac == mac && at.elapsed() < REMEMBER)
            .max_by_key(|(_, (_, at))| *at)
            .map(|(address, _)| *address)
    }

    /// The address that vouches for `mac` when a boot script is asked for from `asking`:
    /// `asking` itself when the boot services saw that MAC there recently (a dual-stack machine
    /// is seen at an IPv4 and an IPv6 address), else where they last saw it.
    pub fn vouching_address(&self, mac: &str, asking: IpAddr) -> Option<IpAddr> {
        let asking = asking.to_canonical();
        let seen_there = self.mac_of(asking).is_some_and(|seen| seen == mac);
        if seen_there {
            return Some(asking);
        }
        self.address_of(mac)
    }

    pub fn mac_of(&self, address: IpAddr) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.by_address
            .get(&address)
            .filter(|(_, at)| at.elapsed() < REMEMBER)
            .map(|(mac, _)| mac.clone())
    }
}

/// The address a client heard by DHCPv6 at the EUI-64 link-local address of `mac` gives itself
/// by autoconfiguration on `prefix` (a /64 of the lab network): iPXE and the management OS
/// fetch from it. `None` when the link-local address is not the MAC's EUI-64 one (a client with
/// privacy addresses autoconfigures an address nobody can foresee).
pub fn autoconfigured_address(
    prefix: std::net::Ipv6Addr,
    link_local: std::net::Ipv6Addr,
    mac: &str,
) -> Option<std::net::Ipv6Addr> {
    let octets: Vec<u8> = mac
        .split(':')
        .map(|byte| u8::from_str_radix(byte, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let [a, b, c, d, e, f] = <[u8; 6]>::try_from(octets).ok()?;
    let interface_id = u64::from_be_bytes([a ^ 0x02, b, c, 0xff, 0xfe, d, e, f]);
    let low = |address: std::net::Ipv6Addr| u128::from(address) as u64;
    if !link_local.is_unicast_link_local() || low(link_local) != interface_id {
        return None;
    }
    let network = u128::from(prefix) & !u128::from(u64::MAX);
    Some(std::net::Ipv6Addr::from(network | u128::from(interface_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dual_stack_machine_is_vouched_for_at_either_address_it_was_seen_at() {
        let clients = BootClients::default();
        let mac = "52:54:00:12:34:56";
        let (four, six): (IpAddr, IpAddr) = (
            "10.99.0.50".parse().unwrap(),
            "fd99::5054:ff:fe12:3456".parse().unwrap(),
        );
        clients.learn(four, mac);
        clients.learn(six, mac);
        assert_eq!(clients.vouching_address(mac, four), Some(four));
        assert_eq!(clients.vouching_address(mac, six), Some(six));
        // Asked from an address it was not seen at: the last one seen, which will not match.
        let elsewhere: IpAddr = "fd42::5054:ff:fe12:3456".parse().unwrap();
        assert!(clients
            .vouching_address(mac, elsewhere)
            .is_some_and(|a| a != elsewhere));
        assert_eq!(clients.vouching_address("52:54:00:00:00:01", four), None);
    }

    #[test]
    fn only_the_eui64_link_local_address_of_the_mac_gives_its_autoconfigured_address() {
        let prefix = "fd99::2".parse().unwrap();
        let mac = "52:54:00:12:34:56";
        assert_eq!(
            autoconfigured_address(prefix, "fe80::5054:ff:fe12:3456".parse().unwrap(), mac),
            Some("fd99::5054:ff:fe12:3456".parse().unwrap())
        );
        // Another MAC's interface identifier, a privacy address, a global source: nothing.
        for source in [
            "fe80::5054:ff:fe12:3457",
            "fe80::1c2d:3e4f:5a6b:7c8d",
            "fd99::5054:ff:fe12:3456",
        ] {
            assert_eq!(
                autoconfigured_address(prefix, source.parse().unwrap(), mac),
                None,
                "{source}"
            );
        }
        assert_eq!(
            autoconfigured_address(
                prefix,
                "fe80::5054:ff:fe12:3456".parse().unwrap(),
                "nonsense"
            ),
            None
        );
    }

    #[test]
    fn addresses_map_to_the_mac_last_seen_there() {
        let clients = BootClients::default();
        let address: IpAddr = "10.99.0.50".parse().unwrap();
        assert_eq!(clients.mac_of(address), None);
        clients.learn("0.0.0.0".parse().unwrap(), "52:54:00:00:00:09");
        clients.learn(address, "52:54:00:00:00:01");
        clients.learn(address, "52:54:00:00:00:02");
        assert_eq!(
            clients.mac_of(address).as_deref(),
            Some("52:54:00:00:00:02")
        );
        assert_eq!(clients.mac_of("0.0.0.0".parse().unwrap()), None);
        assert_eq!(clients.address_of("52:54:00:00:00:02"), Some(address));
        assert_eq!(clients.address_of("52:54:00:00:00:01"), None, "moved on");
        assert_eq!(clients.address_of("52:54:00:00:00:09"), None);
    }
}
