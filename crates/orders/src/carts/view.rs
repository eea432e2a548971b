//! A cart priced: its lines from the catalog, its codes, method and tax, and its totals.

use emporium_catalog as catalog;
use emporium_core::Money;
use emporium_core::db::{now, statement};
use sea_orm::{ConnectionTrait, DbErr, Value};

use super::*;
use crate::OrderError;
use crate::pricing::{self, PricingInput, Reduction, ShippingPrice};
use crate::setup::{self, DiscountValue, PricingSettings, ShippingMethod};

/// The cart as `caller` sees it, priced now.
pub async fn view<C: ConnectionTrait>(db: &C, cart_id: &str, caller: &Caller) -> Result<CartView, OrderError> {
    let cart = find(db, cart_id, caller).await?;
    view_of(db, cart).await
}

/// The methods that ship to the cart's address in its currency (none without an address).
pub async fn shipping_methods<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
) -> Result<Vec<ShippingMethod>, OrderError> {
    let cart = find(db, cart_id, caller).await?;
    Ok(match &cart.shipping_address {
        Some(a) => setup::methods_for(db, a.country.as_str(), cart.currency).await?,
        None => Vec::new(),
    })
}

/// The view of a cart just opened ([`create_cart`]): no lines, codes or address to read.
pub(super) fn new_view(cart: Cart, settings: PricingSettings) -> Result<CartView, OrderError> {
    let prices_include_tax = settings.prices_include_tax;
    let totals = pricing::totals(&PricingInput {
        currency: cart.currency,
        prices_include_tax,
        lines: Vec::new(),
        reductions: Vec::new(),
        shipping: None,
        tax_rate_bp: 0,
    })?;
    Ok(CartView {
        discount_codes: Vec::new(),
        cart,
        items: Vec::new(),
        applied: Vec::new(),
        refused: Vec::new(),
        shipping_method: None,
        prices_include_tax,
        tax_rate_bp: 0,
        ships_by_zones: settings.ships_by_zones,
        totals,
    })
}

/// Prices a cart: lines from the catalog (lines whose product can no longer be bought, or has
/// no price in the currency, are left out), codes that apply now, the chosen method if it
/// still ships to the address, and the address's tax rate.
pub async fn view_of<C: ConnectionTrait>(db: &C, cart: Cart) -> Result<CartView, OrderError> {
    view_knowing(db, cart, Vec::new()).await
}

