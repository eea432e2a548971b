//! Customers, addresses, staff roles and API keys, as the "Who is calling" section of API.md
//! describes them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auth::{TEST_JWT_SECRET, decode, sign};
use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, CUSTOMER_PASSWORD, TestResult, TestServer, tee};
use emporium_customers::Role;

fn registration(email: &str) -> Value {
    json!({"email": email, "password": CUSTOMER_PASSWORD, "first_name": "Ada", "last_name": "Lovelace"})
}

fn address(line1: &str) -> Value {
    json!({"first_name": "Ada", "last_name": "Lovelace", "line1": line1, "city": "Paris", "postal_code": "75001", "country": "FR"})
}

async fn login(
    server: &TestServer,
    email: &str,
    password: &str,
    account: Option<&str>,
) -> anyhow::Result<crate::common::Reply> {
    let mut body = json!({"email": email, "password": password});
    if let Some(account) = account {
        body["account"] = json!(account);
    }
    server.post("/v1/auth/login", None, body).await
}

#[tokio::test]
async fn a_customer_registers_signs_in_and_manages_their_profile() -> TestResult {
    let server = TestServer::start().await?;
    let registered = server.post("/v1/customers", None, registration("  Ada@Example.COM ")).await?;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    assert_eq!(registered.body["email"], "ada@example.com", "emails are stored normalised");
    let keys: Vec<&str> =
        registered.body.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(keys, ["created_at", "email", "first_name", "id", "last_name"], "no password or hash in the answer");

    let signed_in = login(&server, "ada@example.com", CUSTOMER_PASSWORD, Some("customer")).await?;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let (_, claims) = decode(signed_in.str("access_token")?)?;
    assert_eq!(claims["typ"], "customer");
    let token = signed_in.str("access_token")?.to_owned();

    let me = server.get_as("/v1/customers/me", &token).await?;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body, registered.body);

    let renamed = server.patch("/v1/customers/me", Some(&token), json!({"first_name": " Augusta "})).await?;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["first_name"], "Augusta");
    assert_eq!(renamed.body["last_name"], "Lovelace");

    // Left out, the account kind tries staff first, then finds the customer.
    let without_kind = login(&server, "ADA@example.com", CUSTOMER_PASSWORD, None).await?;
    assert_eq!(without_kind.status, StatusCode::OK, "{}", without_kind.body);
    Ok(())
}

