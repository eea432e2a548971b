//! The GraphQL API at `POST /graphql`: the same catalog, rules and error codes as REST, and
//! depth/complexity limits that still let the standard introspection query through.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Reply, TestResult, TestServer, tee};

const PRODUCT_FIELDS: &str =
    "id slug name status variants { sku prices { amount currency } available } categories { id name slug }";

/// The data of a reply that must have succeeded without errors.
fn data(reply: &Reply) -> &Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.get("errors").is_none_or(Value::is_null), "unexpected errors: {}", reply.body);
    &reply.body["data"]
}

/// The `extensions.code` of each error of a reply.
fn error_codes(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

/// A body cut short for failure messages.
fn short(body: &Value) -> String {
    let text = body.to_string();
    if text.len() > 1000 { format!("{}...", text.chars().take(1000).collect::<String>()) } else { text }
}

/// The first error of a reply, which must have one.
fn first_error(reply: &Reply) -> &Value {
    assert!(
        reply.body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "expected an error, got {} {}",
        reply.status,
        short(&reply.body)
    );
    &reply.body["errors"][0]
}

fn create_mutation() -> String {
    format!("mutation Create($input: CreateProductInput!) {{ createProduct(input: $input) {{ {PRODUCT_FIELDS} }} }}")
}

/// A `CreateProductInput` with one option and two variants.
fn input(name: &str, sku_prefix: &str) -> Value {
    json!({
        "name": name,
        "status": "PUBLISHED",
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [
            {"sku": format!("{sku_prefix}-S"), "options": [{"name": "Size", "value": "S"}],
             "prices": [{"amount": 1500, "currency": "EUR"}, {"amount": 1700, "currency": "USD"}]},
            {"sku": format!("{sku_prefix}-M"), "options": [{"name": "Size", "value": "M"}],
             "prices": [{"amount": 1600, "currency": "EUR"}]}
        ]
    })
}

// ---------------------------------------------------------------------------------------
// Reads

#[tokio::test]
async fn products_page_through_with_first_and_after_without_overlap() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut made = HashSet::new();
    for i in 0..3 {
        let product = server.create_product(&token, tee(&format!("Paged Tee {i}"), &format!("PAGED{i}"))).await?;
        made.insert(product["slug"].as_str().unwrap_or_default().to_owned());
    }
    let mut draft = tee("Paged Draft", "PAGEDDRAFT");
    draft["status"] = json!("draft");
    server.create_product(&token, draft).await?;

    let query = "query Page($after: String) {
        products(first: 2, after: $after) {
            nodes { id slug name variants { sku prices { amount currency } available } }
            pageInfo { hasNextPage endCursor }
        }
    }";
    let first = server.graphql(None, query, json!({})).await?;
    let page = &data(&first)["products"];
    let nodes = page["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 2, "{page}");
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{page}");
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "no endCursor: {page}");
    // Variants with their prices and availability.
    let node = &nodes[0];
    let variants = node["variants"].as_array().cloned().unwrap_or_default();
    assert_eq!(variants.len(), 2, "{node}");
    assert!(variants[0]["sku"].as_str().is_some_and(|s| s.ends_with("-S")), "{node}");
    assert_eq!(
        variants[0]["prices"],
        json!([{"amount": 2500, "currency": "EUR"}, {"amount": 2700, "currency": "USD"}])
    );
    assert_eq!(variants[0]["available"], 0, "nothing is stocked: {node}");
    assert!(node["name"].as_str().is_some_and(|n| n.starts_with("Paged Tee")), "{node}");

    let second = server.graphql(None, query, json!({"after": cursor})).await?;
    let page = &data(&second)["products"];
    let rest = page["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(rest.len(), 1, "{page}");
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{page}");

    let seen: Vec<String> =
        nodes.iter().chain(rest.iter()).map(|n| n["slug"].as_str().unwrap_or_default().to_owned()).collect();
    let distinct: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "pages overlap: {seen:?}");
    assert_eq!(distinct, made, "the pages are not the published products (the draft must not show)");

    // A tampered cursor is refused with the REST code.
    let bad = server.graphql(None, query, json!({"after": "garbage"})).await?;
    assert_eq!(error_codes(&bad), vec!["invalid_cursor"], "{}", bad.body);
    // So is a page size out of range.
    let bad = server.graphql(None, "{ products(first: 0) { nodes { id } } }", json!({})).await?;
    assert_eq!(error_codes(&bad), vec!["validation_failed"], "{}", bad.body);
    Ok(())
}

