//! A JSON merge patch field (RFC 7396): left out, `null`, or a value.

use serde::{Deserialize, Deserializer};

/// One field of a merge patch. Use with `#[serde(default)]` so a missing field is `Missing`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was left out: keep what is there.
    #[default]
    Missing,
    /// The field was `null`: clear it (refused for required fields).
    Null,
    /// The field was set.
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Patch::Value(value),
            None => Patch::Null,
        })
    }
}

impl<T> Patch<T> {
    /// Converts the value, keeping `Missing` and `Null`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Missing => Patch::Missing,
            Patch::Null => Patch::Null,
            Patch::Value(value) => Patch::Value(f(value)),
        }
    }
}
