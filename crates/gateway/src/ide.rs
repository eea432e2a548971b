//! The GraphiQL IDE at `GET /graphql`, served entirely from the binary so that it works with no
//! internet access: the page below and pinned builds of GraphiQL, React and ReactDOM (vendored in
//! `crates/gateway/assets/graphiql/`, see its README for versions and licenses) under
//! `GET /graphql/assets/{file}`. The file names carry their package versions, so the assets can
//! be cached forever: an upgrade changes the names the page asks for.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The IDE's page. Loads only the vendored files below; no external URL of any kind.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Emporium GraphQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/graphql/assets/graphiql-3.9.0.min.css">
    <style>
      html, body { height: 100%; margin: 0; overflow: hidden; }
      #graphiql { height: 100vh; }
    </style>
    <script src="/graphql/assets/react-18.3.1.production.min.js"></script>
    <script src="/graphql/assets/react-dom-18.3.1.production.min.js"></script>
    <script src="/graphql/assets/graphiql-3.9.0.min.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <noscript>GraphiQL needs JavaScript. Send queries with POST /graphql instead.</noscript>
    <script>
      const fetcher = GraphiQL.createFetcher({ url: '/graphql' });
      ReactDOM.createRoot(document.getElementById('graphiql')).render(
        React.createElement(GraphiQL, { fetcher: fetcher }),
      );
    </script>
  </body>
</html>
"#;

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every servable file: its name under `/graphql/assets/`, Content-Type and bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("graphiql-3.9.0.min.js", JS, include_bytes!("../assets/graphiql/graphiql-3.9.0.min.js")),
    ("graphiql-3.9.0.min.css", CSS, include_bytes!("../assets/graphiql/graphiql-3.9.0.min.css")),
    ("react-18.3.1.production.min.js", JS, include_bytes!("../assets/graphiql/react-18.3.1.production.min.js")),
    ("react-dom-18.3.1.production.min.js", JS, include_bytes!("../assets/graphiql/react-dom-18.3.1.production.min.js")),
    // The MIT licenses ask that their notices travel with the code, so the binary carries them.
    ("LICENSE-graphiql", TEXT, include_bytes!("../assets/graphiql/LICENSE-graphiql")),
    ("LICENSE-react", TEXT, include_bytes!("../assets/graphiql/LICENSE-react")),
    ("LICENSE-react-dom", TEXT, include_bytes!("../assets/graphiql/LICENSE-react-dom")),
];

/// The IDE's HTML page, pointing at `/graphql` for queries and `/graphql/assets/...` for its files.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Serves one vendored asset: GET /graphql/assets/{file}; 404 (plain `axum::http::StatusCode::NOT_FOUND`) for unknown names.
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(&(_, content_type, bytes)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_asks_only_for_served_assets_and_nothing_external() {
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://") && !PAGE.contains("//cdn"));
        for reference in PAGE.split("/graphql/assets/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(ASSETS.iter().any(|(served, _, _)| *served == name), "page asks for unserved {name}");
        }
    }

    #[tokio::test]
    async fn assets_have_their_types_and_unknown_names_404() {
        let response = asset(Path("graphiql-3.9.0.min.js".to_owned())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], JS);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        let response = asset(Path("graphiql-3.9.0.min.css".to_owned())).await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], CSS);
        assert_eq!(asset(Path("../Cargo.toml".to_owned())).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(asset(Path("nope.js".to_owned())).await.status(), StatusCode::NOT_FOUND);
    }
}
