//! The selling setup over GraphQL: shipping zones, tax rates, discount codes and tax-inclusive
//! currencies, on the same use cases and permissions as REST (`settings:write` for zones,
//! rates and currencies, `discounts:write` for codes, `catalog:read` to read them).

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, Result};
use emporium_core::Patch;
use emporium_customers::Permission;
use emporium_orders::setup::{AmountInput, DiscountChange, DiscountInput, MethodInput, ValueInput, ZoneInput};

use super::money::MoneyInput;
use crate::usecases::orders::{self, CurrencySettingDto, DiscountDto, TaxRateDto, ZoneDto};

fn amount_of(m: MoneyInput) -> AmountInput {
    AmountInput { amount: m.amount.0, currency: m.currency }
}

fn patch_of<T, U>(value: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Patch<U> {
    match value {
        MaybeUndefined::Undefined => Patch::Missing,
        MaybeUndefined::Null => Patch::Null,
        MaybeUndefined::Value(v) => Patch::Value(f(v)),
    }
}

/// A shipping method of a zone in a mutation.
#[derive(InputObject)]
pub struct ShippingMethodInput {
    pub name: String,
    /// The price, in one currency (0: free).
    pub price: MoneyInput,
    /// Free when the subtotal after discounts reaches this (same currency).
    pub free_over: Option<MoneyInput>,
}

/// A shipping zone in a mutation (an update replaces all of it).
#[derive(InputObject)]
pub struct ShippingZoneInput {
    pub name: String,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    pub methods: Vec<ShippingMethodInput>,
}

impl From<ShippingZoneInput> for ZoneInput {
    fn from(z: ShippingZoneInput) -> Self {
        Self {
            name: z.name,
            countries: z.countries,
            methods: z
                .methods
                .into_iter()
                .map(|m| MethodInput { name: m.name, price: amount_of(m.price), free_over: m.free_over.map(amount_of) })
                .collect(),
        }
    }
}

/// The kind of a discount.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "DiscountKind")]
pub enum DiscountKindGql {
    Percentage,
    Fixed,
    FreeShipping,
}

/// A new discount code.
#[derive(InputObject)]
pub struct NewDiscountInput {
    /// Matched whatever its case.
    pub code: String,
    pub kind: DiscountKindGql,
    /// For a percentage: basis points (1000 is 10%).
    pub value_bp: Option<i64>,
    /// For a fixed discount: the amount.
    pub value_amount: Option<MoneyInput>,
    pub minimum_subtotal: Option<MoneyInput>,
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Orders that may use it in all.
    pub usage_limit: Option<i64>,
    /// Orders one customer (or guest email) may use it on.
    pub usage_limit_per_customer: Option<i64>,
}

/// A change to a discount: what is left out stays, `null` clears.
#[derive(InputObject)]
pub struct DiscountChangeInput {
    pub value_bp: Option<i64>,
    pub value_amount: Option<MoneyInput>,
    pub minimum_subtotal: MaybeUndefined<MoneyInput>,
    pub starts_at: MaybeUndefined<chrono::DateTime<chrono::Utc>>,
    pub ends_at: MaybeUndefined<chrono::DateTime<chrono::Utc>>,
    pub usage_limit: MaybeUndefined<i64>,
    pub usage_limit_per_customer: MaybeUndefined<i64>,
}

fn value_of(bp: Option<i64>, amount: Option<MoneyInput>) -> Option<ValueInput> {
    match (bp, amount) {
        (Some(bp), _) => Some(ValueInput::BasisPoints(bp)),
        (None, Some(m)) => Some(ValueInput::Amount(amount_of(m))),
        (None, None) => None,
    }
}

/// Selling-setup reads (staff with `catalog:read`).
#[derive(Default)]
pub struct SellingQuery;

#[Object]
impl SellingQuery {
    /// Every shipping zone, by name.
    #[graphql(complexity = "crate::graphql::LIST_COST + child_complexity")]
    async fn shipping_zones(&self, ctx: &Context<'_>) -> Result<Vec<ZoneDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::CatalogRead)?;
        Ok(orders::zones(state).await?)
    }

    /// Every tax rate.
    #[graphql(complexity = "crate::graphql::LIST_COST + child_complexity")]
    async fn tax_rates(&self, ctx: &Context<'_>) -> Result<Vec<TaxRateDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::CatalogRead)?;
        Ok(orders::rates(state).await?)
    }

    /// Every discount code, newest first.
    #[graphql(complexity = "crate::graphql::LIST_COST + child_complexity")]
    async fn discounts(&self, ctx: &Context<'_>) -> Result<Vec<DiscountDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::CatalogRead)?;
        Ok(orders::discounts(state).await?)
    }

    /// Whether catalog prices in a currency include tax.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn currency_setting(&self, ctx: &Context<'_>, currency: String) -> Result<CurrencySettingDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::CatalogRead)?;
        Ok(orders::currency_setting(state, &currency).await?)
    }
}

/// Selling-setup writes.
#[derive(Default)]
pub struct SellingMutation;

