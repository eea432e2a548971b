//! The in-memory index: products as documents, their words by field, and queries that match,
//! filter, rank, page and count facets over them.

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

    const fn bit(self) -> u8 {
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
const ALL_FIELDS: u8 = 0b11_1111;

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
    fn price(&self, currency: Currency) -> Option<i64> {
        self.prices.iter().find(|(c, _)| *c == currency).map(|(_, amount)| *amount)
    }
}

struct Entry {
    doc: Document,
    /// The numbers of the product's categories and all their ancestors.
    categories: Vec<u32>,
    /// Per variant, its (option name, option value) numbers: filters and facets compare
    /// numbers, not text.
    options: Vec<Vec<(u32, u32)>>,
    /// The distinct (option name, value) numbers over all variants, sorted.
    values: Vec<(u32, u32)>,
    name_key: String,
    /// The id's time-ordered number, for ties (see [`id_number`]).
    id_number: u128,
}

/// The number of an id made of a prefix, `_` and 32 hex digits (as every id the catalog
/// makes): comparing numbers orders such ids as comparing the text does, at a fraction of the
/// cost (ties compare ids for every pair a large result sorts). Other ids are 0 and compare by
/// text.
fn id_number(id: &str) -> u128 {
    match id.split_once('_') {
        Some((_, hex)) if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            u128::from_str_radix(hex, 16).unwrap_or(0)
        }
        _ => 0,
    }
}

/// An id as results are ordered by it: its number, then its text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct IdKey<'a>(u128, &'a str);

impl<'a> IdKey<'a> {
    fn of(id: &'a str) -> Self {
        Self(id_number(id), id)
    }
}

/// The order of a result list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first, then newest (the default with a text query).
    Relevance,
    /// Most recently created first.
    #[default]
    Newest,
    /// By name, A to Z.
    Name,
    /// Lowest variant price in the currency, cheapest first; unpriced products last.
    PriceAsc,
    /// Lowest variant price in the currency, dearest first; unpriced products last.
    PriceDesc,
}

/// Which products a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Published,
    Drafts,
    All,
}

/// Facets a query asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FacetRequest {
    pub category: bool,
    /// Option names, e.g. `Size`.
    pub options: Vec<String>,
    /// Price bands (needs the query's currency).
    pub price: bool,
}

/// A search or filtered list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: Option<String>,
    pub visibility: Visibility,
    /// A category id or slug; its sub-categories are included.
    pub category: Option<String>,
    pub in_stock: bool,
    pub currency: Option<Currency>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    /// Option name and the values any of which a variant may have.
    pub options: Vec<(String, Vec<String>)>,
    pub sort: Sort,
    pub facets: FacetRequest,
}

/// A result's place in its list, to continue after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub key: SortKey,
    pub id: String,
}

/// The sort key of a result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    None,
    Score(u32),
    Text(String),
    Amount(i64),
}

/// One facet value and how many products have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub value: String,
    pub count: usize,
}

/// A price band `[min, max)` in minor units (`max` none for the last) and its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBand {
    pub min: i64,
    pub max: Option<i64>,
    pub count: usize,
}

/// Facet counts: each counts the products matching every other filter, its own left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    pub category: Option<Vec<FacetCount>>,
    pub options: Vec<(String, Vec<FacetCount>)>,
    pub price: Option<Vec<PriceBand>>,
}

/// One page of results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub hits: Vec<Position>,
    /// More results follow the last hit.
    pub more: bool,
    /// Products matching the query and every filter.
    pub total: usize,
    pub facets: Facets,
}

/// Most values a facet lists (the most frequent).
pub const MAX_FACET_VALUES: usize = 50;
/// Most words of a query that are matched; the rest are ignored.
pub const MAX_QUERY_WORDS: usize = 8;
/// Most index terms one prefix (the last word, as typed) stands for.
const MAX_PREFIX_TERMS: usize = 256;
/// Shortest word that forgives a typo.
const TYPO_MIN_CHARS: usize = 5;
/// Edges of the price bands, in major units.
const BAND_EDGES: [i64; 10] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// Products by their words, in memory.
#[derive(Default)]
pub struct Index {
    analyzer: Analyzer,
    categories: HashMap<String, Category>,
    /// Category id → number, and each number's category while it exists.
    category_numbers: HashMap<String, u32>,
    category_by_number: Vec<Option<Category>>,
    /// Option names (lower-case) and values (as spelled, per name) by number. Numbers are
    /// never reused, so they outlive the products that brought them.
    option_names: HashMap<String, u32>,
    option_values: HashMap<(u32, String), u32>,
    /// (name, lower-case value) → the numbers of the values spelled so in any case.
    folded_values: HashMap<(u32, String), Vec<u32>>,
    value_text: Vec<String>,
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
    /// Variant id → the slot of its product.
    by_variant: HashMap<String, u32>,
    /// Term → (slot, fields) sorted by slot.
    terms: BTreeMap<String, Vec<(u32, u8)>>,
    /// Terms of letters only by their length in characters: where a typo is looked for.
    by_length: HashMap<usize, HashSet<String>>,
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
        let id_number = id_number(&doc.id);
        let mut values: Vec<(u32, u32)> = options.iter().flatten().copied().collect();
        values.sort_unstable();
        values.dedup();
        self.entries[slot as usize] =
            Some(Entry { doc, categories: category_numbers, options, values, name_key, id_number });
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
    fn category_id(&self, id_or_slug: &str) -> Option<&str> {
        if let Some(category) = self.categories.get(id_or_slug) {
            return Some(category.id.as_str());
        }
        self.categories.values().find(|c| c.slug == id_or_slug).map(|c| c.id.as_str())
    }

