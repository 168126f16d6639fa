//! Where the server itself may fetch from on a user's behalf (imports by URL). Internal
//! networks — loopback, link-local, private, unique-local, shared and the like — are refused
//! unless an admin allowed a network in Settings, so a user cannot make baas reach services
//! that only it can see (a BMC, a metadata endpoint, the lab's own switches).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 or IPv6 network such as `10.1.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    /// `10.0.0.0/8`, `fd00::/8`, or a bare address (a network of one).
    fn from_str(text: &str) -> Result<Network, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not a network like 10.0.0.0/8 or fd00::/8"))?;
        let address = canonical(address);
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|len| *len <= max)
                .ok_or_else(|| format!("'{text}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Network {
            address,
            prefix_len,
        })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// Which destinations outgoing fetches may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressPolicy {
    /// Internal networks an admin opened (public addresses are always allowed).
    pub allowed: Vec<Network>,
}

impl EgressPolicy {
    /// `Ok` when `ip` may be connected to, else why not.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = canonical(ip);
        match internal_kind(ip) {
            None => Ok(()),
            Some(_) if self.allowed.iter().any(|network| network.contains(ip)) => Ok(()),
            Some(kind) => Err(format!(
                "{ip} is a {kind} address; an admin may allow its network for imports in Settings"
            )),
        }
    }

    /// Parses a comma or newline separated list of networks (the Settings form).
    pub fn parse(text: &str) -> Result<EgressPolicy, String> {
        let allowed = text
            .split([',', '\n', ' '])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(Network::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EgressPolicy { allowed })
    }

    /// The allowed networks as the Settings form shows them.
    pub fn to_text(&self) -> String {
        self.allowed
            .iter()
            .map(Network::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// IPv4 addresses written as IPv6 (`::ffff:127.0.0.1`) are judged as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What kind of non-public address `ip` is, if it is one.
fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => internal_v4(ip),
        IpAddr::V6(ip) => internal_v6(ip),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if ip.is_multicast() {
        Some("multicast or reserved")
    } else if first == 0 {
        // The rest of ::/16: IPv4-compatible and other transition forms.
        Some("reserved")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_destinations_are_refused_and_public_ones_allowed() {
        let policy = EgressPolicy::default();
        for internal in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc12::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
        ] {
            assert!(
                policy.check(ip(internal)).is_err(),
                "{internal} must be refused"
            );
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(policy.check(ip(public)).is_ok(), "{public} must be allowed");
        }
        let reason = policy.check(ip("169.254.169.254")).unwrap_err();
        assert!(reason.contains("link-local"), "{reason}");
    }

    #[test]
    fn an_allowed_network_opens_exactly_its_addresses() {
        let policy = EgressPolicy::parse("10.20.0.0/16, fd00:1::/32\n127.0.0.2").unwrap();
        assert!(policy.check(ip("10.20.3.4")).is_ok());
        assert!(policy.check(ip("::ffff:10.20.3.4")).is_ok());
        assert!(policy.check(ip("10.21.0.1")).is_err());
        assert!(policy.check(ip("fd00:1:2::3")).is_ok());
        assert!(policy.check(ip("fd00:2::3")).is_err());
        assert!(policy.check(ip("127.0.0.2")).is_ok());
        assert!(policy.check(ip("127.0.0.1")).is_err());
        assert_eq!(policy.to_text(), "10.20.0.0/16, fd00:1::/32, 127.0.0.2/32");
        assert!(EgressPolicy::parse("10.0.0.0/33").is_err());
        assert!(EgressPolicy::parse("intranet").is_err());
        assert!(EgressPolicy::parse("0.0.0.0/0")
            .unwrap()
            .check(ip("10.0.0.1"))
            .is_ok());
    }
}
