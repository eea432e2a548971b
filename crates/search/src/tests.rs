//! The index on a small shop.

use emporium_core::Currency;

use crate::{Category, Document, FacetRequest, Index, Query, Sort, Variant, Visibility};

fn variant(sku: &str, options: &[(&str, &str)], eur: i64, available: bool) -> Variant {
    Variant {
        id: format!("var_{sku}"),
        sku: sku.to_owned(),
        options: options.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        prices: vec![(Currency::EUR, eur)],
        available,
    }
}

fn doc(id: &str, name: &str, description: &str, categories: &[&str], variants: Vec<Variant>) -> Document {
    Document {
        id: id.to_owned(),
        slug: id.to_owned(),
        published: true,
        name: name.to_owned(),
        description: description.to_owned(),
        category_ids: categories.iter().map(|c| (*c).to_owned()).collect(),
        variants,
        rating: 0,
    }
}

/// A product the shop does not hold (never reached: the test asserts first).
fn doc_of_nothing(id: &str) -> Document {
    doc(id, "", "", &[], Vec::new())
}

fn category(id: &str, name: &str, parent: Option<&str>) -> Category {
    Category {
        id: id.to_owned(),
        slug: name.to_lowercase(),
        name: name.to_owned(),
        parent_id: parent.map(str::to_owned),
    }
}

/// Ids sort by creation: p1 is the oldest.
fn shop() -> Index {
    let mut index = Index::new();
    index.set_categories(vec![
        category("c1", "Clothing", None),
        category("c2", "Shirts", Some("c1")),
        category("c3", "Kitchen", None),
    ]);
    index.upsert(doc(
        "p1",
        "Classic Cotton Tee",
        "A soft tee.",
        &["c2"],
        vec![
            variant("TEE-S", &[("Size", "S"), ("Colour", "Blue")], 1500, true),
            variant("TEE-L", &[("Size", "L"), ("Colour", "Blue")], 1500, false),
        ],
    ));
    index.upsert(doc(
        "p2",
        "Enamel Mug",
        "Holds coffee or tea.",
        &["c3"],
        vec![variant("MUG-BLK-11", &[("Colour", "Black")], 900, true)],
    ));
    index.upsert(doc(
        "p3",
        "Steel Water Bottle",
        "Keeps drinks cold; fits any mug holder.",
        &["c3"],
        vec![variant("BOT-1", &[], 2500, true)],
    ));
    index.upsert(doc(
        "p4",
        "Linen Shirt",
        "Breathable linen, cut like a cotton shirt.",
        &["c2"],
        vec![variant("LIN-M", &[("Size", "M"), ("Colour", "White")], 4500, true)],
    ));
    index
}

fn ids(index: &Index, query: &Query) -> Vec<String> {
    index.search(query, None, 20).hits.into_iter().map(|h| h.id).collect()
}

fn text(q: &str) -> Query {
    Query { text: Some(q.to_owned()), sort: Sort::Relevance, ..Query::default() }
}

#[test]
fn plurals_typos_prefixes_and_word_order_match() {
    let index = shop();
    assert_eq!(ids(&index, &text("mugs")), ["p2", "p3"], "name before description");
    assert_eq!(ids(&index, &text("cottn tee")), ["p1"], "one typo in a long word");
    assert_eq!(ids(&index, &text("tee classic")), ["p1"], "any order");
    assert_eq!(ids(&index, &text("enam")), ["p2"], "the last word as typed so far");
    assert!(ids(&index, &text("tee")).iter().all(|id| id != "p3"), "tee is not steel");
    assert_eq!(ids(&index, &text("mug-blk-11")), ["p2"], "a SKU");
    assert_eq!(ids(&index, &text("clothing")), ["p4", "p1"], "a parent category's name, newest first");
    assert_eq!(ids(&index, &text("blue")), ["p1"], "an option value");
    assert!(ids(&index, &text("mgu")).is_empty(), "short words forgive no typo");
    assert!(ids(&index, &text("\"*:-()")).is_empty(), "syntax alone is no words, and matches nothing");
}

#[test]
fn a_name_match_ranks_above_a_description_only_match() {
    let index = shop();
    assert_eq!(ids(&index, &text("cotton")), ["p1", "p4"], "p4 only says cotton in its description");
    assert_eq!(ids(&index, &text("shirt")), ["p4", "p1"], "p1 is a shirt by category only");
}

#[test]
fn filters_apply_per_variant_and_facets_leave_their_own_out() {
    let index = shop();
    let query = Query {
        in_stock: true,
        options: vec![("Size".into(), vec!["l".into()])],
        facets: FacetRequest { category: true, options: vec!["Size".into()], price: true },
        currency: Some(Currency::EUR),
        ..Query::default()
    };
    let page = index.search(&query, None, 10);
    assert!(page.hits.is_empty(), "size L is sold out");
    assert_eq!(page.total, 0);
    let sizes = &page.facets.options[0].1;
    let counted: Vec<(&str, usize)> = sizes.iter().map(|f| (f.value.as_str(), f.count)).collect();
    assert_eq!(counted, [("M", 1), ("S", 1)], "sizes in stock, the size filter left out");

    let query = Query {
        category: Some("clothing".into()),
        facets: FacetRequest { category: true, options: vec![], price: true },
        currency: Some(Currency::EUR),
        price_max: Some(2000),
        ..Query::default()
    };
    let page = index.search(&query, None, 10);
    assert_eq!(page.hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["p1"]);
    let categories = page.facets.category.unwrap_or_default();
    let counted: Vec<(&str, usize)> = categories.iter().map(|f| (f.value.as_str(), f.count)).collect();
    assert_eq!(counted, [("clothing", 1), ("kitchen", 1), ("shirts", 1)], "up to 20 EUR, any category");
    let bands = page.facets.price.unwrap_or_default();
    let counted: Vec<(i64, Option<i64>, usize)> = bands.iter().map(|b| (b.min, b.max, b.count)).collect();
    assert_eq!(counted, [(1000, Some(2500), 1), (2500, Some(5000), 1)], "clothing at any price");
}