    /// An option filter as numbers: the name's, and those of the values asked for in any case
    /// (none known: no variant passes).
    fn option_filter(&self, name: &str, values: &[String]) -> (Option<u32>, Vec<u32>) {
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
    fn matches(&self, text: &str, fields: u8) -> Option<Vec<(u32, u32)>> {
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

    /// One page of the products matching `query`, after `after`, with the facets asked for.
    pub fn search(&self, query: &Query, after: Option<&Position>, limit: usize) -> Page {
        // Text with nothing to match (only punctuation) matches nothing; no text, everything.
        let scored = query
            .text
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|text| self.matches(text, ALL_FIELDS).unwrap_or_default());
        let category = match &query.category {
            Some(id_or_slug) => match self.category_id(id_or_slug).and_then(|id| self.category_numbers.get(id)) {
                Some(number) => Some(*number),
                // An unknown category matches nothing.
                None => return Page::default(),
            },
            None => None,
        };
        let candidates: Vec<(u32, u32)> = match scored {
            Some(scores) => scores,
            None => self.by_id.values().map(|slot| (*slot, 0)).collect(),
        };
        let filter = Filter {
            query,
            category,
            options: query.options.iter().map(|(name, values)| self.option_filter(name, values)).collect(),
        };
        let mut hits: Vec<(SortKey, IdKey<'_>)> = Vec::new();
        let mut facets = Tally::new(self, query, &filter);
        let mut marks: Vec<u64> = Vec::new();
        for (slot, score) in candidates {
            let Some(entry) = self.entries.get(slot as usize).and_then(Option::as_ref) else { continue };
            if !query.visibility_admits(entry.doc.published) {
                continue;
            }
            let in_category = filter.in_category(entry);
            // A variant passes every variant filter: the product counts, in its categories.
            filter.marks(entry, &mut marks);
            let passes = marks.contains(&0);
            facets.count(entry, &marks, in_category, passes);
            if in_category && passes {
                hits.push((sort_key(query, entry, score), IdKey(entry.id_number, entry.doc.id.as_str())));
            }
        }
        let total = hits.len();
        if let Some(after) = after {
            let after_id = IdKey::of(&after.id);
            hits.retain(|(key, id)| query.sort.follows((key, *id), (&after.key, after_id)));
        }
        let order = |a: &(SortKey, IdKey<'_>), b: &(SortKey, IdKey<'_>)| query.sort.compare((&a.0, a.1), (&b.0, b.1));
        if hits.len() > limit + 1 {
            hits.select_nth_unstable_by(limit, order);
            hits.truncate(limit + 1);
        }
        hits.sort_unstable_by(order);
        let more = hits.len() > limit;
        hits.truncate(limit);
        Page {
            hits: hits.into_iter().map(|(key, id)| Position { key, id: id.1.to_owned() }).collect(),
            more,
            total,
            facets: facets.finish(),
        }
    }
}

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

impl Query {
    fn visibility_admits(&self, published: bool) -> bool {
        match self.visibility {
            Visibility::All => true,
            Visibility::Published => published,
            Visibility::Drafts => !published,
        }
    }
}

impl Sort {
    /// The order of two results.
    fn compare(self, a: (&SortKey, IdKey<'_>), b: (&SortKey, IdKey<'_>)) -> std::cmp::Ordering {
        match self {
            // Greater keys first, then newer (greater) ids.
            Sort::Relevance | Sort::Newest | Sort::PriceDesc => b.0.cmp(a.0).then_with(|| b.1.cmp(&a.1)),
            Sort::Name | Sort::PriceAsc => a.0.cmp(b.0).then_with(|| a.1.cmp(&b.1)),
        }
    }

    /// Whether `hit` comes after `after` in this order.
    fn follows(self, hit: (&SortKey, IdKey<'_>), after: (&SortKey, IdKey<'_>)) -> bool {
        self.compare(hit, after) == std::cmp::Ordering::Greater
    }
}

fn sort_key(query: &Query, entry: &Entry, score: u32) -> SortKey {
    let lowest = || query.currency.and_then(|c| entry.doc.variants.iter().filter_map(|v| v.price(c)).min());
    match query.sort {
        Sort::Relevance => SortKey::Score(score),
        Sort::Newest => SortKey::None,
        Sort::Name => SortKey::Text(entry.name_key.clone()),
        Sort::PriceAsc => SortKey::Amount(lowest().unwrap_or(i64::MAX)),
        Sort::PriceDesc => SortKey::Amount(lowest().unwrap_or(-1)),
    }
}

/// The bit of a variant that fails the stock filter.
const FAILS_STOCK: u64 = 1;
/// The bit of a variant that fails the price filter.
const FAILS_PRICE: u64 = 2;

/// The bit of a variant that fails option filter `i` (filters past the 62nd share the last
/// bit; the API allows 10).
fn fails_option(i: usize) -> u64 {
    1 << (2 + i.min(61))
}

struct Filter<'a> {
    query: &'a Query,
    /// The number of the category asked for.
    category: Option<u32>,
    /// Per option filter: its name's number (none if no product has it) and its values'.
    options: Vec<(Option<u32>, Vec<u32>)>,
}

impl Filter<'_> {
    fn in_category(&self, entry: &Entry) -> bool {
        self.category.is_none_or(|c| entry.categories.binary_search(&c).is_ok())
    }

