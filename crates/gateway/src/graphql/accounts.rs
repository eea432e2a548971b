//! Accounts over GraphQL: the same use cases as `/v1/customers`, `/v1/staff` and
//! `/v1/api-keys`, with the same rules and codes.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use emporium_core::Patch;
use emporium_customers::{AddressChange, Permission, StaffChange};

use crate::graphql::catalog::PageInfo;
use crate::infra::rate_limit::{CallerBucket, HASHING_COST, spend};
use crate::state::AppState;
use crate::usecases::accounts::{
    self, AddressDto, ApiKeyDto, CreatedApiKeyDto, CustomerDetailDto, CustomerDto, Page, Registration, RoleDto,
    StaffDto,
};
use crate::usecases::orders;

/// A customer in a connection.
#[derive(SimpleObject)]
pub struct CustomerEdge {
    pub cursor: String,
    pub node: CustomerDto,
}

/// A page of customers, oldest first.
#[derive(SimpleObject)]
pub struct CustomerConnection {
    pub edges: Vec<CustomerEdge>,
    pub nodes: Vec<CustomerDto>,
    pub page_info: PageInfo,
}

/// An API key in a connection.
#[derive(SimpleObject)]
pub struct ApiKeyEdge {
    pub cursor: String,
    pub node: ApiKeyDto,
}

/// A page of API keys, oldest first.
#[derive(SimpleObject)]
pub struct ApiKeyConnection {
    pub edges: Vec<ApiKeyEdge>,
    pub nodes: Vec<ApiKeyDto>,
    pub page_info: PageInfo,
}

/// A staff account in a connection.
#[derive(SimpleObject)]
pub struct StaffEdge {
    pub cursor: String,
    pub node: StaffDto,
}

/// A page of staff accounts, oldest first.
#[derive(SimpleObject)]
pub struct StaffConnection {
    pub edges: Vec<StaffEdge>,
    pub nodes: Vec<StaffDto>,
    pub page_info: PageInfo,
}

fn edges_of<T: Clone>(page: Page<T>) -> (Vec<(String, T)>, Vec<T>, bool) {
    let more = page.next_cursor.is_some();
    let nodes = page.items.clone();
    (page.cursors.into_iter().zip(page.items).collect(), nodes, more)
}

fn page_info<T>(edges: &[(String, T)], more: bool, after: bool) -> PageInfo {
    let cursors: Vec<&str> = edges.iter().map(|(c, _)| c.as_str()).collect();
    PageInfo::of(&cursors, more, after)
}

/// A change to a saved address: fields left out stay, `null` clears an optional one.
#[derive(InputObject, Default)]
pub struct AddressPatchInput {
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub line1: MaybeUndefined<String>,
    pub line2: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub region: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub default_shipping: Option<bool>,
    pub default_billing: Option<bool>,
}

fn patch(value: MaybeUndefined<String>) -> Patch<String> {
    match value {
        MaybeUndefined::Undefined => Patch::Missing,
        MaybeUndefined::Null => Patch::Null,
        MaybeUndefined::Value(v) => Patch::Value(v),
    }
}

/// Account reads.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in customer.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn me(&self, ctx: &Context<'_>) -> Result<CustomerDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        Ok(accounts::me(state, principal.customer_id()?).await?)
    }

    /// The signed-in customer's addresses, oldest first.
    #[graphql(complexity = "crate::graphql::LIST_COST + 50 * child_complexity")]
    async fn my_addresses(&self, ctx: &Context<'_>) -> Result<Vec<AddressDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        Ok(accounts::addresses(state, principal.customer_id()?).await?)
    }

    /// Customers whose email or name contains `query` (staff with `customers:read`).
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
    ) -> Result<CustomerConnection> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::CustomersRead)?;
        let query = query.filter(|q| !q.trim().is_empty());
        let page =
            accounts::search_customers(state, query.as_deref(), Some(first), after.as_deref(), ("query", "first"))
                .await?;
        let (edges, nodes, more) = edges_of(page);
        let page_info = page_info(&edges, more, after.is_some());
        Ok(CustomerConnection {
            edges: edges.into_iter().map(|(cursor, node)| CustomerEdge { cursor, node }).collect(),
            nodes,
            page_info,
        })
    }

    /// One customer with their orders' figures (staff with `customers:read`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn customer(&self, ctx: &Context<'_>, id: String) -> Result<CustomerDetailDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::CustomersRead)?;
        Ok(accounts::customer_detail(state, &id).await?)
    }

    /// Live API keys, oldest first (admins).
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
    ) -> Result<ApiKeyConnection> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ApiKeysManage)?;
        let page = accounts::list_api_keys(state, Some(first), after.as_deref(), "first").await?;
        let (edges, nodes, more) = edges_of(page);
        let page_info = page_info(&edges, more, after.is_some());
        Ok(ApiKeyConnection {
            edges: edges.into_iter().map(|(cursor, node)| ApiKeyEdge { cursor, node }).collect(),
            nodes,
            page_info,
        })
    }

    /// Staff accounts, oldest first (admins).
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn staff_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
    ) -> Result<StaffConnection> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::StaffManage)?;
        let page = accounts::list_staff(state, Some(first), after.as_deref(), "first").await?;
        let (edges, nodes, more) = edges_of(page);
        let page_info = page_info(&edges, more, after.is_some());
        Ok(StaffConnection {
            edges: edges.into_iter().map(|(cursor, node)| StaffEdge { cursor, node }).collect(),
            nodes,
            page_info,
        })
    }
}

