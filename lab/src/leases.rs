//! DHCP leases for when baas is the lab subnet's DHCP server (DHCPv4, and DHCPv6's IA_NA
//! addresses): machines of the inventory get their fixed address, other clients one from the
//! dynamic pool (when the admin configured one), and every lease lives in the database so a
//! restart hands out the same addresses. Both families share one table; a client's IPv4 and
//! IPv6 leases never touch each other. The DHCP protocols themselves are `netboot`'s; they
//! ask here.

use std::collections::HashSet;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::model::DhcpLease;
use crate::{Actor, Lab, Result};

/// How long an offered address is held for the client that was offered it.
const OFFER_HOLD_SECONDS: i64 = 60;
/// How long an address a client declined (someone else answers ARP for it) stays unused.
const DECLINE_QUARANTINE_SECONDS: i64 = 600;

/// An address family baas leases: IPv4 (DHCPv4) or IPv6 (DHCPv6 IA_NA).
pub trait LeaseAddress:
    Copy + Eq + Hash + std::fmt::Display + std::fmt::Debug + FromStr + Send + Sync + 'static
{
    const BITS: u32;
    /// The SQL condition that keeps a query of `dhcp_leases` to this family's rows.
    const FAMILY: &'static str;
    fn to_bits(self) -> u128;
    fn from_bits(bits: u128) -> Self;
}

impl LeaseAddress for Ipv4Addr {
    const BITS: u32 = 32;
    const FAMILY: &'static str = "address NOT LIKE '%:%'";
    fn to_bits(self) -> u128 {
        u128::from(u32::from(self))
    }
    fn from_bits(bits: u128) -> Self {
        Ipv4Addr::from(bits as u32)
    }
}

impl LeaseAddress for Ipv6Addr {
    const BITS: u32 = 128;
    const FAMILY: &'static str = "address LIKE '%:%'";
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
}

/// The subnet (or IPv6 prefix) baas hands out addresses on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPlan<A = Ipv4Addr> {
    pub network: A,
    pub prefix_len: u8,
    /// First and last address of the dynamic pool; `None`: only machines with a fixed address
    /// get one.
    pub pool: Option<(A, A)>,
    pub lease_seconds: i64,
    /// Addresses never handed out (this server, the router).
    pub reserved: Vec<A>,
}

impl AddressPlan<Ipv4Addr> {
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask(32, self.prefix_len) as u32)
    }
}

impl<A: LeaseAddress> AddressPlan<A> {
    /// A host address of the subnet: not its network address (IPv6's subnet-router anycast)
    /// nor IPv4's broadcast address.
    pub fn contains(&self, address: A) -> bool {
        let (address, mask) = (address.to_bits(), mask(A::BITS, self.prefix_len));
        let network = self.network.to_bits() & mask;
        let last = network | (!mask & (u128::MAX >> (128 - A::BITS)));
        let point_to_point = A::BITS == 32 && self.prefix_len >= 31;
        address & mask == network
            && (point_to_point || (address != network && (A::BITS != 32 || address != last)))
    }

    fn in_pool(&self, address: A) -> bool {
        self.pool.is_some_and(|(first, last)| {
            (first.to_bits()..=last.to_bits()).contains(&address.to_bits())
        }) && self.contains(address)
            && !self.reserved.contains(&address)
    }
}

/// The `prefix_len` leading bits of a `bits`-bit address, as the low bits of a u128.
fn mask(bits: u32, prefix_len: u8) -> u128 {
    let all = u128::MAX >> (128 - bits);
    match u32::from(prefix_len).min(bits) {
        0 => 0,
        n => (all << (bits - n)) & all,
    }
}

/// An address given to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased<A = Ipv4Addr> {
    pub address: A,
    /// The inventory machine it is fixed for, if any.
    pub machine: Option<String>,
    pub lease_seconds: i64,
}

