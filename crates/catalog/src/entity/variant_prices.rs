//! `variant_prices`: at most one price per variant and currency, in minor units.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "variant_prices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub variant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    pub amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
