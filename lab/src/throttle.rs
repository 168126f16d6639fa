//! Back-off on failed log-ins, kept in the database so that every instance spends one budget.
//!
//! A stranger must not be able to lock an account's owner out (OWASP's "device cookie"
//! scheme). A browser that logged in to an account before presents a *known device* token:
//! its failures count against that device alone, and a lock on the account as a whole only
//! slows it down. Every other client is counted per (account, address), per address and per
//! account; the first two lock only that client, the third locks the account for unknown
//! clients.

use std::time::Duration;

use crate::secrets::{random_token, token_sha256};
use crate::{Lab, Result};

/// Failures allowed before back-off starts, per kind of key.
const PAIR_FREE: u32 = 5;
const ADDRESS_FREE: u32 = 20;
const ACCOUNT_FREE: u32 = 20;
const DEVICE_FREE: u32 = 5;
const MAX_LOCK_SECONDS: i64 = 15 * 60;
/// A key that saw no failure for this long starts over.
const FORGET_AFTER_SECONDS: i64 = 60 * 60;
/// How long a known device stays known without a log-in.
pub const DEVICE_DAYS: i64 = 90;
/// Known devices kept per account; a new one displaces the least recently used.
const DEVICES_PER_ACCOUNT: i64 = 20;
/// How long a known device waits while its account is locked for everyone else.
const KNOWN_DEVICE_DELAY: Duration = Duration::from_secs(1);

/// Who is trying to log in, as far as the server can tell.
#[derive(Debug, Clone, Copy)]
pub struct LoginClient<'a> {
    pub address: &'a str,
    /// Known-device tokens the browser presented (any account's; only the one of the account
    /// being logged in to counts).
    pub devices: &'a [String],
}

/// The keys one attempt is counted under.
pub(crate) enum Counted {
    /// A known device of the account: only its own record.
    Device { device: String, account: String },
    Unknown {
        pair: String,
        address: String,
        account: String,
    },
    /// A logged-in user proving their current password (to change it): counted on the user
    /// alone, so neither strangers' failures nor theirs touch anyone else's budget.
    PasswordChange { user: String },
}

impl Counted {
    /// The keys whose lock refuses this attempt.
    fn refusing(&self) -> Vec<&str> {
        match self {
            Counted::Device { device, .. } => vec![device],
            Counted::Unknown {
                pair,
                address,
                account,
            } => vec![pair, address, account],
            Counted::PasswordChange { user } => vec![user],
        }
    }

    /// The keys a failure of this attempt counts against, with their free failures.
    fn charged(&self) -> Vec<(&str, u32)> {
        match self {
            Counted::Device { device, .. } => vec![(device, DEVICE_FREE)],
            Counted::PasswordChange { user } => vec![(user, PAIR_FREE)],
            Counted::Unknown {
                pair,
                address,
                account,
            } => vec![
                (pair, PAIR_FREE),
                (address, ADDRESS_FREE),
                (account, ACCOUNT_FREE),
            ],
        }
    }

    /// What a success clears: this client's own record, never the address's or the account's
    /// (a stranger must not reset them by logging in to an account of their own).
    fn cleared(&self) -> &str {
        match self {
            Counted::Device { device, .. } => device,
            Counted::Unknown { pair, .. } => pair,
            Counted::PasswordChange { user } => user,
        }
    }
}

/// The part of a client address that one client controls: an IPv6 client holds a whole /64,
/// so that is what it is counted by.
fn address_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        _ => address.chars().take(64).collect(),
    }
}

/// How long a key with `failures` is locked: none up to `free`, then 1 s doubling to 15 min.
fn lock_seconds(failures: u32, free: u32) -> i64 {
    if failures < free {
        return 0;
    }
    (1i64 << (failures - free).min(10)).min(MAX_LOCK_SECONDS)
}

impl Lab {
    /// How this attempt is counted: as a known device of `username`, or as an unknown client.
    pub(crate) async fn counted(&self, username: &str, client: LoginClient<'_>) -> Result<Counted> {
        // Bounded: a key is a primary key, whatever length of name a stranger sends.
        let account: String = username
            .to_lowercase()
            .chars()
            .take(crate::validate::MAX_NAME)
            .collect();
        let oldest = self.now() - DEVICE_DAYS * 86_400;
        for token in client.devices.iter().take(8) {
            let hash = token_sha256(token);
            let known: Option<(i64,)> = sqlx::query_as(
                "SELECT d.user_id FROM known_devices d JOIN users u ON u.id = d.user_id
                 WHERE d.token_sha256 = $1 AND d.last_used_at >= $2 AND LOWER(u.username) = $3",
            )
            .bind(&hash)
            .bind(oldest)
            .bind(&account)
            .fetch_optional(&self.db)
            .await?;
            if known.is_some() {
                return Ok(Counted::Device {
                    device: format!("device:{hash}"),
                    account: format!("account:{account}"),
                });
            }
        }
        let address = address_key(client.address);
        Ok(Counted::Unknown {
            pair: format!("pair:{account}|{address}"),
            address: format!("address:{address}"),
            account: format!("account:{account}"),
        })
    }

