//! The in-memory index: products as documents, their words by field with the postings of each
//! word, categories, option values and ids as numbers, and how products come in and go out.
//! Word matching is here too; [`crate::query`] filters, orders, pages and counts facets over
//! it, [`crate::suggest`] completes prefixes.

use std::collections::{BTreeMap, HashMap, HashSet};

use emporium_core::Currency;

use crate::analyze::{self, Analyzer};

/// Where in a product a word was found; earlier fields weigh more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    /// A category the product is in.
    Category,
    OptionValue,
    Sku,
    Description,
    /// A category above one the product is in.
    ParentCategory,
}

impl Field {
    const ALL: [Field; 6] =
        [Field::Name, Field::Category, Field::OptionValue, Field::Sku, Field::Description, Field::ParentCategory];

    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// How much a match in this field counts: name > category and option values > SKU and
    /// parent categories > description.
    const fn weight(self) -> u32 {
        match self {
            Field::Name => 8,
            Field::Category | Field::OptionValue => 4,
            Field::Sku | Field::ParentCategory => 2,
            Field::Description => 1,
        }
    }

    /// The weight of the best field in `mask`, looked up: it is asked once per posting read.
    fn best_weight(mask: u8) -> u32 {
        MASK_WEIGHTS[usize::from(mask & ALL_FIELDS)]
    }
}

/// The best field weight of every field mask.
const MASK_WEIGHTS: [u32; 64] = {
    let mut table = [0; 64];
    let mut mask = 0;
    while mask < 64 {
        let mut i = 0;
        while i < Field::ALL.len() {
            let field = Field::ALL[i];
            if mask & field.bit() as usize != 0 && field.weight() > table[mask] {
                table[mask] = field.weight();
            }
            i += 1;
        }
        mask += 1;
    }
    table
};

/// How a query word met a word of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Quality {
    Typo = 1,
    Prefix = 2,
    Exact = 4,
}

/// The postings of a term a query word met (slot and field mask, by slot), and how it met it.
type Met<'a> = (&'a [(u32, u8)], Quality);

/// Every field.
pub(crate) const ALL_FIELDS: u8 = 0b11_1111;

/// A category as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<String>,
}

/// A product to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The product's id; ids sort by creation, so `newest` is id descending.
    pub id: String,
    pub slug: String,
    pub published: bool,
    pub name: String,
    pub description: String,
    pub category_ids: Vec<String>,
    pub variants: Vec<Variant>,
    /// The product's rank by its reviews (`emporium_reviews::Rating::rank`: the average,
    /// then the count); 0 without any.
    pub rating: i64,
}

/// One variant of an indexed product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The variant's id: its availability is set by it.
    pub id: String,
    pub sku: String,
    /// Option name and value, e.g. (`Size`, `L`).
    pub options: Vec<(String, String)>,
    /// Price per currency, in minor units.
    pub prices: Vec<(Currency, i64)>,
    /// Units can be bought now.
    pub available: bool,
}

impl Variant {
    pub(crate) fn price(&self, currency: Currency) -> Option<i64> {
        self.prices.iter().find(|(c, _)| *c == currency).map(|(_, amount)| *amount)
    }
}

pub(crate) struct Entry {
    pub(crate) doc: Document,
    /// The numbers of the product's categories and all their ancestors.
    pub(crate) categories: Vec<u32>,
    /// Per variant, its (option name, option value) numbers: filters and facets compare
    /// numbers, not text.
    pub(crate) options: Vec<Vec<(u32, u32)>>,
    /// The distinct (option name, value) numbers over all variants, sorted.
    pub(crate) values: Vec<(u32, u32)>,
    /// The lowest price of any variant, per currency: what price sorts order by, and the
    /// price facet counts when no other filter looks at variants.
    pub(crate) lowest: Vec<(Currency, i64)>,
    pub(crate) name_key: String,
    /// The id's time-ordered number, for ties (see [`id_number`]).
    pub(crate) id_number: u128,
}

