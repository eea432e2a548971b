//! Work an anonymous caller can make the server do is bounded: slow clients are cut off, list
//! inputs are capped, and a list never shows what its filter excludes.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Options, TestResult, TestServer, tee};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stops_halfway_through_its_headers_is_closed() -> TestResult {
    let timeout = Duration::from_millis(500);
    let server = TestServer::start_with(Options { header_read_timeout: Some(timeout), ..Options::default() }).await?;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await?;
    stream.write_all(b"GET /v1/products HTTP/1.1\r\nHost: shop\r\nX-Slow: ").await?;
    // The server closes the connection (after an error answer, or without one): reading ends.
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "the half-sent request was still open after 10 s");

    // A complete request on a fresh connection is served as usual.
    assert_eq!(server.get("/healthz").await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_search_longer_than_200_characters_is_422_naming_q() -> TestResult {
    let server = TestServer::start().await?;
    let long = "a".repeat(201);
    let reply = server.get(&format!("/v1/products?q={long}")).await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.problem_code(), "validation_failed");
    assert_eq!(reply.error_fields(), [("q".to_owned(), "too_long".to_owned())]);

    let fits = "a".repeat(200);
    assert_eq!(server.get(&format!("/v1/products?q={fits}")).await?.status, StatusCode::OK);
    let reply =
        server.graphql(None, &format!("{{ products(query: \"{long}\") {{ nodes {{ id }} }} }}"), json!({})).await?;
    assert_eq!(reply.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", reply.body);
    Ok(())
}

#[tokio::test]
async fn a_product_unpublished_after_its_list_page_was_cached_is_not_listed_to_shoppers() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let kept = server.create_product(&token, tee("Kept Tee", "KEPT")).await?;
    let hidden = server.create_product(&token, tee("Hidden Tee", "HIDDEN")).await?;
    let hidden_id = hidden["id"].as_str().unwrap_or_default().to_owned();
    // The page of ids is cached (GraphQL lists through the same page cache as REST).
    let warm = server.graphql(None, "{ products { nodes { id } } }", json!({})).await?;
    assert_eq!(warm.body["data"]["products"]["nodes"].as_array().map(Vec::len), Some(2), "{}", warm.body);

    // The race, frozen: the page's ids were read while the product was published, and the
    // product became a draft (its document dropped) before the page's documents were read.
    let mut work = server.state.writer.begin().await?;
    work.execute_unprepared(&format!("UPDATE products SET status = 'draft' WHERE id = '{hidden_id}'")).await?;
    work.touch(hidden_id.as_str());
    work.commit().await?;

    let list = server.get("/v1/products").await?;
    let listed: Vec<&str> =
        list.body["data"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(listed, [kept["id"].as_str().unwrap_or_default()], "a draft was listed to a shopper");
    Ok(())
}
