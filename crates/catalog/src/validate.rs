//! Field rules of the catalog. Each check records every problem with the path a client sent.

use std::collections::HashSet;

use emporium_core::money::MAX_SAFE_AMOUNT;
use emporium_core::{Currency, Money, Sku, ValidationErrors};

use crate::model::{Image, NewVariant, PriceInput, ProductOption};

pub(crate) const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 20_000;
const MAX_SEO_TITLE: usize = 200;
const MAX_SEO_DESCRIPTION: usize = 500;
const MAX_OPTIONS: usize = 5;
const MAX_OPTION_VALUES: usize = 100;
const MAX_OPTION_TEXT: usize = 100;
const MAX_IMAGES: usize = 30;
const MAX_URL: usize = 2048;
pub(crate) const MAX_VARIANTS: usize = 250;

/// A required, trimmed, non-empty text of at most `max` characters.
pub(crate) fn required_text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        errors.add(field, "required", "must not be empty");
    } else if trimmed.chars().count() > max {
        errors.add(field, "too_long", format!("must be at most {max} characters"));
    }
    trimmed.to_owned()
}

/// An optional text: blank becomes `None`.
pub(crate) fn optional_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let trimmed = value.map(str::trim).filter(|v| !v.is_empty())?;
    if trimmed.chars().count() > max {
        errors.add(field, "too_long", format!("must be at most {max} characters"));
    }
    Some(trimmed.to_owned())
}

pub(crate) fn name(errors: &mut ValidationErrors, value: &str) -> String {
    required_text(errors, "name", value, MAX_NAME)
}

pub(crate) fn description(errors: &mut ValidationErrors, value: Option<&str>) -> Option<String> {
    optional_text(errors, "description", value, MAX_DESCRIPTION)
}

pub(crate) fn seo_title(errors: &mut ValidationErrors, value: Option<&str>) -> Option<String> {
    optional_text(errors, "seo_title", value, MAX_SEO_TITLE)
}

pub(crate) fn seo_description(errors: &mut ValidationErrors, value: Option<&str>) -> Option<String> {
    optional_text(errors, "seo_description", value, MAX_SEO_DESCRIPTION)
}

/// Distinct ids, each checked later against the database.
pub(crate) fn category_ids(errors: &mut ValidationErrors, ids: &[String]) {
    let mut seen = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(id.as_str()) {
            errors.add(format!("category_ids[{i}]"), "duplicate", "is listed twice");
        }
    }
}

pub(crate) fn options(errors: &mut ValidationErrors, options: &[ProductOption]) -> Vec<ProductOption> {
    if options.len() > MAX_OPTIONS {
        errors.add("options", "too_many", format!("at most {MAX_OPTIONS} options"));
    }
    let mut names = HashSet::new();
    let mut cleaned = Vec::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        let name = required_text(errors, &format!("options[{i}].name"), &option.name, MAX_OPTION_TEXT);
        if !name.is_empty() && !names.insert(name.to_lowercase()) {
            errors.add(format!("options[{i}].name"), "duplicate", "another option has this name");
        }
        if option.values.is_empty() {
            errors.add(format!("options[{i}].values"), "required", "an option needs at least one value");
        } else if option.values.len() > MAX_OPTION_VALUES {
            errors.add(format!("options[{i}].values"), "too_many", format!("at most {MAX_OPTION_VALUES} values"));
        }
        let mut values_seen = HashSet::new();
        let values = option
            .values
            .iter()
            .enumerate()
            .map(|(j, value)| {
                let field = format!("options[{i}].values[{j}]");
                let value = required_text(errors, &field, value, MAX_OPTION_TEXT);
                if !value.is_empty() && !values_seen.insert(value.clone()) {
                    errors.add(field, "duplicate", "is listed twice");
                }
                value
            })
            .collect();
        cleaned.push(ProductOption { name, values });
    }
    cleaned
}

pub(crate) fn images(errors: &mut ValidationErrors, images: &[Image]) -> Vec<Image> {
    if images.len() > MAX_IMAGES {
        errors.add("images", "too_many", format!("at most {MAX_IMAGES} images"));
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let url = image.url.trim();
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.len() > MAX_URL || url.chars().any(char::is_whitespace) {
                errors.add(format!("images[{i}].url"), "invalid_url", "must be an absolute http(s) URL");
            }
            Image {
                url: url.to_owned(),
                alt: optional_text(errors, &format!("images[{i}].alt"), image.alt.as_deref(), 300),
            }
        })
        .collect()
}

