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

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// How much a match in this field counts: name > category and option values > SKU and
    /// parent categories > description.
    fn weight(self) -> u32 {
        match self {
            Field::Name => 8,
            Field::Category | Field::OptionValue => 4,
            Field::Sku | Field::ParentCategory => 2,
            Field::Description => 1,
        }
    }

    fn best_weight(mask: u8) -> u32 {
        Self::ALL.iter().filter(|f| mask & f.bit() != 0).map(|f| f.weight()).max().unwrap_or(0)
    }
}

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

/// Each product's best score among the postings a word met, in the fields of `fields`.
fn best_of(lists: &[Met<'_>], fields: u8) -> HashMap<u32, u32> {
    let mut best: HashMap<u32, u32> = HashMap::new();
    for (postings, quality) in lists {
        for (slot, mask) in *postings {
            let weight = Field::best_weight(*mask & fields);
            if weight > 0 {
                let held = best.entry(*slot).or_default();
                *held = (*held).max(weight * *quality as u32);
            }
        }
    }
    best
}

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

    fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Entry {
    doc: Document,
    /// The product's categories and all their ancestors.
    categories: HashSet<String>,
    /// The terms this document was indexed under, to remove it again.
    terms: Vec<String>,
    name_key: String,
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
        let changed: HashSet<String> = self
            .categories
            .iter()
            .filter(|(id, old)| next.get(*id).is_none_or(|new| new.name != old.name || new.parent_id != old.parent_id))
            .map(|(id, _)| id.clone())
            .collect();
        // Slugs are only read when facets are counted, so a new slug needs no reindexing.
        self.categories = next;
        if changed.is_empty() {
            return;
        }
        let docs: Vec<Document> = self
            .entries
            .iter()
            .flatten()
            .filter(|e| e.categories.iter().any(|c| changed.contains(c)))
            .map(|e| e.doc.clone())
            .collect();
        for doc in docs {
            self.upsert(doc);
        }
    }

    /// The categories as last set, in no order.
    pub fn categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.values()
    }

    /// Adds a product, or replaces the one with its id.
    pub fn upsert(&mut self, doc: Document) {
        self.remove(&doc.id);
        let categories = self.with_ancestors(&doc.category_ids);
        let mut fields: BTreeMap<String, u8> = BTreeMap::new();
        let mut add = |text: &str, field: Field, analyzer: &Analyzer| {
            for word in analyze::words(text) {
                let stem = analyzer.stem(&word);
                if stem != word {
                    *fields.entry(stem).or_default() |= field.bit();
                }
                *fields.entry(word).or_default() |= field.bit();
            }
        };
        add(&doc.name, Field::Name, &self.analyzer);
        add(&doc.description, Field::Description, &self.analyzer);
        for id in &categories {
            if let Some(category) = self.categories.get(id) {
                let field = if doc.category_ids.contains(id) { Field::Category } else { Field::ParentCategory };
                add(&category.name, field, &self.analyzer);
            }
        }
        for variant in &doc.variants {
            add(&variant.sku, Field::Sku, &self.analyzer);
            for (_, value) in &variant.options {
                add(value, Field::OptionValue, &self.analyzer);
            }
        }
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
        self.entries[slot as usize] = Some(Entry { doc, categories, terms: fields.into_keys().collect(), name_key });
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
        for term in entry.terms {
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

    /// Scores of the products matching every word of `text`: each word as a whole word (its
    /// stem), the last also as the start of a word, and words of five letters or more with
    /// one typo. None when the text has no words.
    fn matches(&self, text: &str, fields: u8) -> Option<HashMap<u32, u32>> {
        let mut words = analyze::words(text);
        if words.iter().any(|w| !analyze::is_stop_word(w)) {
            words.retain(|w| !analyze::is_stop_word(w));
        }
        words.truncate(MAX_QUERY_WORDS);
        let last = words.len().checked_sub(1)?;
        // Each word's postings, rarest word first: the first sets the candidates, the others
        // are looked up for those candidates only.
        let mut per_word: Vec<Vec<Met<'_>>> =
            words.iter().enumerate().map(|(i, word)| self.candidates(word, i == last)).collect();
        per_word.sort_by_key(|lists| lists.iter().map(|(p, _)| p.len()).sum::<usize>());
        let mut total: Option<HashMap<u32, u32>> = None;
        for lists in per_word {
            total = Some(match total {
                None => best_of(&lists, fields),
                Some(mut so_far) if so_far.len() * lists.len() > lists.iter().map(|(p, _)| p.len()).sum::<usize>() => {
                    // Probing each candidate in every list would cost more than reading them,
                    // into one score per slot.
                    let mut best = vec![0_u32; self.entries.len()];
                    for (postings, quality) in &lists {
                        for (slot, mask) in *postings {
                            if let Some(held) = best.get_mut(*slot as usize) {
                                *held = (*held).max(Field::best_weight(*mask & fields) * *quality as u32);
                            }
                        }
                    }
                    so_far.retain(|slot, score| {
                        let more = best.get(*slot as usize).copied().unwrap_or(0);
                        *score += more;
                        more > 0
                    });
                    so_far
                }
                Some(mut so_far) => {
                    so_far.retain(|slot, score| {
                        let found = lists
                            .iter()
                            .filter_map(|(postings, quality)| {
                                let at = postings.binary_search_by_key(slot, |(s, _)| *s).ok()?;
                                let weight = Field::best_weight(postings[at].1 & fields);
                                (weight > 0).then_some(weight * *quality as u32)
                            })
                            .max();
                        found.inspect(|more| *score += more).is_some()
                    });
                    so_far
                }
            });
        }
        total
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
            Some(id_or_slug) => match self.category_id(id_or_slug) {
                Some(id) => Some(id.to_owned()),
                // An unknown category matches nothing.
                None => return Page::default(),
            },
            None => None,
        };
        let candidates: Vec<(u32, u32)> = match &scored {
            Some(scores) => scores.iter().map(|(slot, score)| (*slot, *score)).collect(),
            None => self.by_id.values().map(|slot| (*slot, 0)).collect(),
        };
        let filter = Filter { query, category: category.as_deref() };
        let mut hits: Vec<(SortKey, &str)> = Vec::new();
        let mut facets = Tally::new(query);
        for (slot, score) in candidates {
            let Some(entry) = self.entries.get(slot as usize).and_then(Option::as_ref) else { continue };
            if !query.visibility_admits(entry.doc.published) {
                continue;
            }
            let in_category = filter.in_category(entry);
            // A variant passes every variant filter: the product counts, in its categories.
            let passes = entry.doc.variants.iter().any(|v| filter.variant(v, None));
            facets.count(self, &filter, entry, in_category, passes);
            if in_category && passes {
                hits.push((sort_key(query, entry, score), entry.doc.id.as_str()));
            }
        }
        let total = hits.len();
        if let Some(after) = after {
            hits.retain(|(key, id)| query.sort.follows((key, id), (&after.key, &after.id)));
        }
        let order = |a: &(SortKey, &str), b: &(SortKey, &str)| query.sort.compare((&a.0, a.1), (&b.0, b.1));
        if hits.len() > limit + 1 {
            hits.select_nth_unstable_by(limit, order);
            hits.truncate(limit + 1);
        }
        hits.sort_unstable_by(order);
        let more = hits.len() > limit;
        hits.truncate(limit);
        Page {
            hits: hits.into_iter().map(|(key, id)| Position { key, id: id.to_owned() }).collect(),
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
    fn compare(self, a: (&SortKey, &str), b: (&SortKey, &str)) -> std::cmp::Ordering {
        match self {
            // Greater keys first, then newer (greater) ids.
            Sort::Relevance | Sort::Newest | Sort::PriceDesc => b.0.cmp(a.0).then_with(|| b.1.cmp(a.1)),
            Sort::Name | Sort::PriceAsc => a.0.cmp(b.0).then_with(|| a.1.cmp(b.1)),
        }
    }

    /// Whether `hit` comes after `after` in this order.
    fn follows(self, hit: (&SortKey, &str), after: (&SortKey, &str)) -> bool {
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

/// Which filter a facet leaves out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeaveOut<'a> {
    Price,
    Option(&'a str),
}

struct Filter<'a> {
    query: &'a Query,
    category: Option<&'a str>,
}

impl Filter<'_> {
    fn in_category(&self, entry: &Entry) -> bool {
        self.category.is_none_or(|c| entry.categories.contains(c))
    }

    /// Whether a variant passes the variant filters (stock, price, options), one left out.
    fn variant(&self, variant: &Variant, leave_out: Option<LeaveOut<'_>>) -> bool {
        let query = self.query;
        if query.in_stock && !variant.available {
            return false;
        }
        if leave_out != Some(LeaveOut::Price) && (query.price_min.is_some() || query.price_max.is_some()) {
            let Some(price) = query.currency.and_then(|c| variant.price(c)) else { return false };
            if query.price_min.is_some_and(|min| price < min) || query.price_max.is_some_and(|max| price > max) {
                return false;
            }
        }
        query.options.iter().all(|(name, values)| {
            leave_out == Some(LeaveOut::Option(name))
                || variant.option(name).is_some_and(|v| values.iter().any(|want| want.eq_ignore_ascii_case(v)))
        })
    }
}

/// Facet counts as products are visited.
struct Tally<'a> {
    request: &'a FacetRequest,
    currency: Option<Currency>,
    categories: HashMap<&'a str, usize>,
    options: Vec<HashMap<&'a str, usize>>,
    bands: Vec<usize>,
}

impl<'a> Tally<'a> {
    fn new(query: &'a Query) -> Self {
        Self {
            request: &query.facets,
            currency: query.currency,
            categories: HashMap::new(),
            options: vec![HashMap::new(); query.facets.options.len()],
            bands: vec![0; BAND_EDGES.len() + 1],
        }
    }

    fn count(&mut self, index: &'a Index, filter: &Filter<'_>, entry: &'a Entry, in_category: bool, passes: bool) {
        if self.request.category && passes {
            for id in &entry.categories {
                if let Some(category) = index.categories.get(id) {
                    *self.categories.entry(category.slug.as_str()).or_default() += 1;
                }
            }
        }
        if !in_category {
            return;
        }
        for (i, name) in self.request.options.iter().enumerate() {
            let values: HashSet<&str> = entry
                .doc
                .variants
                .iter()
                .filter(|v| filter.variant(v, Some(LeaveOut::Option(name))))
                .filter_map(|v| v.option(name))
                .collect();
            for value in values {
                *self.options[i].entry(value).or_default() += 1;
            }
        }
        if self.request.price
            && let Some(currency) = self.currency
        {
            let lowest = entry
                .doc
                .variants
                .iter()
                .filter(|v| filter.variant(v, Some(LeaveOut::Price)))
                .filter_map(|v| v.price(currency))
                .min();
            if let Some(price) = lowest {
                let unit = 10_i64.pow(u32::from(currency.minor_units()));
                let band = BAND_EDGES.iter().take_while(|edge| price >= **edge * unit).count();
                self.bands[band] += 1;
            }
        }
    }

    fn finish(self) -> Facets {
        let listed = |counts: HashMap<&str, usize>| {
            let mut list: Vec<FacetCount> =
                counts.into_iter().map(|(value, count)| FacetCount { value: value.to_owned(), count }).collect();
            list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            list.truncate(MAX_FACET_VALUES);
            list
        };
        let unit = self.currency.map_or(100, |c| 10_i64.pow(u32::from(c.minor_units())));
        Facets {
            category: self.request.category.then(|| listed(self.categories)),
            options: self.request.options.iter().cloned().zip(self.options.into_iter().map(listed)).collect(),
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
