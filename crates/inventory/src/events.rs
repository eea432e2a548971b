//! What inventory tells the rest of the system: its events, and what a stock change makes
//! stale, noted on the write's unit of work.

use emporium_core::uow::{Key, UnitOfWork};
use sea_orm::DbErr;

use crate::ReorderCrossing;

/// Inventory's events (the payloads of API.md's event feed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum StockEvent {
    /// A level fell to or under its reorder point.
    #[serde(rename = "stock.low")]
    Low { sku: String, location: String, available: i64, reorder_point: i64 },
}

impl emporium_core::events::DomainEvent for StockEvent {}

/// Notes on `work` what a change of stock means elsewhere: the availability of `variant_ids`
/// is stale, and each level that crossed its reorder point (with its variant's SKU) is a
/// `stock.low` event.
pub async fn record_change(
    work: &mut UnitOfWork,
    variant_ids: impl IntoIterator<Item = &str>,
    crossings: &[(String, ReorderCrossing)],
) -> Result<(), DbErr> {
    work.touch_all(variant_ids.into_iter().map(Key::stock));
    if crossings.is_empty() {
        return Ok(());
    }
    let locations = crate::list_locations(&*work).await?;
    for (sku, crossing) in crossings {
        let location = locations.iter().find(|l| l.id == crossing.location_id).map_or("", |l| l.code.as_str());
        work.emit(StockEvent::Low {
            sku: sku.clone(),
            location: location.to_owned(),
            available: crossing.available,
            reorder_point: crossing.reorder_point,
        });
    }
    Ok(())
}
