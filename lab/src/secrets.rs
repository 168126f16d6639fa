//! Encryption of secrets at rest (BMC credentials) with XChaCha20-Poly1305 under a key file
//! that lives in the data directory, outside the database.

use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::{Error, Result};

const NONCE_LEN: usize = 24;

/// Seals and opens small secrets. Each sealed value is `nonce || ciphertext+tag`.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(key: [u8; 32]) -> Self {
        SecretBox {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Reads the 32-byte key at `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if let Ok(bytes) = std::fs::read(path) {
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| Error::Secret(format!("{} is not a 32-byte key", path.display())))?;
            return Ok(Self::new(key));
        }
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        write_private(path, &key)
            .map_err(|e| Error::Secret(format!("writing {}: {e}", path.display())))?;
        Ok(Self::new(key))
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut sealed = nonce.to_vec();
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .map_err(|_| Error::Secret("encryption failed".into()))?;
        sealed.extend(ciphertext);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Secret("sealed value too short".into()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| Error::Secret("sealed value does not open with this key".into()))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// A URL-safe random token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// How bearer secrets (API tokens, media URLs, enrolment tokens) are stored: their SHA-256 in
/// hex, so a database leak does not hand them out.
pub fn token_sha256(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_do_not_contain_the_plaintext() {
        let key_dir = tempfile::tempdir().unwrap();
        let path = key_dir.path().join("secret.key");
        let secrets = SecretBox::load_or_create(&path).unwrap();
        let sealed = secrets.seal(b"bmc-password").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"bmc-password"));
        let reloaded = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(reloaded.open(&sealed).unwrap(), b"bmc-password");
        assert!(SecretBox::new([7; 32]).open(&sealed).is_err());
        assert!(secrets.open(&sealed[..10]).is_err());
    }
}
