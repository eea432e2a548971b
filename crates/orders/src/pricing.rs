//! Cart and order totals, exact to the minor unit.
//!
//! The rule, per line and half to even in the currency's minor units:
//! 1. `line_total = unit_price × quantity`; `subtotal = Σ line_total`.
//! 2. Discounts apply to goods: percentages of the subtotal, fixed amounts, together never more
//!    than the subtotal; the discount is spread over the lines by largest remainder (weights:
//!    line totals), so the lines' parts sum to `discount_total`.
//! 3. Shipping is the method's price, free when the subtotal after discounts reaches its
//!    `free_over` or a free-shipping code applies.
//! 4. Tax per discounted line and on shipping. Tax-exclusive prices: `net × rate / 10,000`;
//!    tax-inclusive: `gross × rate / (10,000 + rate)`, contained in the price.
//! 5. `total = subtotal − discount_total + shipping_total (+ tax_total when exclusive)`.

use emporium_core::{Currency, Money, MoneyError};

/// A discount as totals apply it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// Basis points of the subtotal.
    Percentage(i64),
    /// An amount off the goods.
    Fixed(Money),
    /// Shipping costs nothing.
    FreeShipping,
}

/// A shipping method's price as totals apply it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippingPrice {
    pub price: Money,
    /// Free when the subtotal after discounts reaches this.
    pub free_over: Option<Money>,
}

/// What totals are computed from.
#[derive(Debug, Clone)]
pub struct PricingInput {
    pub currency: Currency,
    pub prices_include_tax: bool,
    /// Unit price and quantity of each line.
    pub lines: Vec<(Money, i64)>,
    pub reductions: Vec<Reduction>,
    pub shipping: Option<ShippingPrice>,
    /// The tax rate of the address, in basis points (0 without an address or rate).
    pub tax_rate_bp: i64,
}

/// One line's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTotals {
    pub line_total: Money,
    /// Its share of the discount.
    pub discount: Money,
    /// Tax on the discounted line (contained in it with tax-inclusive prices).
    pub tax: Money,
}

/// A cart's or an order's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub lines: Vec<LineTotals>,
    pub subtotal: Money,
    pub discount_total: Money,
    pub shipping_total: Money,
    /// Tax on shipping (part of `tax_total`).
    pub shipping_tax: Money,
    pub tax_total: Money,
    pub total: Money,
}

