//! Sign-in over GraphQL: the same use cases as `/v1/auth/*`.

use async_graphql::{Context, Enum, Object, Result};

use crate::state::AppState;
use crate::usecases::sessions::{self, TokenPair};

/// The client's address, as the request data of every GraphQL request (sign-in throttling is
/// per address).
#[derive(Clone, Copy)]
pub struct ClientAddress(pub std::net::IpAddr);

/// Which kind of account to sign in to.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    Staff,
    Customer,
}

/// Sign-in, token rotation and sign-out.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Signs in with email and password; left out, `account` tries a staff account first.
    /// Costs most of a document's complexity, so aliases cannot multiply password checks.
    #[graphql(complexity = "crate::graphql::LOGIN_COST")]
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        account: Option<AccountType>,
    ) -> Result<TokenPair> {
        let state = ctx.data::<AppState>()?;
        let ClientAddress(client) = *ctx.data::<ClientAddress>()?;
        let account = account.map(|a| match a {
            AccountType::Staff => sessions::AccountChoice::Staff,
            AccountType::Customer => sessions::AccountChoice::Customer,
        });
        Ok(sessions::login(state, client, &email, password, account).await?)
    }

    /// Trades a refresh token for a new pair; a token used twice revokes its whole family.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<TokenPair> {
        let state = ctx.data::<AppState>()?;
        Ok(sessions::refresh(state, &refresh_token).await?)
    }

    /// Revokes a refresh token's session (unknown tokens too).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10")]
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        let state = ctx.data::<AppState>()?;
        sessions::logout(state, &refresh_token).await?;
        Ok(true)
    }
}