    /// Seconds this attempt must still wait, if refused; a known device of a locked account is
    /// slowed down here instead.
    pub(crate) async fn login_wait(&self, counted: &Counted) -> Result<Option<u64>> {
        let now = self.now();
        let wait = self.locked_until(&counted.refusing()).await? - now;
        if let Counted::Device { account, .. } = counted {
            if self.locked_until(&[account]).await? > now {
                tokio::time::sleep(KNOWN_DEVICE_DELAY).await;
            }
        }
        Ok((wait > 0).then_some(wait as u64))
    }

    /// The latest lock among `keys` (0: none), in one query.
    async fn locked_until(&self, keys: &[&str]) -> Result<i64> {
        let places: Vec<String> = (1..=keys.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT COALESCE(MAX(locked_until), 0) FROM login_failures WHERE key IN ({})",
            places.join(", ")
        );
        let mut query = sqlx::query_scalar(&sql);
        for key in keys {
            query = query.bind(*key);
        }
        Ok(query.fetch_one(&self.db).await?)
    }

    /// Counts a failed attempt on each of its keys; old records go at the same time.
    pub(crate) async fn login_failed(&self, counted: &Counted) -> Result<()> {
        let now = self.now();
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM login_failures WHERE last_failure_at < $1")
            .bind(now - FORGET_AFTER_SECONDS)
            .execute(&mut *tx)
            .await?;
        for (key, free) in counted.charged() {
            let failures: Option<(i64,)> =
                sqlx::query_as("SELECT failures FROM login_failures WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
            let failures = failures.map(|(n,)| n).unwrap_or(0).saturating_add(1);
            let lock = lock_seconds(u32::try_from(failures).unwrap_or(u32::MAX), free);
            let locked_until = if lock > 0 { now + lock } else { 0 };
            sqlx::query(
                "INSERT INTO login_failures (key, failures, last_failure_at, locked_until)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
                     last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
            )
            .bind(key)
            .bind(failures)
            .bind(now)
            .bind(locked_until)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn login_succeeded(&self, counted: &Counted) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(counted.cleared())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// The known-device token `user_id`'s browser keeps after logging in: the one it presented
    /// if it is this account's, else a new one. Only its hash is stored.
    pub async fn remember_device(&self, user_id: i64, presented: &[String]) -> Result<String> {
        let now = self.now();
        for token in presented.iter().take(8) {
            let updated = sqlx::query(
                "UPDATE known_devices SET last_used_at = $3
                 WHERE token_sha256 = $1 AND user_id = $2 AND last_used_at >= $4",
            )
            .bind(token_sha256(token))
            .bind(user_id)
            .bind(now)
            .bind(now - DEVICE_DAYS * 86_400)
            .execute(&self.db)
            .await?;
            if updated.rows_affected() > 0 {
                return Ok(token.clone());
            }
        }
        let token = random_token(32);
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO known_devices (token_sha256, user_id, created_at, last_used_at)
             VALUES ($1, $2, $3, $3)",
        )
        .bind(token_sha256(&token))
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM known_devices WHERE user_id = $1 AND (last_used_at < $2 OR token_sha256 NOT IN
                 (SELECT token_sha256 FROM known_devices WHERE user_id = $1
                  ORDER BY last_used_at DESC, created_at DESC LIMIT $3))",
        )
        .bind(user_id)
        .bind(now - DEVICE_DAYS * 86_400)
        .bind(DEVICES_PER_ACCOUNT)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_an_ipv4_one_by_its_address() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(address_key("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn locks_start_after_the_free_failures_and_double_up_to_fifteen_minutes() {
        assert_eq!(lock_seconds(4, 5), 0);
        assert_eq!(lock_seconds(5, 5), 1);
        assert_eq!(lock_seconds(7, 5), 4);
        assert_eq!(lock_seconds(15, 5), 900);
        assert_eq!(lock_seconds(u32::MAX, 5), 900);
    }
}
