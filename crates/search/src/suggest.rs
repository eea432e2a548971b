//! Completions for a search box: category and product names for what a shopper has typed.

use std::collections::HashSet;

use crate::analyze;
use crate::index::{Category, Entry, Field, Index, MAX_QUERY_WORDS};

/// A completion of what a shopper is typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suggestion {
    /// A category whose name the text starts words of.
    Category { id: String, slug: String, name: String },
    /// A published product whose name matches the text.
    Product { id: String, slug: String, name: String },
}

/// Most categories among the suggestions.
const MAX_CATEGORY_SUGGESTIONS: usize = 3;

impl Index {
    /// Up to `limit` completions of `text` as typed: categories whose names match every word
    /// (the last as a prefix), then published products whose names do, best first.
    pub fn suggest(&self, text: &str, limit: usize) -> Vec<Suggestion> {
        let mut words = analyze::words(text);
        words.truncate(MAX_QUERY_WORDS);
        let Some((last, whole)) = words.split_last() else { return Vec::new() };
        let whole_stems: Vec<String> = whole.iter().map(|w| self.analyzer.stem(w)).collect();
        let mut categories: Vec<&Category> = self
            .categories
            .values()
            .filter(|c| {
                let names = analyze::words(&c.name);
                let stems: Vec<String> = names.iter().map(|w| self.analyzer.stem(w)).collect();
                names.iter().any(|w| w.starts_with(last.as_str()))
                    && whole.iter().zip(&whole_stems).all(|(w, s)| names.contains(w) || stems.contains(s))
            })
            .collect();
        categories.sort_by(|a, b| a.name.len().cmp(&b.name.len()).then_with(|| a.name.cmp(&b.name)));
        let mut out: Vec<Suggestion> = categories
            .into_iter()
            .take(MAX_CATEGORY_SUGGESTIONS.min(limit))
            .map(|c| Suggestion::Category { id: c.id.clone(), slug: c.slug.clone(), name: c.name.clone() })
            .collect();
        let Some(scores) = self.matches(text, Field::Name.bit()) else { return out };
        let mut hits: Vec<(u32, &Entry)> = scores
            .into_iter()
            .filter_map(|(slot, score)| Some((score, self.entries.get(slot as usize)?.as_ref()?)))
            .filter(|(_, e)| e.doc.published)
            .collect();
        // Best score, then the shortest name (the likeliest completion), then newest.
        let order = |a: &(u32, &Entry), b: &(u32, &Entry)| {
            b.0.cmp(&a.0)
                .then_with(|| a.1.doc.name.len().cmp(&b.1.doc.name.len()))
                .then_with(|| b.1.doc.id.cmp(&a.1.doc.id))
        };
        // Enough to fill the list even when some names repeat.
        let wanted = limit * 4;
        if hits.len() > wanted {
            hits.select_nth_unstable_by(wanted, order);
            hits.truncate(wanted);
        }
        hits.sort_unstable_by(order);
        let mut seen: HashSet<String> = HashSet::new();
        for (_, entry) in hits {
            if out.len() >= limit {
                break;
            }
            if seen.insert(entry.name_key.clone()) {
                out.push(Suggestion::Product {
                    id: entry.doc.id.clone(),
                    slug: entry.doc.slug.clone(),
                    name: entry.doc.name.clone(),
                });
            }
        }
        out
    }
}
