//! Queries on the index: matching, filtering per variant, ordering, keyset pages and facet
//! counts, each facet with its own filter left out.

use emporium_core::Currency;

use crate::index::{ALL_FIELDS, BAND_EDGES, Entry, Index, MAX_FACET_VALUES};

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
    /// Best rated first, by [`crate::Document::rating`]; unrated products last.
    Rating,
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

/// The number of an id made of a prefix, `_` and 32 hex digits (as every id the catalog
/// makes): comparing numbers orders such ids as comparing the text does, at a fraction of the
/// cost (ties compare ids for every pair a large result sorts). Other ids are 0 and compare by
/// text.
pub(crate) fn id_number(id: &str) -> u128 {
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

impl Index {
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
            Sort::Relevance | Sort::Newest | Sort::PriceDesc | Sort::Rating => b.0.cmp(a.0).then_with(|| b.1.cmp(&a.1)),
            Sort::Name | Sort::PriceAsc => a.0.cmp(b.0).then_with(|| a.1.cmp(&b.1)),
        }
    }

    /// Whether `hit` comes after `after` in this order.
    fn follows(self, hit: (&SortKey, IdKey<'_>), after: (&SortKey, IdKey<'_>)) -> bool {
        self.compare(hit, after) == std::cmp::Ordering::Greater
    }
}

fn sort_key(query: &Query, entry: &Entry, score: u32) -> SortKey {
    let lowest = || query.currency.and_then(|c| entry.lowest(c));
    match query.sort {
        Sort::Relevance => SortKey::Score(score),
        Sort::Newest => SortKey::None,
        Sort::Name => SortKey::Text(entry.name_key.clone()),
        Sort::PriceAsc => SortKey::Amount(lowest().unwrap_or(i64::MAX)),
        Sort::PriceDesc => SortKey::Amount(lowest().unwrap_or(-1)),
        Sort::Rating => SortKey::Amount(entry.doc.rating),
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
    /// No filter but price's looks at variants.
    price_alone: bool,
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
            price_alone: !query.in_stock && filter.options.is_empty(),
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
            // The facet leaves the price filter out: with no other filter on variants, the
            // product's lowest price is the one counted.
            let lowest = if self.price_alone {
                entry.lowest(currency)
            } else {
                entry
                    .doc
                    .variants
                    .iter()
                    .zip(marks)
                    .filter(|(_, fails)| **fails & !FAILS_PRICE == 0)
                    .filter_map(|(v, _)| v.price(currency))
                    .min()
            };
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

impl Entry {
    /// The lowest price of any variant in `currency`.
    fn lowest(&self, currency: Currency) -> Option<i64> {
        self.lowest.iter().find(|(c, _)| *c == currency).map(|(_, amount)| *amount)
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
