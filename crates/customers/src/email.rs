//! Email addresses, parsed once at the boundary and kept normalised.

use emporium_core::ValidationErrors;

/// A syntactically valid email address, trimmed and lower-cased, so two spellings of one
/// address compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// The longest address SMTP allows.
const MAX_LEN: usize = 254;

impl Email {
    /// Parses and normalises `text`; `field` names it in the error.
    pub fn parse(text: &str, field: &str) -> Result<Self, ValidationErrors> {
        let email = text.trim().to_lowercase();
        if Self::valid(&email) {
            Ok(Self(email))
        } else {
            Err(ValidationErrors::single(field, "invalid_email", "must be an email address"))
        }
    }

    fn valid(email: &str) -> bool {
        if email.len() > MAX_LEN || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return false;
        }
        let Some((local, domain)) = email.split_once('@') else { return false };
        !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps an address read back from the database, where only parsed ones are written.
    pub(crate) fn from_stored(text: String) -> Self {
        Self(text)
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_surrounding_spaces_do_not_make_another_address() -> Result<(), ValidationErrors> {
        assert_eq!(Email::parse("  Ada@Example.COM ", "email")?, Email::parse("ada@example.com", "email")?);
        Ok(())
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@@example.com", "ada@.com"]
        {
            assert!(Email::parse(bad, "email").is_err(), "{bad:?} was accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250)), "email").is_err());
    }
}
