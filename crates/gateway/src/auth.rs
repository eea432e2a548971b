//! Who is calling: staff access tokens (JWT, HS256 pinned, `exp`/`iss`/`aud` required) and
//! the principal extracted from each request.

use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use emporium_core::db::statement;
use emporium_customers::{AccountKind, Permission};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::error::ApiError;
use crate::state::AppState;

const ISSUER: &str = "emporium";
const AUDIENCE: &str = "emporium-api";

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// `staff` or `customer`.
    kind: String,
    /// Space-separated permissions.
    scope: String,
    iss: String,
    aud: String,
    iat: i64,
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
        validation.leeway = 30;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    /// Seconds an access token lives.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// Issues an access token.
    pub fn issue(&self, kind: AccountKind, account_id: &str, permissions: &[Permission]) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: account_id.to_owned(),
            kind: kind.as_str().to_owned(),
            scope: permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" "),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    fn verify(&self, token: &str) -> Option<Principal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let claims = data.claims;
        match AccountKind::parse(&claims.kind)? {
            AccountKind::Staff => Some(Principal::Staff {
                id: claims.sub,
                permissions: claims.scope.split_whitespace().filter_map(Permission::parse).collect(),
            }),
            AccountKind::Customer => Some(Principal::Customer { id: claims.sub }),
        }
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
    let value: String = row.try_get_by_index(0)?;
    URL_SAFE_NO_PAD.decode(value).map_err(|e| DbErr::Custom(format!("stored signing key: {e}")))
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A staff member with these permissions.
    Staff { id: String, permissions: Vec<Permission> },
    /// A signed-in customer.
    Customer { id: String },
}

impl Principal {
    /// Whether the caller is staff (sees drafts, may filter by status).
    pub fn is_staff(&self) -> bool {
        matches!(self, Self::Staff { .. })
    }

    /// Succeeds if the caller holds `permission`: 401 for anonymous callers, 403 otherwise.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::unauthorized("Sign in with a staff token.")),
            Self::Staff { permissions, .. } if permissions.contains(&permission) => Ok(()),
            _ => Err(ApiError::forbidden(format!("This needs the {} permission.", permission.as_str()))),
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

    /// Read drafts and staff-only catalog fields.
    pub struct CatalogRead;
    /// Create, change and delete products and categories.
    pub struct CatalogWrite;

    impl Capability for CatalogRead {
        const PERMISSION: Permission = Permission::CatalogRead;
    }
    impl Capability for CatalogWrite {
        const PERMISSION: Permission = Permission::CatalogWrite;
    }
}

/// The caller, checked for capability `C` before anything else of the request is read: 401
/// without (or with bad) credentials, 403 without the permission, whatever the body holds.
pub struct Can<C: Capability>(pub Principal, std::marker::PhantomData<C>);

impl<C: Capability> FromRequestParts<AppState> for Can<C> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = resolve(state, &parts.headers).await?;
        principal.require(C::PERMISSION)?;
        Ok(Self(principal, std::marker::PhantomData))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        resolve(&AppState::from_ref(state), &parts.headers).await
    }
}

/// Who is calling, from a request's headers: the one resolver every transport uses. Async,
/// because API keys (next) are looked up in the database. Credentials that are present but
/// wrong are 401, even on routes anonymous callers may use, so a client never mistakes a
/// broken key for access.
pub async fn resolve(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Principal, ApiError> {
    if headers.contains_key("x-api-key") {
        // No API key has been issued yet (integrator keys come with their issue): every key is unknown.
        return Err(ApiError::unauthorized("Unknown or revoked API key."));
    }
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(Principal::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthorized("Send Authorization: Bearer <access_token>."))?;
    state.tokens.verify(token.trim()).ok_or_else(|| ApiError::unauthorized("The access token is invalid or expired."))
}
