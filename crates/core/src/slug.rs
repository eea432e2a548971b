//! URL slugs: lower-case ASCII letters, digits and single hyphens.

use crate::ValidationErrors;

/// The longest slug accepted.
pub const MAX_LEN: usize = 120;

/// A well-formed slug. Only [`Slug::parse`], [`Slug::check`] and [`slugify`] make one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    /// `text` as a slug, if it is well formed ([`is_valid`]).
    pub fn parse(text: &str) -> Option<Self> {
        is_valid(text).then(|| Self(text.to_owned()))
    }

    /// Like [`Slug::parse`], adding `invalid_slug` on `field` to `errors` when it is not.
    pub fn check(errors: &mut ValidationErrors, field: &str, text: &str) -> Option<Self> {
        let slug = Self::parse(text);
        if slug.is_none() {
            errors.add(
                field,
                "invalid_slug",
                "must be lower-case letters, digits and single hyphens, at most 120 characters",
            );
        }
        slug
    }

    /// This slug with `-n` after it (`shirt-2`), within the length limit.
    pub fn numbered(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let mut base = self.0.clone();
        base.truncate(MAX_LEN - suffix.len());
        while base.ends_with('-') {
            base.pop();
        }
        Self(base + &suffix)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> Self {
        slug.0
    }
}

/// Whether `value` is a well-formed slug.
pub fn is_valid(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--")
}

/// Makes a slug from free text: letters and digits kept (ASCII-folded where simple),
/// everything else collapsed into single hyphens. Falls back to `item` when nothing is left.
pub fn slugify(text: &str) -> Slug {
    let mut slug = String::with_capacity(text.len());
    for ch in text.chars().flat_map(fold) {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.len() > MAX_LEN - 8 {
        slug.truncate(MAX_LEN - 8);
        while slug.ends_with('-') {
            slug.pop();
        }
    }
    Slug(if slug.is_empty() { "item".to_owned() } else { slug })
}

/// Folds common Latin letters with diacritics to ASCII so `Crème brûlée` becomes `creme-brulee`.
fn fold(ch: char) -> impl Iterator<Item = char> {
    let folded: &str = match ch {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'œ' | 'Œ' => "oe",
        'ß' => "ss",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        _ => "",
    };
    let own = if folded.is_empty() { Some(ch) } else { None };
    folded.chars().chain(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_folds_accents_and_collapses_separators() {
        assert_eq!(slugify("Crème  Brûlée -- Deluxe!").as_str(), "creme-brulee-deluxe");
        assert_eq!(slugify("***").as_str(), "item");
        assert!(is_valid(slugify("Hello, World 2").as_str()));
        let long = slugify(&"a".repeat(300));
        assert!(is_valid(long.numbered(12).as_str()));
        assert_eq!(Slug::parse("shirt").map(|s| s.numbered(2).into_string()).as_deref(), Some("shirt-2"));
    }

    #[test]
    fn slugs_reject_upper_case_and_stray_hyphens() {
        assert!(is_valid("blue-shirt-2"));
        assert!(!is_valid("Blue"));
        assert!(!is_valid("-a"));
        assert!(!is_valid("a--b"));
        assert!(!is_valid(""));
    }
}