    /// Whether any filter looks at variants.
    fn on_variants(&self) -> bool {
        self.query.in_stock || self.priced() || !self.options.is_empty()
    }

    fn priced(&self) -> bool {
        self.query.price_min.is_some() || self.query.price_max.is_some()
    }

    /// The bits of the option filters on the option of name `name`: what its facet leaves out.
    fn option_bits(&self, name: u32) -> u64 {
        self.options
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| *n == Some(name))
            .fold(0, |bits, (i, _)| bits | fails_option(i))
    }

    /// Per variant of `entry`, the filters it fails, as bits ([`FAILS_STOCK`], [`FAILS_PRICE`],
    /// [`fails_option`]): worked out once per product, so each facet that leaves one filter
    /// out only masks its bit.
    fn marks(&self, entry: &Entry, marks: &mut Vec<u64>) {
        marks.clear();
        if !self.on_variants() {
            marks.resize(entry.doc.variants.len(), 0);
            return;
        }
        let query = self.query;
        for (variant, options) in entry.doc.variants.iter().zip(&entry.options) {
            let mut fails = 0;
            if query.in_stock && !variant.available {
                fails |= FAILS_STOCK;
            }
            if self.priced() {
                let price = query.currency.and_then(|c| variant.price(c));
                let within = price.is_some_and(|price| {
                    query.price_min.is_none_or(|min| price >= min) && query.price_max.is_none_or(|max| price <= max)
                });
                if !within {
                    fails |= FAILS_PRICE;
                }
            }
            for (i, (name, values)) in self.options.iter().enumerate() {
                let has = name.is_some_and(|name| options.iter().any(|(n, v)| *n == name && values.contains(v)));
                if !has {
                    fails |= fails_option(i);
                }
            }
            marks.push(fails);
        }
    }
}

/// Facet counts as products are visited.
struct Tally<'a> {
    index: &'a Index,
    request: &'a FacetRequest,
    currency: Option<Currency>,
    /// Products per category number (dense: categories are few).
    categories: Vec<usize>,
    /// Per option facet: its name's number, the filter bits it leaves out (none: no other
    /// filter applies to variants, so each product's distinct values count as they are), and
    /// products per value number (dense: a counter per value the shop has, read once at the
    /// end).
    options: Vec<(Option<u32>, Option<u64>, Vec<usize>)>,
    bands: Vec<usize>,
    /// Values already counted for the product being visited.
    seen: Vec<u32>,
}

impl<'a> Tally<'a> {
    fn new(index: &'a Index, query: &'a Query, filter: &Filter<'_>) -> Self {
        Self {
            index,
            request: &query.facets,
            currency: query.currency,
            categories: if query.facets.category { vec![0; index.category_by_number.len()] } else { Vec::new() },
            options: query
                .facets
                .options
                .iter()
                .map(|name| {
                    let number = index.option_names.get(&name.to_lowercase()).copied();
                    let own = number.map_or(0, |n| filter.option_bits(n));
                    let others = query.in_stock
                        || filter.priced()
                        || (0..filter.options.len()).any(|i| own & fails_option(i) == 0);
                    (number, others.then_some(own), vec![0; index.value_text.len()])
                })
                .collect(),
            bands: vec![0; BAND_EDGES.len() + 1],
            seen: Vec::new(),
        }
    }