#[test]
fn pages_continue_after_their_last_hit_in_every_sort() {
    let index = shop();
    for sort in [Sort::Relevance, Sort::Newest, Sort::Name, Sort::PriceAsc, Sort::PriceDesc, Sort::Rating] {
        let query = Query { sort, currency: Some(Currency::EUR), ..Query::default() };
        let whole = ids(&index, &query);
        assert_eq!(whole.len(), 4);
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = index.search(&query, after.as_ref(), 1);
            paged.extend(page.hits.iter().map(|h| h.id.clone()));
            after = page.hits.last().cloned();
            if !page.more {
                break;
            }
        }
        assert_eq!(paged, whole, "{sort:?}");
    }
    let by_price = ids(&index, &Query { sort: Sort::PriceAsc, currency: Some(Currency::EUR), ..Query::default() });
    assert_eq!(by_price, ["p2", "p1", "p3", "p4"]);
}

#[test]
fn the_best_rated_come_first_and_the_unrated_last_newest_first() {
    let mut index = shop();
    for (id, rating) in [("p1", 450_000_000_000_002), ("p3", 500_000_000_000_001)] {
        let doc = index.get(id).map(|doc| Document { rating, ..doc.clone() });
        assert!(doc.is_some(), "{id} is in the shop");
        index.upsert(doc.unwrap_or_else(|| doc_of_nothing(id)));
    }
    assert_eq!(ids(&index, &Query { sort: Sort::Rating, ..Query::default() }), ["p3", "p1", "p4", "p2"]);
}

#[test]
fn changes_show_at_once_and_removed_or_draft_products_never() {
    let mut index = shop();
    let in_stock = Query { in_stock: true, ..text("tee") };
    assert_eq!(ids(&index, &in_stock), ["p1"]);
    assert!(index.set_available("var_TEE-S", false));
    assert!(ids(&index, &in_stock).is_empty(), "sold out");
    index.remove("p2");
    assert_eq!(ids(&index, &text("mug")), ["p3"]);
    assert!(index.get("p2").is_none());
    let mut draft = doc("p5", "Draft Mug", "", &[], vec![variant("D-1", &[], 100, true)]);
    draft.published = false;
    index.upsert(draft);
    assert_eq!(ids(&index, &text("mug")), ["p3"], "drafts are not for shoppers");
    assert_eq!(ids(&index, &Query { visibility: Visibility::All, ..text("mug") }), ["p5", "p3"]);
    index.upsert(doc("p3", "Steel Flask", "", &[], vec![variant("BOT-1", &[], 2500, true)]));
    assert!(ids(&index, &text("bottle")).is_empty(), "the old words went with the old version");
    assert_eq!(index.len(), 4);
}

#[test]
fn suggestions_complete_names_and_categories_from_a_prefix() {
    let index = shop();
    let names = |text: &str| -> Vec<String> {
        index
            .suggest(text, 8)
            .into_iter()
            .map(|s| match s {
                crate::Suggestion::Category { name, .. } => format!("category:{name}"),
                crate::Suggestion::Product { name, .. } => name,
            })
            .collect()
    };
    assert_eq!(names("ki"), ["category:Kitchen"]);
    assert_eq!(names("clas"), ["Classic Cotton Tee"]);
    assert_eq!(names("cotton cl"), ["Classic Cotton Tee"], "earlier words whole, in any order");
    assert_eq!(names("sh"), ["category:Shirts", "Linen Shirt"]);
    assert_eq!(names("clothing"), ["category:Clothing"], "product names only, not their categories");
    assert!(names("coffee").is_empty(), "descriptions are not completions");
    assert!(names("").is_empty());
    assert!(index.suggest("m", 1).len() <= 1);
}

#[test]
fn renaming_a_category_reindexes_only_its_products() {
    let mut index = shop();
    assert_eq!(ids(&index, &text("clothing")), ["p4", "p1"]);
    index.set_categories(vec![
        category("c1", "Apparel", None),
        category("c2", "Shirts", Some("c1")),
        category("c3", "Kitchen", None),
        category("c4", "Garden", None),
    ]);
    assert!(ids(&index, &text("clothing")).is_empty());
    assert_eq!(ids(&index, &text("apparel")), ["p4", "p1"]);
    assert_eq!(ids(&index, &Query { category: Some("c1".to_owned()), ..Query::default() }), ["p4", "p1"]);
    // Removed after the rename, a product leaves no word behind for the next in its slot.
    index.remove("p1");
    index.remove("p4");
    index.upsert(doc("p9", "Garden Hose", "", &[], vec![variant("HOSE-1", &[], 1000, true)]));
    index.upsert(doc("p8", "Rake", "", &[], vec![variant("RAKE-1", &[], 1000, true)]));
    assert!(ids(&index, &text("apparel")).is_empty());
    assert!(ids(&index, &text("shirts")).is_empty());
    assert!(ids(&index, &text("tee")).is_empty());
}
