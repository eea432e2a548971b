//! Who is calling: access tokens (JWT, HS256 pinned, `exp`/`iss`/`aud`/`typ` required),
//! integrator API keys, and the one resolver that turns a request's headers into a
//! [`Principal`] for every transport.

use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use emporium_core::db::statement;
use emporium_customers::{AccountKind, Permission, Permissions, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::error::ApiError;
use crate::state::AppState;

const ISSUER: &str = "emporium";
const AUDIENCE: &str = "emporium-api";

/// Seconds of clock difference between instances a token's `exp` tolerates.
const LEEWAY_SECONDS: u64 = 30;

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// `staff` or `customer`: a customer token never passes where a staff one is needed.
    typ: String,
    /// The staff account's version when the token was issued (0 for customers): a disabled
    /// account or a changed role moves it, and older tokens stop working.
    ver: i64,
    iss: String,
    aud: String,
    iat: i64,
    /// Not before: the issue time (checked, with the leeway; absent in tokens issued before
    /// it was added, which stay valid until they expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    exp: i64,
}

/// Signs and checks access tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    /// Seconds an access token lives.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// Issues an access token for an account at `version`.
    pub fn issue(&self, kind: AccountKind, account_id: &str, version: i64) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: account_id.to_owned(),
            typ: kind.as_str().to_owned(),
            ver: version,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: Some(now),
            exp: now + self.ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    /// The account a valid token names, its kind and version.
    fn verify(&self, token: &str) -> Option<(AccountKind, String, i64)> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims;
        Some((AccountKind::parse(&claims.typ)?, claims.sub, claims.ver))
    }
}

/// The signing key: `EMPORIUM_JWT_SECRET`, or one generated once and kept in the database so
/// every instance accepts the same tokens and a restart signs no one out.
pub async fn signing_key(db: &DatabaseConnection, configured: Option<&Secret>) -> Result<Vec<u8>, DbErr> {
    if let Some(secret) = configured {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let backend = db.get_database_backend();
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    // Two instances starting together both insert; the first one wins and both read it.
    db.execute_raw(statement(
        backend,
        "INSERT INTO server_secrets (name, value, created_at) VALUES ('jwt_signing_key', ?, ?) ON CONFLICT (name) DO NOTHING",
        [URL_SAFE_NO_PAD.encode(fresh).into(), Utc::now().into()],
    ))
    .await?;
    let row = db
        .query_one_raw(statement(backend, "SELECT value FROM server_secrets WHERE name = 'jwt_signing_key'", []))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("jwt_signing_key".to_owned()))?;
    let value: String = row.try_get("", "value")?;
    URL_SAFE_NO_PAD.decode(value).map_err(|e| DbErr::Custom(format!("stored signing key: {e}")))
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A staff member, with the role's permissions as of a few seconds ago at most.
    Staff { id: String, role: Role },
    /// A signed-in customer.
    Customer { id: String },
    /// An integrator's API key, acting as staff limited to its scopes.
    ApiKey { id: String, scopes: Permissions },
}

impl Principal {
    /// What the caller may do.
    pub fn permissions(&self) -> Permissions {
        match self {
            Self::Staff { role, .. } => role.permissions(),
            Self::ApiKey { scopes, .. } => *scopes,
            Self::Anonymous | Self::Customer { .. } => Permissions::NONE,
        }
    }

    /// Whether the caller holds `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions().contains(permission)
    }

    /// Whether the caller acts as staff (a staff member or an API key).
    pub fn is_staff(&self) -> bool {
        matches!(self, Self::Staff { .. } | Self::ApiKey { .. })
    }

    /// Succeeds if the caller holds `permission`: 401 for anonymous callers, 403 otherwise.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::unauthorized("Sign in with a staff token or send an API key.")),
            _ if self.can(permission) => Ok(()),
            _ => Err(ApiError::forbidden(format!("This needs the {} permission.", permission.as_str()))),
        }
    }

    /// The signed-in customer's id: 401 for anonymous callers, 403 for staff and API keys
    /// (they have no customer account).
    pub fn customer_id(&self) -> Result<&str, ApiError> {
        match self {
            Self::Customer { id } => Ok(id),
            Self::Anonymous => Err(ApiError::unauthorized("Sign in with a customer token.")),
            _ => Err(ApiError::forbidden("This needs a signed-in customer.")),
        }
    }

    /// The staff member's id, for records of who did what (an API key's id for keys).
    pub fn actor_id(&self) -> Option<&str> {
        match self {
            Self::Staff { id, .. } | Self::ApiKey { id, .. } | Self::Customer { id } => Some(id),
            Self::Anonymous => None,
        }
    }
}