#[tokio::test]
async fn product_returns_the_product_and_null_for_unknown_slugs_and_for_drafts_when_anonymous() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let published = server.create_product(&token, tee("Lookup Tee", "LOOKUP")).await?;
    let mut draft = tee("Secret Tee", "SECRET");
    draft["status"] = json!("draft");
    server.create_product(&token, draft).await?;

    let query = "query One($key: String!) { product(idOrSlug: $key) { id slug name status } }";
    for key in ["lookup-tee", published["id"].as_str().unwrap_or_default()] {
        let reply = server.graphql(None, query, json!({"key": key})).await?;
        let product = &data(&reply)["product"];
        assert_eq!(product["id"], published["id"], "by {key}: {product}");
        assert_eq!(product["slug"], "lookup-tee");
        assert_eq!(product["name"], "Lookup Tee");
        assert_eq!(product["status"], "PUBLISHED");
    }
    let reply = server.graphql(None, query, json!({"key": "no-such-tee"})).await?;
    assert_eq!(data(&reply)["product"], Value::Null);

    let reply = server.graphql(None, query, json!({"key": "secret-tee"})).await?;
    assert_eq!(data(&reply)["product"], Value::Null, "an anonymous caller sees a draft");
    let reply = server.graphql(Some(&token), query, json!({"key": "secret-tee"})).await?;
    let product = &data(&reply)["product"];
    assert_eq!(product["slug"], "secret-tee", "staff do not see the draft: {product}");
    assert_eq!(product["status"], "DRAFT");
    Ok(())
}