pub(crate) fn prices(errors: &mut ValidationErrors, field: &str, prices: &[PriceInput]) -> Vec<Money> {
    if prices.is_empty() {
        errors.add(field, "required", "a variant needs at least one price");
    }
    let mut currencies = HashSet::new();
    let mut checked = Vec::with_capacity(prices.len());
    for (i, price) in prices.iter().enumerate() {
        let currency = match Currency::parse(&price.currency) {
            Ok(currency) => Some(currency),
            Err(_) => {
                errors.add(
                    format!("{field}[{i}].currency"),
                    "invalid_currency",
                    "must be an upper-case ISO 4217 code such as EUR",
                );
                None
            }
        };
        if price.amount <= 0 {
            errors.add(format!("{field}[{i}].amount"), "must_be_positive", "must be greater than zero");
        } else if price.amount > MAX_SAFE_AMOUNT {
            errors.add(format!("{field}[{i}].amount"), "out_of_range", "must be at most 2^53 - 1");
        }
        if let Some(currency) = currency {
            if !currencies.insert(currency) {
                errors.add(format!("{field}[{i}].currency"), "duplicate_currency", "one price per currency");
            } else if let Ok(money) = Money::new(price.amount, currency) {
                if price.amount > 0 {
                    checked.push(money);
                }
            }
        }
    }
    checked.sort_by_key(|m| m.currency());
    checked
}

/// Checks a variant's option values against the product's options; returns them in the
/// product's option order.
pub(crate) fn variant_options(
    errors: &mut ValidationErrors,
    field: &str,
    product_options: &[ProductOption],
    given: &[(String, String)],
) -> Vec<(String, String)> {
    for (name, value) in given {
        match product_options.iter().find(|o| &o.name == name) {
            None => errors.add(format!("{field}.{name}"), "unknown_option", "the product has no such option"),
            Some(option) if !option.values.contains(value) => {
                errors.add(format!("{field}.{name}"), "unknown_value", "not one of the option's values")
            }
            Some(_) => {}
        }
    }
    let mut ordered = Vec::with_capacity(product_options.len());
    for option in product_options {
        match given.iter().find(|(name, _)| name == &option.name) {
            Some((name, value)) => ordered.push((name.clone(), value.clone())),
            None => errors.add(format!("{field}.{}", option.name), "required", "name a value of every option"),
        }
    }
    ordered
}

/// `prefix.name`, or `name` where the checked object is the whole body (the variant routes).
fn path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

/// A variant checked against its product's options.
pub(crate) struct CheckedVariant {
    pub sku: Sku,
    pub title: String,
    pub options: Vec<(String, String)>,
    pub prices: Vec<Money>,
}

/// A variant as given, each field checked; a [`CheckedVariant`] once none was refused.
pub(crate) struct VariantDraft {
    /// None when the SKU was refused (the errors say why).
    pub sku: Option<Sku>,
    pub title: String,
    pub options: Vec<(String, String)>,
    pub prices: Vec<Money>,
}

impl VariantDraft {
    /// The checked variant: none when its SKU was refused.
    pub fn checked(self) -> Option<CheckedVariant> {
        Some(CheckedVariant { sku: self.sku?, title: self.title, options: self.options, prices: self.prices })
    }
}

pub(crate) fn variant(
    errors: &mut ValidationErrors,
    field: &str,
    product_options: &[ProductOption],
    variant: &NewVariant,
) -> VariantDraft {
    let sku = Sku::check(errors, &path(field, "sku"), &variant.sku);
    let options = variant_options(errors, &path(field, "options"), product_options, &variant.options);
    let title = optional_text(errors, &path(field, "title"), variant.title.as_deref(), MAX_NAME)
        .unwrap_or_else(|| default_title(&options));
    VariantDraft { sku, title, options, prices: prices(errors, &path(field, "prices"), &variant.prices) }
}

/// `S / Blue` from the option values, or `Default` for a product without options.
pub(crate) fn default_title(options: &[(String, String)]) -> String {
    if options.is_empty() {
        "Default".to_owned()
    } else {
        options.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" / ")
    }
}
