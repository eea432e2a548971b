//! Staff sign-in: login, access tokens (JWT), refresh-token rotation with reuse detection,
//! logout. Forged, tampered, unsigned and expired tokens are refused.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Options, Reply, TestResult, TestServer, tee};

/// The signing secret every test server is configured with (`TestServer::start_with` in
/// common.rs sets `config.jwt_secret` to this); used to hand-sign tokens below.
pub(crate) const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-0123456789";

fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "unexpected status; body: {}", reply.body);
    assert_eq!(reply.problem_code(), code, "unexpected code; headers: {:?}, body: {}", reply.headers, reply.body);
    for member in ["type", "title", "detail"] {
        assert!(reply.body[member].as_str().is_some_and(|v| !v.is_empty()), "no `{member}` in {}", reply.body);
    }
    assert_eq!(reply.body["status"], json!(status.as_u16()), "problem `status` member in {}", reply.body);
}

async fn login(server: &TestServer, body: Value) -> anyhow::Result<Reply> {
    server.post("/v1/auth/login", None, body).await
}

async fn admin_login(server: &TestServer) -> anyhow::Result<Reply> {
    let reply = login(server, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await?;
    anyhow::ensure!(reply.status == StatusCode::OK, "login failed: {} {}", reply.status, reply.body);
    Ok(reply)
}

async fn refresh(server: &TestServer, refresh_token: &str) -> anyhow::Result<Reply> {
    server.post("/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await
}

/// Tries to create a product with `token`; returns the reply.
async fn create_with(server: &TestServer, token: &str, sku: &str) -> anyhow::Result<Reply> {
    server.post("/v1/products", Some(token), tee(&format!("Token Tee {sku}"), sku)).await
}

// ---------------------------------------------------------------------------------------
// Hand-signed tokens (with the workspace's base64, hmac and sha2 crates)

fn b64url_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))?)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> anyhow::Result<Vec<u8>> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// A JWT with this header and payload, signed HS256 with `secret`.
pub(crate) fn sign(header: &Value, payload: &Value, secret: &[u8]) -> String {
    let signing_input =
        format!("{}.{}", b64url_encode(header.to_string().as_bytes()), b64url_encode(payload.to_string().as_bytes()));
    let signature = hmac_sha256(secret, signing_input.as_bytes()).unwrap_or_default();
    format!("{signing_input}.{}", b64url_encode(&signature))
}

/// The decoded header and payload of a JWT.
pub(crate) fn decode(token: &str) -> anyhow::Result<(Value, Value)> {
    let parts: Vec<&str> = token.split('.').collect();
    anyhow::ensure!(parts.len() == 3, "a JWT has three parts: {token}");
    let header = serde_json::from_slice(&b64url_decode(parts[0])?)?;
    let payload = serde_json::from_slice(&b64url_decode(parts[1])?)?;
    Ok((header, payload))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Login

#[tokio::test]
async fn the_admin_signs_in_and_gets_a_bearer_token_pair() -> TestResult {
    let server = TestServer::start().await?;
    let reply = admin_login(&server).await?;
    assert!(reply.str("access_token")?.len() > 20, "{}", reply.body);
    assert!(reply.str("refresh_token")?.len() > 20, "{}", reply.body);
    assert_ne!(reply.body["access_token"], reply.body["refresh_token"]);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert!(reply.body["expires_in"].as_u64().is_some_and(|s| s > 0), "expires_in: {}", reply.body);

    // Choosing the staff account explicitly works too.
    let reply = login(&server, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "account": "staff"})).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Ok(())
}

#[tokio::test]
async fn the_email_is_matched_ignoring_case() -> TestResult {
    let server = TestServer::start().await?;
    for (i, email) in [ADMIN_EMAIL.to_uppercase(), "Admin@Shop.Test".to_owned()].into_iter().enumerate() {
        let reply = login(&server, json!({"email": email, "password": ADMIN_PASSWORD})).await?;
        assert_eq!(reply.status, StatusCode::OK, "{email}: {}", reply.body);
        let token = reply.str("access_token")?.to_owned();
        let created = create_with(&server, &token, &format!("CASE-{i}")).await?;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    // The password is not.
    let reply = login(&server, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD.to_uppercase()})).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_are_both_401_unauthorized() -> TestResult {
    let server = TestServer::start().await?;
    let wrong_password = login(&server, json!({"email": ADMIN_EMAIL, "password": "wrong password"})).await?;
    assert_problem(&wrong_password, StatusCode::UNAUTHORIZED, "unauthorized");
    let unknown_email = login(&server, json!({"email": "nobody@shop.test", "password": ADMIN_PASSWORD})).await?;
    assert_problem(&unknown_email, StatusCode::UNAUTHORIZED, "unauthorized");
    let empty_password = login(&server, json!({"email": ADMIN_EMAIL, "password": ""})).await?;
    assert!(
        empty_password.status == StatusCode::UNAUTHORIZED || empty_password.status == StatusCode::UNPROCESSABLE_ENTITY,
        "an empty password gave {}: {}",
        empty_password.status,
        empty_password.body
    );
    // Neither answer tells which of the two was wrong.
    assert_eq!(wrong_password.body["detail"], unknown_email.body["detail"]);
    Ok(())
}

