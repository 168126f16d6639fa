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

    pub fn mac_of(&self, address: IpAddr) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.by_address
            .get(&address)
            .filter(|(_, at)| at.elapsed() < REMEMBER)
            .map(|(mac, _)| mac.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