#[tokio::test]
async fn a_products_categories_resolve_to_their_names() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut ids = Vec::new();
    for name in ["Shirts", "Summer"] {
        let reply = server.post("/v1/categories", Some(&token), json!({"name": name})).await?;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        ids.push(reply.str("id")?.to_owned());
    }
    let mut both = tee("Category Tee", "CATTEE");
    both["category_ids"] = json!(ids);
    server.create_product(&token, both).await?;
    let mut one = tee("Shirt Only", "SHIRTONLY");
    one["category_ids"] = json!([ids[0]]);
    server.create_product(&token, one).await?;
    server.create_product(&token, tee("No Category", "NOCAT")).await?;

    let reply = server
        .graphql(None, "{ product(idOrSlug: \"category-tee\") { categoryIds categories { id name } } }", json!({}))
        .await?;
    let product = &data(&reply)["product"];
    assert_eq!(product["categoryIds"], json!(ids));
    assert_eq!(product["categories"], json!([{"id": ids[0], "name": "Shirts"}, {"id": ids[1], "name": "Summer"}]));

    // In a list too.
    let reply =
        server.graphql(None, "{ products(first: 10) { nodes { slug categories { name } } } }", json!({})).await?;
    let mut names: Vec<(String, Vec<String>)> = data(&reply)["products"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| {
            let categories = n["categories"].as_array().cloned().unwrap_or_default();
            (
                n["slug"].as_str().unwrap_or_default().to_owned(),
                categories.iter().map(|c| c["name"].as_str().unwrap_or_default().to_owned()).collect(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("category-tee".to_owned(), vec!["Shirts".to_owned(), "Summer".to_owned()]),
            ("no-category".to_owned(), vec![]),
            ("shirt-only".to_owned(), vec!["Shirts".to_owned()]),
        ]
    );

    let reply = server.graphql(None, "{ categories { nodes { id name slug parentId } } }", json!({})).await?;
    let categories = data(&reply)["categories"]["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(categories.len(), 2, "{categories:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Mutations

#[tokio::test]
async fn create_product_without_a_token_is_refused_as_unauthorized() -> TestResult {
    let server = TestServer::start().await?;
    let reply = server.graphql(None, &create_mutation(), json!({"input": input("Anon Tee", "ANON")})).await?;
    let error = first_error(&reply);
    assert_eq!(error["extensions"]["code"], "unauthorized", "{}", reply.body);
    assert!(reply.body["data"].is_null() || reply.body["data"]["createProduct"].is_null(), "{}", reply.body);
    let token = server.admin_token().await?;
    assert_eq!(server.get_as("/v1/products/anon-tee", &token).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn create_product_with_the_admin_token_creates_a_product_readable_over_rest() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let reply = server.graphql(Some(&token), &create_mutation(), json!({"input": input("Graph Tee", "GRAPH")})).await?;
    let created = &data(&reply)["createProduct"];
    assert_eq!(created["slug"], "graph-tee", "{created}");
    assert_eq!(created["status"], "PUBLISHED");
    assert_eq!(created["variants"][0]["sku"], "GRAPH-S");
    assert_eq!(created["variants"][1]["sku"], "GRAPH-M");

    let read = server.get("/v1/products/graph-tee").await?;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["id"], created["id"]);
    assert_eq!(read.body["name"], "Graph Tee");
    assert_eq!(read.body["variants"][0]["options"], json!({"Size": "S"}));
    assert_eq!(
        read.body["variants"][0]["prices"],
        json!([{"amount": 1500, "currency": "EUR"}, {"amount": 1700, "currency": "USD"}])
    );

    // The same conflicts as REST, with the same codes.
    let again =
        server.graphql(Some(&token), &create_mutation(), json!({"input": input("Graph Tee 2", "GRAPH")})).await?;
    assert_eq!(first_error(&again)["extensions"]["code"], "sku_taken", "{}", again.body);
    let mut same_slug = input("Graph Tee 3", "GRAPH3");
    same_slug["slug"] = json!("graph-tee");
    let again = server.graphql(Some(&token), &create_mutation(), json!({"input": same_slug})).await?;
    assert_eq!(first_error(&again)["extensions"]["code"], "slug_taken", "{}", again.body);
    Ok(())
}

#[tokio::test]
async fn an_invalid_create_product_input_is_validation_failed_with_field_paths() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut bad = input("Invalid Graph Tee", "BADGRAPH");
    bad["variants"][0]["prices"][0]["amount"] = json!(0);
    bad["variants"][1]["prices"][0]["currency"] = json!("eur");
    let reply = server.graphql(Some(&token), &create_mutation(), json!({"input": bad})).await?;
    let error = first_error(&reply);
    assert_eq!(error["extensions"]["code"], "validation_failed", "{}", reply.body);
    let mut fields: Vec<(String, String)> = error["extensions"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (e["field"].as_str().unwrap_or_default().to_owned(), e["code"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            ("variants[0].prices[0].amount".to_owned(), "must_be_positive".to_owned()),
            ("variants[1].prices[0].currency".to_owned(), "invalid_currency".to_owned()),
        ],
        "{}",
        reply.body
    );
    assert_eq!(server.get_as("/v1/products/invalid-graph-tee", &token).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn update_product_changes_the_name_and_a_rest_read_shows_it() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("Before Tee", "BEFORE")).await?;
    // Warm any cache first.
    assert_eq!(server.get("/v1/products/before-tee").await?.body["name"], "Before Tee");

    let mutation = "mutation Rename($key: String!, $input: UpdateProductInput!) {
        updateProduct(idOrSlug: $key, input: $input) { slug name description }
    }";
    let reply = server.graphql(None, mutation, json!({"key": "before-tee", "input": {"name": "After Tee"}})).await?;
    assert_eq!(first_error(&reply)["extensions"]["code"], "unauthorized", "{}", reply.body);
    assert_eq!(server.get("/v1/products/before-tee").await?.body["name"], "Before Tee");

    let reply =
        server.graphql(Some(&token), mutation, json!({"key": "before-tee", "input": {"name": "After Tee"}})).await?;
    let updated = &data(&reply)["updateProduct"];
    assert_eq!(updated["name"], "After Tee");
    assert_eq!(updated["slug"], "before-tee", "a rename keeps the slug");
    assert_eq!(updated["description"], "Soft organic cotton.", "fields left out stay");

    let read = server.get("/v1/products/before-tee").await?;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["name"], "After Tee");
    assert_eq!(read.body["description"], "Soft organic cotton.");

    let reply = server.graphql(Some(&token), mutation, json!({"key": "no-such-tee", "input": {"name": "X"}})).await?;
    assert_eq!(first_error(&reply)["extensions"]["code"], "not_found", "{}", reply.body);
    Ok(())
}

#[tokio::test]
async fn delete_product_makes_it_404_over_rest() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("Doomed Tee", "DOOMED")).await?;
    assert_eq!(server.get("/v1/products/doomed-tee").await?.status, StatusCode::OK);

    let mutation = "mutation Delete($key: String!) { deleteProduct(idOrSlug: $key) }";
    let reply = server.graphql(None, mutation, json!({"key": "doomed-tee"})).await?;
    assert_eq!(first_error(&reply)["extensions"]["code"], "unauthorized", "{}", reply.body);
    assert_eq!(server.get("/v1/products/doomed-tee").await?.status, StatusCode::OK);

    let reply = server.graphql(Some(&token), mutation, json!({"key": "doomed-tee"})).await?;
    assert_eq!(data(&reply)["deleteProduct"], true);
    let read = server.get("/v1/products/doomed-tee").await?;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.body);
    assert_eq!(server.get_as("/v1/products/doomed-tee", &token).await?.status, StatusCode::NOT_FOUND);
    let reply = server.graphql(None, "{ product(idOrSlug: \"doomed-tee\") { id } }", json!({})).await?;
    assert_eq!(data(&reply)["product"], Value::Null);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Limits

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery()`).
const INTROSPECTION_QUERY: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }
"#;

#[tokio::test]
async fn the_standard_introspection_query_succeeds() -> TestResult {
    let server = TestServer::start().await?;
    let reply = server
        .post("/graphql", None, json!({"query": INTROSPECTION_QUERY, "operationName": "IntrospectionQuery"}))
        .await?;
    let schema = &data(&reply)["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"]["name"], "Mutation");
    let types: HashSet<&str> =
        schema["types"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    for name in ["Query", "Mutation", "Product", "Variant", "CreateProductInput", "__Schema"] {
        assert!(types.contains(name), "no type {name} in the introspection result");
    }
    assert!(schema["directives"].as_array().is_some_and(|d| !d.is_empty()));

    // With a staff token too (the limits are the same for everyone).
    let token = server.admin_token().await?;
    let reply = server.graphql(Some(&token), INTROSPECTION_QUERY, json!({})).await?;
    assert_eq!(data(&reply)["__schema"]["queryType"]["name"], "Query");
    Ok(())
}

/// Checks a GraphQL refusal: not a server error, at least one error with `code`, no data.
fn assert_refused(reply: &Reply, what: &str, code: &str) {
    assert!(!reply.status.is_server_error(), "{what}: {} {}", reply.status, reply.body);
    assert!(
        reply.status == StatusCode::OK || reply.status == StatusCode::BAD_REQUEST,
        "{what}: unexpected status {} {}",
        reply.status,
        reply.body
    );
    let error = first_error(reply);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: an error without a message");
    assert_eq!(error["extensions"]["code"], code, "{what}: {}", short(&reply.body));
    assert!(reply.body["data"].is_null(), "{what}: the query was executed: {}", short(&reply.body));
}

#[tokio::test]
async fn a_query_nested_far_beyond_the_depth_limit_is_refused() -> TestResult {
    let server = TestServer::start().await?;

    // __schema { types { fields { type { ofType { ofType { ... name } } } } } }, 30 levels.
    let levels = 30;
    let mut deep = String::from("{ __schema { types { fields { type { ");
    for _ in 0..levels - 4 {
        deep.push_str("ofType { ");
    }
    deep.push_str("name ");
    for _ in 0..levels {
        deep.push_str("} ");
    }
    deep.push('}');
    let reply = server.graphql(None, &deep, json!({})).await?;
    assert_refused(&reply, "30 levels of ofType", "query_too_deep");

    // __type(name: "Query") { fields { type { fields { type { ... } } } } }, 31 levels.
    let mut recursive = String::from("{ __type(name: \"Query\") { ");
    for _ in 0..15 {
        recursive.push_str("fields { type { ");
    }
    recursive.push_str("name ");
    for _ in 0..31 {
        recursive.push_str("} ");
    }
    recursive.push('}');
    let reply = server.graphql(None, &recursive, json!({})).await?;
    assert_refused(&reply, "15 levels of fields { type }", "query_too_deep");

    // Hidden in fragments, it is still too deep.
    let mut fragments = String::from("{ __schema { types { ...F0 } } }\n");
    for i in 0..30 {
        fragments.push_str(&format!("fragment F{i} on __Type {{ name ofType {{ ...F{} }} }}\n", i + 1));
    }
    fragments.push_str("fragment F30 on __Type { name }\n");
    let reply = server.graphql(None, &fragments, json!({})).await?;
    assert_refused(&reply, "30 nested fragments", "query_too_deep");

    // The server still answers normally afterwards.
    let ok = server.graphql(None, "{ __typename }", json!({})).await?;
    assert_eq!(data(&ok)["__typename"], "Query");
    Ok(())
}

#[tokio::test]
async fn a_query_far_beyond_the_complexity_limit_is_refused() -> TestResult {
    let server = TestServer::start().await?;
    // Hundreds of aliased product lists: shallow, but far too much work.
    let mut products = String::from("{ ");
    for i in 0..500 {
        products.push_str(&format!("p{i}: products(first: 100) {{ nodes {{ id name variants {{ sku }} }} }} "));
    }
    products.push('}');
    let reply = server.graphql(None, &products, json!({})).await?;
    assert_refused(&reply, "500 aliased product lists", "query_too_large");
    Ok(())
}

#[tokio::test]
async fn a_graphql_body_that_is_not_json_gets_the_rest_error_answers() -> TestResult {
    let server = TestServer::start().await?;
    let malformed = server
        .client
        .post(server.url("/graphql"))
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await?;
    let malformed = Reply::from(malformed).await?;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.problem_code(), "malformed_body");

    let text =
        server.client.post(server.url("/graphql")).header("content-type", "text/plain").body("{}").send().await?;
    let text = Reply::from(text).await?;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(text.problem_code(), "unsupported_media_type");

    // Without a query there is nothing to run: a GraphQL error, with its code.
    let no_query = server.post("/graphql", None, serde_json::json!({"variables": {}})).await?;
    assert_eq!(no_query.status, StatusCode::OK);
    assert_eq!(no_query.body["errors"][0]["extensions"]["code"], "invalid_query", "{}", no_query.body);
    Ok(())
}

/// `count` fragments, each spreading the previous one three times: 3^count fields expanded.
fn fragment_fan_out(count: usize) -> String {
    let mut query =
        format!("{{ products(first: 1) {{ nodes {{ ...F{} }} }} }}\nfragment F0 on Product {{ id }}\n", count - 1);
    for i in 1..count {
        let p = i - 1;
        query.push_str(&format!("fragment F{i} on Product {{ ...F{p} ...F{p} ...F{p} }}\n"));
    }
    query
}

// Multi-threaded, so the timeout still fires if the server burns its thread expanding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_fan_out_is_refused_before_it_is_expanded() -> TestResult {
    let server = TestServer::start().await?;
    let query = fragment_fan_out(30);
    assert!(query.len() < 1600, "the attack is small: {} bytes", query.len());
    // Unbounded, this document never comes back (3^30 fields); refused, it costs a walk.
    let reply = tokio::time::timeout(std::time::Duration::from_secs(5), server.graphql(None, &query, json!({})))
        .await
        .map_err(|_| anyhow::anyhow!("a 30-fragment fan-out was not refused within 5 s"))??;
    assert_refused(&reply, "30 fragments spreading three times", "query_too_complex");

    // A small fan-out is an ordinary query.
    let reply = server.graphql(None, &fragment_fan_out(3), json!({})).await?;
    assert!(reply.body["errors"].is_null(), "{}", short(&reply.body));
    Ok(())
}

#[tokio::test]
async fn too_many_fragments_and_an_oversized_query_are_refused_with_codes() -> TestResult {
    let server = TestServer::start().await?;
    let mut many = String::from("{ products { nodes { ...F0 } } }\n");
    for i in 0..100 {
        many.push_str(&format!("fragment F{i} on Product {{ id }}\n"));
    }
    let reply = server.graphql(None, &many, json!({})).await?;
    assert_refused(&reply, "100 fragments", "too_many_fragments");

    let huge = format!("{{ __typename {} }}", "__typename ".repeat(4000));
    let reply = server.graphql(None, &huge, json!({})).await?;
    assert_refused(&reply, "a 44 KB query", "query_too_large");

    // Brackets nested thousands deep never reach the recursive parser.
    let deep = format!("{}{}", "{ a ".repeat(5000), "}".repeat(5000));
    let reply = server.graphql(None, &deep, json!({})).await?;
    assert_refused(&reply, "5000 nested selections", "query_too_deep");
    Ok(())
}

#[tokio::test]
async fn aliased_product_lists_cost_first_times_their_items() -> TestResult {
    let server = TestServer::start().await?;
    // 300 searches of 100 items each fit in the text limit, but not in the cost limit.
    let mut aliases = String::from("{ ");
    for i in 0..300 {
        aliases.push_str(&format!("p{i}: products(first: 100, query: \"tee\") {{ nodes {{ id }} }} "));
    }
    aliases.push('}');
    let reply = server.graphql(None, &aliases, json!({})).await?;
    assert_refused(&reply, "300 aliased searches", "query_too_complex");

    // A few lists, as a storefront's home page asks for, pass.
    let home = "{ a: products(first: 20) { nodes { id name variants { sku prices { amount currency } } } } \
                b: products(first: 8, sort: NAME) { nodes { id slug } } }";
    let reply = server.graphql(None, home, json!({})).await?;
    assert!(reply.body["errors"].is_null(), "{}", short(&reply.body));
    Ok(())
}

#[tokio::test]
async fn money_amounts_are_a_scalar_that_carries_three_billion_intact() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    // IDR 30,000,000.00 is 3,000,000,000 minor units: past GraphQL's 32-bit Int.
    let mut body = input("Rupiah Tee", "IDR");
    body["variants"] = json!([{"sku": "IDR-1", "prices": [{"amount": 3_000_000_000_i64, "currency": "IDR"}]}]);
    body["options"] = json!([]);
    let created = server.graphql(Some(&token), &create_mutation(), json!({"input": body})).await?;
    assert_eq!(
        data(&created)["createProduct"]["variants"][0]["prices"][0]["amount"],
        json!(3_000_000_000_i64),
        "{}",
        short(&created.body)
    );
    let read = server
        .graphql(None, "{ product(idOrSlug: \"rupiah-tee\") { variants { prices { amount currency } } } }", json!({}))
        .await?;
    assert_eq!(
        data(&read)["product"]["variants"][0]["prices"][0],
        json!({"amount": 3_000_000_000_i64, "currency": "IDR"})
    );

    let sdl = emporium_gateway::graphql::sdl();
    assert!(sdl.contains("scalar Amount"), "no Amount scalar in the schema");
    assert!(sdl.contains("amount: Amount!"), "Money.amount is not the Amount scalar");
    for name in ["type Money ", "type Image ", "type ProductOption ", "type ProductEdge ", "type PageInfo "] {
        assert!(sdl.contains(name), "no {name} in the schema");
    }
    assert!(!sdl.contains("Dto"), "an implementation type name leaked into the schema");
    Ok(())
}

#[tokio::test]
async fn products_are_a_relay_connection_with_edges_cursors_and_page_info() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    for (name, sku) in [("Edge One", "EDGE1"), ("Edge Two", "EDGE2"), ("Edge Three", "EDGE3")] {
        server.create_product(&token, tee(name, sku)).await?;
    }
    let query = "query($after: String) { products(first: 2, after: $after) { \
                 edges { cursor node { name } } nodes { name } \
                 pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let first = server.graphql(None, query, json!({"after": null})).await?;
    let page = &data(&first)["products"];
    let edges = page["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 2, "{}", short(&first.body));
    assert_eq!(page["nodes"], json!([edges[0]["node"], edges[1]["node"]]));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(page["pageInfo"]["startCursor"], edges[0]["cursor"]);
    assert_eq!(page["pageInfo"]["endCursor"], edges[1]["cursor"]);

    // Any edge's cursor continues after that edge.
    let after_first = server.graphql(None, query, json!({"after": edges[0]["cursor"]})).await?;
    assert_eq!(data(&after_first)["products"]["edges"][0]["node"], edges[1]["node"]);
    let last = server.graphql(None, query, json!({"after": page["pageInfo"]["endCursor"]})).await?;
    let last = &data(&last)["products"];
    assert_eq!(last["edges"].as_array().map(Vec::len), Some(1));
    assert_eq!(last["pageInfo"]["hasNextPage"], false);
    assert_eq!(last["pageInfo"]["hasPreviousPage"], true);
    assert!(last["pageInfo"]["endCursor"].is_string(), "the last page still names its last edge's cursor");
    Ok(())
}

#[tokio::test]
async fn categories_page_as_a_connection() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    for name in ["Alpha", "Beta", "Gamma"] {
        assert_eq!(
            server.post("/v1/categories", Some(&token), json!({"name": name})).await?.status,
            StatusCode::CREATED
        );
    }
    let query = "query($after: String) { categories(first: 2, after: $after) { nodes { name } pageInfo { hasNextPage endCursor } } }";
    let first = server.graphql(None, query, json!({"after": null})).await?;
    assert_eq!(data(&first)["categories"]["nodes"], json!([{"name": "Alpha"}, {"name": "Beta"}]));
    let cursor = data(&first)["categories"]["pageInfo"]["endCursor"].clone();
    let second = server.graphql(None, query, json!({"after": cursor})).await?;
    assert_eq!(data(&second)["categories"]["nodes"], json!([{"name": "Gamma"}]));
    assert_eq!(data(&second)["categories"]["pageInfo"]["hasNextPage"], false);
    let bad = server.graphql(None, "{ categories(first: 0) { nodes { name } } }", json!({})).await?;
    assert_eq!(first_error(&bad)["extensions"]["code"], "validation_failed");
    let tampered = server.graphql(None, query, json!({"after": "nonsense"})).await?;
    assert_eq!(first_error(&tampered)["extensions"]["code"], "invalid_cursor");
    Ok(())
}

#[tokio::test]
async fn variants_are_added_changed_and_deleted_over_graphql_as_over_rest() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("Variant Tee", "VGQ")).await?;
    let add = "mutation($input: VariantInput!) { addVariant(product: \"variant-tee\", input: $input) { id sku options { name value } prices { amount currency } } }";
    let added = server
        .graphql(Some(&token), add, json!({"input": {"sku": "VGQ-L", "options": [{"name": "Size", "value": "M"}], "prices": [{"amount": 2800, "currency": "EUR"}]}}))
        .await?;
    // M is taken by VGQ-M: the same rule as REST, with its code.
    assert_eq!(first_error(&added)["extensions"]["code"], "validation_failed", "{}", short(&added.body));
    let patched = server
        .patch(
            "/v1/products/variant-tee",
            Some(&token),
            json!({"options": [{"name": "Size", "values": ["S", "M", "L"]}]}),
        )
        .await?;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let added = server
        .graphql(Some(&token), add, json!({"input": {"sku": "VGQ-L", "options": [{"name": "Size", "value": "L"}], "prices": [{"amount": 2800, "currency": "EUR"}]}}))
        .await?;
    let variant = data(&added)["addVariant"].clone();
    assert_eq!(variant["sku"], "VGQ-L", "{}", short(&added.body));
    let id = variant["id"].as_str().unwrap_or_default().to_owned();

    let update = "mutation($id: String!, $input: UpdateVariantInput!) { updateVariant(product: \"variant-tee\", variantId: $id, input: $input) { sku title prices { amount } } }";
    let updated = server
        .graphql(
            Some(&token),
            update,
            json!({"id": id, "input": {"title": "Large", "prices": [{"amount": 2900, "currency": "EUR"}]}}),
        )
        .await?;
    assert_eq!(
        data(&updated)["updateVariant"],
        json!({"sku": "VGQ-L", "title": "Large", "prices": [{"amount": 2900}]}),
        "{}",
        short(&updated.body)
    );
    let rest = server.get("/v1/products/variant-tee").await?;
    assert_eq!(rest.body["variants"][2]["prices"][0]["amount"], 2900);

    let delete = "mutation($id: String!) { deleteVariant(product: \"variant-tee\", variantId: $id) }";
    assert_eq!(data(&server.graphql(Some(&token), delete, json!({"id": id})).await?)["deleteVariant"], true);
    assert_eq!(server.get("/v1/products/variant-tee").await?.body["variants"].as_array().map(Vec::len), Some(2));

    // Options change through updateProduct too.
    let options = "mutation { updateProduct(idOrSlug: \"variant-tee\", input: {options: [{name: \"Size\", values: [\"S\", \"M\", \"XL\"]}]}) { options { name values } } }";
    let reply = server.graphql(Some(&token), options, json!({})).await?;
    assert_eq!(
        data(&reply)["updateProduct"]["options"],
        json!([{"name": "Size", "values": ["S", "M", "XL"]}]),
        "{}",
        short(&reply.body)
    );

    let anonymous = server.graphql(None, delete, json!({"id": "var_x"})).await?;
    assert_eq!(first_error(&anonymous)["extensions"]["code"], "unauthorized");
    Ok(())
}

#[tokio::test]
async fn staff_sign_in_refresh_and_sign_out_over_graphql_as_over_rest() -> TestResult {
    let server = TestServer::start().await?;
    let login = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken refreshToken tokenType expiresIn } }";
    let vars = json!({"email": crate::common::ADMIN_EMAIL, "password": crate::common::ADMIN_PASSWORD});
    let reply = server.graphql(None, login, vars).await?;
    let pair = data(&reply)["login"].clone();
    assert_eq!(pair["tokenType"], "Bearer", "{}", short(&reply.body));
    let access = pair["accessToken"].as_str().unwrap_or_default().to_owned();
    let refresh = pair["refreshToken"].as_str().unwrap_or_default().to_owned();
    // The access token works over REST.
    assert_eq!(server.get_as("/v1/products?status=all", &access).await?.status, StatusCode::OK);

    let rotate = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }";
    let rotated = server.graphql(None, rotate, json!({"t": refresh})).await?;
    let next = data(&rotated)["refreshToken"]["refreshToken"].as_str().unwrap_or_default().to_owned();
    assert!(!next.is_empty() && next != refresh, "{}", short(&rotated.body));
    // The old one, again: the family is revoked, with the REST code.
    let reused = server.graphql(None, rotate, json!({"t": refresh})).await?;
    assert_eq!(first_error(&reused)["extensions"]["code"], "unauthorized");

    let wrong = server
        .graphql(None, login, json!({"email": crate::common::ADMIN_EMAIL, "password": "wrong password!"}))
        .await?;
    assert_eq!(first_error(&wrong)["extensions"]["code"], "unauthorized");
    // Aliases cannot multiply password checks.
    let twice = "mutation { a: login(email: \"a@b.c\", password: \"x\") { accessToken } b: login(email: \"a@b.c\", password: \"y\") { accessToken } }";
    let reply = server.graphql(None, twice, json!({})).await?;
    assert_eq!(first_error(&reply)["extensions"]["code"], "query_too_complex", "{}", short(&reply.body));

    let logout = "mutation($t: String!) { logout(refreshToken: $t) }";
    assert_eq!(data(&server.graphql(None, logout, json!({"t": next})).await?)["logout"], true);
    Ok(())
}
