//! Credentials at rest: sealed with a key the host supplies, so a store only ever holds
//! ciphertext.
//!
//! XChaCha20-Poly1305 with a random 192-bit nonce per seal; the integration id is the associated
//! data, so sealed credentials cannot be moved to another integration. A wrong key, a missing key
//! or tampered data is a clear [`VaultError`], never garbage credentials.

use std::fmt;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::credentials::Credentials;
use crate::ids::IntegrationId;

/// The host's key for credentials at rest: 32 bytes and a name (so keys can be rotated and a
/// store can say which key it needs).
pub struct CredentialKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl CredentialKey {
    /// A key from 32 bytes, under a name such as `"2026-11"`.
    pub fn new(id: impl Into<String>, bytes: [u8; 32]) -> Self {
        Self {
            id: id.into(),
            key: Zeroizing::new(bytes),
        }
    }

    /// A key from 64 hexadecimal characters (as kept in an environment variable or a secrets
    /// manager).
    pub fn from_hex(id: impl Into<String>, hex: &str) -> Result<Self, VaultError> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VaultError::InvalidKey(
                "expected 64 hexadecimal characters (32 bytes)".into(),
            ));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(chunk)
                .map_err(|_| VaultError::InvalidKey("not ASCII".into()))?;
            bytes[i] = u8::from_str_radix(s, 16)
                .map_err(|_| VaultError::InvalidKey("not hexadecimal".into()))?;
        }
        Ok(Self::new(id, *bytes))
    }

    /// The key's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let key: &[u8; 32] = &self.key;
        XChaCha20Poly1305::new(key.into())
    }
}

impl fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// Credentials as a store keeps them: ciphertext only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCredentials {
    /// The name of the key that sealed them.
    pub key_id: String,
    /// The nonce (24 bytes).
    pub nonce: Vec<u8>,
    /// The ciphertext with its authentication tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCredentials")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// Why credentials could not be sealed or opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No key was supplied, so secrets cannot be read or written.
    #[error(
        "no credential key was supplied: give the engine the key the credentials were sealed with (key {needed:?})"
    )]
    KeyMissing {
        /// The key the stored credentials need, when known.
        needed: Option<String>,
    },
    /// The key supplied is not the one that sealed them.
    #[error(
        "the credential key {supplied:?} cannot open credentials sealed with key {sealed_with:?}"
    )]
    WrongKey {
        /// The key given.
        supplied: String,
        /// The key that sealed them.
        sealed_with: String,
    },
    /// The key's name matches but decryption failed: wrong key bytes, data tampered with, or
    /// sealed for another integration.
    #[error(
        "the credentials could not be decrypted with key {key_id:?}: wrong key bytes, tampered data, or credentials of another integration"
    )]
    DecryptionFailed {
        /// The key used.
        key_id: String,
    },
    /// The key text is not a valid key.
    #[error("invalid credential key: {0}")]
    InvalidKey(String),
    /// Decrypted data is not credentials.
    #[error("decrypted credentials are malformed: {0}")]
    Malformed(String),
}

/// Seals credentials for one integration.
pub fn seal(
    key: &CredentialKey,
    integration: IntegrationId,
    credentials: &Credentials,
) -> Result<SealedCredentials, VaultError> {
    let plain = Zeroizing::new(
        serde_json::to_vec(&credentials.expose_for_storage())
            .map_err(|e| VaultError::Malformed(e.to_string()))?,
    );
    let nonce = XNonce::generate();
    let aad = integration.as_uuid();
    let ciphertext = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: plain.as_slice(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Malformed("encryption failed".into()))?;
    Ok(SealedCredentials {
        key_id: key.id.clone(),
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// Opens sealed credentials of one integration.
pub fn open(
    key: Option<&CredentialKey>,
    integration: IntegrationId,
    sealed: &SealedCredentials,
) -> Result<Credentials, VaultError> {
    let key = key.ok_or_else(|| VaultError::KeyMissing {
        needed: Some(sealed.key_id.clone()),
    })?;
    if key.id != sealed.key_id {
        return Err(VaultError::WrongKey {
            supplied: key.id.clone(),
            sealed_with: sealed.key_id.clone(),
        });
    }
    let nonce =
        XNonce::try_from(sealed.nonce.as_slice()).map_err(|_| VaultError::DecryptionFailed {
            key_id: key.id.clone(),
        })?;
    let aad = integration.as_uuid();
    let plain = Zeroizing::new(
        key.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::DecryptionFailed {
                key_id: key.id.clone(),
            })?,
    );
    serde_json::from_slice(&plain).map_err(|e| {
        // The serde message may quote input; keep only its category and position.
        VaultError::Malformed(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn seal_and_open() {
        let key = CredentialKey::new("k1", [7; 32]);
        let id = IntegrationId::new();
        let sealed = seal(&key, id, &Credentials::api_token("tok-SECRET")).unwrap();
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("tok-SECRET"));
        assert!(!format!("{sealed:?}").contains("tok-SECRET"));
        let Credentials::ApiToken(t) = open(Some(&key), id, &sealed).unwrap() else {
            panic!()
        };
        assert_eq!(t.token.expose_secret(), "tok-SECRET");
        // Two seals of the same credentials differ (fresh nonce).
        assert_ne!(
            seal(&key, id, &Credentials::api_token("tok-SECRET")).unwrap(),
            sealed
        );
    }

    #[test]
    fn wrong_missing_or_moved_keys_are_clear_errors() {
        let key = CredentialKey::new("k1", [7; 32]);
        let id = IntegrationId::new();
        let sealed = seal(&key, id, &Credentials::api_token("tok")).unwrap();
        assert_eq!(
            open(None, id, &sealed).unwrap_err(),
            VaultError::KeyMissing {
                needed: Some("k1".into())
            }
        );
        let other = CredentialKey::new("k2", [7; 32]);
        assert!(matches!(
            open(Some(&other), id, &sealed),
            Err(VaultError::WrongKey { .. })
        ));
        let same_name = CredentialKey::new("k1", [8; 32]);
        assert!(matches!(
            open(Some(&same_name), id, &sealed),
            Err(VaultError::DecryptionFailed { .. })
        ));
        // Sealed for one integration, opened for another.
        assert!(matches!(
            open(Some(&key), IntegrationId::new(), &sealed),
            Err(VaultError::DecryptionFailed { .. })
        ));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(open(Some(&key), id, &tampered).is_err());
    }

    #[test]
    fn hex_keys() {
        let k = CredentialKey::from_hex("k", &"ab".repeat(32)).unwrap();
        assert_eq!(k.key[0], 0xab);
        assert!(!format!("{k:?}").contains("ab, ab") && format!("{k:?}").contains("REDACTED"));
        assert!(CredentialKey::from_hex("k", "abc").is_err());
        assert!(CredentialKey::from_hex("k", &"zz".repeat(32)).is_err());
    }
}
