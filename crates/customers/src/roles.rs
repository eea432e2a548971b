//! What callers may do: permissions, the staff roles that bundle them, and the subset an
//! integrator's API key may be granted as scopes.

/// One thing a caller may do. Staff get them from their role, API keys from their scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    CatalogRead,
    CatalogWrite,
    InventoryRead,
    InventoryWrite,
    OrdersRead,
    OrdersWrite,
    CustomersRead,
    EventsRead,
    /// Create, change and delete discount codes.
    DiscountsWrite,
    /// Change shipping zones, tax rates and currency settings.
    SettingsWrite,
    /// Create, change and read webhook subscriptions and their deliveries.
    WebhooksWrite,
    /// List every review and approve or reject them.
    ReviewsWrite,
    /// Read the reports (sales, conversion, customers, inventory, best sellers).
    ReportsRead,
    /// Create and change staff accounts (admins only; never an API key scope).
    StaffManage,
    /// Create, list and revoke API keys (admins only; never an API key scope).
    ApiKeysManage,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 15] = [
        Self::CatalogRead,
        Self::CatalogWrite,
        Self::InventoryRead,
        Self::InventoryWrite,
        Self::OrdersRead,
        Self::OrdersWrite,
        Self::CustomersRead,
        Self::EventsRead,
        Self::DiscountsWrite,
        Self::SettingsWrite,
        Self::WebhooksWrite,
        Self::ReviewsWrite,
        Self::ReportsRead,
        Self::StaffManage,
        Self::ApiKeysManage,
    ];

    /// The permissions an API key may hold, by their scope names.
    pub const SCOPES: [Permission; 13] = [
        Self::CatalogRead,
        Self::CatalogWrite,
        Self::InventoryRead,
        Self::InventoryWrite,
        Self::OrdersRead,
        Self::OrdersWrite,
        Self::CustomersRead,
        Self::EventsRead,
        Self::DiscountsWrite,
        Self::SettingsWrite,
        Self::WebhooksWrite,
        Self::ReviewsWrite,
        Self::ReportsRead,
    ];

    /// The name, e.g. `catalog:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CatalogRead => "catalog:read",
            Self::CatalogWrite => "catalog:write",
            Self::InventoryRead => "inventory:read",
            Self::InventoryWrite => "inventory:write",
            Self::OrdersRead => "orders:read",
            Self::OrdersWrite => "orders:write",
            Self::CustomersRead => "customers:read",
            Self::EventsRead => "events:read",
            Self::DiscountsWrite => "discounts:write",
            Self::SettingsWrite => "settings:write",
            Self::WebhooksWrite => "webhooks:write",
            Self::ReviewsWrite => "reviews:write",
            Self::ReportsRead => "reports:read",
            Self::StaffManage => "staff:manage",
            Self::ApiKeysManage => "api_keys:manage",
        }
    }

    /// Parses a scope an API key may hold.
    pub fn parse_scope(text: &str) -> Option<Self> {
        Self::SCOPES.into_iter().find(|p| p.as_str() == text)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of permissions, copied for free.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u16);

impl Permissions {
    /// No permission at all.
    pub const NONE: Self = Self(0);

    /// The set holding each of `permissions`.
    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |bits, p| bits | p.bit()))
    }

    /// Whether `permission` is in the set.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// The permissions in the set, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// The names, in [`Permission::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }

    /// Stored form: names separated by spaces.
    pub fn to_stored(self) -> String {
        self.names().join(" ")
    }

    /// Reads the stored form; unknown names (a scope since withdrawn) are dropped.
    pub fn from_stored(text: &str) -> Self {
        Self::of(&text.split_whitespace().filter_map(Permission::parse_scope).collect::<Vec<_>>())
    }
}

impl std::fmt::Debug for Permissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// A staff member's role: a fixed bundle of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, staff accounts and API keys included.
    Admin,
    /// Catalog and inventory.
    Catalog,
    /// Orders: read, fulfil, cancel, return, refund.
    Fulfillment,
    /// Reads customers and orders.
    Support,
    /// Discount codes, and reading the catalog, orders and customers.
    Marketing,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [Self::Admin, Self::Catalog, Self::Fulfillment, Self::Support, Self::Marketing];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Catalog => "catalog",
            Self::Fulfillment => "fulfillment",
            Self::Support => "support",
            Self::Marketing => "marketing",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// What the role may do.
    pub fn permissions(self) -> Permissions {
        use Permission as P;
        match self {
            Self::Admin => Permissions::of(&P::ALL),
            Self::Catalog => Permissions::of(&[P::CatalogRead, P::CatalogWrite, P::InventoryRead, P::InventoryWrite]),
            Self::Fulfillment => Permissions::of(&[P::OrdersRead, P::OrdersWrite]),
            Self::Support => Permissions::of(&[P::CustomersRead, P::OrdersRead]),
            Self::Marketing => Permissions::of(&[
                P::DiscountsWrite,
                P::ReviewsWrite,
                P::ReportsRead,
                P::CatalogRead,
                P::OrdersRead,
                P::CustomersRead,
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_hold_what_the_contract_lists() {
        assert!(Role::Admin.permissions().contains(Permission::ApiKeysManage));
        assert!(Role::Catalog.permissions().contains(Permission::InventoryWrite));
        assert!(!Role::Catalog.permissions().contains(Permission::OrdersRead));
        assert!(Role::Fulfillment.permissions().contains(Permission::OrdersWrite));
        assert!(!Role::Fulfillment.permissions().contains(Permission::CatalogWrite));
        assert!(Role::Support.permissions().contains(Permission::CustomersRead));
        assert!(!Role::Support.permissions().contains(Permission::OrdersWrite));
        assert!(Role::Marketing.permissions().contains(Permission::DiscountsWrite));
        assert!(!Role::Marketing.permissions().contains(Permission::SettingsWrite));
        assert!(!Role::Marketing.permissions().contains(Permission::CatalogWrite));
        assert!(!Role::Catalog.permissions().contains(Permission::DiscountsWrite));
        assert!(!Role::Catalog.permissions().contains(Permission::SettingsWrite));
        assert!(Role::Admin.permissions().contains(Permission::SettingsWrite));
    }

    #[test]
    fn stored_scopes_round_trip_and_never_grant_admin_powers() {
        let set = Permissions::of(&[Permission::CatalogRead, Permission::EventsRead]);
        assert_eq!(Permissions::from_stored(&set.to_stored()), set);
        assert_eq!(Permissions::from_stored("staff:manage api_keys:manage"), Permissions::NONE);
    }
}