#[tokio::test]
async fn a_customer_login_with_the_admins_credentials_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let reply =
        login(&server, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "account": "customer"})).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

#[tokio::test]
async fn unknown_fields_in_auth_bodies_are_422() -> TestResult {
    let server = TestServer::start().await?;
    let reply = login(&server, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "remember_me": true})).await?;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(reply.error_fields().iter().any(|(f, _)| f == "remember_me"), "{}", reply.body);

    let reply = login(&server, json!({"email": ADMIN_EMAIL})).await?;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(reply.error_fields().iter().any(|(f, _)| f == "password"), "{}", reply.body);

    let reply = login(&server, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "account": "robot"})).await?;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(reply.error_fields().iter().any(|(f, _)| f == "account"), "{}", reply.body);

    let pair = admin_login(&server).await?;
    let refresh_token = pair.str("refresh_token")?;
    for path in ["/v1/auth/refresh", "/v1/auth/logout"] {
        let reply = server.post(path, None, json!({"refresh_token": refresh_token, "access_token": "x"})).await?;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(reply.error_fields().iter().any(|(f, _)| f == "access_token"), "{path}: {}", reply.body);
    }
    // None of the refused bodies spent the refresh token.
    assert_eq!(refresh(&server, refresh_token).await?.status, StatusCode::OK);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Access tokens

#[tokio::test]
async fn the_access_token_is_a_staff_jwt_that_lets_the_admin_create_products() -> TestResult {
    let server = TestServer::start().await?;
    let reply = admin_login(&server).await?;
    let token = reply.str("access_token")?.to_owned();
    let created = create_with(&server, &token, "JWT").await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let (_, payload) = decode(&token)?;
    for claim in ["iss", "aud", "sub"] {
        assert!(!payload[claim].is_null(), "no `{claim}` in {payload}");
    }
    assert_eq!(payload["typ"], "staff", "{payload}");
    let exp = payload["exp"].as_i64().unwrap_or_default();
    assert!(exp > now(), "exp {exp} is not in the future: {payload}");
    let expires_in = reply.body["expires_in"].as_i64().unwrap_or_default();
    assert!((exp - now() - expires_in).abs() <= 60, "exp {exp} does not match expires_in {expires_in}");
    Ok(())
}

#[tokio::test]
async fn a_hand_signed_token_with_the_server_secret_is_accepted() -> TestResult {
    // The control for the forgery tests below: the hand-made signing helpers produce tokens
    // the server accepts, so the refusals there are about the token, not the helpers.
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let (header, mut payload) = decode(&token)?;
    payload["iat"] = json!(now());
    payload["exp"] = json!(now() + 600);
    let resigned = sign(&header, &payload, TEST_JWT_SECRET.as_bytes());
    let created = create_with(&server, &resigned, "HAND").await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    Ok(())
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let (header, payload) = decode(&token)?;
    let forged = sign(&header, &payload, b"another-secret-that-is-long-enough-0123456789");
    let reply = create_with(&server, &forged, "OTHER").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    // Wrong credentials are refused on reads too, rather than treated as anonymous.
    let reply = server.get_as("/v1/products", &forged).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let (header, mut payload) = decode(&token)?;
    payload["iat"] = json!(now() - 7200);
    payload["exp"] = json!(now() - 3600);
    let expired = sign(&header, &payload, TEST_JWT_SECRET.as_bytes());
    let reply = create_with(&server, &expired, "EXPIRED").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

#[tokio::test]
async fn a_token_without_exp_or_for_another_audience_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let (header, payload) = decode(&token)?;
    let mut no_exp = payload.clone();
    if let Some(map) = no_exp.as_object_mut() {
        map.remove("exp");
    }
    let mut other_audience = payload.clone();
    other_audience["aud"] = json!("someone-else");
    let mut other_issuer = payload;
    other_issuer["iss"] = json!("someone-else");
    for (case, claims) in [("no exp", no_exp), ("other aud", other_audience), ("other iss", other_issuer)] {
        let forged = sign(&header, &claims, TEST_JWT_SECRET.as_bytes());
        let reply = create_with(&server, &forged, "CLAIMS").await?;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}: {}", reply.body);
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    Ok(())
}

