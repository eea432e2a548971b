//! Cursor pagination: page sizes and signed, opaque cursors.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};
use sha2::Sha256;

/// The page size used when a client does not ask for one.
pub const DEFAULT_LIMIT: u64 = 20;
/// The largest page a client may ask for.
pub const MAX_LIMIT: u64 = 100;

/// A page size between 1 and 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u64);

impl Limit {
    /// Accepts 1 to 100; `None` means the default of 20.
    pub fn parse(value: Option<i64>) -> Option<Self> {
        match value {
            None => Some(Self(DEFAULT_LIMIT)),
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => Some(Self(n as u64)),
            Some(_) => None,
        }
    }

    /// The page size.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// A decoded cursor: where the previous page stopped, for one particular query.
pub trait Cursor: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> Cursor for T {}

/// Signs and checks cursors so a client cannot forge or alter one.
///
/// A cursor is `base64url(json) . base64url(hmac-sha256(json))[..16 bytes]`.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a cursor: enough against forgery, short enough for a URL.
const MAC_LEN: usize = 16;

impl CursorCodec {
    /// A codec signing with `key`; every instance sharing the key reads the others' cursors.
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            return Vec::new();
        };
        mac.update(payload);
        mac.finalize().into_bytes()[..MAC_LEN].to_vec()
    }

    /// Encodes a cursor.
    pub fn encode<C: Serialize>(&self, cursor: &C) -> String {
        let payload = serde_json::to_vec(cursor).unwrap_or_default();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(self.mac(&payload)))
    }

    /// Decodes a cursor made by [`encode`](Self::encode) with the same key; `None` if it was not.
    pub fn decode<C: Cursor>(&self, text: &str) -> Option<C> {
        let (payload, signature) = text.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        if signature.len() != MAC_LEN {
            return None;
        }
        // Constant-time comparison through the MAC's own verifier.
        let mut mac = HmacSha256::new_from_slice(&self.key).ok()?;
        mac.update(&payload);
        mac.verify_truncated_left(&signature).ok()?;
        serde_json::from_slice(&payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_20_and_stay_between_1_and_100() {
        assert_eq!(Limit::parse(None).map(Limit::get), Some(20));
        assert_eq!(Limit::parse(Some(100)).map(Limit::get), Some(100));
        assert_eq!(Limit::parse(Some(0)), None);
        assert_eq!(Limit::parse(Some(101)), None);
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let codec = CursorCodec::new(b"key");
        let text = codec.encode(&("newest", 42));
        assert_eq!(codec.decode::<(String, i32)>(&text), Some(("newest".into(), 42)));
        let forged = CursorCodec::new(b"other").encode(&("newest", 43));
        assert_eq!(codec.decode::<(String, i32)>(&forged), None);
        let mut altered = text.clone();
        altered.replace_range(0..1, if text.starts_with('A') { "B" } else { "A" });
        assert_eq!(codec.decode::<(String, i32)>(&altered), None);
        assert_eq!(codec.decode::<(String, i32)>("garbage"), None);
    }
}
