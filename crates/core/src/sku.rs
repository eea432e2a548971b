//! SKUs: 1 to 64 ASCII letters, digits, `.`, `_` or `-`, unique in the shop.

use crate::ValidationErrors;

/// The longest SKU accepted.
pub const MAX_LEN: usize = 64;

/// A well-formed SKU. Only [`Sku::parse`] makes one, so a function taking a `Sku` never
/// sees an empty, over-long or oddly-charactered one (and never sends one to the database).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    /// `text` as a SKU, if it is well formed (a lookup key: nothing is trimmed).
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= MAX_LEN
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| Self(text.to_owned()))
    }

    /// A SKU as given for a write: surrounding spaces ignored, `invalid_sku` on `field`
    /// added to `errors` when what is left is not well formed.
    pub fn check(errors: &mut ValidationErrors, field: &str, text: &str) -> Option<Self> {
        let sku = Self::parse(text.trim());
        if sku.is_none() {
            errors.add(field, "invalid_sku", "must be 1 to 64 letters, digits, '.', '_' or '-'");
        }
        sku
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Sku {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> Self {
        sku.0
    }
}

impl From<&Sku> for sea_orm::Value {
    fn from(sku: &Sku) -> Self {
        sku.0.clone().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_trimmed_and_checked() {
        assert_eq!(Sku::parse("TEE-S.1_a").map(Sku::into_string).as_deref(), Some("TEE-S.1_a"));
        assert!(Sku::parse(" TEE").is_none());
        let mut errors = ValidationErrors::new();
        assert_eq!(Sku::check(&mut errors, "sku", " TEE ").map(Sku::into_string).as_deref(), Some("TEE"));
        assert!(Sku::parse("").is_none());
        assert!(Sku::parse("a b").is_none());
        assert!(Sku::parse("é").is_none());
        assert!(Sku::parse(&"x".repeat(64)).is_some());
        assert!(Sku::parse(&"x".repeat(65)).is_none());
        let mut errors = ValidationErrors::new();
        assert!(Sku::check(&mut errors, "variants[0].sku", "no/slash").is_none());
        assert!(errors.finish(()).is_err());
    }
}
