//! Secrets and signatures. A subscription's secret is derived, not stored: HMAC-SHA256 under
//! the server's key of its id and a random nonce (kept in the row). A payload is signed as
//! `Emporium-Signature: t=<unix seconds>,v1=<hex>`, the hex being HMAC-SHA256 under the secret
//! (its text, `whsec_` included) of `<t>.<body>`, one `v1=` per valid secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The server's key for subscription secrets.
#[derive(Clone)]
pub struct Keyring {
    key: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

impl Keyring {
    /// A keyring from key material of any length (hashed to 32 bytes).
    pub fn new(material: &[u8]) -> Self {
        Self { key: Sha256::digest(material).into() }
    }

    /// The secret of a subscription with this id and nonce.
    pub fn secret(&self, subscription_id: &str, nonce: &str) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"emporium.webhook.secret\0");
        mac.update(subscription_id.as_bytes());
        mac.update(b"\0");
        mac.update(nonce.as_bytes());
        format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

/// A new random nonce.
pub(crate) fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Emporium-Signature` header of `body` sent at unix time `t`, signed with each secret.
pub fn signature_header(secrets: &[String], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let mut mac =
            HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header.push_str(",v1=");
        for byte in mac.finalize().into_bytes() {
            header.push_str(&format!("{byte:02x}"));
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_follow_the_key_the_id_and_the_nonce() {
        let keyring = Keyring::new(b"server key");
        let secret = keyring.secret("whk_1", "aa");
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret, Keyring::new(b"server key").secret("whk_1", "aa"));
        assert_ne!(secret, keyring.secret("whk_1", "ab"));
        assert_ne!(secret, keyring.secret("whk_2", "aa"));
        assert_ne!(secret, Keyring::new(b"another key").secret("whk_1", "aa"));
    }

    #[test]
    fn the_signature_is_the_documented_recipe() {
        // HMAC-SHA256("whsec_test", "1700000000.{}"), computed independently.
        let header = signature_header(&["whsec_test".to_owned()], 1_700_000_000, b"{}");
        let expected = {
            let mut mac = HmacSha256::new_from_slice(b"whsec_test").unwrap_or_else(|_| unreachable!());
            mac.update(b"1700000000.{}");
            mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
        let both = signature_header(&["whsec_a".to_owned(), "whsec_b".to_owned()], 1, b"x");
        assert_eq!(both.matches(",v1=").count(), 2);
    }
}