impl Lab {
    /// The address to offer `mac` (canonical): its machine's fixed address, the lease it already
    /// has, the address it asks for if free, or the first free one of the pool; held for a
    /// minute. `None` when there is nothing to give.
    pub async fn offer_lease<A: LeaseAddress>(
        &self,
        plan: &AddressPlan<A>,
        mac: &str,
        requested: Option<A>,
    ) -> Result<Option<Leased<A>>> {
        let now = crate::now();
        if let Some((address, machine)) = self.fixed_address::<A>(mac).await? {
            if !plan.contains(address) {
                tracing::warn!(%mac, %address, "the machine's fixed address is outside the DHCP subnet");
                return Ok(None);
            }
            // A machine's fixed address is its own: pool offers never choose it.
            self.hold(&address, mac, now).await?;
            return Ok(Some(Leased {
                address,
                machine: Some(machine),
                lease_seconds: plan.lease_seconds,
            }));
        }
        if plan.pool.is_none() {
            return Ok(None);
        }
        // Each lost race means another client got an address: bounded by the pool's size.
        for _ in 0..MAX_OFFER_RACES {
            match self.offer_from_pool(plan, mac, requested, now).await? {
                Offer::Made(leased) => return Ok(Some(leased)),
                Offer::PoolFull => return Ok(None),
                Offer::LostRace => continue,
            }
        }
        tracing::warn!(%mac, "gave up offering an address: other clients kept taking the chosen one");
        Ok(None)
    }

