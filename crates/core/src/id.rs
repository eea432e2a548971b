//! Opaque, prefixed, time-ordered identifiers such as `prod_0192f5c3a1b27c4e8a0f3d2b1c4e5f60`.
//!
//! The suffix is a UUIDv7 in lower-case hex, so ids of one kind sort in creation order.

/// Makes a new id with the given prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Whether `value` has the shape of an id made by [`new_id`] with `prefix`.
pub fn is_id(prefix: &str, value: &str) -> bool {
    value
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_prefix_and_sort_in_creation_order() {
        let first = new_id("prod");
        let second = new_id("prod");
        assert!(is_id("prod", &first));
        assert!(!is_id("var", &first));
        assert!(first < second);
        assert!(!is_id("prod", "prod_not-hex"));
    }
}
