//! Staff sign-in: login, access tokens (JWT), refresh-token rotation with reuse detection,
//! logout. Forged, tampered, unsigned and expired tokens are refused.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Reply, TestResult, TestServer, tee};

/// The signing secret every test server is configured with (`TestServer::start_with` in
/// common.rs sets `config.jwt_secret` to this); used to hand-sign tokens below.
const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-0123456789";

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
// Base64url, SHA-256 and HMAC-SHA256, by hand (the tests have no crypto crates)

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

fn b64url_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let value = B64URL.iter().position(|&b| b == c).ok_or_else(|| anyhow::anyhow!("not base64url: {c}"))?;
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for (k, wi) in K.iter().zip(w.iter()) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(*k).wrapping_add(*wi);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (slot, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *slot = slot.wrapping_add(value);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(message);
    let mut outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JWT with this header and payload, signed HS256 with `secret`.
fn sign(header: &Value, payload: &Value, secret: &[u8]) -> String {
    let signing_input =
        format!("{}.{}", b64url_encode(header.to_string().as_bytes()), b64url_encode(payload.to_string().as_bytes()));
    let signature = hmac_sha256(secret, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url_encode(&signature))
}

/// The decoded header and payload of a JWT.
fn decode(token: &str) -> anyhow::Result<(Value, Value)> {
    let parts: Vec<&str> = token.split('.').collect();
    anyhow::ensure!(parts.len() == 3, "a JWT has three parts: {token}");
    let header = serde_json::from_slice(&b64url_decode(parts[0])?)?;
    let payload = serde_json::from_slice(&b64url_decode(parts[1])?)?;
    Ok((header, payload))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

#[test]
fn the_hand_written_crypto_helpers_match_known_vectors() {
    assert_eq!(hex(&sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(
        hex(&sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // RFC 4231, test cases 2 and 6 (a key longer than the block).
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex(&hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
        let encoded = b64url_encode(text.as_bytes());
        assert_eq!(b64url_decode(&encoded).ok().as_deref(), Some(text.as_bytes()), "{encoded}");
    }
    assert_eq!(b64url_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(b64url_encode(&[0xfb, 0xff]), "-_8");
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
    assert_eq!(payload["kind"], "staff", "{payload}");
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
    assert_eq!(payload["kind"], "staff");

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

    let hash = emporium_customers::hash_password("read only password")?;
    emporium_customers::create_staff(
        &server.app_db,
        "reader@shop.test",
        &hash,
        &[emporium_customers::Permission::CatalogRead],
    )
    .await?;
    let reader = login(&server, json!({"email": "reader@shop.test", "password": "read only password"})).await?;
    let reader = reader.str("access_token")?.to_owned();

    for (method, path, body) in staff_only_routes(product_id, variant_id) {
        let anonymous = server.send(method.clone(), &path, None, body.clone()).await?;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {path} anonymous: {}", anonymous.body);
        assert_eq!(anonymous.problem_code(), "unauthorized", "{method} {path}");
        let forbidden = server.send(method.clone(), &path, Some(&reader), body).await?;
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{method} {path} catalog:read only: {}", forbidden.body);
        assert_eq!(forbidden.problem_code(), "forbidden", "{method} {path}");
    }
    // Nothing changed.
    assert_eq!(server.get(&format!("/v1/products/{product_id}")).await?.body["name"], "Guarded Tee");
    Ok(())
}
