//! Text analysis: the words of a text, folded for matching, and their English stems.
//!
//! A word is a run of letters and digits, lower-cased, with the accents of Latin letters
//! dropped (`Crème` → `creme`), cut to [`MAX_WORD_CHARS`]. Anything else separates words, so
//! query syntax (`"`, `*`, `:`, `-`, parentheses) is only ever a separator.

use rust_stemmers::{Algorithm, Stemmer};

/// Longest word kept, in characters; the rest of a longer one is dropped.
pub const MAX_WORD_CHARS: usize = 40;

/// Words shoppers type that say nothing about a product; a query leaves them out unless it
/// is made of nothing else.
const STOP_WORDS: &[&str] = &["a", "an", "and", "for", "in", "of", "on", "or", "the", "to", "with"];

/// The words of `text`, in order, folded for matching.
pub fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = 0;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if chars < MAX_WORD_CHARS {
                for lower in c.to_lowercase() {
                    word.push(fold(lower));
                }
                chars += 1;
            }
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
            chars = 0;
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Whether a query word is one that says nothing about a product.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// The accent-free letter of a lower-case Latin letter; any other character as it is.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => 'u',
        'ý' | 'ÿ' => 'y',
        'ś' | 'š' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        'ť' => 't',
        'ď' => 'd',
        other => other,
    }
}

/// Folds a word to its English stem, so plurals and common inflections match
/// (`mugs` → `mug`, `running` → `run`).
pub struct Analyzer {
    stemmer: Stemmer,
}

impl Analyzer {
    /// The analyzer of English, the shop's default language.
    pub fn english() -> Self {
        Self { stemmer: Stemmer::create(Algorithm::English) }
    }

    /// The stem of a folded word. Words with digits (sizes, SKU parts) are kept as they are.
    pub fn stem(&self, word: &str) -> String {
        if word.chars().any(|c| c.is_ascii_digit()) {
            return word.to_owned();
        }
        self.stemmer.stem(word).into_owned()
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::english()
    }
}

/// Whether `a` becomes `b` by at most one edit: a letter changed, added, dropped, or two
/// neighbours swapped.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return one_edit(a.as_bytes(), b.as_bytes());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    one_edit(&a, &b)
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    match long.len() - short.len() {
        0 => {
            let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) else { return true };
            // One letter changed, or it and the next swapped.
            a[i + 1..] == b[i + 1..]
                || (i + 1 < a.len() && a[i] == b[i + 1] && a[i + 1] == b[i] && a[i + 2..] == b[i + 2..])
        }
        1 => {
            // The first difference is the added letter; the rest must line up.
            let at = short.iter().zip(long.iter()).position(|(x, y)| x != y).unwrap_or(short.len());
            short[at..] == long[at + 1..]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_runs_of_letters_and_digits() {
        assert_eq!(words("Crème brûlée MUG-BLK-11 (350ml)"), ["creme", "brulee", "mug", "blk", "11", "350ml"]);
        assert_eq!(words("\"tee*\" : -(shirt)"), ["tee", "shirt"], "syntax is a separator");
        assert!(words("  \t ").is_empty());
        assert_eq!(words(&"a".repeat(100)), ["a".repeat(MAX_WORD_CHARS)]);
    }

    #[test]
    fn plurals_and_inflections_share_a_stem() {
        let english = Analyzer::english();
        for (a, b) in
            [("mugs", "mug"), ("shirts", "shirt"), ("running", "run"), ("glasses", "glass"), ("hoodies", "hoodie")]
        {
            assert_eq!(english.stem(a), english.stem(b), "{a} / {b}");
        }
        assert_eq!(english.stem("11oz"), "11oz");
    }

    #[test]
    fn one_edit_is_forgiven_and_two_are_not() {
        assert!(within_one_edit("cotton", "cottn"), "a letter dropped");
        assert!(within_one_edit("cotton", "cottton"), "a letter added");
        assert!(within_one_edit("cotton", "cotten"), "a letter changed");
        assert!(within_one_edit("cotton", "cototn"), "neighbours swapped");
        assert!(!within_one_edit("cotton", "cttn"));
        assert!(!within_one_edit("cotton", "button"));
        assert!(within_one_edit("café", "cafe"));
    }
}
