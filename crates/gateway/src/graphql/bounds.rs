//! Bounds on a GraphQL document, checked before async-graphql sees it.
//!
//! async-graphql expands every fragment spread again wherever it appears, with no memo, while
//! it checks recursion and validates, and both run before its depth and complexity limits are
//! compared: fragments that each spread the previous one three times cost 3^n. So the text is
//! bounded before parsing (length and nesting, which the recursive parser pays for), and the
//! parsed document once more by walking it with each fragment's expanded size memoized.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Longest query text accepted (the standard introspection query is about 2 KiB).
pub const MAX_QUERY_BYTES: usize = 32 * 1024;
/// Deepest nesting of `{`, `(` and `[` in the text.
pub const MAX_NESTING: usize = 40;
/// Most fragment definitions in one document.
pub const MAX_FRAGMENTS: usize = 64;
/// Most field selections once every fragment spread is expanded.
pub const MAX_EXPANDED_FIELDS: usize = 5_000;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code for `extensions.code`.
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: String) -> Self {
        Self { code, message }
    }
}

/// Checks the query text before it is parsed.
pub fn check_text(query: &str) -> Result<(), Refusal> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Refusal::new(
            "query_too_large",
            format!("The query is {} bytes; at most {MAX_QUERY_BYTES} are accepted.", query.len()),
        ));
    }
    if nesting(query) > MAX_NESTING {
        return Err(Refusal::new("query_too_deep", format!("The query nests deeper than {MAX_NESTING} levels.")));
    }
    Ok(())
}

/// The deepest nesting of brackets outside strings and comments.
fn nesting(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Checks a parsed document: the number of fragments, and the number of fields it selects
/// once every spread is expanded (each fragment's size computed once). A fragment cycle is
/// refused here too, since expanding it never ends.
pub fn check_document(document: &ExecutableDocument) -> Result<(), Refusal> {
    if document.fragments.len() > MAX_FRAGMENTS {
        return Err(Refusal::new(
            "too_many_fragments",
            format!(
                "The document defines {} fragments; at most {MAX_FRAGMENTS} are accepted.",
                document.fragments.len()
            ),
        ));
    }
    let mut walk = Walk { document, sizes: HashMap::new() };
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        total = total.saturating_add(walk.selection_set(&operation.node.selection_set.node)?);
    }
    // Unused fragments are validated too, so they count.
    for name in document.fragments.keys() {
        total = total.saturating_add(walk.fragment(name.as_str())?);
    }
    if total > MAX_EXPANDED_FIELDS {
        return Err(Refusal::new(
            "query_too_complex",
            format!(
                "The document selects {total} fields once its fragments are expanded; at most {MAX_EXPANDED_FIELDS}."
            ),
        ));
    }
    Ok(())
}

struct Walk<'d> {
    document: &'d ExecutableDocument,
    /// Expanded size per fragment; `None` while it is being computed (a cycle if met again).
    sizes: HashMap<&'d str, Option<usize>>,
}

impl<'d> Walk<'d> {
    fn selection_set(&mut self, set: &'d SelectionSet) -> Result<usize, Refusal> {
        let mut size = 0usize;
        for item in &set.items {
            let add = match &item.node {
                Selection::Field(field) => 1usize.saturating_add(self.selection_set(&field.node.selection_set.node)?),
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str())?,
                Selection::InlineFragment(inline) => self.selection_set(&inline.node.selection_set.node)?,
            };
            size = size.saturating_add(add);
        }
        Ok(size)
    }

    fn fragment(&mut self, name: &'d str) -> Result<usize, Refusal> {
        match self.sizes.get(name) {
            Some(Some(size)) => return Ok(*size),
            Some(None) => {
                return Err(Refusal::new("fragment_cycle", format!("Fragment {name} spreads itself.")));
            }
            None => {}
        }
        // An unknown fragment selects nothing here; validation reports it.
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else { return Ok(0) };
        self.sizes.insert(key.as_str(), None);
        let size = self.selection_set(&definition.node.selection_set.node)?;
        self.sizes.insert(key.as_str(), Some(size));
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fragments each spreading the previous one three times.
    fn fan_out(n: usize) -> String {
        let mut query = String::from("query { products { nodes { ...F0 } } }\nfragment F0 on Product { id }\n");
        for i in 1..n {
            let p = i - 1;
            query.push_str(&format!("fragment F{i} on Product {{ ...F{p} ...F{p} ...F{p} }}\n"));
        }
        query = query.replacen("...F0", &format!("...F{}", n - 1), 1);
        query
    }

    #[test]
    fn a_fragment_fan_out_is_refused_without_expanding_it() -> Result<(), async_graphql::parser::Error> {
        let document = async_graphql::parser::parse_query(fan_out(30))?;
        let refusal = check_document(&document).err().map(|r| r.code);
        assert_eq!(refusal, Some("query_too_complex"));
        Ok(())
    }

    #[test]
    fn a_small_fan_out_passes() -> Result<(), async_graphql::parser::Error> {
        let document = async_graphql::parser::parse_query(fan_out(4))?;
        assert_eq!(check_document(&document), Ok(()));
        Ok(())
    }

    #[test]
    fn a_fragment_cycle_is_refused() -> Result<(), async_graphql::parser::Error> {
        let document = async_graphql::parser::parse_query(
            "{ products { nodes { ...A } } } fragment A on Product { ...B } fragment B on Product { ...A }",
        )?;
        assert_eq!(check_document(&document).err().map(|r| r.code), Some("fragment_cycle"));
        Ok(())
    }

    #[test]
    fn nesting_ignores_brackets_in_strings_and_comments() {
        assert_eq!(nesting(r#"{ a(q: "{{{{") { b { c } } } # {{{{"#), 3);
        assert_eq!(nesting("{ a(q: \"\"\"{{{ \\\"\"\" {{\"\"\") }"), 2);
        assert!(check_text(&"{".repeat(1000)).is_err());
    }
}
