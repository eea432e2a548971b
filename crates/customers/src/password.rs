//! Passwords: a policy-checked type that never prints, and Argon2id hashes (PHC strings) at
//! OWASP's minimum parameters or above.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use emporium_core::ValidationErrors;

use crate::AccountError;

/// Fewest characters a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Most bytes any password may have: hashing input stays bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A new password that meets the policy. Neither `Debug` nor `Display` shows it.
pub struct Password(String);

impl Password {
    /// Checks the policy; `field` names the password in the error.
    pub fn new(text: String, field: &str) -> Result<Self, ValidationErrors> {
        if text.chars().count() < MIN_PASSWORD_CHARS {
            return Err(ValidationErrors::single(
                field,
                "too_short",
                format!("must have at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if text.len() > MAX_PASSWORD_BYTES {
            return Err(ValidationErrors::single(
                field,
                "too_long",
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        Ok(Self(text))
    }

    /// Hashes it. CPU- and memory-heavy (19 MiB): call off the async runtime, under the
    /// caller's bound on concurrent hashing.
    pub fn hash(&self) -> Result<String, AccountError> {
        hash_password(&self.0)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Argon2id with m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a random salt. CPU-heavy: call off the async runtime.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()).map_err(|_| AccountError::Hashing)
}

/// Whether `password` matches `hash` (whose own parameters are used). CPU-heavy: call off
/// the async runtime. Overlong input never matches and is not hashed.
pub fn verify_password(password: &str, hash: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES
        && PasswordHash::new(hash).is_ok_and(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() -> Result<(), AccountError> {
        let hash = hash_password("correct horse")?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        Ok(())
    }

    #[test]
    fn the_policy_wants_ten_characters_and_never_prints_the_password() {
        assert!(Password::new("123456789".into(), "password").is_err());
        assert!(Password::new("x".repeat(MAX_PASSWORD_BYTES + 1), "password").is_err());
        let ok = Password::new("ten chars!".into(), "password");
        assert!(ok.as_ref().is_ok_and(|p| !format!("{p:?}").contains("ten")));
    }
}
