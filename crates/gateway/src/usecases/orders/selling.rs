//! The selling setup: shipping zones, tax rates, discounts and tax-inclusive currencies.

use super::*;

/// Countries shipped to alike, and their methods.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = ShippingZone)]
#[graphql(name = "ShippingZone")]
pub struct ZoneDto {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    pub methods: Vec<ShippingMethodDto>,
    pub created_at: DateTime<Utc>,
    /// Moved by every change; REST sends it as the `ETag`, GraphQL's changes take it as
    /// `expectedVersion`.
    #[serde(skip)]
    pub version: i64,
}

impl From<ShippingZone> for ZoneDto {
    fn from(z: ShippingZone) -> Self {
        Self {
            methods: z.methods.iter().map(ShippingMethodDto::from).collect(),
            id: z.id,
            name: z.name,
            countries: z.countries,
            created_at: z.created_at,
            version: z.version,
        }
    }
}

/// A tax rate: for a country, or for one region of it.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = TaxRate)]
#[graphql(name = "TaxRate")]
pub struct TaxRateDto {
    pub id: String,
    #[schema(example = "FR")]
    pub country: String,
    pub region: Option<String>,
    pub name: String,
    /// Basis points: 2000 is 20%.
    #[schema(example = 2000)]
    pub rate_bp: i64,
    pub created_at: DateTime<Utc>,
    /// Moves with every change; REST sends it as the `ETag`, GraphQL's changes take it as
    /// `expectedVersion`.
    #[serde(skip)]
    pub version: i64,
}

impl From<TaxRate> for TaxRateDto {
    fn from(r: TaxRate) -> Self {
        Self {
            id: r.id,
            country: r.country,
            region: r.region,
            name: r.name,
            rate_bp: r.rate_bp,
            created_at: r.created_at,
            version: r.version,
        }
    }
}

/// A discount's value: basis points for a percentage (1000 = 10%), an amount for a fixed one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = DiscountValue)]
pub enum DiscountValueDto {
    BasisPoints(i64),
    Amount(MoneyDto),
}

impl DiscountValueDto {
    /// A percentage's basis points (1000 is 10%), if the value is one.
    pub fn basis_points(value: Option<Self>) -> Option<i64> {
        match value {
            Some(Self::BasisPoints(bp)) => Some(bp),
            _ => None,
        }
    }

    /// A fixed discount's amount, if the value is one.
    pub fn fixed_amount(value: Option<Self>) -> Option<AmountDto> {
        match value {
            Some(Self::Amount(m)) => Some(m.into()),
            _ => None,
        }
    }
}

impl From<DiscountValueDto> for ValueInput {
    fn from(v: DiscountValueDto) -> Self {
        match v {
            DiscountValueDto::BasisPoints(bp) => Self::BasisPoints(bp),
            DiscountValueDto::Amount(m) => Self::Amount(amount(m)),
        }
    }
}

/// The amount as the orders crate takes it.
pub fn amount(m: MoneyDto) -> AmountInput {
    AmountInput { amount: m.amount, currency: m.currency }
}

/// An amount that may be zero, as the orders crate takes it.
pub fn amount_or_zero(m: AmountDto) -> AmountInput {
    AmountInput { amount: m.amount, currency: m.currency }
}

/// A discount code.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = Discount)]
#[graphql(name = "Discount")]
pub struct DiscountDto {
    pub id: String,
    pub code: String,
    /// `percentage`, `fixed` or `free_shipping`.
    pub kind: String,
    #[graphql(
        skip,
        derived(name = "value_bp", into = "Option<i64>", owned, with = "DiscountValueDto::basis_points"),
        derived(name = "value_amount", into = "Option<AmountDto>", owned, with = "DiscountValueDto::fixed_amount")
    )]
    pub value: Option<DiscountValueDto>,
    #[graphql(
        skip,
        derived(name = "minimum_subtotal", into = "Option<AmountDto>", owned, with = "AmountDto::some_of")
    )]
    pub minimum_subtotal: Option<MoneyDto>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
    /// Orders placed with it.
    pub times_used: i64,
    pub created_at: DateTime<Utc>,
    /// Moved by every change (not by a redemption); REST sends it as the `ETag`, GraphQL's
    /// changes take it as `expectedVersion`.
    #[serde(skip)]
    pub version: i64,
}

impl From<Discount> for DiscountDto {
    fn from(d: Discount) -> Self {
        Self {
            kind: d.value.kind().to_owned(),
            value: match d.value {
                DiscountValue::Percentage(bp) => Some(DiscountValueDto::BasisPoints(bp)),
                DiscountValue::Fixed(m) => Some(DiscountValueDto::Amount(m.into())),
                DiscountValue::FreeShipping => None,
            },
            id: d.id,
            code: d.code,
            minimum_subtotal: d.minimum_subtotal.map(MoneyDto::from),
            starts_at: d.starts_at,
            ends_at: d.ends_at,
            usage_limit: d.usage_limit,
            usage_limit_per_customer: d.usage_limit_per_customer,
            times_used: d.times_used,
            created_at: d.created_at,
            version: d.version,
        }
    }
}

/// Whether catalog prices in a currency include tax.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = CurrencySetting)]
#[graphql(name = "CurrencySetting")]
pub struct CurrencySettingDto {
    pub currency: String,
    pub prices_include_tax: bool,
}

