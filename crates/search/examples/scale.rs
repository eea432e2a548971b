//! Indexes a generated catalog and times queries: `cargo run --release -p emporium-search
//! --example scale -- 100000`.

use std::time::Instant;

use emporium_core::Currency;
use emporium_search::{Category, Document, FacetRequest, Index, Query, Sort, Variant};

const ADJECTIVES: &[&str] =
    &["classic", "organic", "vintage", "slim", "heavy", "soft", "steel", "enamel", "linen", "wool"];
const NOUNS: &[&str] = &["tee", "mug", "bottle", "shirt", "hoodie", "scarf", "bowl", "plate", "jacket", "sock"];
const COLOURS: &[&str] = &["Black", "White", "Blue", "Red", "Green"];
const SIZES: &[&str] = &["S", "M", "L", "XL"];

fn main() {
    let products: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let categories: Vec<Category> = (0..40)
        .map(|i| Category {
            id: format!("c{i:02}"),
            slug: format!("category-{i}"),
            name: format!("{} {}", NOUNS[i % NOUNS.len()], if i < 10 { "collection" } else { "range" }),
            parent_id: (i >= 10).then(|| format!("c{:02}", i % 10)),
        })
        .collect();
    let mut index = Index::new();
    index.set_categories(categories);
    let started = Instant::now();
    for n in 0..products {
        let (adjective, noun) = (ADJECTIVES[n % ADJECTIVES.len()], NOUNS[(n / 7) % NOUNS.len()]);
        let variants = (0..4)
            .map(|v| Variant {
                id: format!("v{n}-{v}"),
                sku: format!("SKU-{n}-{v}"),
                options: vec![
                    ("Size".to_owned(), SIZES[v % SIZES.len()].to_owned()),
                    ("Colour".to_owned(), COLOURS[(n + v) % COLOURS.len()].to_owned()),
                ],
                prices: vec![(Currency::EUR, 500 + ((n * 37 + v * 11) % 20_000) as i64)],
                available: (n + v) % 3 != 0,
            })
            .collect();
        index.upsert(Document {
            id: format!("prod_{n:032x}"),
            slug: format!("product-{n}"),
            published: true,
            name: format!("{adjective} {noun} {n}"),
            description: format!("A {adjective} {noun} made to last, number {n} of the range."),
            category_ids: vec![format!("c{:02}", 10 + n % 30)],
            variants,
            rating: 0,
        });
    }
    println!("indexed {products} products in {:?}", started.elapsed());
    let query = |text: &str| Query {
        text: Some(text.to_owned()),
        sort: Sort::Relevance,
        currency: Some(Currency::EUR),
        in_stock: true,
        facets: FacetRequest { category: true, options: vec!["Size".into(), "Colour".into()], price: true },
        ..Query::default()
    };
    let texts = std::env::var("QUERIES").unwrap_or_else(|_| "vintage mug,wool hodie,classic t,sku-4242-1".to_owned());
    for text in texts.split(',') {
        let query = query(text);
        let mut times = Vec::new();
        let mut total = 0;
        let runs = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(50_usize);
        for _ in 0..runs {
            let started = Instant::now();
            total = index.search(&query, None, 20).total;
            times.push(started.elapsed());
        }
        times.sort();
        println!("{text:>12}: {total:>6} hits, p50 {:?}, p99 {:?}", times[runs / 2], times[runs * 99 / 100]);
        let plain = Query { facets: FacetRequest::default(), ..query.clone() };
        let started = Instant::now();
        for _ in 0..10 {
            index.search(&plain, None, 20);
        }
        println!("{:>12}  without facets: {:?} each", "", started.elapsed() / 10);
    }
}