/// Most values a facet lists (the most frequent).
pub const MAX_FACET_VALUES: usize = 50;
/// Most words of a query that are matched; the rest are ignored.
pub const MAX_QUERY_WORDS: usize = 8;
/// Most index terms one prefix (the last word, as typed) stands for.
pub(crate) const MAX_PREFIX_TERMS: usize = 256;
/// Shortest word that forgives a typo.
pub(crate) const TYPO_MIN_CHARS: usize = 5;
/// Edges of the price bands, in major units.
pub(crate) const BAND_EDGES: [i64; 10] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// Products by their words, in memory.
#[derive(Default)]
pub struct Index {
    pub(crate) analyzer: Analyzer,
    pub(crate) categories: HashMap<String, Category>,
    /// Category id → number, and each number's category while it exists.
    pub(crate) category_numbers: HashMap<String, u32>,
    pub(crate) category_by_number: Vec<Option<Category>>,
    /// Option names (lower-case) and values (as spelled, per name) by number. Numbers are
    /// never reused, so they outlive the products that brought them.
    pub(crate) option_names: HashMap<String, u32>,
    pub(crate) option_values: HashMap<(u32, String), u32>,
    /// (name, lower-case value) → the numbers of the values spelled so in any case.
    pub(crate) folded_values: HashMap<(u32, String), Vec<u32>>,
    pub(crate) value_text: Vec<String>,
    pub(crate) entries: Vec<Option<Entry>>,
    pub(crate) free: Vec<u32>,
    pub(crate) by_id: HashMap<String, u32>,
    /// Variant id → the slot of its product.
    pub(crate) by_variant: HashMap<String, u32>,
    /// Term → (slot, fields) sorted by slot.
    pub(crate) terms: BTreeMap<String, Vec<(u32, u8)>>,
    /// Terms of letters only by their length in characters: where a typo is looked for.
    pub(crate) by_length: HashMap<usize, HashSet<String>>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many products it holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Replaces the category tree. Products are indexed again only where a category they sit
    /// under (or one of its ancestors) was renamed, moved or removed; a new category costs
    /// nothing until a product is put in it.
    pub fn set_categories(&mut self, categories: Vec<Category>) {
        let next: HashMap<String, Category> = categories.into_iter().map(|c| (c.id.clone(), c)).collect();
        // Renamed, moved, removed or new (slugs are only read when facets are counted, so a
        // new slug needs no reindexing).
        let changed: HashSet<u32> = self
            .categories
            .iter()
            .filter(|(id, old)| next.get(*id).is_none_or(|new| new.name != old.name || new.parent_id != old.parent_id))
            .map(|(id, _)| id)
            .chain(next.keys().filter(|id| !self.categories.contains_key(*id)))
            .filter_map(|id| self.category_numbers.get(id).copied())
            .collect();
        // Products under them are taken out while the old tree still says which words they
        // were indexed under, and put back under the new one.
        let docs: Vec<Document> = self
            .entries
            .iter()
            .flatten()
            .filter(|e| e.categories.iter().any(|c| changed.contains(c)))
            .map(|e| e.doc.clone())
            .collect();
        for doc in &docs {
            self.remove(&doc.id);
        }
        for slot in &mut self.category_by_number {
            *slot = None;
        }
        for category in next.values() {
            let number = self.category_number(&category.id);
            self.category_by_number[number as usize] = Some(category.clone());
        }
        self.categories = next;
        for doc in docs {
            self.upsert(doc);
        }
    }

