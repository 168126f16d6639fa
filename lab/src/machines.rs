//! The machine inventory: identity, MAC addresses, platform, BMC (credentials sealed at rest),
//! location, tags and state.

use std::collections::HashMap;

use sqlx::AnyConnection;

use crate::audit::record;
use crate::error::FieldErrors;
use crate::model::{
    BmcKind, Holder, Level, Machine, MachineFilter, MachineInput, MachineState, Platform,
};
use crate::store::is_unique_violation;
use crate::{validate, Actor, Error, Lab, Result};

const MAX_TAGS: usize = 20;

/// BMC credentials as sealed in `machines.bmc_secret`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BmcCredentials {
    pub username: String,
    pub password: String,
}

/// A machine form after validation.
struct ValidMachine {
    name: String,
    macs: Vec<String>,
    platform: Platform,
    bmc_kind: BmcKind,
    bmc_address: String,
    bmc_username: String,
    bmc_password: String,
    bmc_tls_pin: String,
    ipmi_cipher_suite: i64,
    ip_address: String,
    boot_program: String,
    location: String,
    tags: Vec<String>,
    description: String,
    state: MachineState,
}

fn validate_input(input: &MachineInput) -> Result<ValidMachine> {
    let mut errors = FieldErrors::default();
    let name = validate::identifier(&mut errors, "name", &input.name);

    let mut macs = Vec::new();
    let written: Vec<&str> = input
        .macs
        .split([',', ' ', '\n', '\r', '\t', ';'])
        .filter(|s| !s.is_empty())
        .collect();
    if written.is_empty() {
        errors.add("macs", "at least one MAC address is required");
    }
    for mac in written {
        match validate::parse_mac(mac) {
            Some(mac) if macs.contains(&mac) => {
                errors.add("macs", format!("{mac} is listed twice"))
            }
            Some(mac) => macs.push(mac),
            None => {
                let shown: String = mac.chars().take(40).collect();
                errors.add(
                    "macs",
                    format!("'{shown}' is not a MAC address (like 52:54:00:12:34:56)"),
                );
            }
        }
    }

    let platform = Platform::parse(input.platform.trim());
    if platform.is_none() {
        errors.add(
            "platform",
            "must be one of x86_64-bios, x86_64-uefi, arm64-uefi",
        );
    }
    let bmc_kind = BmcKind::parse(input.bmc_kind.trim());
    if bmc_kind.is_none() {
        errors.add("bmc_kind", "must be one of none, ipmi, redfish");
    }
    let bmc_address = validate::text(
        &mut errors,
        "bmc_address",
        &input.bmc_address,
        validate::MAX_TEXT,
        false,
    );
    if bmc_address.contains(char::is_whitespace) {
        errors.add("bmc_address", "must not contain spaces");
    }
    if matches!(bmc_kind, Some(BmcKind::Ipmi | BmcKind::Redfish)) && bmc_address.is_empty() {
        errors.add("bmc_address", "is required when the machine has a BMC");
    }
    let bmc_username = validate::text(
        &mut errors,
        "bmc_username",
        &input.bmc_username,
        validate::MAX_TEXT,
        false,
    );
    if input.bmc_password.chars().count() > validate::MAX_TEXT {
        errors.add(
            "bmc_password",
            format!("is longer than {} characters", validate::MAX_TEXT),
        );
    }
    let bmc_tls_pin: String = input
        .bmc_tls_pin
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if !bmc_tls_pin.is_empty()
        && (bmc_tls_pin.len() != 64 || !bmc_tls_pin.chars().all(|c| c.is_ascii_hexdigit()))
    {
        errors.add(
            "bmc_tls_pin",
            "must be a SHA-256 fingerprint: 64 hex digits, colons allowed",
        );
    }
    let ipmi_cipher_suite = match input.ipmi_cipher_suite.trim() {
        "" => 3,
        value => match value.parse::<i64>() {
            Ok(suite @ 1..=3) => suite,
            _ => {
                errors.add(
                    "ipmi_cipher_suite",
                    "must be 1, 2 or 3 (RAKP-HMAC-SHA1; 3 adds AES-CBC-128 encryption)",
                );
                3
            }
        },
    };
    let ip_address = match input.ip_address.trim() {
        "" => String::new(),
        // Either family: a machine on an IPv6-only network has its fixed address there.
        text => match text.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip))
                if !ip.is_unspecified() && !ip.is_broadcast() && !ip.is_multicast() =>
            {
                ip.to_string()
            }
            Ok(std::net::IpAddr::V6(ip))
                if !ip.is_unspecified()
                    && !ip.is_multicast()
                    && !ip.is_loopback()
                    && !ip.is_unicast_link_local()
                    && ip.to_ipv4_mapped().is_none() =>
            {
                ip.to_string()
            }
            _ => {
                errors.add(
                    "ip_address",
                    "must be an IPv4 address like 10.0.0.21 or a global or unique-local IPv6 address like fd00::21 (or empty)",
                );
                String::new()
            }
        },
    };
    let boot_program = validate::file_name(&mut errors, "boot_program", &input.boot_program, false);
    let location = validate::text(
        &mut errors,
        "location",
        &input.location,
        validate::MAX_TEXT,
        false,
    );
    let description = validate::text(
        &mut errors,
        "description",
        &input.description,
        validate::MAX_LONG_TEXT,
        false,
    );

    let mut tags: Vec<String> = Vec::new();
    for tag in input.tags.split([',', ' ', '\n']).filter(|t| !t.is_empty()) {
        let mut tag_errors = FieldErrors::default();
        let tag = validate::identifier(&mut tag_errors, "tags", tag).to_lowercase();
        if !tag_errors.is_empty() || tag.len() > 32 {
            let shown: String = tag.chars().take(40).collect();
            errors.add(
                "tags",
                format!("'{shown}' is not a valid tag (letters, digits, . _ -, up to 32)"),
            );
        } else if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        errors.add("tags", format!("at most {MAX_TAGS} tags"));
    }
    let state = MachineState::parse(input.state.trim());
    if state.is_none() {
        errors.add("state", "must be one of available, maintenance, retired");
    }
    errors.into_result()?;
    Ok(ValidMachine {
        name,
        macs,
        platform: platform.unwrap_or(Platform::X86_64Uefi),
        bmc_kind: bmc_kind.unwrap_or(BmcKind::None),
        bmc_address,
        bmc_username,
        bmc_password: input.bmc_password.clone(),
        bmc_tls_pin,
        ipmi_cipher_suite,
        ip_address,
        boot_program,
        location,
        tags,
        description,
        state: state.unwrap_or(MachineState::Available),
    })
}

