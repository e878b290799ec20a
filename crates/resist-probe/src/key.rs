//! The probe's identity: an ed25519 signing key kept in one file.
//!
//! The funder enrols the *public* half (`resist admin probe enrol
//! --public-key HEX --region LABEL`); every report and every API call is
//! signed with the private half. The key is generated on first start from
//! the operating system's random source and stored as 64 hex digits with
//! mode 0600, written atomically so a crash never leaves half a key. Losing
//! the file means enrolling a new key; leaking it lets someone else report in
//! this probe's name, so it is never logged (`Debug` shows the public key
//! only).

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::TryRngCore;
use rand::rngs::OsRng;
use tracing::warn;

use crate::fsutil;

/// A probe's signing key.
#[derive(Clone)]
pub struct ProbeKey {
    signing: SigningKey,
}

/// The key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file failed (permissions, missing directory,
    /// full disk). Fix the path or its permissions; the message names both.
    #[error("probe key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The file exists but does not hold 64 hex digits. It is not replaced
    /// (the enrolled key may be in a backup): restore it, or move it away to
    /// generate a new key, which must then be enrolled again.
    #[error(
        "probe key file {path} does not hold a key (64 hex digits expected); restore it from a backup, or move it away to generate a new key and enrol that one"
    )]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// The operating system's random source failed; nothing was written.
    #[error("cannot read random bytes for a new probe key: {0}")]
    Random(String),
}

impl ProbeKey {
    /// Loads the key at `path`, or generates one and stores it there if the
    /// file does not exist. Also says whether it was just created, so the
    /// caller can print the public key to enrol.
    pub fn load_or_generate(path: &Path) -> Result<(ProbeKey, bool), KeyError> {
        match ProbeKey::load(path) {
            Ok(key) => Ok((key, false)),
            Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                let key = ProbeKey::generate()?;
                key.store(path)?;
                Ok((key, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Loads the key at `path`. Warns if the file is readable by others.
    pub fn load(path: &Path) -> Result<ProbeKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "the probe key file is readable by other users; run chmod 600 on it"
            );
        }
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| KeyError::Malformed {
                path: path.to_owned(),
            })?;
        Ok(ProbeKey::from_bytes(&bytes))
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<ProbeKey, KeyError> {
        let mut seed = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(ProbeKey::from_bytes(&seed))
    }

    /// The key with these secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> ProbeKey {
        ProbeKey {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// Writes the key to `path` (hex, mode 0600, atomically; the directory
    /// is created with mode 0700 if missing).
    pub fn store(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        fsutil::create_private_dir(fsutil::parent(path)).map_err(io)?;
        let text = format!("{}\n", hex::encode(self.signing.to_bytes()));
        fsutil::write_atomic(path, text.as_bytes(), 0o600).map_err(io)
    }

    /// The key that signs reports and requests.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key, as reports carry it.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The public key as 64 hex digits, as the funder enrols it.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }
}

impl fmt::Debug for ProbeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeKey")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn generated_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/probe.key");
        let (first, created) = ProbeKey::load_or_generate(&path).unwrap();
        assert!(created);
        let (again, created) = ProbeKey::load_or_generate(&path).unwrap();
        assert!(!created);
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(first.public_key_hex().len(), 64);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        // The secret never appears in Debug output.
        assert!(!format!("{first:?}").contains(text.trim()));
    }

    #[test]
    fn a_damaged_file_is_an_error_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.key");
        std::fs::write(&path, "not a key\n").unwrap();
        assert!(matches!(
            ProbeKey::load_or_generate(&path),
            Err(KeyError::Malformed { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n");
    }

    #[test]
    fn two_generated_keys_differ() {
        let a = ProbeKey::generate().unwrap();
        let b = ProbeKey::generate().unwrap();
        assert_ne!(a.public_key(), b.public_key());
    }
}
