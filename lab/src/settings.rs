//! Lab-wide settings that admins change at run time: the booking limits (and, read here for
//! the settings page, the default image quota that `images` owns).

use sqlx::AnyConnection;

use crate::audit::record;
use crate::egress::EgressPolicy;
use crate::error::FieldErrors;
use crate::model::{DiscoveryPolicy, Limits};
use crate::{Actor, Lab, Result};

const MAX_DURATION_KEY: &str = "reservations.max_duration_hours";
const MAX_ADVANCE_KEY: &str = "reservations.max_advance_days";
const ENLIST_UNKNOWN_KEY: &str = "boot.enlist_unknown";
const IMPORT_NETWORKS_KEY: &str = "imports.allowed_networks";
const DISCOVERED_KEEP_DAYS_KEY: &str = "boot.discovered_keep_days";
/// How long an unadopted discovered machine is kept after it was last seen, unless set.
const DISCOVERED_KEEP_DAYS: i64 = 14;
pub(crate) const DEFAULT_QUOTA_KEY: &str = "images.default_quota_bytes";

/// Stores one setting on `conn` (normally the change's transaction).
pub(crate) async fn put_setting(
    conn: &mut AnyConnection,
    key: &str,
    value: impl std::fmt::Display,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

impl Lab {
    /// One setting as stored, if it was ever set.
    pub(crate) async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.db)
                .await?,
        )
    }

    pub async fn limits(&self) -> Result<Limits> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM settings")
            .fetch_all(&self.db)
            .await?;
        let mut limits = Limits::default();
        for (key, value) in rows {
            let Ok(value) = value.parse::<i64>() else {
                continue;
            };
            match key.as_str() {
                MAX_DURATION_KEY => limits.max_duration_hours = value,
                MAX_ADVANCE_KEY => limits.max_advance_days = value,
                DEFAULT_QUOTA_KEY => limits.default_image_quota_bytes = value,
                _ => {}
            }
        }
        Ok(limits)
    }

    /// Where imports by URL may fetch from: public addresses, and the internal networks an admin
    /// allowed.
    pub async fn egress_policy(&self) -> Result<EgressPolicy> {
        // Only ever stored after parsing; a value that no longer parses opens nothing.
        Ok(self
            .setting(IMPORT_NETWORKS_KEY)
            .await?
            .and_then(|text| EgressPolicy::parse(&text).ok())
            .unwrap_or_default())
    }

    /// Sets the internal networks imports may fetch from (comma separated; empty: none).
    pub async fn set_import_networks(&self, actor: &Actor, networks: &str) -> Result<EgressPolicy> {
        actor.require_admin()?;
        let policy = EgressPolicy::parse(networks)
            .map_err(|message| crate::Error::invalid("allowed_networks", message))?;
        let text = policy.to_text();
        let mut tx = self.write().await?;
        put_setting(&mut tx, IMPORT_NETWORKS_KEY, &text).await?;
        record(
            &mut tx,
            actor,
            "settings.imports",
            "settings",
            &format!("allowed_networks={text}"),
        )
        .await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// What unknown machines that network-boot get (default: their own disk).
    pub async fn discovery_policy(&self) -> Result<DiscoveryPolicy> {
        Ok(match self.setting(ENLIST_UNKNOWN_KEY).await?.as_deref() {
            Some("1") => DiscoveryPolicy::Enlist,
            _ => DiscoveryPolicy::Ignore,
        })
    }

    pub async fn set_discovery_policy(&self, actor: &Actor, policy: DiscoveryPolicy) -> Result<()> {
        actor.require_admin()?;
        let mut tx = self.write().await?;
        put_setting(
            &mut tx,
            ENLIST_UNKNOWN_KEY,
            i64::from(policy == DiscoveryPolicy::Enlist),
        )
        .await?;
        record(
            &mut tx,
            actor,
            "settings.discovery",
            "settings",
            &format!("policy={policy}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Days a discovered machine that was not adopted is kept after it last asked to boot.
    pub async fn discovered_keep_days(&self) -> Result<i64> {
        Ok(self
            .setting(DISCOVERED_KEEP_DAYS_KEY)
            .await?
            .and_then(|days| days.parse().ok())
            .unwrap_or(DISCOVERED_KEEP_DAYS))
    }

    pub async fn set_discovered_keep_days(&self, actor: &Actor, days: i64) -> Result<()> {
        actor.require_admin()?;
        if !(1..=3650).contains(&days) {
            return Err(crate::Error::invalid(
                "discovered_keep_days",
                "must be between 1 and 3650",
            ));
        }
        let mut tx = self.write().await?;
        put_setting(&mut tx, DISCOVERED_KEEP_DAYS_KEY, days).await?;
        record(
            &mut tx,
            actor,
            "settings.discovery",
            "settings",
            &format!("discovered_keep_days={days}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_limits(&self, actor: &Actor, limits: Limits) -> Result<()> {
        actor.require_admin()?;
        let mut errors = FieldErrors::default();
        if !(1..=24 * 365).contains(&limits.max_duration_hours) {
            errors.add("max_duration_hours", "must be between 1 and 8760");
        }
        if !(0..=3650).contains(&limits.max_advance_days) {
            errors.add("max_advance_days", "must be between 0 and 3650");
        }
        errors.into_result()?;
        let mut tx = self.write().await?;
        for (key, value) in [
            (MAX_DURATION_KEY, limits.max_duration_hours),
            (MAX_ADVANCE_KEY, limits.max_advance_days),
        ] {
            put_setting(&mut tx, key, value).await?;
        }
        record(
            &mut tx,
            actor,
            "settings.limits",
            "settings",
            &format!(
                "max_duration_hours={} max_advance_days={}",
                limits.max_duration_hours, limits.max_advance_days
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