#[Object]
impl SellingMutation {
    /// Creates a shipping zone with its methods (`settings:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_shipping_zone(&self, ctx: &Context<'_>, input: ShippingZoneInput) -> Result<ZoneDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::SettingsWrite)?;
        Ok(orders::create_zone(state, &crate::graphql::claim(ctx), &input.into()).await?.value)
    }

    /// Replaces a zone's name, countries and methods (`settings:write`); with
    /// `expectedVersion`, only while it is at that version.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_shipping_zone(
        &self,
        ctx: &Context<'_>,
        id: String,
        input: ShippingZoneInput,
        expected_version: Option<i64>,
    ) -> Result<ZoneDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::SettingsWrite)?;
        Ok(orders::replace_zone(state, &id, &input.into(), &crate::graphql::expected(expected_version)).await?)
    }

    /// Deletes a zone and its methods (`settings:write`); with `expectedVersion`, only while
    /// it is at that version.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn delete_shipping_zone(&self, ctx: &Context<'_>, id: String, expected_version: Option<i64>) -> Result<bool> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::SettingsWrite)?;
        orders::delete_zone(state, &id, &crate::graphql::expected(expected_version)).await?;
        Ok(true)
    }

    /// Creates a tax rate for a country, or a region of it (`settings:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_tax_rate(
        &self,
        ctx: &Context<'_>,
        country: String,
        region: Option<String>,
        name: String,
        rate_bp: i64,
    ) -> Result<TaxRateDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::SettingsWrite)?;
        let claim = crate::graphql::claim(ctx);
        Ok(orders::create_rate(state, &claim, &country, region.as_deref(), &name, rate_bp).await?.value)
    }

    /// Changes a rate's name or basis points (`settings:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_tax_rate(
        &self,
        ctx: &Context<'_>,
        id: String,
        name: Option<String>,
        rate_bp: Option<i64>,
        expected_version: Option<i64>,
    ) -> Result<TaxRateDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::SettingsWrite)?;
        let expected = crate::graphql::expected(expected_version);
        Ok(orders::change_rate(state, &id, name.as_deref(), rate_bp, &expected).await?)
    }

    /// Deletes a tax rate (`settings:write`); with `expectedVersion`, only at that version.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn delete_tax_rate(&self, ctx: &Context<'_>, id: String, expected_version: Option<i64>) -> Result<bool> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::SettingsWrite)?;
        orders::delete_rate(state, &id, &crate::graphql::expected(expected_version)).await?;
        Ok(true)
    }

    /// Creates a discount code (`discounts:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_discount(&self, ctx: &Context<'_>, input: NewDiscountInput) -> Result<DiscountDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::DiscountsWrite)?;
        let kind = match input.kind {
            DiscountKindGql::Percentage => "percentage",
            DiscountKindGql::Fixed => "fixed",
            DiscountKindGql::FreeShipping => "free_shipping",
        };
        let input = DiscountInput {
            code: input.code,
            kind: kind.to_owned(),
            value: value_of(input.value_bp, input.value_amount),
            minimum_subtotal: input.minimum_subtotal.map(amount_of),
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            usage_limit: input.usage_limit,
            usage_limit_per_customer: input.usage_limit_per_customer,
        };
        Ok(orders::create_discount(state, &crate::graphql::claim(ctx), &input).await?.value)
    }

    /// Changes a discount's value, rules or limits; the code and kind stay (`discounts:write`).
    /// With `expectedVersion`, only while it is at that version.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_discount(
        &self,
        ctx: &Context<'_>,
        id: String,
        input: DiscountChangeInput,
        expected_version: Option<i64>,
    ) -> Result<DiscountDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::DiscountsWrite)?;
        let change = DiscountChange {
            value: value_of(input.value_bp, input.value_amount),
            minimum_subtotal: patch_of(input.minimum_subtotal, amount_of),
            starts_at: patch_of(input.starts_at, |v| v),
            ends_at: patch_of(input.ends_at, |v| v),
            usage_limit: patch_of(input.usage_limit, |v| v),
            usage_limit_per_customer: patch_of(input.usage_limit_per_customer, |v| v),
        };
        Ok(orders::change_discount(state, &id, &change, &crate::graphql::expected(expected_version)).await?)
    }

    /// Deletes a discount; carts holding it lose it, orders keep their copy (`discounts:write`).
    /// With `expectedVersion`, only while it is at that version.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn delete_discount(&self, ctx: &Context<'_>, id: String, expected_version: Option<i64>) -> Result<bool> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::DiscountsWrite)?;
        orders::delete_discount(state, &id, &crate::graphql::expected(expected_version)).await?;
        Ok(true)
    }

    /// Sets whether catalog prices in a currency include tax (`settings:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn set_currency_setting(
        &self,
        ctx: &Context<'_>,
        currency: String,
        prices_include_tax: bool,
    ) -> Result<CurrencySettingDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::SettingsWrite)?;
        Ok(orders::set_currency(state, &currency, prices_include_tax).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::money::Amount;

    #[test]
    fn a_discount_value_is_basis_points_or_an_amount() {
        assert!(matches!(value_of(Some(1000), None), Some(ValueInput::BasisPoints(1000))));
        let fixed = MoneyInput { amount: Amount(500), currency: "EUR".into() };
        assert!(matches!(value_of(None, Some(fixed)), Some(ValueInput::Amount(_))));
        assert!(value_of(None, None).is_none());
    }
}