    /// The categories as last set, in no order.
    pub fn categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.values()
    }

    /// The number of a category id, given one if it has none.
    fn category_number(&mut self, id: &str) -> u32 {
        if let Some(number) = self.category_numbers.get(id) {
            return *number;
        }
        let number = self.category_by_number.len() as u32;
        self.category_by_number.push(None);
        self.category_numbers.insert(id.to_owned(), number);
        number
    }

    /// The numbers of an option name and value, given them if they have none.
    fn option_number(&mut self, name: &str, value: &str) -> (u32, u32) {
        let folded = name.to_lowercase();
        let next = self.option_names.len() as u32;
        let name = *self.option_names.entry(folded).or_insert(next);
        if let Some(number) = self.option_values.get(&(name, value.to_owned())) {
            return (name, *number);
        }
        let number = self.value_text.len() as u32;
        self.value_text.push(value.to_owned());
        self.option_values.insert((name, value.to_owned()), number);
        self.folded_values.entry((name, value.to_lowercase())).or_default().push(number);
        (name, number)
    }

    /// Adds a product, or replaces the one with its id.
    pub fn upsert(&mut self, doc: Document) {
        self.remove(&doc.id);
        let categories = self.with_ancestors(&doc.category_ids);
        let mut category_numbers: Vec<u32> = categories.iter().map(|id| self.category_number(id)).collect();
        category_numbers.sort_unstable();
        let options: Vec<Vec<(u32, u32)>> = doc
            .variants
            .iter()
            .map(|v| v.options.iter().map(|(name, value)| self.option_number(name, value)).collect())
            .collect();
        let fields = self.terms_of(&doc, &categories);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.entries.push(None);
                (self.entries.len() - 1) as u32
            }
        };
        for (term, mask) in &fields {
            if !self.terms.contains_key(term) && term.chars().all(char::is_alphabetic) {
                self.by_length.entry(term.chars().count()).or_default().insert(term.clone());
            }
            let postings = self.terms.entry(term.clone()).or_default();
            let at = postings.partition_point(|(s, _)| *s < slot);
            postings.insert(at, (slot, *mask));
        }
        self.by_id.insert(doc.id.clone(), slot);
        for variant in &doc.variants {
            self.by_variant.insert(variant.id.clone(), slot);
        }
        let name_key = doc.name.to_lowercase();
        let id_number = crate::query::id_number(&doc.id);
        let mut values: Vec<(u32, u32)> = options.iter().flatten().copied().collect();
        values.sort_unstable();
        values.dedup();
        let mut lowest: Vec<(Currency, i64)> = Vec::new();
        for (currency, amount) in doc.variants.iter().flat_map(|v| &v.prices) {
            match lowest.iter_mut().find(|(c, _)| c == currency) {
                Some((_, held)) => *held = (*held).min(*amount),
                None => lowest.push((*currency, *amount)),
            }
        }
        self.entries[slot as usize] =
            Some(Entry { doc, categories: category_numbers, options, values, lowest, name_key, id_number });
    }

    /// The terms a product is indexed under, each with the fields it is in. Computed again to
    /// remove the product, rather than kept (a kilobyte or more per product): the same
    /// document under the same category tree gives the same terms.
    fn terms_of(&self, doc: &Document, categories: &HashSet<String>) -> BTreeMap<String, u8> {
        let mut fields: BTreeMap<String, u8> = BTreeMap::new();
        let mut add = |text: &str, field: Field| {
            for word in analyze::words(text) {
                let stem = self.analyzer.stem(&word);
                if stem != word {
                    *fields.entry(stem).or_default() |= field.bit();
                }
                *fields.entry(word).or_default() |= field.bit();
            }
        };
        add(&doc.name, Field::Name);
        add(&doc.description, Field::Description);
        for id in categories {
            if let Some(category) = self.categories.get(id) {
                let field = if doc.category_ids.contains(id) { Field::Category } else { Field::ParentCategory };
                add(&category.name, field);
            }
        }
        for variant in &doc.variants {
            add(&variant.sku, Field::Sku);
            for (_, value) in &variant.options {
                add(value, Field::OptionValue);
            }
        }
        fields
    }

    /// Removes a product (deleted); nothing if it is not there.
    pub fn remove(&mut self, id: &str) {
        let Some(slot) = self.by_id.remove(id) else { return };
        let Some(entry) = self.entries.get_mut(slot as usize).and_then(Option::take) else { return };
        for variant in &entry.doc.variants {
            if self.by_variant.get(&variant.id) == Some(&slot) {
                self.by_variant.remove(&variant.id);
            }
        }
        let categories = self.with_ancestors(&entry.doc.category_ids);
        for term in self.terms_of(&entry.doc, &categories).into_keys() {
            if let Some(postings) = self.terms.get_mut(&term) {
                if let Ok(at) = postings.binary_search_by_key(&slot, |(s, _)| *s) {
                    postings.remove(at);
                }
                if postings.is_empty() {
                    self.terms.remove(&term);
                    if let Some(same) = self.by_length.get_mut(&term.chars().count()) {
                        same.remove(&term);
                    }
                }
            }
        }
        self.free.push(slot);
    }

    /// Sets whether a variant can be bought now; false if no indexed product has it.
    pub fn set_available(&mut self, variant_id: &str, available: bool) -> bool {
        let Some(&slot) = self.by_variant.get(variant_id) else { return false };
        let Some(entry) = self.entries.get_mut(slot as usize).and_then(Option::as_mut) else { return false };
        match entry.doc.variants.iter_mut().find(|v| v.id == variant_id) {
            Some(variant) => {
                variant.available = available;
                true
            }
            None => false,
        }
    }

    /// The indexed copy of a product.
    pub fn get(&self, id: &str) -> Option<&Document> {
        let slot = *self.by_id.get(id)?;
        self.entries.get(slot as usize)?.as_ref().map(|e| &e.doc)
    }

    fn with_ancestors(&self, ids: &[String]) -> HashSet<String> {
        let mut all = HashSet::new();
        for id in ids {
            let mut at = Some(id.clone());
            // A cycle stops at the first category seen twice.
            while let Some(id) = at {
                if !all.insert(id.clone()) {
                    break;
                }
                at = self.categories.get(&id).and_then(|c| c.parent_id.clone());
            }
        }
        all
    }

    /// Whether a category has this id or slug.
    pub fn knows_category(&self, id_or_slug: &str) -> bool {
        self.category_id(id_or_slug).is_some()
    }

    /// The category an id or slug names.
    pub(crate) fn category_id(&self, id_or_slug: &str) -> Option<&str> {
        if let Some(category) = self.categories.get(id_or_slug) {
            return Some(category.id.as_str());
        }
        self.categories.values().find(|c| c.slug == id_or_slug).map(|c| c.id.as_str())
    }

    /// An option filter as numbers: the name's, and those of the values asked for in any case
    /// (none known: no variant passes).
    pub(crate) fn option_filter(&self, name: &str, values: &[String]) -> (Option<u32>, Vec<u32>) {
        let Some(&name) = self.option_names.get(&name.to_lowercase()) else { return (None, Vec::new()) };
        let values = values
            .iter()
            .filter_map(|v| self.folded_values.get(&(name, v.to_lowercase())))
            .flatten()
            .copied()
            .collect();
        (Some(name), values)
    }

    /// Scores of the products matching every word of `text`: each word as a whole word (its
    /// stem), the last also as the start of a word, and words of five letters or more with
    /// one typo. None when the text has no words.
    pub(crate) fn matches(&self, text: &str, fields: u8) -> Option<Vec<(u32, u32)>> {
        let mut words = analyze::words(text);
        if words.iter().any(|w| !analyze::is_stop_word(w)) {
            words.retain(|w| !analyze::is_stop_word(w));
        }
        words.truncate(MAX_QUERY_WORDS);
        let last = words.len().checked_sub(1)?;
        // Each word's postings, rarest word first: the first sets the candidates, the others
        // only keep (and add to) those they meet too.
        let mut per_word: Vec<Vec<Met<'_>>> =
            words.iter().enumerate().map(|(i, word)| self.candidates(word, i == last)).collect();
        per_word.sort_by_key(|lists| lists.iter().map(|(p, _)| p.len()).sum::<usize>());
        let weight = |mask: u8, quality: Quality| Field::best_weight(mask & fields) * quality as u32;
        // Scores by slot, dense: a posting costs one array write, no hashing.
        let mut total = vec![0_u32; self.entries.len()];
        let mut alive: Vec<u32> = Vec::new();
        let mut best = vec![0_u32; self.entries.len()];
        for (i, lists) in per_word.iter().enumerate() {
            if i == 0 {
                for (postings, quality) in lists {
                    for (slot, mask) in *postings {
                        let (w, held) = (weight(*mask, *quality), &mut total[*slot as usize]);
                        if w > 0 && *held == 0 {
                            alive.push(*slot);
                        }
                        *held = (*held).max(w);
                    }
                }
                continue;
            }
            let postings: usize = lists.iter().map(|(p, _)| p.len()).sum();
            if alive.len() * lists.len() * 8 < postings {
                // Few candidates, long lists: look each candidate up rather than read them.
                alive.retain(|slot| {
                    let found = lists
                        .iter()
                        .filter_map(|(postings, quality)| {
                            let at = postings.binary_search_by_key(slot, |(s, _)| *s).ok()?;
                            Some(weight(postings[at].1, *quality))
                        })
                        .max()
                        .unwrap_or(0);
                    total[*slot as usize] += found;
                    found > 0
                });
                continue;
            }
            for (postings, quality) in lists {
                for (slot, mask) in *postings {
                    let held = &mut best[*slot as usize];
                    *held = (*held).max(weight(*mask, *quality));
                }
            }
            alive.retain(|slot| {
                let more = std::mem::take(&mut best[*slot as usize]);
                total[*slot as usize] += more;
                more > 0
            });
            // What the word met outside the candidates is cleared for the next word.
            for (postings, _) in lists {
                for (slot, _) in *postings {
                    best[*slot as usize] = 0;
                }
            }
        }
        Some(alive.into_iter().map(|slot| (slot, total[slot as usize])).collect())
    }

    /// The postings a query word meets: its exact word and stem, for the last word the words
    /// it starts, and words one typo away when it is long enough.
    fn candidates(&self, word: &str, last: bool) -> Vec<Met<'_>> {
        let mut lists: Vec<Met<'_>> = Vec::new();
        let stem = self.analyzer.stem(word);
        for exact in std::iter::once(word).chain((stem != word).then_some(stem.as_str())) {
            if let Some(postings) = self.terms.get(exact) {
                lists.push((postings, Quality::Exact));
            }
        }
        if last {
            let prefixed = self.terms.range(word.to_owned()..).take_while(|(t, _)| t.starts_with(word));
            for (term, postings) in prefixed.take(MAX_PREFIX_TERMS) {
                if term != word && *term != stem {
                    lists.push((postings, Quality::Prefix));
                }
            }
        }
        let chars = word.chars().count();
        if chars >= TYPO_MIN_CHARS && word.chars().all(char::is_alphabetic) {
            let near = (chars - 1..=chars + 1).filter_map(|len| self.by_length.get(&len)).flatten();
            for term in near {
                if term != word
                    && *term != stem
                    && analyze::within_one_edit(word, term)
                    && let Some(postings) = self.terms.get(term)
                {
                    lists.push((postings, Quality::Typo));
                }
            }
        }
        lists
    }
}
