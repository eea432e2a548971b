//! Optimistic concurrency: a resource's `version` moves with every change; a writer may say
//! which versions it expects (`If-Match`, GraphQL `expectedVersion`), and a change of any
//! other is refused with nothing changed (412 `precondition_failed`).

/// The most versions one `If-Match` may name.
pub const MAX_TAGS: usize = 16;

/// The versions a change may apply to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Expected {
    /// No precondition (no `If-Match`, or `If-Match: *` on a resource that exists).
    #[default]
    Any,
    /// One of these versions (an `If-Match` tag this server did not make matches none).
    OneOf(Vec<i64>),
}

impl Expected {
    /// Exactly `version`.
    pub fn version(version: i64) -> Self {
        Self::OneOf(vec![version])
    }

    /// Whether a resource at `version` may be changed.
    pub fn admits(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::OneOf(versions) => versions.contains(&version),
        }
    }

    /// The SQL condition that keeps a change to the versions this admits (` AND version IN
    /// (?, ...)`, nothing for [`Expected::Any`], always false for no version), and its values:
    /// appended to an `UPDATE` or `DELETE ... WHERE id = ?`, it checks and changes in one
    /// statement, so no concurrent change slips between the check and the write.
    pub fn condition(&self, column: &str) -> (String, Vec<sea_orm::Value>) {
        match self {
            Self::Any => (String::new(), Vec::new()),
            Self::OneOf(versions) if versions.is_empty() => (" AND 1 = 0".to_owned(), Vec::new()),
            Self::OneOf(versions) => (
                format!(" AND {column} IN ({})", vec!["?"; versions.len()].join(", ")),
                versions.iter().map(|v| (*v).into()).collect(),
            ),
        }
    }

    /// The precondition of an `If-Match` header's value: `*`, or strong entity tags; a tag of
    /// this server's (`"7"`, or `"7-..."` where the tag also tells the representation apart, as
    /// a product's does) names its version, any other (a weak `W/"7"` included, as `If-Match`
    /// compares strongly) names none.
    pub fn from_if_match(header: &str) -> Self {
        if header.trim() == "*" {
            return Self::Any;
        }
        let mut versions: Vec<i64> = header.split(',').filter_map(|tag| version_of(tag.trim())).collect();
        versions.sort_unstable();
        versions.dedup();
        // A caller knows of a few versions at most: a longer list names none (and bounds the
        // work a header can ask for).
        if versions.len() > MAX_TAGS {
            versions.clear();
        }
        Self::OneOf(versions)
    }
}

/// The version a strong tag of this server's names (`"7"` or `"7-..."`, quoted).
pub fn version_of(tag: &str) -> Option<i64> {
    let text = tag.strip_prefix('"')?.strip_suffix('"')?;
    let digits = text.split_once('-').map_or(text, |(version, _)| version);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The `ETag` of a resource at `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_names_versions_strongly() {
        assert!(Expected::from_if_match("*").admits(3));
        assert!(Expected::from_if_match("\"3\"").admits(3));
        assert!(!Expected::from_if_match("\"2\"").admits(3));
        assert!(Expected::from_if_match("\"1\", \"3\"").admits(3));
        assert!(!Expected::from_if_match("W/\"3\"").admits(3), "weak tags never match");
        assert!(!Expected::from_if_match("\"abc\"").admits(3));
        assert!(Expected::from_if_match("\"3-Zm9v.YmFy\"").admits(3), "a product's tag names its version");
        assert!(!Expected::from_if_match("\"-3\"").admits(-3));
        assert!(!Expected::from_if_match("\"+3\"").admits(3));
        assert_eq!(etag(3), "\"3\"");
        assert!(Expected::from_if_match(&etag(9)).admits(9));
        let many: Vec<String> = (0..100).map(etag).collect();
        assert!(!Expected::from_if_match(&many.join(",")).admits(3), "too many tags name none");
    }
}
