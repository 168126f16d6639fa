//! Boot policy: what a machine that asks to boot gets, which machines are new to the lab, and
//! the record of every boot step. The protocols (DHCP, TFTP, iPXE) live in `netboot`; they ask
//! here and report here.

use crate::model::{
    BootEvent, DiscoveredMachine, DiscoveryPolicy, Level, Machine, MachineInput, Platform,
};
use crate::secrets::{random_token, token_sha256};
use crate::validate::{canonical_ip, parse_mac};
use crate::{Actor, Error, Lab, Result};

/// New discovered machines one address may add in an hour.
const NEW_DISCOVERIES_PER_SOURCE_HOUR: i64 = 8;
/// Discovered machines kept at most; beyond, new ones wait until old ones are adopted or expire.
const MAX_DISCOVERED: i64 = 1024;

/// What a booting machine told about itself.
#[derive(Debug, Clone, Default)]
pub struct BootRequest {
    /// In any common notation.
    pub mac: String,
    /// iPXE `${buildarch}` (`i386`, `x86_64`, `arm64`) or the DHCP client architecture.
    pub architecture: String,
    /// iPXE `${platform}` (`pcbios`, `efi`) or the DHCP vendor class.
    pub vendor_class: String,
    /// The address the script was fetched from.
    pub address: String,
    /// The address baas' own DHCP last gave or saw this MAC at, if it did. Only a fetch from
    /// there (or from the machine's fixed address) gets an enrolment token.
    pub dhcp_address: Option<String>,
    /// The management OS builds configured to boot: a machine whose architecture has none
    /// is never sent one (its boot jobs wait; unknown machines are not enlisted).
    pub management_os: ManagementOsBuilds,
}

/// The management OS builds baas serves, by CPU architecture (`mgmt/build.sh --arch`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManagementOsBuilds {
    pub x86_64: bool,
    pub arm64: bool,
}

impl ManagementOsBuilds {
    /// Only the x86-64 build (what a lab without arm64 machines configures).
    pub const X86_64: ManagementOsBuilds = ManagementOsBuilds {
        x86_64: true,
        arm64: false,
    };

    /// Whether a build for machines of `platform` is configured.
    pub fn serves(self, platform: Platform) -> bool {
        match platform {
            Platform::Arm64Uefi => self.arm64,
            Platform::X86_64Bios | Platform::X86_64Uefi => self.x86_64,
        }
    }
}

/// The platform a boot request names by its CPU (iPXE's `${buildarch}`), if it names one: what
/// the machine runs now outweighs what the inventory says it is.
fn requested_platform(request: &BootRequest) -> Option<Platform> {
    let architecture = request.architecture.as_str();
    matches!(
        architecture,
        "arm64" | "aarch64" | "x86_64" | "i386" | "x86"
    )
    .then(|| Platform::guess(architecture, &request.vendor_class))
}

/// A boot step to record; `mac` canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBootEvent {
    pub at: i64,
    pub mac: String,
    /// `dhcp`, `tftp`, `script`.
    pub kind: String,
    pub detail: String,
}

/// What the machine should boot next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootPlan {
    /// A machine of the inventory with nothing to do: boot from its own disk.
    LocalDisk { machine: String, platform: Platform },
    /// The management OS, with a one-time enrolment token for its command line.
    ManagementOs {
        /// The inventory machine, or `None` for an unknown machine being enlisted.
        machine: Option<String>,
        purpose: Purpose,
        enrolment_token: String,
        /// The platform whose build to boot.
        platform: Platform,
    },
    /// Not in the inventory and the discovery policy is to ignore: recorded as discovered and
    /// sent on to its local disk, as told by its own firmware.
    Unknown { uefi: bool },
    /// The management OS was due, but the script was asked for from an address that nobody
    /// vouched for: no token is handed out, a boot job stays pending, the machine boots its disk.
    Unvouched {
        machine: Option<String>,
        uefi: bool,
        reason: String,
    },
}

