//! Password hashing with argon2id (the `argon2` crate's default algorithm and parameters).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::{Error, Result};

/// Hashes `password` into a PHC string (`$argon2id$v=19$…`).
pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Secret(format!("hashing failed: {e}")))
}

/// Checks `password` against a stored PHC string; a malformed hash never verifies.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Verifications running at once at most. Each takes argon2's 19 MiB and a core for tens of
/// milliseconds: a burst of log-ins (an attack, or a class logging in at nine) queues here
/// rather than taking the server's memory.
pub const AT_ONCE: usize = 4;

#[cfg(test)]
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
#[cfg(test)]
static MOST_RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The right to run one verification now (one of [`AT_ONCE`]).
pub struct Slot {
    _permit: tokio::sync::SemaphorePermit<'static>,
}

/// Waits for a verification slot. A caller checks what it must (the log-in back-off) once it
/// holds one: whatever failed while it queued counts.
pub async fn slot() -> Option<Slot> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(AT_ONCE);
    SLOTS
        .acquire()
        .await
        .ok()
        .map(|permit| Slot { _permit: permit })
}

impl Slot {
    /// [`verify`] on the blocking pool. The slot goes with it and comes back with the answer,
    /// for the caller to hold while it records the outcome: the next guess in the queue then
    /// sees this one's failure. A caller that gives up (a client that hung up) does not free
    /// the slot before the verification ends.
    pub async fn verify(self, password: String, stored: String) -> (bool, Option<Slot>) {
        tokio::task::spawn_blocking(move || {
            #[cfg(test)]
            {
                use std::sync::atomic::Ordering;
                let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                MOST_RUNNING.fetch_max(running, Ordering::SeqCst);
            }
            let verified = verify(&password, &stored);
            #[cfg(test)]
            RUNNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            (verified, Some(self))
        })
        .await
        .unwrap_or((false, None))
    }
}

/// [`verify`] on the blocking pool, at most [`AT_ONCE`] at a time.
pub async fn verify_queued(password: String, stored: String) -> bool {
    match slot().await {
        Some(slot) => slot.verify(password, stored).await.0,
        None => false,
    }
}

/// A valid hash of a random password, verified against when a user does not exist so that
/// "no such user" costs the same time as "wrong password".
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&crate::secrets::random_token(24)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_the_right_password() {
        let first = hash("correct horse").unwrap();
        let second = hash("correct horse").unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify("correct horse", &first));
        assert!(!verify("correct horse!", &first));
        assert!(!verify("anything", "not a hash"));
    }

    /// Forty log-ins at once run at most four argon2 verifications at a time (and all of
    /// them are answered).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_verifications_runs_a_few_at_a_time() {
        let stored = hash("correct horse").unwrap();
        let checks: Vec<_> = (0..40)
            .map(|n| {
                let password = if n % 2 == 0 { "correct horse" } else { "wrong" };
                tokio::spawn(verify_queued(password.to_string(), stored.clone()))
            })
            .collect();
        let mut verified = 0;
        for check in checks {
            verified += usize::from(check.await.unwrap());
        }
        assert_eq!(verified, 20);
        let most = MOST_RUNNING.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (1..=AT_ONCE).contains(&most),
            "{most} verifications ran at once"
        );
    }
}