    /// The address `mac` would be offered, chosen without holding it: DHCPv6's Advertise (RFC
    /// 8415 lets a server not reserve what it advertises; the Request binds, checked again).
    /// Pool addresses are tried one by one from a place derived from the MAC, each by a point
    /// query: a large IPv6 pool is never scanned, and its addresses are not handed out in
    /// sequence (RFC 7707). `None` when the machine's fixed address is outside the plan, or the
    /// pool has nothing free among the addresses tried.
    pub async fn propose_lease<A: LeaseAddress>(
        &self,
        plan: &AddressPlan<A>,
        mac: &str,
        requested: Option<A>,
    ) -> Result<Option<A>> {
        let now = crate::now();
        if let Some((address, _)) = self.fixed_address::<A>(mac).await? {
            return Ok(plan.contains(address).then_some(address));
        }
        let Some((first, last)) = plan.pool else {
            return Ok(None);
        };
        let own: Option<String> = sqlx::query_scalar(&format!(
            "SELECT address FROM dhcp_leases WHERE mac = $1 AND state IN ('offered', 'bound')
                AND expires_at > $2 AND {}
             ORDER BY updated_at DESC LIMIT 1",
            A::FAMILY
        ))
        .bind(mac)
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        let own = own.and_then(|text| text.parse::<A>().ok());
        for wanted in [own, requested].into_iter().flatten() {
            if plan.in_pool(wanted) && self.free_for(wanted, mac, now).await? {
                return Ok(Some(wanted));
            }
        }
        let Some(size) = last
            .to_bits()
            .checked_sub(first.to_bits())
            .and_then(|span| span.checked_add(1))
        else {
            return Ok(None);
        };
        let first = first.to_bits();
        let start = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            mac.hash(&mut hasher);
            u128::from(hasher.finish()) % size
        };
        for step in 0..size.min(PROPOSE_PROBES) {
            let candidate = A::from_bits(first + (start + step) % size);
            if plan.in_pool(candidate) && self.free_for(candidate, mac, now).await? {
                return Ok(Some(candidate));
            }
        }
        // A crowded stretch of the pool: one read of what is taken, and the first free address.
        let taken = self.taken_addresses::<A>(mac, now, None).await?;
        let free = (first..=first + (size - 1))
            .map(A::from_bits)
            .find(|address| plan.in_pool(*address) && !taken.contains(address));
        if free.is_none() {
            tracing::warn!(%mac, "the DHCP pool has no free address");
        }
        Ok(free)
    }

    /// Whether `address` is free for `mac`: no live lease of another client, no machine's fixed
    /// address.
    async fn free_for<A: LeaseAddress>(&self, address: A, mac: &str, now: i64) -> Result<bool> {
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM dhcp_leases WHERE address = $1 AND mac <> $2 AND expires_at > $3
             UNION ALL SELECT 1 FROM machines WHERE ip_address = $1",
        )
        .bind(address.to_string())
        .bind(mac)
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        Ok(taken.is_none())
    }

    /// One try at choosing a free pool address for `mac` and holding it.
    async fn offer_from_pool<A: LeaseAddress>(
        &self,
        plan: &AddressPlan<A>,
        mac: &str,
        requested: Option<A>,
        now: i64,
    ) -> Result<Offer<A>> {
        let taken = self.taken_addresses::<A>(mac, now, None).await?;
        let own: Option<String> = sqlx::query_scalar(&format!(
            "SELECT address FROM dhcp_leases WHERE mac = $1 AND state IN ('offered', 'bound')
                AND {}
             ORDER BY updated_at DESC LIMIT 1",
            A::FAMILY
        ))
        .bind(mac)
        .fetch_optional(&self.db)
        .await?;
        let usable = |address: A| plan.in_pool(address) && !taken.contains(&address);
        let chosen = own
            .and_then(|text| text.parse().ok())
            .filter(|address| usable(*address))
            .or(requested.filter(|address| usable(*address)))
            .or_else(|| {
                // The first free one: the search ends within one more than the pool's taken
                // addresses, however large an IPv6 pool is.
                plan.pool.and_then(|(first, last)| {
                    (first.to_bits()..=last.to_bits())
                        .map(A::from_bits)
                        .find(|address| usable(*address))
                })
            });
        let Some(address) = chosen else {
            tracing::warn!(%mac, "the DHCP pool has no free address");
            return Ok(Offer::PoolFull);
        };
        if !self.hold(&address, mac, now).await? {
            return Ok(Offer::LostRace);
        }
        Ok(Offer::Made(Leased {
            address,
            machine: None,
            lease_seconds: plan.lease_seconds,
        }))
    }

    /// Binds `address` to `mac` for a lease time when it may have it (a REQUEST); `None` means
    /// the client must be told no (NAK).
    pub async fn bind_lease<A: LeaseAddress>(
        &self,
        plan: &AddressPlan<A>,
        mac: &str,
        address: A,
    ) -> Result<Option<Leased<A>>> {
        let now = crate::now();
        let machine = match self.fixed_address::<A>(mac).await? {
            Some((fixed, machine)) if fixed == address && plan.contains(address) => Some(machine),
            Some(_) => return Ok(None),
            None if plan.in_pool(address)
                && self
                    .taken_addresses(mac, now, Some(address))
                    .await?
                    .is_empty() =>
            {
                None
            }
            None => return Ok(None),
        };
        let mut tx = self.write().await?;
        // Checked again under the write lock: two REQUESTs for one address at once (two
        // interfaces, or the old and the new leader for a moment) bind it once.
        if machine.is_none() && held_by_another(&mut tx, &address, mac, now).await? {
            return Ok(None);
        }
        sqlx::query(&format!(
            "DELETE FROM dhcp_leases WHERE mac = $1 AND address <> $2 AND {}",
            A::FAMILY
        ))
        .bind(mac)
        .bind(address.to_string())
        .execute(&mut *tx)
        .await?;
        upsert(
            &mut tx,
            &address,
            mac,
            "bound",
            now + plan.lease_seconds,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Leased {
            address,
            machine,
            lease_seconds: plan.lease_seconds,
        }))
    }

    /// The client gave its address back (RELEASE), or chose another server's offer (`address`
    /// `None`: its outstanding offers are dropped).
    pub async fn release_lease<A: LeaseAddress>(
        &self,
        mac: &str,
        address: Option<A>,
    ) -> Result<bool> {
        let done = match address {
            Some(address) => {
                sqlx::query("DELETE FROM dhcp_leases WHERE mac = $1 AND address = $2")
                    .bind(mac)
                    .bind(address.to_string())
                    .execute(&self.db)
                    .await?
            }
            None => {
                sqlx::query(&format!(
                    "DELETE FROM dhcp_leases WHERE mac = $1 AND state = 'offered' AND {}",
                    A::FAMILY
                ))
                .bind(mac)
                .execute(&self.db)
                .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    /// The client found `address` in use (DECLINE): nobody gets it for ten minutes.
    pub async fn decline_lease<A: LeaseAddress>(&self, mac: &str, address: A) -> Result<bool> {
        let now = crate::now();
        let done = sqlx::query(
            "UPDATE dhcp_leases SET mac = '', state = 'declined', expires_at = $3, updated_at = $4
             WHERE address = $1 AND mac = $2",
        )
        .bind(address.to_string())
        .bind(mac)
        .bind(now + DECLINE_QUARANTINE_SECONDS)
        .bind(now)
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every lease that has not expired, by address. Admins only.
    pub async fn dhcp_leases(&self, actor: &Actor) -> Result<Vec<DhcpLease>> {
        actor.require_admin()?;
        let rows: Vec<(String, String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT l.address, l.mac, l.state, l.expires_at, m.name
             FROM dhcp_leases l LEFT JOIN machine_macs a ON a.mac = l.mac
             LEFT JOIN machines m ON m.id = a.machine_id
             WHERE l.expires_at > $1",
        )
        .bind(crate::now())
        .fetch_all(&self.db)
        .await?;
        let mut leases: Vec<DhcpLease> = rows
            .into_iter()
            .map(|(address, mac, state, expires_at, machine)| DhcpLease {
                address,
                mac,
                state,
                expires_at,
                machine,
            })
            .collect();
        // IPv4 before IPv6, each in numeric order.
        leases.sort_by_key(|lease| lease.address.parse::<std::net::IpAddr>().ok());
        Ok(leases)
    }

    /// The machine's fixed address of this family (an inventory address is IPv4 or IPv6).
    async fn fixed_address<A: LeaseAddress>(&self, mac: &str) -> Result<Option<(A, String)>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT m.ip_address, m.name FROM machine_macs a JOIN machines m ON m.id = a.machine_id
             WHERE a.mac = $1 AND m.ip_address <> ''",
        )
        .bind(mac)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.and_then(|(address, name)| Some((address.parse().ok()?, name))))
    }

    /// Addresses `mac` may not have: live leases of other clients, quarantined ones, and every
    /// machine's fixed address; with `only`, just whether that one is among them.
    async fn taken_addresses<A: LeaseAddress>(
        &self,
        mac: &str,
        now: i64,
        only: Option<A>,
    ) -> Result<HashSet<A>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT address FROM dhcp_leases WHERE expires_at > $1 AND mac <> $2
                AND ($3 IS NULL OR address = $3)
             UNION SELECT ip_address FROM machines WHERE ip_address <> ''
                AND ($3 IS NULL OR ip_address = $3)",
        )
        .bind(now)
        .bind(mac)
        .bind(only.map(|address| address.to_string()))
        .fetch_all(&self.db)
        .await?;
        Ok(rows.iter().filter_map(|text| text.parse().ok()).collect())
    }

    /// Records an offer, keeping a lease the client already holds on that address. False when
    /// another client's live lease holds the address by now (it was chosen from an older view).
    async fn hold<A: LeaseAddress>(&self, address: &A, mac: &str, now: i64) -> Result<bool> {
        let mut tx = self.write().await?;
        if held_by_another(&mut tx, address, mac, now).await? {
            return Ok(false);
        }
        let bound: Option<i64> = sqlx::query_scalar(
            "SELECT expires_at FROM dhcp_leases WHERE address = $1 AND mac = $2 AND state = 'bound'
             AND expires_at > $3",
        )
        .bind(address.to_string())
        .bind(mac)
        .bind(now + OFFER_HOLD_SECONDS)
        .fetch_optional(&mut *tx)
        .await?;
        if bound.is_none() {
            upsert(
                &mut tx,
                address,
                mac,
                "offered",
                now + OFFER_HOLD_SECONDS,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// How many pool addresses one proposal tries before saying the pool is full.
const PROPOSE_PROBES: u128 = 64;

/// How many times one offer may lose the race for a chosen address before giving up.
const MAX_OFFER_RACES: usize = 64;

/// The outcome of one try at a pool offer.
enum Offer<A> {
    Made(Leased<A>),
    PoolFull,
    LostRace,
}

/// Whether another client's live lease (or offer) holds `address` at `now`.
async fn held_by_another<A: LeaseAddress>(
    conn: &mut sqlx::AnyConnection,
    address: &A,
    mac: &str,
    now: i64,
) -> Result<bool> {
    let someone_else: Option<String> = sqlx::query_scalar(
        "SELECT mac FROM dhcp_leases WHERE address = $1 AND mac <> $2 AND expires_at > $3",
    )
    .bind(address.to_string())
    .bind(mac)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(someone_else.is_some())
}

async fn upsert<A: LeaseAddress>(
    conn: &mut sqlx::AnyConnection,
    address: &A,
    mac: &str,
    state: &str,
    expires_at: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dhcp_leases (address, mac, state, expires_at, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (address) DO UPDATE SET mac = excluded.mac, state = excluded.state,
            expires_at = excluded.expires_at, updated_at = excluded.updated_at",
    )
    .bind(address.to_string())
    .bind(mac)
    .bind(state)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::machine_input;

    fn plan() -> AddressPlan {
        AddressPlan {
            network: "10.99.0.0".parse().unwrap(),
            prefix_len: 24,
            pool: Some((
                "10.99.0.100".parse().unwrap(),
                "10.99.0.102".parse().unwrap(),
            )),
            lease_seconds: 3600,
            reserved: vec!["10.99.0.101".parse().unwrap()],
        }
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn the_plan_knows_its_host_addresses() {
        let plan = plan();
        assert_eq!(plan.netmask(), ip("255.255.255.0"));
        assert!(plan.contains(ip("10.99.0.1")));
        assert!(!plan.contains(ip("10.99.0.0")));
        assert!(!plan.contains(ip("10.99.0.255")));
        assert!(!plan.contains(ip("10.98.0.5")));
        assert!(plan.in_pool(ip("10.99.0.100")));
        assert!(!plan.in_pool(ip("10.99.0.101")), "reserved");
        assert!(!plan.in_pool(ip("10.99.0.103")));
    }

    #[tokio::test]
    async fn pool_addresses_are_offered_bound_released_and_declined_per_client() {
        let (lab, _dir) = crate::testing::lab().await;
        let plan = plan();
        let (a, b, c) = (
            "52:54:00:00:00:0a",
            "52:54:00:00:00:0b",
            "52:54:00:00:00:0c",
        );

        let offered = lab.offer_lease(&plan, a, None).await.unwrap().unwrap();
        assert_eq!(offered.address, ip("10.99.0.100"));
        // Held for a: b gets the next free one (101 is reserved), and asking for a's is no use.
        let to_b = lab
            .offer_lease(&plan, b, Some(ip("10.99.0.100")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(to_b.address, ip("10.99.0.102"));
        assert_eq!(
            lab.offer_lease(&plan, c, None).await.unwrap(),
            None,
            "pool exhausted"
        );
        // Asking again gives the same address.
        let again = lab.offer_lease(&plan, a, None).await.unwrap().unwrap();
        assert_eq!(again.address, ip("10.99.0.100"));

        assert!(lab
            .bind_lease(&plan, a, ip("10.99.0.100"))
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            lab.bind_lease(&plan, c, ip("10.99.0.100")).await.unwrap(),
            None,
            "a's address"
        );
        assert_eq!(
            lab.bind_lease(&plan, c, ip("10.99.0.101")).await.unwrap(),
            None,
            "reserved"
        );
        assert_eq!(
            lab.bind_lease(&plan, c, ip("10.98.0.7")).await.unwrap(),
            None,
            "other subnet"
        );

        // b chose another server: its offer is dropped and c can have the address.
        assert!(lab.release_lease::<Ipv4Addr>(b, None).await.unwrap());
        let to_c = lab.offer_lease(&plan, c, None).await.unwrap().unwrap();
        assert_eq!(to_c.address, ip("10.99.0.102"));
        // c finds it in use: quarantined, so nobody gets it.
        assert!(lab.decline_lease(c, ip("10.99.0.102")).await.unwrap());
        assert_eq!(lab.offer_lease(&plan, c, None).await.unwrap(), None);
        // a releases: its address is free for c.
        assert!(lab.release_lease(a, Some(ip("10.99.0.100"))).await.unwrap());
        let to_c = lab.offer_lease(&plan, c, None).await.unwrap().unwrap();
        assert_eq!(to_c.address, ip("10.99.0.100"));

        let admin = crate::testing::admin();
        let leases = lab.dhcp_leases(&admin).await.unwrap();
        let states: Vec<(&str, &str)> = leases
            .iter()
            .map(|l| (l.address.as_str(), l.state.as_str()))
            .collect();
        assert_eq!(
            states,
            [("10.99.0.100", "offered"), ("10.99.0.102", "declined")]
        );
    }

    fn plan6() -> AddressPlan<Ipv6Addr> {
        AddressPlan {
            network: "fd99::".parse().unwrap(),
            prefix_len: 64,
            pool: Some(("fd99::100".parse().unwrap(), "fd99::101".parse().unwrap())),
            lease_seconds: 3600,
            reserved: vec!["fd99::2".parse().unwrap()],
        }
    }

    #[test]
    fn an_ipv6_plan_knows_its_prefix() {
        let plan = plan6();
        let v6 = |text: &str| text.parse::<Ipv6Addr>().unwrap();
        assert!(
            plan.contains(v6("fd99::ffff:ffff:ffff:ffff")),
            "no broadcast address"
        );
        assert!(
            !plan.contains(v6("fd99::")),
            "the subnet-router anycast address"
        );
        assert!(!plan.contains(v6("fd98::5")));
        assert!(plan.in_pool(v6("fd99::101")));
        assert!(!plan.in_pool(v6("fd99::2")));
    }

    #[tokio::test]
    async fn a_clients_ipv6_and_ipv4_leases_live_side_by_side() {
        let (lab, _dir) = crate::testing::lab().await;
        let admin = crate::testing::admin();
        let mut input = machine_input("node6", "52:54:00:00:00:06");
        input.ip_address = "fd99::21".into();
        lab.create_machine(&admin, input).await.unwrap();
        let (plan4, plan6) = (plan(), plan6());
        let v6 = |text: &str| text.parse::<Ipv6Addr>().unwrap();

        // A machine's fixed IPv6 address is its IA_NA; it has no fixed IPv4 address then.
        let fixed = lab
            .offer_lease(&plan6, "52:54:00:00:00:06", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fixed.address, v6("fd99::21"));
        assert_eq!(fixed.machine.as_deref(), Some("node6"));

        let mac = "52:54:00:00:00:0a";
        let four = lab.offer_lease(&plan4, mac, None).await.unwrap().unwrap();
        let six = lab.offer_lease(&plan6, mac, None).await.unwrap().unwrap();
        assert_eq!(six.address, v6("fd99::100"));
        assert!(lab
            .bind_lease(&plan4, mac, four.address)
            .await
            .unwrap()
            .is_some());
        assert!(lab
            .bind_lease(&plan6, mac, six.address)
            .await
            .unwrap()
            .is_some());
        // Binding one family's address leaves the other's lease alone.
        let leases = lab.dhcp_leases(&admin).await.unwrap();
        let bound: Vec<&str> = leases
            .iter()
            .filter(|lease| lease.mac == mac)
            .map(|lease| lease.address.as_str())
            .collect();
        assert_eq!(bound, ["10.99.0.100", "fd99::100"]);
        // Another client gets the next pool address, then nothing.
        let other = "52:54:00:00:00:0b";
        let next = lab.offer_lease(&plan6, other, None).await.unwrap().unwrap();
        assert_eq!(next.address, v6("fd99::101"));
        assert_eq!(
            lab.bind_lease(&plan6, other, v6("fd99::100"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            lab.offer_lease(&plan6, "52:54:00:00:00:0c", None)
                .await
                .unwrap(),
            None
        );
        // A proposal holds nothing: the client's own lease, else a free one, never a taken one.
        assert_eq!(
            lab.propose_lease(&plan6, mac, None).await.unwrap(),
            Some(v6("fd99::100"))
        );
        assert_eq!(
            lab.propose_lease(&plan6, "52:54:00:00:00:0d", Some(v6("fd99::100")))
                .await
                .unwrap(),
            None,
            "both pool addresses are held by others"
        );
        assert_eq!(
            lab.propose_lease(&plan6, "52:54:00:00:00:06", None)
                .await
                .unwrap(),
            Some(v6("fd99::21")),
            "a machine's fixed address"
        );
        assert!(lab.release_lease(mac, Some(v6("fd99::100"))).await.unwrap());
        let left: Vec<String> = lab
            .dhcp_leases(&admin)
            .await
            .unwrap()
            .into_iter()
            .filter(|lease| lease.mac == mac)
            .map(|lease| lease.address)
            .collect();
        assert_eq!(left, ["10.99.0.100"]);
    }

    #[tokio::test]
    async fn a_machine_gets_its_fixed_address_and_nothing_else() {
        let (lab, _dir) = crate::testing::lab().await;
        let admin = crate::testing::admin();
        let mut input = machine_input("node1", "52:54:00:00:00:01");
        input.ip_address = "10.99.0.21".into();
        lab.create_machine(&admin, input).await.unwrap();
        let plan = AddressPlan {
            pool: None,
            ..plan()
        };
        let mac = "52:54:00:00:00:01";
        let offered = lab
            .offer_lease(&plan, mac, Some(ip("10.99.0.100")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(offered.address, ip("10.99.0.21"));
        assert_eq!(offered.machine.as_deref(), Some("node1"));
        assert!(lab
            .bind_lease(&plan, mac, ip("10.99.0.21"))
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            lab.bind_lease(&plan, mac, ip("10.99.0.22")).await.unwrap(),
            None
        );
        // Without a pool, unknown clients get nothing, not even the fixed address.
        assert_eq!(
            lab.offer_lease(&plan, "52:54:00:00:00:02", None)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            lab.bind_lease(&plan, "52:54:00:00:00:02", ip("10.99.0.21"))
                .await
                .unwrap(),
            None
        );
        // With a pool, the fixed address is never given out of it.
        let plan = AddressPlan {
            pool: Some((ip("10.99.0.20"), ip("10.99.0.22"))),
            ..plan
        };
        let other = lab
            .offer_lease(&plan, "52:54:00:00:00:02", Some(ip("10.99.0.21")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.address, ip("10.99.0.20"));

        // A second machine cannot have the same fixed address.
        let mut clash = machine_input("node2", "52:54:00:00:00:03");
        clash.ip_address = "10.99.0.21".into();
        let error = lab.create_machine(&admin, clash).await.unwrap_err();
        assert!(error.to_string().contains("node1"), "{error}");
        let mut bad = machine_input("node3", "52:54:00:00:00:04");
        bad.ip_address = "10.99.0.300".into();
        let error = lab.create_machine(&admin, bad).await.unwrap_err();
        assert!(format!("{error:?}").contains("ip_address"), "{error:?}");
    }

    /// Many clients REQUEST the same free address at once: one gets it, every other is told
    /// no, and the lease is the winner's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_for_one_address_bind_it_once() {
        let (lab, _dir) = crate::testing::lab().await;
        let plan = plan();
        let asks: Vec<_> = (0..16)
            .map(|n| {
                let (lab, plan) = (lab.clone(), plan.clone());
                tokio::spawn(async move {
                    let mac = format!("52:54:00:00:02:{n:02x}");
                    let bound = lab.bind_lease(&plan, &mac, ip("10.99.0.100")).await;
                    (mac, bound)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for ask in asks {
            let (mac, bound) = ask.await.unwrap();
            if bound.unwrap().is_some() {
                winners.push(mac);
            }
        }
        assert_eq!(winners.len(), 1, "bound to several clients: {winners:?}");
        let leases = lab.dhcp_leases(&crate::Actor::shell()).await.unwrap();
        let holders: Vec<_> = leases
            .iter()
            .filter(|l| l.address == "10.99.0.100")
            .map(|l| l.mac.clone())
            .collect();
        assert_eq!(holders, winners);
    }

    /// Many clients asking at once (as they do after a power cut) never share an address, and
    /// the ones the pool cannot serve are told so: on either engine, whatever the interleaving.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_offers_never_hand_out_one_address_twice() {
        let (lab, _dir) = crate::testing::lab().await;
        let plan = AddressPlan {
            pool: Some((ip("10.99.0.100"), ip("10.99.0.115"))),
            reserved: vec![],
            ..plan()
        };
        let asks: Vec<_> = (0..24)
            .map(|n| {
                let (lab, plan) = (lab.clone(), plan.clone());
                tokio::spawn(async move {
                    let mac = format!("52:54:00:00:01:{n:02x}");
                    lab.offer_lease(&plan, &mac, None).await
                })
            })
            .collect();
        let mut offered = Vec::new();
        let mut refused = 0;
        for ask in asks {
            match ask.await.unwrap().unwrap() {
                Some(lease) => offered.push(lease.address),
                None => refused += 1,
            }
        }
        let distinct: std::collections::HashSet<_> = offered.iter().collect();
        assert_eq!(offered.len(), 16, "the pool holds 16 addresses");
        assert_eq!(
            distinct.len(),
            offered.len(),
            "an address went out twice: {offered:?}"
        );
        assert_eq!(refused, 8);
    }
}