/// Whether `address` (the fetch's) is the one vouched for this MAC, and if not, why.
fn vouch(address: &str, vouched: Option<&str>, mac: &str) -> std::result::Result<(), String> {
    match vouched.map(canonical_ip) {
        Some(Some(expected)) if canonical_ip(address) == Some(expected) => Ok(()),
        Some(Some(expected)) => Err(format!(
            "{mac} asked from {address}, but its address is {expected}: no enrolment token"
        )),
        _ => Err(format!(
            "baas has not seen {mac} get an address (DHCP off on its network, no fixed address \
             in the inventory): no enrolment token"
        )),
    }
}

/// Why the management OS boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A boot job of the inventory machine.
    Job(i64),
    /// The discovery policy enlists unknown machines: the management OS takes their inventory.
    Enlist,
}

impl Purpose {
    /// As the management OS's command line says it (`baas.purpose=`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Purpose::Job(_) => "job",
            Purpose::Enlist => "enlist",
        }
    }
}

impl Lab {
    /// Decides a boot for `request`, recording the request as a boot event and unknown MACs as
    /// discovered machines.
    pub async fn boot_plan(&self, request: &BootRequest) -> Result<BootPlan> {
        let mac =
            parse_mac(&request.mac).ok_or_else(|| Error::invalid("mac", "is not a MAC address"))?;
        let machine: Option<(i64, String, String, String)> = sqlx::query_as(
            "SELECT m.id, m.name, m.platform, m.ip_address FROM machine_macs a
             JOIN machines m ON m.id = a.machine_id WHERE a.mac = $1",
        )
        .bind(&mac)
        .fetch_optional(&self.db)
        .await?;
        let fixed = machine
            .as_ref()
            .map(|(_, _, _, ip)| ip.as_str())
            .filter(|ip| !ip.is_empty());
        let vouched = vouch(
            &request.address,
            request.dhcp_address.as_deref().or(fixed),
            &mac,
        );
        let os_platform = requested_platform(request).unwrap_or_else(|| match &machine {
            Some((_, _, platform, _)) => Platform::parse(platform).unwrap_or(Platform::X86_64Uefi),
            None => Platform::guess(&request.architecture, &request.vendor_class),
        });
        let has_os = request.management_os.serves(os_platform);
        let job = match (&machine, &vouched) {
            (Some((id, ..)), Ok(())) if has_os => {
                self.start_boot_job(*id, &request.address).await?
            }
            _ => None,
        };
        let plan = match machine {
            Some((id, name, platform, _)) => {
                let platform = Platform::parse(&platform).unwrap_or(Platform::X86_64Uefi);
                match (job, vouched) {
                    (Some(job), _) => BootPlan::ManagementOs {
                        machine: Some(name),
                        purpose: Purpose::Job(job.job_id),
                        enrolment_token: job.enrolment_token,
                        platform: os_platform,
                    },
                    (None, Err(reason)) if has_os && self.has_open_boot_job(id).await? => {
                        BootPlan::Unvouched {
                            machine: Some(name),
                            uefi: platform.is_uefi(),
                            reason,
                        }
                    }
                    (None, _) => {
                        self.local_boot_seen(id, &request.address).await?;
                        BootPlan::LocalDisk {
                            machine: name,
                            platform,
                        }
                    }
                }
            }
            None => {
                // Only a MAC the boot plane saw asking (baas' DHCP answered it at this
                // address) is recorded: a stranger fetching /boot/<any MAC>.ipxe adds nothing.
                let uefi = request.vendor_class.contains("efi");
                if let Err(reason) = vouched {
                    tracing::debug!(%mac, address = %request.address, "unvouched boot script fetch of an unknown MAC: not recorded");
                    let enlisting =
                        has_os && self.discovery_policy().await? == DiscoveryPolicy::Enlist;
                    return Ok(match enlisting {
                        true => BootPlan::Unvouched {
                            machine: None,
                            uefi,
                            reason,
                        },
                        false => BootPlan::Unknown { uefi },
                    });
                }
                if !self.discover(&mac, request).await? {
                    return Ok(BootPlan::Unknown { uefi });
                }
                match self.discovery_policy().await? {
                    _ if !has_os => BootPlan::Unknown {
                        uefi: request.vendor_class.contains("efi"),
                    },
                    DiscoveryPolicy::Ignore => BootPlan::Unknown {
                        uefi: request.vendor_class.contains("efi"),
                    },
                    DiscoveryPolicy::Enlist => {
                        let token = random_token(32);
                        sqlx::query(
                            "UPDATE discovered_machines SET enrolment_token_sha256 = $2,
                                enrolment_address = $3 WHERE mac = $1",
                        )
                        .bind(&mac)
                        .bind(token_sha256(&token))
                        .bind(clip(&request.address))
                        .execute(&self.db)
                        .await?;
                        BootPlan::ManagementOs {
                            machine: None,
                            purpose: Purpose::Enlist,
                            enrolment_token: token,
                            platform: os_platform,
                        }
                    }
                }
            }
        };
        let detail = match &plan {
            BootPlan::LocalDisk { .. } => "boot from local disk".to_string(),
            BootPlan::ManagementOs {
                purpose: Purpose::Job(id),
                ..
            } => format!("management OS for boot job {id}"),
            BootPlan::ManagementOs { .. } => {
                "unknown machine, recorded as discovered; enlisting: management OS".to_string()
            }
            BootPlan::Unknown { .. } => "unknown machine, recorded as discovered".to_string(),
            BootPlan::Unvouched { reason, .. } => {
                format!("management OS withheld: {reason}; boot from local disk")
            }
        };
        self.record_boot_event(
            &mac,
            "script",
            &format!("{detail} (from {})", clip(&request.address)),
        )
        .await?;
        Ok(plan)
    }