/// A permission a route needs, named as a type so the route's signature shows it.
pub trait Capability {
    /// The permission checked.
    const PERMISSION: Permission;
}

/// Capabilities routes ask for.
pub mod caps {
    use super::{Capability, Permission};

    macro_rules! capability {
        ($($(#[$doc:meta])* $name:ident => $permission:ident;)*) => {$(
            $(#[$doc])*
            pub struct $name;
            impl Capability for $name {
                const PERMISSION: Permission = Permission::$permission;
            }
        )*};
    }

    capability! {
        /// Read drafts and staff-only catalog fields.
        CatalogRead => CatalogRead;
        /// Create, change and delete products and categories.
        CatalogWrite => CatalogWrite;
        /// Read stock, the ledger, locations and the low-stock report.
        InventoryRead => InventoryRead;
        /// Adjust stock and change locations, reorder points and backorders.
        InventoryWrite => InventoryWrite;
        /// Read every order.
        OrdersRead => OrdersRead;
        /// Fulfil, cancel, return and refund orders.
        OrdersWrite => OrdersWrite;
        /// Search and read customers.
        CustomersRead => CustomersRead;
        /// Read the event feed.
        EventsRead => EventsRead;
        /// Create, change and delete discount codes.
        DiscountsWrite => DiscountsWrite;
        /// Change shipping zones, tax rates and currency settings.
        SettingsWrite => SettingsWrite;
        /// Manage webhook subscriptions and read their deliveries.
        WebhooksWrite => WebhooksWrite;
        /// List every review and approve or reject them.
        ReviewsWrite => ReviewsWrite;
        /// Read the reports.
        ReportsRead => ReportsRead;
        /// Create and change staff accounts.
        StaffManage => StaffManage;
        /// Create, list and revoke API keys.
        ApiKeysManage => ApiKeysManage;
    }
}

/// The caller, checked for capability `C` before anything else of the request is read: 401
/// without (or with bad) credentials, 403 without the permission, whatever the body holds.
pub struct Can<C: Capability>(pub Principal, std::marker::PhantomData<C>);

impl<C: Capability> FromRequestParts<AppState> for Can<C> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = principal_of(state, parts).await?;
        principal.require(C::PERMISSION)?;
        Ok(Self(principal, std::marker::PhantomData))
    }
}

/// The signed-in customer's id, checked before the body: 401 anonymous, 403 staff and keys.
pub struct SignedInCustomer(pub String);

impl FromRequestParts<AppState> for SignedInCustomer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = principal_of(state, parts).await?;
        Ok(Self(principal.customer_id()?.to_owned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        principal_of(&AppState::from_ref(state), parts).await
    }
}

/// The caller as resolved once per request (by the rate limiter, in front of every route),
/// kept in the request's extensions for every later extractor.
#[derive(Clone)]
pub struct Resolved(pub Result<Principal, ApiError>);

/// The request's caller: the one the rate limiter resolved, or resolved now.
pub async fn principal_of(state: &AppState, parts: &Parts) -> Result<Principal, ApiError> {
    let resolved = match parts.extensions.get::<Resolved>() {
        Some(Resolved(resolved)) => resolved.clone(),
        None => resolve(state, &parts.headers).await,
    };
    if let Some(kind) = parts.extensions.get::<crate::infra::access_log::RequestFacts>() {
        kind.note(&resolved);
    }
    resolved
}