/// Account writes.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Registers a customer account. Hashes a password: costs like a login.
    #[graphql(complexity = "crate::graphql::LOGIN_COST")]
    async fn register_customer(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        first_name: String,
        last_name: String,
    ) -> Result<CustomerDto> {
        let state = ctx.data::<AppState>()?;
        spend(state, ctx.data_opt::<CallerBucket>(), HASHING_COST).await?;
        let input = Registration { email, password, first_name, last_name };
        Ok(accounts::register(state, &crate::graphql::claim(ctx), input).await?.0)
    }

    /// Changes the signed-in customer's names; with `expectedVersion`, only while the profile
    /// is at that version (`precondition_failed` otherwise, nothing changed).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        first_name: Option<String>,
        last_name: Option<String>,
        expected_version: Option<i64>,
    ) -> Result<CustomerDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let expected = crate::graphql::expected(expected_version);
        Ok(accounts::update_me(state, principal.customer_id()?, first_name, last_name, &expected).await?)
    }

    /// Changes the signed-in customer's password; every refresh token of the account is
    /// revoked. Hashes twice: costs like a login.
    #[graphql(complexity = "crate::graphql::LOGIN_COST")]
    async fn change_password(&self, ctx: &Context<'_>, current_password: String, new_password: String) -> Result<bool> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let customer = principal.customer_id()?.to_owned();
        spend(state, ctx.data_opt::<CallerBucket>(), HASHING_COST).await?;
        accounts::change_password(state, &crate::graphql::claim(ctx), &customer, current_password, new_password)
            .await?;
        Ok(true)
    }

    /// Adds an address to the signed-in customer's book.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn add_address(
        &self,
        ctx: &Context<'_>,
        address: orders::AddressDto,
        #[graphql(default = false)] default_shipping: bool,
        #[graphql(default = false)] default_billing: bool,
    ) -> Result<AddressDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let customer = principal.customer_id()?.to_owned();
        let added = accounts::add_address(
            state,
            &crate::graphql::claim(ctx),
            &customer,
            address.into(),
            default_shipping,
            default_billing,
        )
        .await?;
        Ok(added.0)
    }

    /// Changes one of the signed-in customer's addresses.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_address(&self, ctx: &Context<'_>, id: String, changes: AddressPatchInput) -> Result<AddressDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let change = AddressChange {
            first_name: patch(changes.first_name),
            last_name: patch(changes.last_name),
            line1: patch(changes.line1),
            line2: patch(changes.line2),
            city: patch(changes.city),
            region: patch(changes.region),
            postal_code: patch(changes.postal_code),
            country: patch(changes.country),
            phone: patch(changes.phone),
            default_shipping: changes.default_shipping,
            default_billing: changes.default_billing,
        };
        Ok(accounts::update_address(state, principal.customer_id()?, &id, change).await?)
    }

    /// Removes one of the signed-in customer's addresses.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn delete_address(&self, ctx: &Context<'_>, id: String) -> Result<bool> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        accounts::delete_address(state, principal.customer_id()?, &id).await?;
        Ok(true)
    }

    /// Creates a staff account (admins). Hashes a password: costs like a login.
    #[graphql(complexity = "crate::graphql::LOGIN_COST")]
    async fn create_staff(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        role: RoleDto,
    ) -> Result<StaffDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::StaffManage)?;
        Ok(accounts::create_staff(state, &crate::graphql::claim(ctx), &email, password, role.into()).await?.0)
    }

    /// Changes a staff account's role or disables it (admins).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_staff(
        &self,
        ctx: &Context<'_>,
        id: String,
        role: Option<RoleDto>,
        disabled: Option<bool>,
    ) -> Result<StaffDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::StaffManage)?;
        Ok(accounts::change_staff(state, &id, StaffChange { role: role.map(Into::into), disabled }).await?)
    }

    /// Creates an API key (admins); `key` is the secret, shown this once.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_api_key(&self, ctx: &Context<'_>, name: String, scopes: Vec<String>) -> Result<CreatedApiKeyDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ApiKeysManage)?;
        let created_by = principal.actor_id().unwrap_or_default().to_owned();
        Ok(accounts::create_api_key(state, &crate::graphql::claim(ctx), &created_by, &name, &scopes).await?.0)
    }

    /// Revokes an API key (admins).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: String) -> Result<bool> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ApiKeysManage)?;
        accounts::revoke_api_key(state, &id).await?;
        Ok(true)
    }
}