#[tokio::test]
async fn a_token_with_a_tampered_signature_or_payload_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let (head_and_payload, signature) = token.rsplit_once('.').ok_or_else(|| anyhow::anyhow!("not a JWT: {token}"))?;

    // One character of the signature changed (not the last one, whose low bits may be unused).
    let mut chars: Vec<char> = signature.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    let tampered_signature = format!("{head_and_payload}.{}", chars.into_iter().collect::<String>());
    let reply = create_with(&server, &tampered_signature, "TAMPER-1").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // The payload changed (a later expiry), the original signature kept.
    let (header, mut payload) = decode(&token)?;
    payload["exp"] = json!(now() + 86_400 * 365);
    let tampered_payload = format!(
        "{}.{}.{signature}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(payload.to_string().as_bytes())
    );
    let reply = create_with(&server, &tampered_payload, "TAMPER-2").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // No signature at all.
    let reply = create_with(&server, &format!("{head_and_payload}."), "TAMPER-3").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let (_, payload) = decode(&token)?;
    let body = b64url_encode(payload.to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64url_encode(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
        for unsigned in [format!("{header}.{body}."), format!("{header}.{body}")] {
            let reply = create_with(&server, &unsigned, "NONE").await?;
            assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
        }
        // alg none with the original (valid HS256) signature attached.
        let signature = token.rsplit('.').next().unwrap_or_default();
        let reply = create_with(&server, &format!("{header}.{body}.{signature}"), "NONE").await?;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // A token that names another HMAC algorithm, signed with HS256, is refused too.
    let forged = sign(&json!({"alg": "HS512", "typ": "JWT"}), &payload, TEST_JWT_SECRET.as_bytes());
    let reply = create_with(&server, &forged, "NONE").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Refresh and logout

#[tokio::test]
async fn refreshing_rotates_the_pair_and_reusing_an_old_refresh_token_revokes_the_family() -> TestResult {
    let server = TestServer::start().await?;
    let first = admin_login(&server).await?;
    let old_refresh = first.str("refresh_token")?.to_owned();

    let second = refresh(&server, &old_refresh).await?;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["token_type"], "Bearer");
    assert!(second.body["expires_in"].as_u64().is_some_and(|s| s > 0), "{}", second.body);
    let new_refresh = second.str("refresh_token")?.to_owned();
    assert_ne!(new_refresh, old_refresh, "the refresh token was not rotated");
    let new_access = second.str("access_token")?.to_owned();
    let created = create_with(&server, &new_access, "ROTATED").await?;
    assert_eq!(created.status, StatusCode::CREATED, "the refreshed access token does not work: {}", created.body);
    let (_, payload) = decode(&new_access)?;
    assert_eq!(payload["typ"], "staff");

    // The old token, used again: refused, and its whole family with it.
    let reuse = refresh(&server, &old_refresh).await?;
    assert_problem(&reuse, StatusCode::UNAUTHORIZED, "unauthorized");
    let after_reuse = refresh(&server, &new_refresh).await?;
    assert_problem(&after_reuse, StatusCode::UNAUTHORIZED, "unauthorized");

    // Another sign-in starts a new family that works.
    let fresh = admin_login(&server).await?;
    assert_eq!(refresh(&server, fresh.str("refresh_token")?).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let reply = refresh(&server, "not-a-refresh-token").await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    // An access token is not a refresh token.
    let access = server.admin_token().await?;
    let reply = refresh(&server, &access).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    Ok(())
}

#[tokio::test]
async fn logout_answers_204_and_the_refresh_token_then_fails() -> TestResult {
    let server = TestServer::start().await?;
    let pair = admin_login(&server).await?;
    let refresh_token = pair.str("refresh_token")?.to_owned();
    let other = admin_login(&server).await?;

    let reply = server.post("/v1/auth/logout", None, json!({"refresh_token": refresh_token})).await?;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(reply.body, Value::Null, "204 with a body");
    let reply = refresh(&server, &refresh_token).await?;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // Another session of the same account is not signed out.
    assert_eq!(refresh(&server, other.str("refresh_token")?).await?.status, StatusCode::OK);
    Ok(())
}

/// Every staff-only catalog route, with a body that is invalid (so a check after the body
/// would answer 422 instead).
fn staff_only_routes(product: &str, variant: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::POST, "/v1/products".into(), Some(json!({}))),
        (Method::PATCH, format!("/v1/products/{product}"), Some(json!({"nonsense": 1}))),
        (Method::DELETE, format!("/v1/products/{product}"), None),
        (Method::POST, format!("/v1/products/{product}/variants"), Some(json!({}))),
        (Method::PATCH, format!("/v1/products/{product}/variants/{variant}"), Some(json!({"nonsense": 1}))),
        (Method::DELETE, format!("/v1/products/{product}/variants/{variant}"), None),
        (Method::POST, "/v1/categories".into(), Some(json!({}))),
    ]
}