/// Who is calling, from a request's headers: the one resolver every transport uses.
/// Credentials that are present but wrong are 401, even on routes anonymous callers may use,
/// so a client never mistakes a broken key for access.
pub async fn resolve(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Principal, ApiError> {
    if let Some(key) = headers.get("x-api-key") {
        let key = key.to_str().map_err(|_| unknown_key())?;
        return state.accounts.api_key(&state.db, key.trim()).await;
    }
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(Principal::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthorized("Send Authorization: Bearer <access_token>."))?;
    let invalid = || ApiError::unauthorized("The access token is invalid or expired.");
    let (kind, id, version) = state.tokens.verify(token.trim()).ok_or_else(invalid)?;
    match kind {
        AccountKind::Customer => Ok(Principal::Customer { id }),
        AccountKind::Staff => {
            let access = state.accounts.staff(&state.db, &id).await?;
            match access {
                Some(access) if access.version == version => Ok(Principal::Staff { id, role: access.role }),
                Some(_) => Err(ApiError::unauthorized("The account changed since this token was issued; refresh it.")),
                None => Err(ApiError::unauthorized("The account is disabled.")),
            }
        }
    }
}

fn unknown_key() -> ApiError {
    ApiError::unauthorized("Unknown or revoked API key.")
}

/// What the resolver looks up per request, cached for a couple of seconds so a staff token or
/// an API key costs no query on most requests, while a disabled account, a new role or a
/// revoked key takes effect within [`ACCOUNT_CACHE_TTL`] on every instance (at once on the
/// instance that made the change).
pub struct AccountCache {
    staff: moka::sync::Cache<String, Option<emporium_customers::StaffAccess>>,
    keys: moka::sync::Cache<String, Option<(String, Permissions)>>,
    /// API keys used since the last flush, with when: written in batches, not per request.
    key_uses: std::sync::Mutex<std::collections::HashMap<String, chrono::DateTime<Utc>>>,
}

/// How long a looked-up staff account or API key is trusted.
pub const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(2);

impl Default for AccountCache {
    fn default() -> Self {
        fn cache<V: Clone + Send + Sync + 'static>() -> moka::sync::Cache<String, V> {
            moka::sync::Cache::builder().max_capacity(10_000).time_to_live(ACCOUNT_CACHE_TTL).build()
        }
        Self { staff: cache(), keys: cache(), key_uses: Default::default() }
    }
}

impl AccountCache {
    async fn staff(
        &self,
        db: &DatabaseConnection,
        id: &str,
    ) -> Result<Option<emporium_customers::StaffAccess>, ApiError> {
        if let Some(found) = self.staff.get(id) {
            return Ok(found);
        }
        let found = emporium_customers::staff_access(db, id).await?;
        self.staff.insert(id.to_owned(), found);
        Ok(found)
    }

    async fn api_key(&self, db: &DatabaseConnection, secret: &str) -> Result<Principal, ApiError> {
        if !secret.starts_with(emporium_customers::KEY_PREFIX) || secret.len() > 100 {
            return Err(unknown_key());
        }
        let hash = emporium_customers::hash_secret(secret);
        let found = match self.keys.get(&hash) {
            Some(found) => found,
            None => {
                let found = emporium_customers::find_api_key(db, &hash).await?;
                self.keys.insert(hash, found.clone());
                found
            }
        };
        let (id, scopes) = found.ok_or_else(unknown_key)?;
        if let Ok(mut uses) = self.key_uses.lock() {
            uses.insert(id.clone(), Utc::now());
        }
        Ok(Principal::ApiKey { id, scopes })
    }

    /// Whether this key's lookup is cached (known or known to be unknown): the rate limiter
    /// charges the caller's address before a lookup it would otherwise make for free.
    pub fn knows_key(&self, secret: &str) -> bool {
        self.keys.contains_key(&emporium_customers::hash_secret(secret.trim()))
    }

    /// Forgets a staff account this instance changed, so the change holds here at once.
    pub fn forget_staff(&self, id: &str) {
        self.staff.invalidate(id);
    }

    /// Forgets every cached key (one was revoked here; keys are cached by secret hash).
    pub fn forget_keys(&self) {
        self.keys.invalidate_all();
    }

    /// Writes the pending "last used" times.
    pub async fn flush_key_uses(&self, db: &DatabaseConnection) -> Result<(), ApiError> {
        let pending: Vec<(String, chrono::DateTime<Utc>)> = match self.key_uses.lock() {
            Ok(mut uses) => uses.drain().collect(),
            Err(_) => return Ok(()),
        };
        if !pending.is_empty() {
            emporium_customers::record_key_use(db, &pending).await?;
        }
        Ok(())
    }
}