    /// Records (or refreshes) the unknown `mac` as discovered; false when the per-source rate
    /// or the table's cap refuses a new record (logged, nothing written).
    async fn discover(&self, mac: &str, request: &BootRequest) -> Result<bool> {
        let now = self.now();
        let address = clip(&request.address);
        let mut tx = self.write().await?;
        let known: Option<(i64,)> =
            sqlx::query_as("SELECT times_seen FROM discovered_machines WHERE mac = $1")
                .bind(mac)
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM discovered_machines")
                .fetch_one(&mut *tx)
                .await?;
            let (from_source,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM discovered_machines WHERE address = $1 AND first_seen > $2",
            )
            .bind(&address)
            .bind(now - 3600)
            .fetch_one(&mut *tx)
            .await?;
            if total >= MAX_DISCOVERED || from_source >= NEW_DISCOVERIES_PER_SOURCE_HOUR {
                tracing::warn!(
                    %mac,
                    %address,
                    total,
                    from_source,
                    "unknown machine not recorded as discovered: too many new ones (at most \
                     {NEW_DISCOVERIES_PER_SOURCE_HOUR} an hour from one address, \
                     {MAX_DISCOVERED} in all; adopt or wait for old ones to expire)"
                );
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO discovered_machines (mac, architecture, vendor_class, address, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (mac) DO UPDATE SET architecture = excluded.architecture,
                vendor_class = excluded.vendor_class, address = excluded.address,
                last_seen = excluded.last_seen, times_seen = discovered_machines.times_seen + 1",
        )
        .bind(mac)
        .bind(clip(&request.architecture))
        .bind(clip(&request.vendor_class))
        .bind(&address)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets discovered machines not seen for the lab's `discovered_keep_days`; returns how
    /// many went.
    pub async fn expire_discovered(&self) -> Result<u64> {
        let days = self.discovered_keep_days().await?;
        let done = sqlx::query("DELETE FROM discovered_machines WHERE last_seen < $1")
            .bind(self.now() - days * 86_400)
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected())
    }

    /// Appends a boot event for `mac` (canonical), tied to its machine when it has one.
    pub async fn record_boot_event(&self, mac: &str, kind: &str, detail: &str) -> Result<()> {
        self.record_boot_events(&[NewBootEvent {
            at: crate::now(),
            mac: mac.to_string(),
            kind: kind.to_string(),
            detail: detail.to_string(),
        }])
        .await
    }

    /// Appends many boot events in one transaction: the boot services report thousands a
    /// second under load, and one commit each would make the database their bottleneck.
    pub async fn record_boot_events(&self, events: &[NewBootEvent]) -> Result<()> {
        let mut tx = self.write().await?;
        for event in events {
            sqlx::query(
                "INSERT INTO boot_events (at, mac, machine_id, kind, detail)
                 VALUES ($1, $2, (SELECT machine_id FROM machine_macs WHERE mac = $2), $3, $4)",
            )
            .bind(event.at)
            .bind(&event.mac)
            .bind(&event.kind)
            .bind(clip(&event.detail))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A machine's boot events, newest first, for anyone who may view it.
    pub async fn boot_events(&self, actor: &Actor, machine_id: i64) -> Result<Vec<BootEvent>> {
        self.require(actor, machine_id, Level::View).await?;
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT at, mac, kind, detail FROM boot_events WHERE machine_id = $1
             ORDER BY id DESC LIMIT 50",
        )
        .bind(machine_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, mac, kind, detail)| BootEvent {
                at,
                mac,
                kind,
                detail,
            })
            .collect())
    }