#[tokio::test]
async fn staff_routes_check_credentials_before_the_body() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server.create_product(&token, tee("Guarded Tee", "GUARD")).await?;
    let (product_id, variant_id) =
        (product["id"].as_str().unwrap_or_default(), product["variants"][0]["id"].as_str().unwrap_or_default());

    // Support staff read customers and orders, never the catalog's writes.
    let reader = server.staff_token("reader@shop.test", emporium_customers::Role::Support).await?;

    for (method, path, body) in staff_only_routes(product_id, variant_id) {
        let anonymous = server.send(method.clone(), &path, None, body.clone()).await?;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {path} anonymous: {}", anonymous.body);
        assert_eq!(anonymous.problem_code(), "unauthorized", "{method} {path}");
        let forbidden = server.send(method.clone(), &path, Some(&reader), body).await?;
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{method} {path} support role: {}", forbidden.body);
        assert_eq!(forbidden.problem_code(), "forbidden", "{method} {path}");
    }
    // Nothing changed.
    assert_eq!(server.get(&format!("/v1/products/{product_id}")).await?.body["name"], "Guarded Tee");
    Ok(())
}

#[tokio::test]
async fn without_a_configured_secret_the_key_is_kept_in_the_database_for_every_instance_and_restart() -> TestResult {
    let a = TestServer::start_with(Options { generated_signing_key: true, ..Options::default() }).await?;
    let token = a.admin_token().await?;
    let (_, claims) = decode(&token)?;
    assert_eq!(claims["iss"], "emporium");
    // Not the configured test secret: the key was generated and stored.
    let forged = sign(&json!({"alg": "HS256", "typ": "JWT"}), &claims, TEST_JWT_SECRET.as_bytes());
    assert_eq!(a.get_as("/v1/products?status=all", &forged).await?.status, StatusCode::UNAUTHORIZED);

    // A second instance on the same database accepts the first one's token...
    let b = a.sibling(Options { generated_signing_key: true, ..Options::default() }).await?;
    assert_eq!(b.get_as("/v1/products?status=all", &token).await?.status, StatusCode::OK);
    // ...and so does the first after a restart (a new process on the same database).
    drop(b);
    let restarted = a.sibling(Options { generated_signing_key: true, ..Options::default() }).await?;
    assert_eq!(restarted.get_as("/v1/products?status=all", &token).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn admin_create_makes_the_first_admin_once_and_then_changes_nothing() -> TestResult {
    let server = TestServer::start().await?;
    let created =
        emporium_gateway::seed::create_admin(&server.app_db, "owner@shop.test", "the first password".into()).await?;
    assert!(created, "the first call creates the account");
    let again =
        emporium_gateway::seed::create_admin(&server.app_db, " Owner@Shop.test ", "another password!".into()).await?;
    assert!(!again, "the same email (in another case) changes nothing");
    let first = login(&server, json!({"email": "owner@shop.test", "password": "the first password"})).await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = login(&server, json!({"email": "owner@shop.test", "password": "another password!"})).await?;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED, "the second password must not have replaced the first");
    Ok(())
}

#[tokio::test]
async fn a_token_not_yet_valid_or_expired_past_thirty_seconds_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let (header, payload) = decode(&token)?;
    assert!(payload["nbf"].is_i64(), "issued with nbf: {payload}");
    let with = |nbf: i64, exp: i64| {
        let mut claims = payload.clone();
        claims["iat"] = json!(now() - 60);
        claims["nbf"] = json!(nbf);
        claims["exp"] = json!(exp);
        sign(&header, &claims, TEST_JWT_SECRET.as_bytes())
    };
    for (case, token, expected) in [
        ("not before, in two minutes", with(now() + 120, now() + 600), StatusCode::UNAUTHORIZED),
        ("expired 45 s ago", with(now() - 60, now() - 45), StatusCode::UNAUTHORIZED),
        ("expired 10 s ago, within the leeway", with(now() - 60, now() - 10), StatusCode::OK),
    ] {
        let reply = server.get_as("/v1/staff", &token).await?;
        assert_eq!(reply.status, expected, "{case}: {}", reply.body);
    }
    Ok(())
}
