//! URL slugs: lower-case ASCII letters, digits and single hyphens.

/// The longest slug accepted.
pub const MAX_LEN: usize = 120;

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
pub fn slugify(text: &str) -> String {
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
    if slug.is_empty() { "item".to_owned() } else { slug }
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
        assert_eq!(slugify("Crème  Brûlée -- Deluxe!"), "creme-brulee-deluxe");
        assert_eq!(slugify("***"), "item");
        assert!(is_valid(&slugify("Hello, World 2")));
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