    /// Machines that asked to boot and are not in the inventory, newest first. Admins only.
    pub async fn discovered_machines(&self, actor: &Actor) -> Result<Vec<DiscoveredMachine>> {
        actor.require_admin()?;
        #[derive(sqlx::FromRow)]
        struct Row {
            mac: String,
            architecture: String,
            vendor_class: String,
            address: String,
            first_seen: i64,
            last_seen: i64,
            times_seen: i64,
            hardware: Option<String>,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT d.mac, d.architecture, d.vendor_class, d.address, d.first_seen, d.last_seen,
                d.times_seen,
                (SELECT a.hardware FROM agents a WHERE a.mac = d.mac AND a.machine_id IS NULL
                 ORDER BY a.id DESC LIMIT 1) AS hardware
             FROM discovered_machines d ORDER BY d.last_seen DESC",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| DiscoveredMachine {
                hardware: row
                    .hardware
                    .and_then(|report| serde_json::from_str(&report).ok()),
                mac: row.mac,
                architecture: row.architecture,
                vendor_class: row.vendor_class,
                address: row.address,
                first_seen: row.first_seen,
                last_seen: row.last_seen,
                times_seen: row.times_seen,
            })
            .collect())
    }

    /// Takes a discovered machine into the inventory under `name`, with the platform its boot
    /// request told (unless `platform` says otherwise). Its earlier boot events join it.
    pub async fn adopt_machine(
        &self,
        actor: &Actor,
        mac: &str,
        name: &str,
        platform: &str,
    ) -> Result<Machine> {
        actor.require_admin()?;
        let mac = parse_mac(mac).ok_or_else(|| Error::invalid("mac", "is not a MAC address"))?;
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT architecture, vendor_class FROM discovered_machines WHERE mac = $1",
        )
        .bind(&mac)
        .fetch_optional(&self.db)
        .await?;
        let (architecture, vendor_class) = found.ok_or(Error::NotFound("discovered machine"))?;
        let platform = match platform.trim() {
            "" => Platform::guess(&architecture, &vendor_class)
                .as_str()
                .to_string(),
            chosen => chosen.to_string(),
        };
        let machine = self
            .create_machine(
                actor,
                MachineInput {
                    name: name.into(),
                    macs: mac.clone(),
                    platform,
                    bmc_kind: "none".into(),
                    state: "available".into(),
                    description: format!("adopted from discovery ({architecture} {vendor_class})"),
                    ..Default::default()
                },
            )
            .await?;
        sqlx::query("DELETE FROM discovered_machines WHERE mac = $1")
            .bind(&mac)
            .execute(&self.db)
            .await?;
        sqlx::query("UPDATE boot_events SET machine_id = $1 WHERE mac = $2 AND machine_id IS NULL")
            .bind(machine.id)
            .bind(&mac)
            .execute(&self.db)
            .await?;
        // What the enlisting management OS found comes along.
        sqlx::query(
            "UPDATE machines SET hardware = COALESCE((SELECT a.hardware FROM agents a
                WHERE a.mac = $2 AND a.machine_id IS NULL AND a.hardware <> ''
                ORDER BY a.id DESC LIMIT 1), hardware) WHERE id = $1",
        )
        .bind(machine.id)
        .bind(&mac)
        .execute(&self.db)
        .await?;
        sqlx::query("UPDATE agents SET machine_id = $1 WHERE mac = $2 AND machine_id IS NULL")
            .bind(machine.id)
            .bind(&mac)
            .execute(&self.db)
            .await?;
        Ok(machine)
    }
}