/// `resetting` is baas' own state: a form may keep it but not set it.
fn refuse_manual_reset(wanted: MachineState, stored: Option<MachineState>) -> Result<()> {
    if wanted == MachineState::Resetting && stored != Some(MachineState::Resetting) {
        return Err(Error::invalid(
            "state",
            "resetting is set by baas while it resets a machine after a reservation",
        ));
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MachineRow {
    id: i64,
    name: String,
    platform: String,
    bmc_kind: String,
    bmc_address: String,
    bmc_secret: Option<Vec<u8>>,
    bmc_tls_pin: String,
    ipmi_cipher_suite: i64,
    ip_address: String,
    boot_program: String,
    location: String,
    tags: String,
    description: String,
    state: String,
    state_reason: String,
    level: Option<i64>,
}

impl Lab {
    pub async fn create_machine(&self, actor: &Actor, input: MachineInput) -> Result<Machine> {
        actor.require_admin()?;
        let machine = validate_input(&input)?;
        refuse_manual_reset(machine.state, None)?;
        let credentials = BmcCredentials {
            username: machine.bmc_username.clone(),
            password: machine.bmc_password.clone(),
        };
        let secret = self.seal_credentials(machine.bmc_kind, &credentials)?;
        let mut tx = self.write().await?;
        check_addresses_free(&mut tx, &machine, None).await?;
        let id = store_machine(&mut tx, None, &machine, secret).await?;
        insert_macs(&mut tx, id, &machine.macs).await?;
        record(
            &mut tx,
            actor,
            "machine.create",
            &format!("machine:{}", machine.name),
            &format!(
                "macs={} platform={}",
                machine.macs.join(","),
                machine.platform
            ),
        )
        .await?;
        tx.commit().await?;
        self.renew_boot_program_book().await;
        self.machine(actor, id).await
    }

    /// Edits a machine (manage level). Empty BMC username or password keeps the stored one.
    pub async fn update_machine(
        &self,
        actor: &Actor,
        id: i64,
        input: MachineInput,
    ) -> Result<Machine> {
        self.require(actor, id, Level::Manage).await?;
        let machine = validate_input(&input)?;
        let stored: Option<String> = sqlx::query_scalar("SELECT state FROM machines WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        refuse_manual_reset(
            machine.state,
            stored.as_deref().and_then(MachineState::parse),
        )?;
        let mut credentials = self.bmc_credentials(id).await?.unwrap_or_default();
        if !machine.bmc_username.is_empty() {
            credentials.username = machine.bmc_username.clone();
        }
        if !machine.bmc_password.is_empty() {
            credentials.password = machine.bmc_password.clone();
        }
        let secret = self.seal_credentials(machine.bmc_kind, &credentials)?;
        let mut tx = self.write().await?;
        check_addresses_free(&mut tx, &machine, Some(id)).await?;
        store_machine(&mut tx, Some(id), &machine, secret).await?;
        sqlx::query("DELETE FROM machine_macs WHERE machine_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_macs(&mut tx, id, &machine.macs).await?;
        record(
            &mut tx,
            actor,
            "machine.update",
            &format!("machine:{}", machine.name),
            &format!("state={} macs={}", machine.state, machine.macs.join(",")),
        )
        .await?;
        tx.commit().await?;
        self.renew_boot_program_book().await;
        self.machine(actor, id).await
    }

    pub async fn delete_machine(&self, actor: &Actor, id: i64) -> Result<()> {
        actor.require_admin()?;
        let mut tx = self.write().await?;
        let name: Option<String> =
            sqlx::query_scalar("DELETE FROM machines WHERE id = $1 RETURNING name")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let name = name.ok_or(Error::NotFound("machine"))?;
        record(
            &mut tx,
            actor,
            "machine.delete",
            &format!("machine:{name}"),
            "",
        )
        .await?;
        tx.commit().await?;
        self.renew_boot_program_book().await;
        Ok(())
    }

    /// One machine, if the actor may view it.
    pub async fn machine(&self, actor: &Actor, id: i64) -> Result<Machine> {
        self.require(actor, id, Level::View).await?;
        self.load_machines(actor, Some(id))
            .await?
            .into_iter()
            .next()
            .ok_or(Error::NotFound("machine"))
    }

    /// Every machine the actor may view, by name, with who holds it now and next.
    pub async fn machines(&self, actor: &Actor) -> Result<Vec<Machine>> {
        self.load_machines(actor, None).await
    }

    /// The machines the actor may view that match `filter`: a tag, a state, and free of any
    /// active reservation between two times.
    pub async fn find_machines(
        &self,
        actor: &Actor,
        filter: &MachineFilter,
    ) -> Result<Vec<Machine>> {
        let mut errors = FieldErrors::default();
        let state = match filter.state.trim() {
            "" => None,
            state => {
                let parsed = MachineState::parse(state);
                if parsed.is_none() {
                    errors.add("state", "must be available, maintenance or retired");
                }
                parsed
            }
        };
        let free = match (filter.free_from, filter.free_until) {
            (Some(from), Some(until)) if until <= from => {
                errors.add("free_until", "must be after free_from");
                None
            }
            (Some(from), Some(until)) => Some((from, until)),
            (None, None) => None,
            _ => {
                errors.add("free_until", "free_from and free_until go together");
                None
            }
        };
        errors.into_result()?;
        let busy: Vec<i64> = match free {
            Some((from, until)) => {
                sqlx::query_scalar(
                    "SELECT DISTINCT machine_id FROM reservations
                 WHERE state = 'active' AND start_at < $2 AND end_at > $1",
                )
                .bind(from)
                .bind(until)
                .fetch_all(&self.db)
                .await?
            }
            None => Vec::new(),
        };
        let tag = filter.tag.trim();
        Ok(self
            .machines(actor)
            .await?
            .into_iter()
            .filter(|m| tag.is_empty() || m.tags.iter().any(|t| t == tag))
            .filter(|m| state.is_none_or(|s| m.state == s))
            .filter(|m| {
                free.is_none() || (m.state == MachineState::Available && !busy.contains(&m.id))
            })
            .collect())
    }

    /// The decrypted BMC credentials, for the BMC drivers only: never for a browser.
    pub async fn bmc_credentials(&self, id: i64) -> Result<Option<BmcCredentials>> {
        let sealed: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT bmc_secret FROM machines WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db)
                .await?;
        let sealed = sealed.ok_or(Error::NotFound("machine"))?;
        match sealed {
            None => Ok(None),
            Some(sealed) => {
                let plain = self.secrets.open(&sealed)?;
                serde_json::from_slice(&plain)
                    .map(Some)
                    .map_err(|e| Error::Secret(format!("stored BMC credentials unreadable: {e}")))
            }
        }
    }

    fn seal_credentials(
        &self,
        kind: BmcKind,
        credentials: &BmcCredentials,
    ) -> Result<Option<Vec<u8>>> {
        if kind == BmcKind::None
            || (credentials.username.is_empty() && credentials.password.is_empty())
        {
            return Ok(None);
        }
        let plain = serde_json::to_vec(credentials).map_err(|e| Error::Secret(e.to_string()))?;
        self.secrets.seal(&plain).map(Some)
    }

    async fn load_machines(&self, actor: &Actor, only: Option<i64>) -> Result<Vec<Machine>> {
        let viewer = actor.user_id.unwrap_or(-1);
        let rows: Vec<MachineRow> = sqlx::query_as(
            "SELECT m.id, m.name, m.platform, m.bmc_kind, m.bmc_address, m.bmc_secret, m.bmc_tls_pin, m.ipmi_cipher_suite, m.ip_address, m.boot_program, m.location, m.tags,
                    m.description, m.state, m.state_reason,
                    (SELECT MAX(g.level) FROM grants g
                     WHERE g.machine_id = m.id
                       AND (g.user_id = $1 OR g.group_id IN (SELECT group_id FROM group_members WHERE user_id = $1)))
                    AS level
             FROM machines m WHERE ($2 IS NULL OR m.id = $2) ORDER BY m.name",
        )
        .bind(viewer)
        .bind(only)
        .fetch_all(&self.db)
        .await?;
        let macs: Vec<(i64, String)> =
            sqlx::query_as("SELECT machine_id, mac FROM machine_macs WHERE ($1 IS NULL OR machine_id = $1) ORDER BY mac")
                .bind(only)
                .fetch_all(&self.db)
                .await?;
        let mut macs_by_machine: HashMap<i64, Vec<String>> = HashMap::new();
        for (machine_id, mac) in macs {
            macs_by_machine.entry(machine_id).or_default().push(mac);
        }
        let now = crate::now();
        let holders: Vec<(i64, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT r.machine_id, r.id, u.username, r.start_at, r.end_at
             FROM reservations r JOIN users u ON u.id = r.user_id
             WHERE r.state = 'active' AND r.end_at > $1 AND ($2 IS NULL OR r.machine_id = $2)
             ORDER BY r.start_at",
        )
        .bind(now)
        .bind(only)
        .fetch_all(&self.db)
        .await?;

        let mut machines = Vec::new();
        for row in rows {
            let level = if actor.is_admin {
                Some(Level::Manage)
            } else {
                row.level.and_then(Level::from_i64)
            };
            let Some(my_level) = level else { continue };
            let credentials = match &row.bmc_secret {
                Some(sealed) => self
                    .secrets
                    .open(sealed)
                    .ok()
                    .and_then(|plain| serde_json::from_slice::<BmcCredentials>(&plain).ok()),
                None => None,
            }
            .unwrap_or_default();
            let mut upcoming = holders.iter().filter(|h| h.0 == row.id).map(|h| Holder {
                reservation_id: h.1,
                username: h.2.clone(),
                start_at: h.3,
                end_at: h.4,
            });
            let first = upcoming.next();
            let (holder, next) = match first {
                Some(h) if h.start_at <= now => (Some(h), upcoming.next()),
                other => (None, other),
            };
            machines.push(Machine {
                id: row.id,
                name: row.name,
                macs: macs_by_machine.remove(&row.id).unwrap_or_default(),
                platform: Platform::parse(&row.platform).unwrap_or(Platform::X86_64Uefi),
                bmc_kind: BmcKind::parse(&row.bmc_kind).unwrap_or(BmcKind::None),
                bmc_address: row.bmc_address,
                bmc_username_set: !credentials.username.is_empty(),
                bmc_password_set: !credentials.password.is_empty(),
                bmc_tls_pin: row.bmc_tls_pin,
                ipmi_cipher_suite: row.ipmi_cipher_suite,
                ip_address: row.ip_address,
                boot_program: row.boot_program,
                location: row.location,
                tags: row
                    .tags
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
                description: row.description,
                state: MachineState::parse(&row.state).unwrap_or(MachineState::Maintenance),
                state_reason: row.state_reason,
                my_level,
                holder,
                next,
            });
        }
        Ok(machines)
    }
}

/// Inserts (`existing = None`) or updates a machine row and returns its id.
async fn store_machine(
    conn: &mut AnyConnection,
    existing: Option<i64>,
    machine: &ValidMachine,
    secret: Option<Vec<u8>>,
) -> Result<i64> {
    let sql = match existing {
        None => {
            "INSERT INTO machines (name, platform, bmc_kind, bmc_address, bmc_secret, location, tags,
                                   description, state, updated_at, bmc_tls_pin, ipmi_cipher_suite, ip_address, created_at,
                                   boot_program)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14, $10, $15 WHERE $11 IS NULL RETURNING id"
        }
        Some(_) => {
            "UPDATE machines SET name = $1, platform = $2, bmc_kind = $3, bmc_address = $4, bmc_secret = $5,
                    location = $6, tags = $7, description = $8, state = $9, updated_at = $10,
                    state_reason = CASE WHEN state = $9 THEN state_reason ELSE '' END,
                    bmc_tls_pin = $12, ipmi_cipher_suite = $13, ip_address = $14, boot_program = $15
             WHERE id = $11 RETURNING id"
        }
    };
    let stored = sqlx::query_scalar::<_, i64>(sql)
        .bind(&machine.name)
        .bind(machine.platform.as_str())
        .bind(machine.bmc_kind.as_str())
        .bind(&machine.bmc_address)
        .bind(secret)
        .bind(&machine.location)
        .bind(machine.tags.join(","))
        .bind(&machine.description)
        .bind(machine.state.as_str())
        .bind(crate::now())
        .bind(existing)
        .bind(&machine.bmc_tls_pin)
        .bind(machine.ipmi_cipher_suite)
        .bind(&machine.ip_address)
        .bind(&machine.boot_program)
        .fetch_optional(&mut *conn)
        .await;
    match stored {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(Error::NotFound("machine")),
        Err(e) if is_unique_violation(&e) => Err(Error::invalid("name", "is already taken")),
        Err(e) => Err(e.into()),
    }
}

/// Fails with a `macs` or `ip_address` field error naming the machine that already has one of
/// the machine's MACs or its fixed address.
async fn check_addresses_free(
    conn: &mut AnyConnection,
    machine: &ValidMachine,
    except: Option<i64>,
) -> Result<()> {
    let mut errors = FieldErrors::default();
    if !machine.ip_address.is_empty() {
        let owner: Option<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM machines WHERE ip_address = $1")
                .bind(&machine.ip_address)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some((owner_id, owner_name)) = owner.filter(|(id, _)| Some(*id) != except) {
            let _ = owner_id;
            errors.add(
                "ip_address",
                format!(
                    "{} already belongs to machine {owner_name}",
                    machine.ip_address
                ),
            );
        }
    }
    for mac in &machine.macs {
        let owner: Option<(i64, String)> = sqlx::query_as(
            "SELECT m.id, m.name FROM machine_macs a JOIN machines m ON m.id = a.machine_id WHERE a.mac = $1",
        )
        .bind(mac)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((owner_id, owner_name)) = owner {
            if Some(owner_id) != except {
                errors.add(
                    "macs",
                    format!("{mac} already belongs to machine {owner_name}"),
                );
            }
        }
    }
    errors.into_result()
}

async fn insert_macs(conn: &mut AnyConnection, machine_id: i64, macs: &[String]) -> Result<()> {
    for mac in macs {
        let inserted = sqlx::query("INSERT INTO machine_macs (mac, machine_id) VALUES ($1, $2)")
            .bind(mac)
            .bind(machine_id)
            .execute(&mut *conn)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::invalid(
                    "macs",
                    format!("{mac} already belongs to another machine"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn input() -> MachineInput {
        MachineInput {
            name: "node-01".into(),
            macs: "52:54:00:AA:00:01, 52-54-00-aa-00-02".into(),
            platform: "x86_64-bios".into(),
            bmc_kind: "ipmi".into(),
            bmc_address: "10.0.0.5:623".into(),
            bmc_username: "root".into(),
            bmc_password: "calvin-secret".into(),
            bmc_tls_pin: String::new(),
            ipmi_cipher_suite: String::new(),
            ip_address: String::new(),
            boot_program: String::new(),
            location: "room 101, rack 4".into(),
            tags: "gpu, big-memory gpu".into(),
            description: "test box".into(),
            state: "available".into(),
        }
    }

    #[tokio::test]
    async fn machines_are_found_by_tag_state_and_free_time() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let make = |name: &str, mac: &str, tags: &str, state: &str| MachineInput {
            name: name.into(),
            macs: mac.into(),
            bmc_kind: "none".into(),
            bmc_address: String::new(),
            bmc_username: String::new(),
            bmc_password: String::new(),
            tags: tags.into(),
            state: state.into(),
            ..input()
        };
        let gpu = lab
            .create_machine(
                &admin,
                make("gpu-1", "52:54:00:aa:01:01", "gpu", "available"),
            )
            .await
            .unwrap();
        lab.create_machine(
            &admin,
            make("gpu-2", "52:54:00:aa:01:02", "gpu", "maintenance"),
        )
        .await
        .unwrap();
        lab.create_machine(&admin, make("cpu-1", "52:54:00:aa:01:03", "", "available"))
            .await
            .unwrap();
        let now = crate::now();
        let alice = testing::user(&lab, "alice").await;
        let subject = crate::model::Subject::User(alice.user_id.unwrap());
        lab.grant(&admin, gpu.id, subject, Level::Use)
            .await
            .unwrap();
        lab.reserve(&alice, gpu.id, now, now + 3600, "")
            .await
            .unwrap();
        let names =
            |machines: Vec<Machine>| machines.into_iter().map(|m| m.name).collect::<Vec<_>>();
        let find = |filter: MachineFilter| {
            let (lab, admin) = (lab.clone(), admin.clone());
            async move { lab.find_machines(&admin, &filter).await }
        };
        let by_tag = MachineFilter {
            tag: "gpu".into(),
            ..Default::default()
        };
        assert_eq!(names(find(by_tag).await.unwrap()), ["gpu-1", "gpu-2"]);
        let available = MachineFilter {
            state: "available".into(),
            ..Default::default()
        };
        assert_eq!(names(find(available).await.unwrap()), ["cpu-1", "gpu-1"]);
        // gpu-1 is taken for the next hour, gpu-2 is in maintenance.
        let free_now = MachineFilter {
            free_from: Some(now + 60),
            free_until: Some(now + 120),
            ..Default::default()
        };
        assert_eq!(names(find(free_now).await.unwrap()), ["cpu-1"]);
        let free_later = MachineFilter {
            tag: "gpu".into(),
            free_from: Some(now + 7200),
            free_until: Some(now + 9000),
            ..Default::default()
        };
        assert_eq!(names(find(free_later).await.unwrap()), ["gpu-1"]);
        let backwards = MachineFilter {
            free_from: Some(now + 60),
            free_until: Some(now),
            ..Default::default()
        };
        assert_eq!(
            find(backwards).await.unwrap_err().field_errors()[0].field,
            "free_until"
        );
        let bad_state = MachineFilter {
            state: "broken".into(),
            ..Default::default()
        };
        assert_eq!(
            find(bad_state).await.unwrap_err().field_errors()[0].field,
            "state"
        );
    }

    #[tokio::test]
    async fn machines_keep_canonical_macs_tags_and_sealed_credentials() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let machine = lab.create_machine(&admin, input()).await.unwrap();
        assert_eq!(machine.macs, ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]);
        assert_eq!(machine.tags, ["gpu", "big-memory"]);
        assert!(machine.bmc_username_set && machine.bmc_password_set);

        let raw: Vec<u8> = sqlx::query_scalar("SELECT bmc_secret FROM machines WHERE id = $1")
            .bind(machine.id)
            .fetch_one(lab.pool())
            .await
            .unwrap();
        assert!(
            !raw.windows(13).any(|w| w == b"calvin-secret"),
            "password stored in clear"
        );
        let credentials = lab.bmc_credentials(machine.id).await.unwrap().unwrap();
        assert_eq!(credentials.password, "calvin-secret");

        let mut edit = input();
        edit.bmc_password = String::new();
        edit.state = "maintenance".into();
        let edited = lab.update_machine(&admin, machine.id, edit).await.unwrap();
        assert_eq!(edited.state, MachineState::Maintenance);
        assert_eq!(
            lab.bmc_credentials(machine.id)
                .await
                .unwrap()
                .unwrap()
                .password,
            "calvin-secret"
        );
    }

    #[tokio::test]
    async fn bad_machine_forms_name_every_bad_field_and_write_nothing() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let bad = MachineInput {
            name: "no spaces allowed".into(),
            macs: "52:54:00:zz:00:01".into(),
            platform: "sparc".into(),
            bmc_kind: "redfish".into(),
            bmc_address: String::new(),
            location: "x".repeat(300),
            state: "on-fire".into(),
            ipmi_cipher_suite: "17".into(),
            ..Default::default()
        };
        let err = lab.create_machine(&admin, bad).await.unwrap_err();
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "macs",
                "platform",
                "bmc_address",
                "ipmi_cipher_suite",
                "location",
                "state"
            ]
        );
        assert!(lab.machines(&admin).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn names_and_macs_are_unique_across_machines() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        lab.create_machine(&admin, input()).await.unwrap();
        let mut same_mac = input();
        same_mac.name = "node-02".into();
        same_mac.macs = "52:54:00:aa:00:02".into();
        let err = lab.create_machine(&admin, same_mac).await.unwrap_err();
        assert_eq!(err.field_errors()[0].field, "macs");
        assert!(err.to_string().contains("node-01"));
        let mut same_name = input();
        same_name.macs = "52:54:00:aa:00:09".into();
        let err = lab.create_machine(&admin, same_name).await.unwrap_err();
        assert_eq!(err.field_errors()[0].field, "name");
        assert_eq!(lab.machines(&admin).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn only_admins_create_and_managers_edit() {
        let (lab, _dir) = testing::lab().await;
        let admin = testing::admin();
        let alice = testing::user(&lab, "alice").await;
        assert!(matches!(
            lab.create_machine(&alice, input()).await,
            Err(Error::Forbidden)
        ));
        let machine = lab.create_machine(&admin, input()).await.unwrap();
        assert!(matches!(
            lab.update_machine(&alice, machine.id, input()).await,
            Err(Error::NotFound(_))
        ));
        lab.grant(
            &admin,
            machine.id,
            crate::model::Subject::User(alice.user_id.unwrap()),
            Level::Use,
        )
        .await
        .unwrap();
        assert!(matches!(
            lab.update_machine(&alice, machine.id, input()).await,
            Err(Error::Forbidden)
        ));
        lab.grant(
            &admin,
            machine.id,
            crate::model::Subject::User(alice.user_id.unwrap()),
            Level::Manage,
        )
        .await
        .unwrap();
        assert!(lab
            .update_machine(&alice, machine.id, input())
            .await
            .is_ok());
        assert!(matches!(
            lab.delete_machine(&alice, machine.id).await,
            Err(Error::Forbidden)
        ));
    }
}