    /// Counts a product whose variants fail the filters marked in `marks`.
    fn count(&mut self, entry: &Entry, marks: &[u64], in_category: bool, passes: bool) {
        if self.request.category && passes {
            for number in &entry.categories {
                if let Some(count) = self.categories.get_mut(*number as usize) {
                    *count += 1;
                }
            }
        }
        if !in_category {
            return;
        }
        for (name, leave_out, counts) in &mut self.options {
            let Some(name) = *name else { continue };
            let Some(leave_out) = *leave_out else {
                // No other filter on variants: every value the product has counts.
                for (_, value) in entry.values.iter().filter(|(n, _)| *n == name) {
                    if let Some(count) = counts.get_mut(*value as usize) {
                        *count += 1;
                    }
                }
                continue;
            };
            self.seen.clear();
            for (fails, options) in marks.iter().zip(&entry.options) {
                if fails & !leave_out != 0 {
                    continue;
                }
                for (_, value) in options.iter().filter(|(n, _)| *n == name) {
                    if !self.seen.contains(value) {
                        self.seen.push(*value);
                        if let Some(count) = counts.get_mut(*value as usize) {
                            *count += 1;
                        }
                    }
                }
            }
        }
        if self.request.price
            && let Some(currency) = self.currency
        {
            let lowest = entry
                .doc
                .variants
                .iter()
                .zip(marks)
                .filter(|(_, fails)| **fails & !FAILS_PRICE == 0)
                .filter_map(|(v, _)| v.price(currency))
                .min();
            if let Some(price) = lowest {
                let unit = 10_i64.pow(u32::from(currency.minor_units()));
                let band = BAND_EDGES.iter().take_while(|edge| price >= **edge * unit).count();
                self.bands[band] += 1;
            }
        }
    }

    fn finish(self) -> Facets {
        let listed = |counts: Vec<(&str, usize)>| {
            let mut list: Vec<FacetCount> =
                counts.into_iter().map(|(value, count)| FacetCount { value: value.to_owned(), count }).collect();
            list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            list.truncate(MAX_FACET_VALUES);
            list
        };
        let index = self.index;
        let unit = self.currency.map_or(100, |c| 10_i64.pow(u32::from(c.minor_units())));
        let categories: Vec<(&str, usize)> = self
            .categories
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .filter_map(|(number, count)| {
                let category = index.category_by_number.get(number)?.as_ref()?;
                Some((category.slug.as_str(), *count))
            })
            .collect();
        Facets {
            category: self.request.category.then(|| listed(categories)),
            options: self
                .request
                .options
                .iter()
                .cloned()
                .zip(self.options.iter().map(|(_, _, counts)| {
                    listed(
                        counts
                            .iter()
                            .enumerate()
                            .filter(|(_, count)| **count > 0)
                            .filter_map(|(value, count)| Some((index.value_text.get(value)?.as_str(), *count)))
                            .collect(),
                    )
                }))
                .collect(),
            price: (self.request.price && self.currency.is_some()).then(|| {
                self.bands
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(band, count)| PriceBand {
                        min: if band == 0 { 0 } else { BAND_EDGES[band - 1] * unit },
                        max: BAND_EDGES.get(band).map(|edge| edge * unit),
                        count: *count,
                    })
                    .collect()
            }),
        }
    }
}

#[cfg(test)]
mod id_order {
    use super::{IdKey, id_number};

    #[test]
    fn catalog_ids_order_by_number_as_by_text() {
        let ids = [
            "prod_01a23a929fb173fb92b3e100a4200b63",
            "prod_01a23a929fb173fb92b3e100a4200b64",
            "prod_01a23a929fb5775a94e277a02397f36f",
            "prod_ffa23a929fb5775a94e277a02397f36f",
        ];
        for a in ids {
            assert_ne!(id_number(a), 0);
            for b in ids {
                assert_eq!(IdKey::of(a).cmp(&IdKey::of(b)), a.cmp(b), "{a} / {b}");
            }
        }
        assert_eq!(id_number("p1"), 0, "other ids compare by text");
        assert_eq!(id_number("prod_01A23A929FB173FB92B3E100A4200B63"), 0, "upper-case hex is not ours");
        assert!(IdKey::of("p1") < IdKey::of("p2"));
    }
}