/// Creates a shipping zone (201).
pub async fn create_zone(
    state: &AppState,
    idempotency: &Idempotency,
    input: &setup::ZoneInput,
) -> Result<Done<ZoneDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let value = ZoneDto::from(setup::create_zone(&txn, input).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// Replaces a zone's name, countries and methods, if it is at a version `expected` admits (412).
pub async fn replace_zone(
    state: &AppState,
    zone_id: &str,
    input: &setup::ZoneInput,
    expected: &emporium_core::Expected,
) -> Result<ZoneDto, ApiError> {
    let txn = state.writer.begin().await?;
    let zone = ZoneDto::from(setup::replace_zone(&txn, zone_id, input, expected).await?);
    txn.commit().await?;
    Ok(zone)
}

/// Every zone.
pub async fn zones(state: &AppState) -> Result<Vec<ZoneDto>, ApiError> {
    Ok(setup::list_zones(&state.db).await?.into_iter().map(ZoneDto::from).collect())
}

/// One zone.
pub async fn zone(state: &AppState, zone_id: &str) -> Result<ZoneDto, ApiError> {
    Ok(setup::get_zone(&state.db, zone_id).await?.ok_or(OrderError::NotFound("shipping zone"))?.into())
}

/// Deletes a zone, if it is at a version `expected` admits (412).
pub async fn delete_zone(state: &AppState, zone_id: &str, expected: &emporium_core::Expected) -> Result<(), ApiError> {
    let txn = state.writer.begin().await?;
    setup::delete_zone(&txn, zone_id, expected).await?;
    txn.commit().await?;
    Ok(())
}

/// Creates a tax rate (201).
pub async fn create_rate(
    state: &AppState,
    idempotency: &Idempotency,
    country: &str,
    region: Option<&str>,
    name: &str,
    rate_bp: i64,
) -> Result<Done<TaxRateDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let value = TaxRateDto::from(setup::create_rate(&txn, country, region, name, rate_bp).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// Every rate.
pub async fn rates(state: &AppState) -> Result<Vec<TaxRateDto>, ApiError> {
    Ok(setup::list_rates(&state.db).await?.into_iter().map(TaxRateDto::from).collect())
}

/// One rate.
pub async fn rate(state: &AppState, rate_id: &str) -> Result<TaxRateDto, ApiError> {
    Ok(setup::get_rate(&state.db, rate_id).await?.ok_or(OrderError::NotFound("tax rate"))?.into())
}

/// Changes a rate's name or basis points, if it is at a version `expected` admits (412).
pub async fn change_rate(
    state: &AppState,
    rate_id: &str,
    name: Option<&str>,
    rate_bp: Option<i64>,
    expected: &emporium_core::Expected,
) -> Result<TaxRateDto, ApiError> {
    let txn = state.writer.begin().await?;
    let rate = TaxRateDto::from(setup::change_rate(&txn, rate_id, name, rate_bp, expected).await?);
    txn.commit().await?;
    Ok(rate)
}

/// Deletes a rate, if it is at a version `expected` admits (412).
pub async fn delete_rate(state: &AppState, rate_id: &str, expected: &emporium_core::Expected) -> Result<(), ApiError> {
    let txn = state.writer.begin().await?;
    setup::delete_rate(&txn, rate_id, expected).await?;
    txn.commit().await?;
    Ok(())
}

/// Creates a discount (201).
pub async fn create_discount(
    state: &AppState,
    idempotency: &Idempotency,
    input: &setup::DiscountInput,
) -> Result<Done<DiscountDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let value = DiscountDto::from(setup::create_discount(&txn, input).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// Every discount.
pub async fn discounts(state: &AppState) -> Result<Vec<DiscountDto>, ApiError> {
    Ok(setup::list_discounts(&state.db).await?.into_iter().map(DiscountDto::from).collect())
}

/// One discount.
pub async fn discount(state: &AppState, discount_id: &str) -> Result<DiscountDto, ApiError> {
    Ok(setup::get_discount(&state.db, discount_id).await?.ok_or(OrderError::NotFound("discount"))?.into())
}

/// Changes a discount, if it is at a version `expected` admits (412).
pub async fn change_discount(
    state: &AppState,
    discount_id: &str,
    change: &setup::DiscountChange,
    expected: &emporium_core::Expected,
) -> Result<DiscountDto, ApiError> {
    let txn = state.writer.begin().await?;
    let discount = DiscountDto::from(setup::change_discount(&txn, discount_id, change, expected).await?);
    txn.commit().await?;
    Ok(discount)
}

/// Deletes a discount, if it is at a version `expected` admits (412).
pub async fn delete_discount(
    state: &AppState,
    discount_id: &str,
    expected: &emporium_core::Expected,
) -> Result<(), ApiError> {
    let txn = state.writer.begin().await?;
    setup::delete_discount(&txn, discount_id, expected).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets whether prices in a currency include tax.
pub async fn set_currency(state: &AppState, code: &str, include: bool) -> Result<CurrencySettingDto, ApiError> {
    let currency = emporium_core::Currency::parse(code).map_err(|_| OrderError::NotFound("currency"))?;
    let txn = state.writer.begin().await?;
    setup::set_prices_include_tax(&txn, currency, include).await?;
    txn.commit().await?;
    Ok(CurrencySettingDto { currency: currency.code().to_owned(), prices_include_tax: include })
}

/// Whether prices in a currency include tax.
pub async fn currency_setting(state: &AppState, code: &str) -> Result<CurrencySettingDto, ApiError> {
    let currency = emporium_core::Currency::parse(code).map_err(|_| OrderError::NotFound("currency"))?;
    let include = setup::prices_include_tax(&state.db, currency).await?;
    Ok(CurrencySettingDto { currency: currency.code().to_owned(), prices_include_tax: include })
}
