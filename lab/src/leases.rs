//! DHCP leases for when baas is the lab subnet's DHCP server: machines of the inventory get
//! their fixed address, other clients one from the dynamic pool (when the admin configured
//! one), and every lease lives in the database so a restart hands out the same addresses.
//! The DHCP protocol itself is `netboot`'s; it asks here.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use crate::model::DhcpLease;
use crate::{Actor, Lab, Result};

/// How long an offered address is held for the client that was offered it.
const OFFER_HOLD_SECONDS: i64 = 60;
/// How long an address a client declined (someone else answers ARP for it) stays unused.
const DECLINE_QUARANTINE_SECONDS: i64 = 600;

/// The subnet baas hands out addresses on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPlan {
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    /// First and last address of the dynamic pool; `None`: only machines with a fixed address
    /// get one.
    pub pool: Option<(Ipv4Addr, Ipv4Addr)>,
    pub lease_seconds: i64,
    /// Addresses never handed out (this server, the router).
    pub reserved: Vec<Ipv4Addr>,
}

impl AddressPlan {
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask(self.prefix_len))
    }

    /// A host address of the subnet (not its network or broadcast address).
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        let (address, mask) = (u32::from(address), mask(self.prefix_len));
        let network = u32::from(self.network) & mask;
        address & mask == network
            && (self.prefix_len >= 31 || (address != network && address != network | !mask))
    }

    fn in_pool(&self, address: Ipv4Addr) -> bool {
        self.pool.is_some_and(|(first, last)| {
            (u32::from(first)..=u32::from(last)).contains(&u32::from(address))
        }) && self.contains(address)
            && !self.reserved.contains(&address)
    }
}

fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

/// An address given to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    pub address: Ipv4Addr,
    /// The inventory machine it is fixed for, if any.
    pub machine: Option<String>,
    pub lease_seconds: i64,
}

impl Lab {
    /// The address to offer `mac` (canonical): its machine's fixed address, the lease it already
    /// has, the address it asks for if free, or the first free one of the pool; held for a
    /// minute. `None` when there is nothing to give.
    pub async fn offer_lease(
        &self,
        plan: &AddressPlan,
        mac: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Option<Leased>> {
        let now = crate::now();
        if let Some((address, machine)) = self.fixed_address(mac).await? {
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

    /// One try at choosing a free pool address for `mac` and holding it.
    async fn offer_from_pool(
        &self,
        plan: &AddressPlan,
        mac: &str,
        requested: Option<Ipv4Addr>,
        now: i64,
    ) -> Result<Offer> {
        let taken = self.taken_addresses(mac, now, None).await?;
        let own: Option<String> = sqlx::query_scalar(
            "SELECT address FROM dhcp_leases WHERE mac = $1 AND state IN ('offered', 'bound')
             ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(mac)
        .fetch_optional(&self.db)
        .await?;
        let usable = |address: Ipv4Addr| plan.in_pool(address) && !taken.contains(&address);
        let chosen = own
            .and_then(|text| text.parse().ok())
            .filter(|address| usable(*address))
            .or(requested.filter(|address| usable(*address)))
            .or_else(|| {
                plan.pool.and_then(|(first, last)| {
                    (u32::from(first)..=u32::from(last))
                        .map(Ipv4Addr::from)
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
    pub async fn bind_lease(
        &self,
        plan: &AddressPlan,
        mac: &str,
        address: Ipv4Addr,
    ) -> Result<Option<Leased>> {
        let now = crate::now();
        let machine = match self.fixed_address(mac).await? {
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
        sqlx::query("DELETE FROM dhcp_leases WHERE mac = $1 AND address <> $2")
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
    pub async fn release_lease(&self, mac: &str, address: Option<Ipv4Addr>) -> Result<bool> {
        let done = match address {
            Some(address) => {
                sqlx::query("DELETE FROM dhcp_leases WHERE mac = $1 AND address = $2")
                    .bind(mac)
                    .bind(address.to_string())
                    .execute(&self.db)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM dhcp_leases WHERE mac = $1 AND state = 'offered'")
                    .bind(mac)
                    .execute(&self.db)
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    /// The client found `address` in use (DECLINE): nobody gets it for ten minutes.
    pub async fn decline_lease(&self, mac: &str, address: Ipv4Addr) -> Result<bool> {
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
        leases.sort_by_key(|lease| lease.address.parse::<Ipv4Addr>().map(u32::from).ok());
        Ok(leases)
    }

    async fn fixed_address(&self, mac: &str) -> Result<Option<(Ipv4Addr, String)>> {
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
    async fn taken_addresses(
        &self,
        mac: &str,
        now: i64,
        only: Option<Ipv4Addr>,
    ) -> Result<HashSet<Ipv4Addr>> {
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
    async fn hold(&self, address: &Ipv4Addr, mac: &str, now: i64) -> Result<bool> {
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

/// How many times one offer may lose the race for a chosen address before giving up.
const MAX_OFFER_RACES: usize = 64;

/// The outcome of one try at a pool offer.
enum Offer {
    Made(Leased),
    PoolFull,
    LostRace,
}

/// Whether another client's live lease (or offer) holds `address` at `now`.
async fn held_by_another(
    conn: &mut sqlx::AnyConnection,
    address: &Ipv4Addr,
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

async fn upsert(
    conn: &mut sqlx::AnyConnection,
    address: &Ipv4Addr,
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
        assert!(lab.release_lease(b, None).await.unwrap());
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