#[tokio::test]
async fn an_email_registers_once_whatever_its_case_or_spaces() -> TestResult {
    let server = TestServer::start().await?;
    assert_eq!(server.post("/v1/customers", None, registration("bo@example.com")).await?.status, StatusCode::CREATED);
    let again = server.post("/v1/customers", None, registration(" BO@example.com")).await?;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.problem_code(), "email_taken");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_racing_registrations_of_one_email_make_exactly_one_account() -> TestResult {
    let server = std::sync::Arc::new(TestServer::start().await?);
    let mut racers = Vec::new();
    for i in 0..6 {
        let server = std::sync::Arc::clone(&server);
        let email = if i % 2 == 0 { "race@example.com" } else { "RACE@example.com" };
        racers.push(tokio::spawn(async move { server.post("/v1/customers", None, registration(email)).await }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await??.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
    let admin = server.admin_token().await?;
    let found = server.get_as("/v1/customers?q=race@", &admin).await?;
    assert_eq!(found.body["data"].as_array().map(Vec::len), Some(1), "{}", found.body);
    Ok(())
}

#[tokio::test]
async fn registration_refuses_bad_input_and_fields_a_client_may_not_set() -> TestResult {
    let server = TestServer::start().await?;
    let short = server
        .post(
            "/v1/customers",
            None,
            json!({"email": "c@example.com", "password": "123456789", "first_name": "C", "last_name": "D"}),
        )
        .await?;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.error_fields(), [("password".to_owned(), "too_short".to_owned())]);
    let bad_email = server
        .post(
            "/v1/customers",
            None,
            json!({"email": "not-an-email", "password": CUSTOMER_PASSWORD, "first_name": "C", "last_name": "D"}),
        )
        .await?;
    assert_eq!(bad_email.error_fields(), [("email".to_owned(), "invalid_email".to_owned())]);
    for field in ["role", "is_staff", "id", "email_verified"] {
        let mut body = registration("mass@example.com");
        body[field] = json!(true);
        let reply = server.post("/v1/customers", None, body).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {}", reply.body);
        assert_eq!(reply.problem_code(), "validation_failed");
        assert_eq!(reply.error_fields().first().map(|f| f.0.as_str()), Some(field));
    }
    let huge = server
        .post(
            "/v1/customers",
            None,
            json!({"email": "h@example.com", "password": "x".repeat(2000), "first_name": "C", "last_name": "D"}),
        )
        .await?;
    assert_eq!(huge.error_fields(), [("password".to_owned(), "too_long".to_owned())]);
    // Nothing was created.
    let admin = server.admin_token().await?;
    let all = server.get_as("/v1/customers", &admin).await?;
    assert_eq!(all.body["data"], json!([]), "{}", all.body);
    Ok(())
}

#[tokio::test]
async fn a_customer_token_never_passes_where_a_staff_token_is_needed() -> TestResult {
    let server = TestServer::start().await?;
    let (customer_id, token) = server.customer("shopper@example.com").await?;
    let create = server.post("/v1/products", Some(&token), tee("Sneaky", "SNEAK")).await?;
    assert_eq!(create.status, StatusCode::FORBIDDEN, "{}", create.body);
    assert_eq!(server.get_as("/v1/customers", &token).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(server.get_as("/v1/products?status=draft", &token).await?.status, StatusCode::FORBIDDEN);

    // Even a validly signed token that claims staff for a customer's id is refused: no
    // staff account has that id.
    let (header, mut claims) = decode(&token)?;
    claims["typ"] = json!("staff");
    let forged = sign(&header, &claims, TEST_JWT_SECRET.as_bytes());
    let refused = server.post("/v1/products", Some(&forged), tee("Sneaky", "SNEAK")).await?;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    // A token without `typ` is no token at all.
    let mut untyped = claims.clone();
    if let Some(map) = untyped.as_object_mut() {
        map.remove("typ");
    }
    let untyped = sign(&header, &untyped, TEST_JWT_SECRET.as_bytes());
    assert_eq!(server.get_as("/v1/customers/me", &untyped).await?.status, StatusCode::UNAUTHORIZED);
    // Staff are not customers: their token is 403 on the customer's own routes.
    let admin = server.admin_token().await?;
    assert_eq!(server.get_as("/v1/customers/me", &admin).await?.status, StatusCode::FORBIDDEN);
    assert!(customer_id.starts_with("cus_"));
    Ok(())
}

#[tokio::test]
async fn changing_the_password_revokes_every_refresh_token_of_the_account() -> TestResult {
    let server = TestServer::start().await?;
    let (_, token) = server.customer("pw@example.com").await?;
    let phone = login(&server, "pw@example.com", CUSTOMER_PASSWORD, Some("customer")).await?;
    let laptop = login(&server, "pw@example.com", CUSTOMER_PASSWORD, Some("customer")).await?;

    let wrong = server
        .post(
            "/v1/customers/me/password",
            Some(&token),
            json!({"current_password": "not it at all", "new_password": "a brand new password"}),
        )
        .await?;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
    assert_eq!(wrong.error_fields(), [("current_password".to_owned(), "wrong_password".to_owned())]);

    let changed = server
        .post(
            "/v1/customers/me/password",
            Some(&token),
            json!({"current_password": CUSTOMER_PASSWORD, "new_password": "a brand new password"}),
        )
        .await?;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    for device in [&phone, &laptop] {
        let refreshed =
            server.post("/v1/auth/refresh", None, json!({"refresh_token": device.str("refresh_token")?})).await?;
        assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED, "{}", refreshed.body);
    }
    assert_eq!(login(&server, "pw@example.com", CUSTOMER_PASSWORD, None).await?.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&server, "pw@example.com", "a brand new password", None).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn the_address_book_keeps_one_default_of_each_kind_and_hides_other_customers_addresses() -> TestResult {
    let server = TestServer::start().await?;
    let (_, ada) = server.customer("ada@example.com").await?;
    let (_, bob) = server.customer("bob@example.com").await?;

    let mut home = address("1 Rue de Rivoli");
    home["default_shipping"] = json!(true);
    home["default_billing"] = json!(true);
    let home = server.post("/v1/customers/me/addresses", Some(&ada), home).await?;
    assert_eq!(home.status, StatusCode::CREATED, "{}", home.body);
    let home_id = home.str("id")?.to_owned();
    let mut work = address("2 Avenue de l'Opéra");
    work["default_shipping"] = json!(true);
    let work = server.post("/v1/customers/me/addresses", Some(&ada), work).await?;
    let work_id = work.str("id")?.to_owned();

    let book = server.get_as("/v1/customers/me/addresses", &ada).await?;
    let flags: Vec<(Value, Value)> = book.body["data"]
        .as_array()
        .map(|a| a.iter().map(|x| (x["default_shipping"].clone(), x["default_billing"].clone())).collect())
        .unwrap_or_default();
    assert_eq!(
        flags,
        [(json!(false), json!(true)), (json!(true), json!(false))],
        "the shipping default moved to the new address"
    );

    let moved = server
        .patch(
            &format!("/v1/customers/me/addresses/{home_id}"),
            Some(&ada),
            json!({"default_shipping": true, "line2": "Bâtiment B"}),
        )
        .await?;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["line2"], "Bâtiment B");
    let work_now = server.get_as("/v1/customers/me/addresses", &ada).await?;
    assert_eq!(work_now.body["data"][1]["default_shipping"], false);
    let cleared =
        server.patch(&format!("/v1/customers/me/addresses/{home_id}"), Some(&ada), json!({"line2": null})).await?;
    assert_eq!(cleared.body["line2"], Value::Null);

    let bad_country = server.post("/v1/customers/me/addresses", Some(&ada), json!({"first_name": "A", "last_name": "L", "line1": "x", "city": "y", "postal_code": "1", "country": "XX"})).await?;
    assert_eq!(bad_country.error_fields(), [("country".to_owned(), "invalid_country".to_owned())]);
    let cleared_required =
        server.patch(&format!("/v1/customers/me/addresses/{home_id}"), Some(&ada), json!({"city": null})).await?;
    assert_eq!(cleared_required.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Bob sees none of it, and cannot change or delete it: 404, as if it did not exist.
    assert_eq!(server.get_as("/v1/customers/me/addresses", &bob).await?.body["data"], json!([]));
    let patched =
        server.patch(&format!("/v1/customers/me/addresses/{work_id}"), Some(&bob), json!({"city": "Lyon"})).await?;
    assert_eq!(patched.status, StatusCode::NOT_FOUND, "{}", patched.body);
    assert_eq!(
        server.delete(&format!("/v1/customers/me/addresses/{work_id}"), Some(&bob)).await?.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.get_as("/v1/customers/me/addresses", &ada).await?.body["data"][1]["city"], "Paris");

    assert_eq!(
        server.delete(&format!("/v1/customers/me/addresses/{work_id}"), Some(&ada)).await?.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.get_as("/v1/customers/me/addresses", &ada).await?.body["data"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn staff_search_and_read_customers_with_their_order_figures() -> TestResult {
    let server = TestServer::start().await?;
    let (ada_id, _) = server.customer("ada@example.com").await?;
    server.customer("bob@example.com").await?;
    let support = server.staff_token("help@shop.test", Role::Support).await?;
    let found = server.get_as("/v1/customers?q=ADA%40", &support).await?;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["data"].as_array().map(Vec::len), Some(1));
    let first = server.get_as("/v1/customers?limit=1", &support).await?;
    let next = first.str("next_cursor")?.to_owned();
    let second = server.get_as(&format!("/v1/customers?limit=1&cursor={next}"), &support).await?;
    assert_eq!(second.body["data"][0]["email"], "bob@example.com");
    assert_eq!(server.get_as("/v1/customers?cursor=nonsense", &support).await?.problem_code(), "invalid_cursor");

    let one = server.get_as(&format!("/v1/customers/{ada_id}"), &support).await?;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["orders_count"], 0);
    assert_eq!(one.body["total_spent"], json!([]));
    assert_eq!(server.get_as("/v1/customers/cus_nope", &support).await?.status, StatusCode::NOT_FOUND);
    let catalog = server.staff_token("cat@shop.test", Role::Catalog).await?;
    assert_eq!(server.get_as("/v1/customers", &catalog).await?.status, StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn roles_decide_what_staff_may_do_and_admins_make_staff() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let created = server
        .post(
            "/v1/staff",
            Some(&admin),
            json!({"email": "Cat@Shop.test", "password": "catalog password", "role": "catalog"}),
        )
        .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["role"], "catalog");
    assert_eq!(created.body["email"], "cat@shop.test");
    assert!(created.body.get("password").is_none() && created.body.get("password_hash").is_none());
    let taken = server
        .post(
            "/v1/staff",
            Some(&admin),
            json!({"email": "cat@shop.test", "password": "catalog password", "role": "support"}),
        )
        .await?;
    assert_eq!(taken.problem_code(), "email_taken");

    let catalog = login(&server, "cat@shop.test", "catalog password", Some("staff")).await?;
    let catalog = catalog.str("access_token")?.to_owned();
    assert_eq!(server.create_product(&catalog, tee("By Catalog", "BYCAT")).await?["name"], "By Catalog");
    let refused = server
        .post(
            "/v1/staff",
            Some(&catalog),
            json!({"email": "x@shop.test", "password": "some password", "role": "admin"}),
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let fulfillment = server.staff_token("ship@shop.test", Role::Fulfillment).await?;
    assert_eq!(server.post("/v1/products", Some(&fulfillment), tee("No", "NO")).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(server.get_as("/v1/customers", &fulfillment).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(server.get_as("/v1/products?status=draft", &fulfillment).await?.status, StatusCode::FORBIDDEN);

    let listed = server.get_as("/v1/staff", &admin).await?;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(3), "{}", listed.body);
    Ok(())
}

#[tokio::test]
async fn a_disabled_or_changed_staff_account_stops_working_at_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let created = server
        .post(
            "/v1/staff",
            Some(&admin),
            json!({"email": "temp@shop.test", "password": "temporary password", "role": "catalog"}),
        )
        .await?;
    let staff_id = created.str("id")?.to_owned();
    let session = login(&server, "temp@shop.test", "temporary password", None).await?;
    let token = session.str("access_token")?.to_owned();
    assert_eq!(server.get_as("/v1/products?status=draft", &token).await?.status, StatusCode::OK);

    // A new role: the old token is refused; a refresh brings a token with the new role.
    let changed = server.patch(&format!("/v1/staff/{staff_id}"), Some(&admin), json!({"role": "support"})).await?;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(server.get_as("/v1/products?status=draft", &token).await?.status, StatusCode::UNAUTHORIZED);
    let refreshed =
        server.post("/v1/auth/refresh", None, json!({"refresh_token": session.str("refresh_token")?})).await?;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let token = refreshed.str("access_token")?.to_owned();
    assert_eq!(server.get_as("/v1/products?status=draft", &token).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(server.get_as("/v1/customers", &token).await?.status, StatusCode::OK);

    let disabled = server.patch(&format!("/v1/staff/{staff_id}"), Some(&admin), json!({"disabled": true})).await?;
    assert_eq!(disabled.body["disabled"], true);
    assert_eq!(server.get_as("/v1/customers", &token).await?.status, StatusCode::UNAUTHORIZED);
    let again =
        server.post("/v1/auth/refresh", None, json!({"refresh_token": refreshed.str("refresh_token")?})).await?;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&server, "temp@shop.test", "temporary password", None).await?.status, StatusCode::UNAUTHORIZED);

    // The last admin cannot lock the shop out.
    let me = server.get_as("/v1/staff", &admin).await?;
    let admin_id = me.body["data"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["email"] == ADMIN_EMAIL))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let last = server.patch(&format!("/v1/staff/{admin_id}"), Some(&admin), json!({"role": "support"})).await?;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert_eq!(last.problem_code(), "last_admin");
    assert_eq!(login(&server, ADMIN_EMAIL, ADMIN_PASSWORD, None).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn api_keys_act_as_staff_within_their_scopes_and_die_when_revoked() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let created = server
        .post("/v1/api-keys", Some(&admin), json!({"name": "ERP", "scopes": ["catalog:read", "catalog:write"]}))
        .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.str("key")?.to_owned();
    let key_id = created.str("id")?.to_owned();
    assert!(key.starts_with("emp_") && key.len() >= 4 + 43, "{key}");
    assert!(key.starts_with(created.str("prefix")?));
    assert_eq!(created.body["scopes"], json!(["catalog:read", "catalog:write"]));

    assert_eq!(server.create_product(&key, tee("Synced", "SYNC")).await?["name"], "Synced");
    assert_eq!(server.get_as("/v1/products?status=draft", &key).await?.status, StatusCode::OK);
    assert_eq!(server.get_as("/v1/customers", &key).await?.status, StatusCode::FORBIDDEN);
    // Keys cannot manage keys or staff.
    assert_eq!(server.get_as("/v1/api-keys", &key).await?.status, StatusCode::FORBIDDEN);

    let (_, reader) = server.api_key(&admin, &["customers:read"]).await?;
    assert_eq!(server.get_as("/v1/customers", &reader).await?.status, StatusCode::OK);
    assert_eq!(server.post("/v1/products", Some(&reader), tee("No", "NOKEY")).await?.status, StatusCode::FORBIDDEN);

    let bad_scope = server.post("/v1/api-keys", Some(&admin), json!({"name": "x", "scopes": ["staff:manage"]})).await?;
    assert_eq!(bad_scope.error_fields(), [("scopes[0]".to_owned(), "unknown_scope".to_owned())]);

    let listed = server.get_as("/v1/api-keys", &admin).await?;
    let text = listed.body.to_string();
    assert!(!text.contains(&key[8..]), "a listing shows a secret: {text}");
    let erp = listed.body["data"].as_array().and_then(|keys| keys.iter().find(|k| k["id"] == key_id.as_str())).cloned();
    assert!(erp.as_ref().is_some_and(|k| k["last_used_at"].is_string()), "last use not recorded: {erp:?}");

    assert_eq!(server.delete(&format!("/v1/api-keys/{key_id}"), Some(&admin)).await?.status, StatusCode::NO_CONTENT);
    // Revoked: 401 everywhere, a public read included.
    let public = server.get_as("/v1/products", &key).await?;
    assert_eq!(public.status, StatusCode::UNAUTHORIZED, "{}", public.body);
    assert_eq!(public.problem_code(), "unauthorized");
    assert_eq!(server.get_as("/v1/products", "emp_not-a-real-key").await?.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.delete(&format!("/v1/api-keys/{key_id}"), Some(&admin)).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_retried_key_creation_never_repeats_the_secret() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let send = || {
        server
            .client
            .post(server.url("/v1/api-keys"))
            .bearer_auth(&admin)
            .header("idempotency-key", "erp-key-1")
            .json(&json!({"name": "ERP", "scopes": ["orders:read"]}))
            .send()
    };
    let first = crate::common::Reply::from(send().await?).await?;
    let second = crate::common::Reply::from(send().await?).await?;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.body["key"].is_string());
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.body["id"], first.body["id"], "the work was done once");
    assert_eq!(second.body["key"], Value::Null, "a stored answer held the secret");
    Ok(())
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() -> TestResult {
    let server = TestServer::start().await?;
    let lifetimes = emporium_customers::SessionLifetimes {
        token: chrono::Duration::days(30),
        family: chrono::Duration::milliseconds(300),
    };
    let session = emporium_customers::issue_session(
        &server.app_db,
        emporium_customers::AccountKind::Customer,
        "cus_x",
        lifetimes,
    )
    .await?;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let outcome = emporium_customers::refresh_session(&server.app_db, &session.refresh_token, lifetimes).await?;
    assert!(matches!(outcome, emporium_customers::RefreshOutcome::Invalid), "{outcome:?}");
    Ok(())
}

#[tokio::test]
async fn graphql_serves_the_same_account_flows_with_the_same_codes() -> TestResult {
    let server = TestServer::start().await?;
    let register = r#"mutation($email: String!) { registerCustomer(email: $email, password: "graph password 1", firstName: "Gra", lastName: "Ph") { id email } }"#;
    let created = server.graphql(None, register, json!({"email": "Gql@Example.com"})).await?;
    assert_eq!(created.body["data"]["registerCustomer"]["email"], "gql@example.com", "{}", created.body);
    let again = server.graphql(None, register, json!({"email": "gql@example.com"})).await?;
    assert_eq!(again.body["errors"][0]["extensions"]["code"], "email_taken", "{}", again.body);

    let signed_in = server
        .graphql(None, r#"mutation { login(email: "gql@example.com", password: "graph password 1", account: CUSTOMER) { accessToken } }"#, json!({}))
        .await?;
    let token = signed_in.body["data"]["login"]["accessToken"].as_str().unwrap_or_default().to_owned();
    let me = server.graphql(Some(&token), "{ me { email firstName } }", json!({})).await?;
    assert_eq!(me.body["data"]["me"]["firstName"], "Gra", "{}", me.body);
    let added = server
        .graphql(
            Some(&token),
            r#"mutation { addAddress(address: {firstName: "G", lastName: "P", line1: "1 Main St", city: "Austin", region: "TX", postalCode: "78701", country: "us"}, defaultShipping: true) { id country defaultShipping } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(added.body["data"]["addAddress"]["country"], "US", "{}", added.body);
    let bad = server
        .graphql(
            Some(&token),
            r#"mutation { addAddress(address: {firstName: "G", lastName: "P", line1: "1", city: "A", postalCode: "1", country: "ZZ"}) { id } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(bad.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", bad.body);
    let book = server.graphql(Some(&token), "{ myAddresses { line1 } }", json!({})).await?;
    assert_eq!(book.body["data"]["myAddresses"][0]["line1"], "1 Main St");

    let anonymous = server.graphql(None, "{ me { id } }", json!({})).await?;
    assert_eq!(anonymous.body["errors"][0]["extensions"]["code"], "unauthorized");
    let customers = server.graphql(Some(&token), "{ customers { nodes { id } } }", json!({})).await?;
    assert_eq!(customers.body["errors"][0]["extensions"]["code"], "forbidden");
    let admin = server.admin_token().await?;
    let listed = server
        .graphql(
            Some(&admin),
            r#"{ customers(query: "gql") { edges { cursor node { email } } pageInfo { hasNextPage } } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(listed.body["data"]["customers"]["edges"][0]["node"]["email"], "gql@example.com", "{}", listed.body);
    let key = server
        .graphql(
            Some(&admin),
            r#"mutation { createApiKey(name: "gql", scopes: ["events:read"]) { id key scopes } }"#,
            json!({}),
        )
        .await?;
    assert!(key.body["data"]["createApiKey"]["key"].as_str().is_some_and(|k| k.starts_with("emp_")), "{}", key.body);
    let keys = server.graphql(Some(&admin), "{ apiKeys { nodes { name prefix } } }", json!({})).await?;
    assert_eq!(keys.body["data"]["apiKeys"]["nodes"][0]["name"], "gql");
    let password = server
        .graphql(
            Some(&token),
            r#"mutation { changePassword(currentPassword: "graph password 1", newPassword: "graph password 2") }"#,
            json!({}),
        )
        .await?;
    assert_eq!(password.body["data"]["changePassword"], true, "{}", password.body);
    Ok(())
}

#[tokio::test]
async fn a_body_must_be_an_object_not_an_array_of_its_fields() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let created = server
        .post(
            "/v1/staff",
            Some(&admin),
            json!({"email": "arr@shop.test", "password": "array password", "role": "support"}),
        )
        .await?;
    let staff_id = created.str("id")?.to_owned();
    let (_, customer) = server.customer("arr@example.com").await?;
    for (path, token) in [(format!("/v1/staff/{staff_id}"), &admin), ("/v1/customers/me".to_owned(), &customer)] {
        let reply = server.patch(&path, Some(token), json!([null, null])).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", reply.body);
        assert_eq!(reply.error_fields(), [("body".to_owned(), "invalid_type".to_owned())]);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_stops_honouring_a_disabled_staff_token_within_seconds() -> TestResult {
    let a = TestServer::start().await?;
    let b = a.sibling(crate::common::Options::default()).await?;
    let admin = a.admin_token().await?;
    let created = a
        .post(
            "/v1/staff",
            Some(&admin),
            json!({"email": "far@shop.test", "password": "far away password", "role": "catalog"}),
        )
        .await?;
    let staff_id = created.str("id")?.to_owned();
    let token = login(&a, "far@shop.test", "far away password", None).await?.str("access_token")?.to_owned();
    // B has looked the account up (and cached it) before the change.
    assert_eq!(b.get_as("/v1/products?status=draft", &token).await?.status, StatusCode::OK);

    let disabled = a.patch(&format!("/v1/staff/{staff_id}"), Some(&admin), json!({"disabled": true})).await?;
    assert_eq!(disabled.status, StatusCode::OK);
    let started = std::time::Instant::now();
    assert_eq!(
        a.get_as("/v1/products?status=draft", &token).await?.status,
        StatusCode::UNAUTHORIZED,
        "at once where changed"
    );
    loop {
        let status = b.get_as("/v1/products?status=draft", &token).await?.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "still honoured after {:?}", started.elapsed());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    eprintln!("MEASURED a disabled staff token kept working on another instance for {:?}", started.elapsed());
    Ok(())
}

#[tokio::test]
async fn graphql_logins_cannot_be_multiplied_by_aliases_and_each_failure_counts() -> TestResult {
    let server = TestServer::start().await?;
    // A login costs most of a document's complexity: two in one document are refused whole,
    // before any password is checked (so nothing is counted either).
    let two = format!(
        r#"mutation {{ a: login(email: "{ADMIN_EMAIL}", password: "wrong 1") {{ accessToken }} b: login(email: "{ADMIN_EMAIL}", password: "wrong 2") {{ accessToken }} }}"#
    );
    let refused = server.graphql(None, &two, json!({})).await?;
    assert_eq!(refused.body["errors"][0]["extensions"]["code"], "query_too_complex", "{}", refused.body);
    assert_eq!(login(&server, ADMIN_EMAIL, ADMIN_PASSWORD, None).await?.status, StatusCode::OK);
    // One per document, ten documents: the email is locked for REST too.
    for i in 0..10 {
        let one = format!(r#"mutation {{ login(email: "{ADMIN_EMAIL}", password: "wrong {i}") {{ accessToken }} }}"#);
        let reply = server.graphql(None, &one, json!({})).await?;
        assert_eq!(reply.body["errors"][0]["extensions"]["code"], "unauthorized", "{}", reply.body);
    }
    assert_eq!(login(&server, ADMIN_EMAIL, ADMIN_PASSWORD, None).await?.status, StatusCode::TOO_MANY_REQUESTS);
    Ok(())
}

#[tokio::test]
async fn without_an_account_kind_a_customer_account_is_tried_after_the_staff_one() -> TestResult {
    let server = TestServer::start().await?;
    // The admin also shops, with the same email and another password.
    let registered = server
        .post(
            "/v1/customers",
            None,
            json!({"email": ADMIN_EMAIL, "password": "my shopping password", "first_name": "A", "last_name": "D"}),
        )
        .await?;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    let shopper = login(&server, ADMIN_EMAIL, "my shopping password", None).await?;
    assert_eq!(shopper.status, StatusCode::OK, "{}", shopper.body);
    assert_eq!(decode(shopper.str("access_token")?)?.1["typ"], "customer");
    let staff = login(&server, ADMIN_EMAIL, ADMIN_PASSWORD, None).await?;
    assert_eq!(decode(staff.str("access_token")?)?.1["typ"], "staff");
    Ok(())
}

#[tokio::test]
async fn control_characters_in_ids_and_searches_are_404_or_422_on_both_databases() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let (_, customer) = server.customer("nul@example.com").await?;
    for (path, token) in [
        ("/v1/products/a%00b", None),
        ("/v1/categories/a%00b", None),
        ("/v1/customers/cus_%00", Some(&admin)),
        ("/v1/inventory/SKU%00", Some(&admin)),
        ("/v1/inventory/SKU%00/movements", Some(&admin)),
    ] {
        let reply = server.send(reqwest::Method::GET, path, token.map(String::as_str), None).await?;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.body);
    }
    let deleted = server.delete("/v1/customers/me/addresses/%00", Some(&customer)).await?;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND, "{}", deleted.body);
    assert_eq!(server.patch("/v1/staff/%00", Some(&admin), json!({})).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(server.delete("/v1/api-keys/%00", Some(&admin)).await?.status, StatusCode::NOT_FOUND);
    for path in ["/v1/products?q=a%00b", "/v1/customers?q=a%00b"] {
        let reply = server.get_as(path, &admin).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", reply.body);
    }
    Ok(())
}