/// Computes totals by the rule above. Fails only when an amount leaves the range Money holds
/// (absurd quantities times absurd prices), which callers answer as invalid input.
pub fn totals(input: &PricingInput) -> Result<Totals, MoneyError> {
    let currency = input.currency;
    let line_totals: Vec<Money> =
        input.lines.iter().map(|(unit, quantity)| unit.checked_mul(*quantity)).collect::<Result<_, _>>()?;
    let subtotal = Money::sum(currency, line_totals.iter().copied())?;
    let mut discount = Money::zero(currency);
    let mut free_shipping = false;
    for reduction in &input.reductions {
        match reduction {
            Reduction::Percentage(bp) => discount = discount.checked_add(subtotal.percent(*bp)?)?,
            Reduction::Fixed(amount) => discount = discount.checked_add(*amount)?,
            Reduction::FreeShipping => free_shipping = true,
        }
    }
    if discount.amount() > subtotal.amount() {
        discount = subtotal;
    }
    let shares = if discount.amount() > 0 {
        let weights: Vec<i64> = line_totals.iter().map(Money::amount).collect();
        discount.allocate(&weights)?
    } else {
        vec![Money::zero(currency); line_totals.len()]
    };
    let goods_after_discount = subtotal.checked_sub(discount)?;
    let shipping_total = match input.shipping {
        None => Money::zero(currency),
        Some(_) if free_shipping => Money::zero(currency),
        Some(ShippingPrice { free_over: Some(threshold), .. })
            if goods_after_discount.amount() >= threshold.amount() =>
        {
            Money::zero(currency)
        }
        Some(ShippingPrice { price, .. }) => price,
    };
    let tax_of = |amount: Money| {
        if input.prices_include_tax {
            amount.tax_contained(input.tax_rate_bp)
        } else {
            amount.percent(input.tax_rate_bp)
        }
    };
    let mut lines = Vec::with_capacity(line_totals.len());
    for (line_total, share) in line_totals.iter().zip(shares) {
        let tax = tax_of(line_total.checked_sub(share)?)?;
        lines.push(LineTotals { line_total: *line_total, discount: share, tax });
    }
    let shipping_tax = tax_of(shipping_total)?;
    let tax_total = Money::sum(currency, lines.iter().map(|l| l.tax).chain([shipping_tax]))?;
    let mut total = goods_after_discount.checked_add(shipping_total)?;
    if !input.prices_include_tax {
        total = total.checked_add(tax_total)?;
    }
    Ok(Totals { lines, subtotal, discount_total: discount, shipping_total, shipping_tax, tax_total, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: i64, code: &str) -> Money {
        let currency = Currency::parse(code).unwrap_or(Currency::EUR);
        Money::new(amount, currency).unwrap_or(Money::zero(currency))
    }

    fn input(code: &str, include: bool, lines: &[(i64, i64)]) -> PricingInput {
        PricingInput {
            currency: Currency::parse(code).unwrap_or(Currency::EUR),
            prices_include_tax: include,
            lines: lines.iter().map(|(p, q)| (money(*p, code), *q)).collect(),
            reductions: Vec::new(),
            shipping: None,
            tax_rate_bp: 0,
        }
    }

    fn check_sum(t: &Totals, include: bool) {
        let lines_tax: i64 = t.lines.iter().map(|l| l.tax.amount()).sum();
        assert_eq!(lines_tax + t.shipping_tax.amount(), t.tax_total.amount());
        let shares: i64 = t.lines.iter().map(|l| l.discount.amount()).sum();
        assert_eq!(shares, t.discount_total.amount());
        let tax = if include { 0 } else { t.tax_total.amount() };
        assert_eq!(t.subtotal.amount() - t.discount_total.amount() + t.shipping_total.amount() + tax, t.total.amount());
    }

    #[test]
    fn exclusive_tax_is_added_per_line_and_on_shipping_in_eur() -> Result<(), MoneyError> {
        let mut i = input("EUR", false, &[(1999, 2), (505, 1)]);
        i.tax_rate_bp = 2000;
        i.shipping = Some(ShippingPrice { price: money(495, "EUR"), free_over: None });
        i.reductions = vec![Reduction::Percentage(1000)];
        let t = totals(&i)?;
        assert_eq!(t.subtotal.amount(), 4503);
        assert_eq!(t.discount_total.amount(), 450, "10% of 45.03 is 4.503");
        // 39.98 takes 399.53 → 400 of the discount (the larger remainder), 5.05 takes 50.47 → 50.
        assert_eq!(t.lines[0].discount.amount(), 400);
        assert_eq!(t.lines[0].tax.amount(), 720, "20% of 35.98 is 7.196");
        assert_eq!(t.lines[1].tax.amount(), 91, "20% of 4.55 is 0.91");
        assert_eq!(t.shipping_tax.amount(), 99);
        assert_eq!(t.total.amount(), 4503 - 450 + 495 + 720 + 91 + 99);
        check_sum(&t, false);
        Ok(())
    }

    #[test]
    fn inclusive_tax_is_contained_and_rounds_half_to_even_in_jpy() -> Result<(), MoneyError> {
        let mut i = input("JPY", true, &[(1100, 1), (105, 1)]);
        i.tax_rate_bp = 1000;
        i.shipping = Some(ShippingPrice { price: money(550, "JPY"), free_over: Some(money(5000, "JPY")) });
        let t = totals(&i)?;
        assert_eq!(t.lines[0].tax.amount(), 100, "1100 contains 100 at 10%");
        assert_eq!(t.lines[1].tax.amount(), 10, "105 contains 9.545…");
        assert_eq!(t.shipping_total.amount(), 550);
        assert_eq!(t.shipping_tax.amount(), 50);
        assert_eq!(t.total.amount(), 1100 + 105 + 550);
        check_sum(&t, true);
        Ok(())
    }

    #[test]
    fn fixed_discounts_never_pass_the_subtotal_and_thresholds_see_discounted_goods_in_kwd() -> Result<(), MoneyError> {
        let mut i = input("KWD", false, &[(2_500, 1), (1_250, 2)]);
        i.tax_rate_bp = 500;
        i.shipping = Some(ShippingPrice { price: money(1_000, "KWD"), free_over: Some(money(4_000, "KWD")) });
        i.reductions = vec![Reduction::Fixed(money(1_001, "KWD"))];
        let t = totals(&i)?;
        assert_eq!(t.discount_total.amount(), 1_001);
        assert_eq!(t.shipping_total.amount(), 1_000, "3.999 after the discount is under 4.000");
        check_sum(&t, false);
        i.reductions = vec![Reduction::Fixed(money(99_999, "KWD")), Reduction::FreeShipping];
        let t = totals(&i)?;
        assert_eq!(t.discount_total, t.subtotal);
        assert_eq!(t.shipping_total.amount(), 0);
        assert_eq!(t.total.amount(), 0);
        check_sum(&t, false);
        Ok(())
    }

    #[test]
    fn the_parts_always_sum_to_the_total_over_many_carts() -> Result<(), MoneyError> {
        for code in ["JPY", "EUR", "KWD"] {
            for include in [false, true] {
                for seed in 1..200i64 {
                    let lines: Vec<(i64, i64)> =
                        (0..(seed % 5 + 1)).map(|k| ((seed * 7919 + k * 104_729) % 100_000 + 1, k % 3 + 1)).collect();
                    let mut i = input(code, include, &lines);
                    i.tax_rate_bp = (seed * 37) % 2_500;
                    i.reductions = vec![Reduction::Percentage((seed * 13) % 5_000 + 1)];
                    if seed % 3 == 0 {
                        i.reductions.push(Reduction::Fixed(money(seed * 11, code)));
                    }
                    i.shipping = Some(ShippingPrice { price: money(seed * 3, code), free_over: None });
                    check_sum(&totals(&i)?, include);
                }
            }
        }
        Ok(())
    }
}
