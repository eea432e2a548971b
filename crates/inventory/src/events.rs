//! What inventory tells the rest of the system: its events, and what a stock change makes
//! stale, noted on the write's unit of work.

use emporium_core::uow::{Key, UnitOfWork};
use sea_orm::DbErr;

use crate::{Moved, ReorderCrossing};

/// Inventory's events (the payloads of API.md's event feed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum StockEvent {
    /// A level fell to or under its reorder point.
    #[serde(rename = "stock.low")]
    Low { sku: String, location: String, available: i64, reorder_point: i64 },
    /// A movement changed a level: on hand and available there after it.
    #[serde(rename = "inventory.changed")]
    Changed { sku: String, location: String, on_hand: i64, available: i64 },
}

impl emporium_core::events::DomainEvent for StockEvent {}

/// Notes on `work` what a change of stock means elsewhere: the availability of `variant_ids`
/// is stale, each level a movement changed (with its variant's SKU) is an `inventory.changed`
/// event, and each level that crossed its reorder point a `stock.low` event.
pub async fn record_change(
    work: &mut UnitOfWork,
    variant_ids: impl IntoIterator<Item = &str>,
    moved: &[(String, Moved)],
    crossings: &[(String, ReorderCrossing)],
) -> Result<(), DbErr> {
    work.touch_all(variant_ids.into_iter().map(Key::stock));
    for (sku, level) in moved {
        work.emit(StockEvent::Changed {
            sku: sku.clone(),
            location: level.location.clone(),
            on_hand: level.on_hand,
            available: level.available,
        });
    }
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