/// [`view_of`], given variants already read in this transaction in the cart's currency (the
/// one just added): the catalog is asked only for the others.
pub async fn view_knowing<C: ConnectionTrait>(
    db: &C,
    cart: Cart,
    known: Vec<catalog::Purchasable>,
) -> Result<CartView, OrderError> {
    let backend = db.get_database_backend();
    // Lines, codes and the settings that price them in one statement: kind 0 a line (id,
    // variant, quantity), 1 a code, 2 the settings (typed NULLs elsewhere, for PostgreSQL's
    // UNION).
    let address = cart.shipping_address.as_ref().map(|a| (a.country.as_str(), a.region.as_deref()));
    let (columns, settings) = setup::pricing_columns(cart.currency, address);
    let values: [Value; 2] = [cart.id.clone().into(), cart.id.clone().into()];
    let rows = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT 0 AS kind, id, variant_id, quantity, created_at AS at, CAST(NULL AS BOOLEAN) AS prices_include_tax, \
                 CAST(NULL AS BIGINT) AS rate_bp, CAST(NULL AS INTEGER) AS zones FROM cart_items WHERE cart_id = ? \
                 UNION ALL SELECT 1 AS kind, discount_id, NULL, 0, added_at, NULL, NULL, NULL FROM cart_discounts \
                 WHERE cart_id = ? UNION ALL SELECT 2 AS kind, NULL, NULL, 0, NULL, {columns} ORDER BY kind, at, id"
            ),
            values.into_iter().chain(settings),
        ))
        .await?;
    let mut stored = Vec::with_capacity(rows.len());
    let mut discount_ids = Vec::new();
    let mut read_settings = None;
    for row in &rows {
        match row.try_get::<i32>("", "kind")? {
            0 => stored.push((
                row.try_get::<String>("", "id")?,
                row.try_get::<String>("", "variant_id")?,
                row.try_get::<i64>("", "quantity")?,
            )),
            1 => discount_ids.push(row.try_get::<String>("", "id")?),
            _ => read_settings = Some(PricingSettings::of(row, address.is_some())?),
        }
    }
    let settings = read_settings.ok_or_else(|| DbErr::RecordNotFound("the cart's pricing settings".to_owned()))?;
    let ids: Vec<String> =
        stored.iter().map(|(_, v, _)| v.clone()).filter(|v| !known.iter().any(|k| &k.variant_id == v)).collect();
    let mut priced = known;
    priced.extend(catalog::purchasables(db, &ids, cart.currency.code()).await?);
    let mut items = Vec::with_capacity(stored.len());
    for (id, variant_id, quantity) in stored {
        let Some(p) = priced.iter().find(|p| p.variant_id == variant_id && p.purchasable) else { continue };
        let Some(price) = p.price else { continue };
        let unit_price = Money::new(price, cart.currency)?;
        items.push(Item {
            id,
            variant_id,
            sku: p.sku.clone(),
            product_id: p.product_id.clone(),
            title: p.title.clone(),
            quantity,
            unit_price,
            line_total: unit_price.checked_mul(quantity).unwrap_or(Money::zero(cart.currency)),
            over_limit: unit_price.checked_mul(quantity).is_err(),
        });
    }
    let mut discounts = Vec::new();
    for id in &discount_ids {
        if let Some(d) = setup::get_discount(db, id).await? {
            discounts.push(d);
        }
    }
    let subtotal = Money::sum(cart.currency, items.iter().filter(|i| !i.over_limit).map(|i| i.line_total))
        .unwrap_or(Money::zero(cart.currency));
    let at = now();
    let mut applied = Vec::new();
    let mut refused = Vec::new();
    for discount in &discounts {
        match setup::refusal(discount, subtotal, at) {
            None => applied.push(discount.clone()),
            Some(reason) => refused.push((discount.code.clone(), reason)),
        }
    }
    let shipping_method = match (&cart.shipping_address, &cart.shipping_method_id) {
        (Some(address), Some(id)) => {
            setup::methods_for(db, address.country.as_str(), cart.currency).await?.into_iter().find(|m| &m.id == id)
        }
        _ => None,
    };
    let (prices_include_tax, tax_rate_bp) = (settings.prices_include_tax, settings.tax_rate_bp);
    // Lines that would take a total past the money bound are left out of the totals, last
    // first, so the cart still reads and the shopper can lower them (checkout refuses it).
    let totals = loop {
        let priced = pricing::totals(&PricingInput {
            currency: cart.currency,
            prices_include_tax,
            lines: items.iter().filter(|i| !i.over_limit).map(|i| (i.unit_price, i.quantity)).collect(),
            reductions: applied
                .iter()
                .map(|d| match d.value {
                    DiscountValue::Percentage(bp) => Reduction::Percentage(bp),
                    DiscountValue::Fixed(m) => Reduction::Fixed(m),
                    DiscountValue::FreeShipping => Reduction::FreeShipping,
                })
                .collect(),
            shipping: shipping_method.as_ref().map(|m| ShippingPrice { price: m.price, free_over: m.free_over }),
            tax_rate_bp,
        });
        match priced {
            Ok(totals) => break totals,
            Err(err) => match items.iter_mut().rev().find(|i| !i.over_limit) {
                Some(line) => line.over_limit = true,
                None => return Err(err.into()),
            },
        }
    };
    Ok(CartView {
        discount_codes: discounts.into_iter().map(|d| d.code).collect(),
        cart,
        items,
        applied,
        refused,
        shipping_method,
        prices_include_tax,
        tax_rate_bp,
        ships_by_zones: settings.ships_by_zones,
        totals,
    })
}