/// Client-supplied text, bounded.
fn clip(text: &str) -> String {
    crate::validate::clip(text, crate::validate::MAX_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn unknown_macs_are_discovered_and_adopted_with_their_history() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let known = lab
            .create_machine(&admin, testing::machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        let plan = lab
            .boot_plan(&BootRequest {
                mac: "52-54-00-00-00-01".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            plan,
            BootPlan::LocalDisk {
                machine: "node1".into(),
                platform: Platform::X86_64Uefi
            }
        );
        assert_eq!(lab.boot_events(&admin, known.id).await.unwrap().len(), 1);

        let stranger = BootRequest {
            mac: "5254.00aa.bb01".into(),
            architecture: "x86_64".into(),
            vendor_class: "pcbios".into(),
            address: "10.99.0.50".into(),
            dhcp_address: Some("10.99.0.50".into()),
            management_os: ManagementOsBuilds::X86_64,
        };
        for _ in 0..2 {
            assert_eq!(
                lab.boot_plan(&stranger).await.unwrap(),
                BootPlan::Unknown { uefi: false }
            );
        }
        let discovered = lab.discovered_machines(&admin).await.unwrap();
        assert_eq!(discovered.len(), 1);
        assert_eq!(
            (discovered[0].mac.as_str(), discovered[0].times_seen),
            ("52:54:00:aa:bb:01", 2)
        );
        let alice = testing::user(&lab, "alice").await;
        assert!(matches!(
            lab.discovered_machines(&alice).await,
            Err(Error::Forbidden)
        ));
        assert!(lab.boot_plan(&BootRequest::default()).await.is_err());

        let adopted = lab
            .adopt_machine(&admin, "52:54:00:aa:bb:01", "node2", "")
            .await
            .unwrap();
        assert_eq!(adopted.platform, Platform::X86_64Bios);
        assert!(lab.discovered_machines(&admin).await.unwrap().is_empty());
        assert_eq!(lab.boot_events(&admin, adopted.id).await.unwrap().len(), 2);
        assert!(matches!(
            lab.boot_plan(&stranger).await.unwrap(),
            BootPlan::LocalDisk { .. }
        ));
        assert!(matches!(
            lab.adopt_machine(&admin, "52:54:00:aa:bb:01", "again", "")
                .await,
            Err(Error::NotFound(_))
        ));
    }

    /// A stranger fetching boot scripts for made-up MACs records nothing; a machine baas' DHCP
    /// answered is recorded, at most a few new ones an hour per address, and forgotten when it
    /// was not seen for the lab's setting.
    #[tokio::test]
    async fn only_machines_the_boot_plane_saw_asking_are_discovered_within_limits() {
        let (lab, _dir) = testing::lab().await;
        let lab = lab.with_clock(crate::Clock::manual(1_800_000_000));
        let admin = testing::admin();
        let fetch = |n: u32, dhcp: Option<&str>| BootRequest {
            mac: format!("52:54:00:99:00:{n:02x}"),
            address: "10.99.0.66".into(),
            dhcp_address: dhcp.map(str::to_string),
            management_os: ManagementOsBuilds::X86_64,
            ..Default::default()
        };
        for n in 0..50 {
            let plan = lab.boot_plan(&fetch(n, None)).await.unwrap();
            assert_eq!(plan, BootPlan::Unknown { uefi: false });
            // Nor does DHCP having seen the MAC elsewhere vouch for this address.
            lab.boot_plan(&fetch(n, Some("10.99.0.9"))).await.unwrap();
        }
        assert!(lab.discovered_machines(&admin).await.unwrap().is_empty());
        let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM boot_events")
            .fetch_one(lab.pool())
            .await
            .unwrap();
        assert_eq!(events, 0, "unvouched fetches wrote boot events");

        for n in 0..20 {
            lab.boot_plan(&fetch(n, Some("10.99.0.66"))).await.unwrap();
        }
        assert_eq!(
            lab.discovered_machines(&admin).await.unwrap().len(),
            NEW_DISCOVERIES_PER_SOURCE_HOUR as usize
        );
        // Those recorded are still refreshed; an hour on, the address may add more.
        lab.boot_plan(&fetch(0, Some("10.99.0.66"))).await.unwrap();
        lab.clock.advance(3601);
        lab.boot_plan(&fetch(30, Some("10.99.0.66"))).await.unwrap();
        let discovered = lab.discovered_machines(&admin).await.unwrap();
        assert_eq!(
            discovered.len(),
            NEW_DISCOVERIES_PER_SOURCE_HOUR as usize + 1
        );

        lab.set_discovered_keep_days(&admin, 2).await.unwrap();
        assert!(lab.set_discovered_keep_days(&admin, 0).await.is_err());
        lab.clock.advance(2 * 86_400 - 3601 + 1);
        assert_eq!(lab.expire_discovered().await.unwrap(), 8);
        let left: Vec<String> = lab
            .discovered_machines(&admin)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.mac)
            .collect();
        assert_eq!(left, ["52:54:00:99:00:1e"]);
    }

    /// An arm64 machine is sent the arm64 build or nothing: with only the x86-64 build its
    /// boot job waits; a machine whose iPXE says it runs arm64 gets the arm64 build whatever
    /// the inventory says.
    #[tokio::test]
    async fn an_arm64_machine_boots_the_arm64_management_os_or_none() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let arm = lab
            .create_machine(
                &admin,
                MachineInput {
                    platform: "arm64-uefi".into(),
                    ..testing::machine_input("arm1", "52:54:00:00:0a:01")
                },
            )
            .await
            .unwrap();
        let x86 = lab
            .create_machine(&admin, testing::machine_input("x86", "52:54:00:00:0a:02"))
            .await
            .unwrap();
        lab.request_management_boot(&admin, arm.id).await.unwrap();
        lab.request_management_boot(&admin, x86.id).await.unwrap();
        // The build a plan boots, if it boots the management OS at all.
        let build = |plan: BootPlan| match plan {
            BootPlan::ManagementOs { platform, .. } => Some(platform),
            _ => None,
        };
        let request = |mac: &str, architecture: &str, builds| BootRequest {
            mac: mac.into(),
            architecture: architecture.into(),
            vendor_class: "efi".into(),
            address: "10.99.0.7".into(),
            dhcp_address: Some("10.99.0.7".into()),
            management_os: builds,
        };
        let plan = lab
            .boot_plan(&request(
                "52:54:00:00:0a:01",
                "",
                ManagementOsBuilds::X86_64,
            ))
            .await
            .unwrap();
        assert!(matches!(plan, BootPlan::LocalDisk { .. }), "{plan:?}");
        let both = ManagementOsBuilds {
            x86_64: true,
            arm64: true,
        };
        let plan = lab
            .boot_plan(&request("52:54:00:00:0a:01", "", both))
            .await
            .unwrap();
        assert_eq!(build(plan), Some(Platform::Arm64Uefi));
        // Listed as x86-64, but its iPXE runs arm64: not the x86-64 build.
        let plan = lab
            .boot_plan(&request(
                "52:54:00:00:0a:02",
                "arm64",
                ManagementOsBuilds::X86_64,
            ))
            .await
            .unwrap();
        assert!(matches!(plan, BootPlan::LocalDisk { .. }), "{plan:?}");
        let plan = lab
            .boot_plan(&request(
                "52:54:00:00:0a:02",
                "x86_64",
                ManagementOsBuilds::X86_64,
            ))
            .await
            .unwrap();
        assert_eq!(build(plan), Some(Platform::X86_64Uefi));
    }

    #[tokio::test]
    async fn pending_jobs_and_the_enlist_policy_boot_the_management_os() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let node = lab
            .create_machine(&admin, testing::machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        let job = lab.request_management_boot(&admin, node.id).await.unwrap();
        // DHCP saw each MAC at the address the script is fetched from.
        let request = |mac: &str| BootRequest {
            mac: mac.into(),
            address: "10.99.0.7".into(),
            dhcp_address: Some("10.99.0.7".into()),
            management_os: ManagementOsBuilds::X86_64,
            ..Default::default()
        };
        // Without a management OS to boot, the job waits.
        let plan = lab
            .boot_plan(&BootRequest {
                management_os: ManagementOsBuilds::default(),
                ..request("52:54:00:00:00:01")
            })
            .await
            .unwrap();
        assert!(matches!(plan, BootPlan::LocalDisk { .. }), "{plan:?}");
        let plan = lab.boot_plan(&request("52:54:00:00:00:01")).await.unwrap();
        let BootPlan::ManagementOs {
            machine,
            purpose,
            enrolment_token,
            platform,
        } = plan
        else {
            panic!("expected the management OS, got {plan:?}");
        };
        assert_eq!(
            (machine.as_deref(), purpose),
            (Some("node1"), Purpose::Job(job.id))
        );
        assert!(!enrolment_token.is_empty());
        assert_eq!(platform, Platform::X86_64Uefi, "node1's platform");
        let events = lab.boot_events(&admin, node.id).await.unwrap();
        assert!(events[0]
            .detail
            .starts_with(&format!("management OS for boot job {}", job.id)));

        assert_eq!(
            lab.discovery_policy().await.unwrap(),
            DiscoveryPolicy::Ignore
        );
        let alice = testing::user(&lab, "alice").await;
        assert!(matches!(
            lab.set_discovery_policy(&alice, DiscoveryPolicy::Enlist)
                .await,
            Err(Error::Forbidden)
        ));
        lab.set_discovery_policy(&admin, DiscoveryPolicy::Enlist)
            .await
            .unwrap();
        let plan = lab.boot_plan(&request("52:54:00:00:00:99")).await.unwrap();
        assert!(
            matches!(
                plan,
                BootPlan::ManagementOs {
                    machine: None,
                    purpose: Purpose::Enlist,
                    ..
                }
            ),
            "{plan:?}"
        );
        assert_eq!(lab.discovered_machines(&admin).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn only_the_address_dhcp_vouched_for_gets_an_enrolment_token() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let node = lab
            .create_machine(&admin, testing::machine_input("node1", "52:54:00:00:00:01"))
            .await
            .unwrap();
        let job = lab.request_management_boot(&admin, node.id).await.unwrap();
        let asked = |address: &str, dhcp: Option<&str>| BootRequest {
            mac: "52:54:00:00:00:01".into(),
            address: address.into(),
            dhcp_address: dhcp.map(str::to_string),
            management_os: ManagementOsBuilds::X86_64,
            ..Default::default()
        };
        // From elsewhere, or with nobody having seen the MAC get an address: no token, the
        // machine boots its disk and the job keeps waiting for the real one.
        for (from, dhcp, why) in [
            ("10.0.0.66", Some("10.0.0.7"), "its address is 10.0.0.7"),
            // Not the address vouched for, whatever it shares with it: no token.
            (
                "fd99::5054:ff:fe00:2",
                Some("fe80::5054:ff:fe00:1"),
                "its address is fe80::5054:ff:fe00:1",
            ),
            (
                "fd99::5054:ff:fe00:1",
                Some("fd42::5054:ff:fe00:1"),
                "its address is fd42::5054:ff:fe00:1",
            ),
            (
                "10.0.0.66",
                None,
                "has not seen 52:54:00:00:00:01 get an address",
            ),
        ] {
            let plan = lab.boot_plan(&asked(from, dhcp)).await.unwrap();
            let BootPlan::Unvouched {
                machine, reason, ..
            } = plan
            else {
                panic!("a token went to {from}: {plan:?}");
            };
            assert_eq!(machine.as_deref(), Some("node1"));
            assert!(reason.contains(why), "{reason}");
        }
        let jobs = lab.jobs(&admin, node.id).await.unwrap();
        assert_eq!(jobs[0].state, crate::model::JobState::Queued);
        let events = lab.boot_events(&admin, node.id).await.unwrap();
        assert!(
            events[0].detail.contains("management OS withheld"),
            "{}",
            events[0].detail
        );

        // The address DHCP saw it at (IPv4-mapped or not) gets the token, bound to it.
        let plan = lab
            .boot_plan(&asked("::ffff:10.0.0.7", Some("10.0.0.7")))
            .await
            .unwrap();
        assert!(matches!(plan, BootPlan::ManagementOs { .. }), "{plan:?}");
        assert_eq!(lab.enrolment_address(job.id).await, "::ffff:10.0.0.7");
        // An IPv6 address vouched for exactly (the server vouches for the autoconfigured
        // address of the interface DHCPv6 heard, see server/src/boot_clients.rs).
        let plan = lab
            .boot_plan(&asked("fd99::5054:ff:fe00:1", Some("fd99::5054:ff:fe00:1")))
            .await
            .unwrap();
        assert!(matches!(plan, BootPlan::ManagementOs { .. }), "{plan:?}");
        assert_eq!(lab.enrolment_address(job.id).await, "fd99::5054:ff:fe00:1");

        // Without DHCP, the inventory's fixed address vouches.
        let fixed = lab
            .create_machine(
                &admin,
                crate::model::MachineInput {
                    ip_address: "10.0.0.21".into(),
                    ..testing::machine_input("node2", "52:54:00:00:00:02")
                },
            )
            .await
            .unwrap();
        lab.request_management_boot(&admin, fixed.id).await.unwrap();
        let from = |address: &str| BootRequest {
            mac: "52:54:00:00:00:02".into(),
            address: address.into(),
            management_os: ManagementOsBuilds::X86_64,
            ..Default::default()
        };
        assert!(matches!(
            lab.boot_plan(&from("10.0.0.22")).await.unwrap(),
            BootPlan::Unvouched { .. }
        ));
        assert!(matches!(
            lab.boot_plan(&from("10.0.0.21")).await.unwrap(),
            BootPlan::ManagementOs { .. }
        ));

        // Nothing due: the answer is the disk as before, wherever it is asked from.
        lab.cancel_job(&admin, job.id).await.unwrap();
        assert!(matches!(
            lab.boot_plan(&asked("10.0.0.66", None)).await.unwrap(),
            BootPlan::LocalDisk { .. }
        ));

        // Enlisting unknown machines follows the same rule.
        lab.set_discovery_policy(&admin, DiscoveryPolicy::Enlist)
            .await
            .unwrap();
        let stranger = |address: &str| BootRequest {
            mac: "52:54:00:00:00:99".into(),
            address: address.into(),
            dhcp_address: Some("10.0.0.99".into()),
            management_os: ManagementOsBuilds::X86_64,
            ..Default::default()
        };
        assert!(matches!(
            lab.boot_plan(&stranger("10.0.0.66")).await.unwrap(),
            BootPlan::Unvouched { machine: None, .. }
        ));
        assert!(matches!(
            lab.boot_plan(&stranger("10.0.0.99")).await.unwrap(),
            BootPlan::ManagementOs { machine: None, .. }
        ));
    }
}
