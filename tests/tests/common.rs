//! The test harness: a real server per test.

use std::net::SocketAddr;
use std::sync::OnceLock;

use anyhow::Context as _;
use emporium_gateway::{App, Config};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

pub type TestResult = anyhow::Result<()>;

/// The staff account every test server has.
pub const ADMIN_EMAIL: &str = "admin@shop.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// The password of customers `TestServer::customer` registers.
pub const CUSTOMER_PASSWORD: &str = "customer password 1";

/// Where a test's data lives.
pub enum Store {
    Sqlite(std::path::PathBuf),
    Postgres { server: String, name: String },
}

/// The token signing secret of the suite's servers.
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-0123456789";
/// The `EMPORIUM_SECRET_KEY` of the suite's servers (webhook secrets derive from it).
pub const SECRET_KEY: &str = "test-webhook-key-that-is-long-enough-0123";

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app_db: sea_orm::DatabaseConnection,
    /// The server's state, for tests that reach under the API (its cache).
    pub state: emporium_gateway::state::AppState,
    pub client: reqwest::Client,
    /// The server's background tasks, for a test that stops them.
    pub background: Option<emporium_gateway::infra::background::Background>,
    store: std::sync::Arc<Store>,
    owner: bool,
    task: tokio::task::JoinHandle<()>,
    _dir: Option<std::sync::Arc<TempDir>>,
}

/// A temporary folder removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options of a test server.
#[derive(Clone, Default)]
pub struct Options {
    /// Use this Redis URL instead of the one from the environment (e.g. an unreachable one).
    pub redis_url: Option<String>,
    /// Share the Redis key prefix of another server.
    pub cache_prefix: Option<String>,
    /// A request body limit other than the default.
    pub body_limit: Option<usize>,
    /// A header-read timeout other than the default.
    pub header_read_timeout: Option<std::time::Duration>,
    /// Origins allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
    /// Leave `EMPORIUM_JWT_SECRET` unset: the key is generated once and kept in the database.
    pub generated_signing_key: bool,
    /// Rate limits (requests per minute); off unless a test asks.
    pub rate_limits: emporium_gateway::infra::limits::Allowances,
    /// Trust this header for the client's address.
    pub client_ip_header: Option<&'static str>,
    /// A reservation TTL other than the default (`EMPORIUM_RESERVATION_TTL`).
    pub reservation_ttl: Option<std::time::Duration>,
    /// A request timeout other than the default.
    pub request_timeout: Option<std::time::Duration>,
    /// `EMPORIUM_ACCESS_LOG=false`: only 5xx lines.
    pub quiet_access_log: bool,
    /// `EMPORIUM_WEBHOOK_ALLOW_PRIVATE=true`: webhooks may reach the tests' loopback receivers.
    pub webhooks_private: bool,
    /// `EMPORIUM_WEBHOOK_RETRY_BASE`, when not the default.
    pub webhook_retry_base: Option<f64>,
    /// The longest a webhook attempt may take (10 s unless set).
    pub webhook_timeout: Option<std::time::Duration>,
    /// How long ranked recommendations are reused (30 s unless set).
    pub recommendations_fresh_for: Option<std::time::Duration>,
    /// Relay events to this NATS URL, on a stream and subjects of the test's own.
    pub nats: Option<NatsTarget>,
}

/// A NATS relay target of one test: its own stream and subject prefix.
#[derive(Debug, Clone)]
pub struct NatsTarget {
    pub url: String,
    pub stream: String,
    pub prefix: String,
}

impl NatsTarget {
    /// A stream and prefix no other run uses, on the NATS at `url`.
    pub fn unique(url: &str) -> Self {
        let id = unique();
        Self { url: url.to_owned(), stream: format!("T{id}"), prefix: format!("t{id}") }
    }
}

pub fn nats_url() -> Option<String> {
    std::env::var("EMPORIUM_TEST_NATS_URL").ok().filter(|v| !v.is_empty())
}

/// The NATS URL a test that needs NATS uses (such tests are marked ignored, and run whenever
/// `make test` includes them): `EMPORIUM_TEST_NATS_URL`, else the machine's local NATS.
pub fn nats_required() -> String {
    nats_url().unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned())
}

pub fn postgres_url() -> Option<String> {
    std::env::var("EMPORIUM_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var("EMPORIUM_TEST_REDIS_URL").ok().filter(|v| !v.is_empty())
}

fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn hashed_admin_password() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| emporium_customers::hash_password(ADMIN_PASSWORD).unwrap_or_default())
}

/// The server URL with its database replaced by `db` (query parameters kept).
fn with_database(server: &str, db: &str) -> String {
    let (url, query) = server.split_once('?').map_or((server, None), |(u, q)| (u, Some(q)));
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[scheme_end..].find('/').map_or(url.len(), |i| scheme_end + i);
    let base = &url[..authority_end];
    match query {
        Some(query) => format!("{base}/{db}?{query}"),
        None => format!("{base}/{db}"),
    }
}

/// Runs one administrative statement on the server's `postgres` database.
async fn pg_admin(server: &str, sql: &str) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(with_database(server, "postgres")).await?;
    db.execute_unprepared(sql).await?;
    db.close().await?;
    Ok(())
}

/// A migrated template database, made once per test run; every test copies it.
async fn pg_template(server: &str) -> anyhow::Result<String> {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    // Each #[tokio::test] has its own runtime, so the cell only stores a name, never a connection.
    let name = TEMPLATE
        .get_or_try_init(|| async {
            cleanup_stale_databases(server).await?;
            let name = format!("emporium_tmpl_{}_{}", std::process::id(), unique());
            pg_admin(server, &format!("CREATE DATABASE {name}")).await?;
            let config = Config { database_url: with_database(server, &name), ..Config::default() };
            emporium_gateway::db::migrate(&config).await?;
            anyhow::Ok(name)
        })
        .await?;
    Ok(name.clone())
}

/// Drops databases left by earlier runs whose process is gone.
async fn cleanup_stale_databases(server: &str) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(with_database(server, "postgres")).await?;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 'emporium_t%'",
        ))
        .await?;
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
    db.close().await?;
    Ok(())
}

impl TestServer {
    /// A server with its own empty database (plus one admin account).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// A server with options.
    pub async fn start_with(options: Options) -> anyhow::Result<Self> {
        let (store, dir) = match postgres_url() {
            Some(server) => {
                let template = pg_template(&server).await?;
                let name = format!("emporium_test_{}_{}", std::process::id(), unique());
                pg_admin(&server, &format!("CREATE DATABASE {name} TEMPLATE {template}")).await?;
                (Store::Postgres { server, name }, None)
            }
            None => {
                let dir = std::env::temp_dir().join(format!("emporium-test-{}", unique()));
                std::fs::create_dir_all(&dir)?;
                (Store::Sqlite(dir.join("shop.db")), Some(std::sync::Arc::new(TempDir(dir))))
            }
        };
        let server = Self::launch(std::sync::Arc::new(store), dir, options, true).await?;
        let hash = hashed_admin_password().to_owned();
        let email = emporium_customers::Email::parse(ADMIN_EMAIL, "email")?;
        emporium_customers::ensure_staff(&server.app_db, &email, &hash, emporium_customers::Role::Admin).await?;
        Ok(server)
    }

    /// A second server on the same database (and, if configured, the same Redis prefix).
    pub async fn sibling(&self, options: Options) -> anyhow::Result<Self> {
        Self::launch(std::sync::Arc::clone(&self.store), self._dir.clone(), options, false).await
    }

    async fn launch(
        store: std::sync::Arc<Store>,
        dir: Option<std::sync::Arc<TempDir>>,
        options: Options,
        owner: bool,
    ) -> anyhow::Result<Self> {
        let database_url = match &*store {
            Store::Sqlite(path) => format!("sqlite://{}", path.display()),
            Store::Postgres { server, name } => with_database(server, name),
        };
        let mut config =
            Config { addr: "127.0.0.1:0".parse()?, database_url, db_max_connections: 8, ..Config::default() };
        if !options.generated_signing_key {
            config.jwt_secret = Some(emporium_gateway::config::Secret::new(JWT_SECRET));
        }
        if let Some(url) = options.redis_url.clone().or_else(redis_url) {
            config.redis_url = Some(emporium_gateway::config::Secret::new(url));
            config.cache_prefix =
                options.cache_prefix.clone().unwrap_or_else(|| format!("emporium-test:{}:", unique()));
        }
        if let Some(limit) = options.body_limit {
            config.body_limit = limit;
        }
        if let Some(timeout) = options.header_read_timeout {
            config.header_read_timeout = timeout;
        }
        if let Some(ttl) = options.reservation_ttl {
            config.reservation_ttl = ttl;
        }
        if let Some(timeout) = options.request_timeout {
            config.request_timeout = timeout;
        }
        config.secret_key = Some(emporium_gateway::config::Secret::new(SECRET_KEY));
        config.webhook_allow_private = options.webhooks_private;
        if let Some(base) = options.webhook_retry_base {
            config.webhook_retry_base = base;
        }
        if let Some(timeout) = options.webhook_timeout {
            config.webhook_timeout = timeout;
        }
        if let Some(fresh_for) = options.recommendations_fresh_for {
            config.recommendations_fresh_for = fresh_for;
        }
        if let Some(nats) = &options.nats {
            config.nats_url = Some(emporium_gateway::config::Secret::new(nats.url.clone()));
            config.nats_stream = nats.stream.clone();
            config.nats_subject_prefix = nats.prefix.clone();
        }
        config.access_log = !options.quiet_access_log;
        config.cors_origins = options.cors_origins.clone();
        config.rate_limits = options.rate_limits;
        config.client_ip_header = options.client_ip_header.map(axum::http::HeaderName::from_static);
        let header_read_timeout = config.header_read_timeout;
        let App { router, state, background } = emporium_gateway::build(config).await.context("building the app")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = emporium_gateway::serve_on(listener, router, header_read_timeout, std::future::pending()).await;
        });
        Ok(Self {
            addr,
            app_db: state.db.clone(),
            state,
            client: reqwest::Client::new(),
            background: Some(background),
            store,
            owner,
            task,
            _dir: dir,
        })
    }

    /// The URL of this server's database, for another server (a process of its own) on it.
    pub fn database_url(&self) -> String {
        match &*self.store {
            Store::Sqlite(path) => format!("sqlite://{}", path.display()),
            Store::Postgres { server, name } => with_database(server, name),
        }
    }

    /// Ends this server as `kill -9` would: its requests, background tasks and webhook
    /// deliveries in flight are dropped where they stand; its database stays.
    pub fn kill(&mut self) {
        self.task.abort();
        if let Some(background) = self.background.take() {
            background.kill();
        }
    }

    /// The Redis key prefix this server uses, to start a sibling sharing it.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request and returns status, headers and JSON body (`Value::Null` if empty).
    /// A `token` that starts with `emp_` is an API key, sent as `X-Api-Key`; any other is an
    /// access token, sent as `Authorization: Bearer`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = self.client.request(method, self.url(path));
        match token {
            Some(key) if key.starts_with("emp_") => request = request.header("x-api-key", key),
            Some(token) => request = request.bearer_auth(token),
            None => {}
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(request.send().await?).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn get_as(&self, path: &str, token: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> anyhow::Result<Reply> {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> anyhow::Result<Reply> {
        self.send(Method::DELETE, path, token, None).await
    }

    /// Signs in as the admin and returns the access token.
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let reply =
            self.post("/v1/auth/login", None, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await?;
        anyhow::ensure!(reply.status == StatusCode::OK, "login failed: {:?}", reply.body);
        Ok(reply.str("access_token")?.to_owned())
    }

    /// Waits until the server reaches its Redis, if it has one (it connects in the background).
    pub async fn wait_for_redis(&self) -> anyhow::Result<()> {
        for _ in 0..100 {
            if self.get("/readyz").await?.body["redis"] != "down" {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("the server did not reach Redis in 5 s")
    }

    /// Creates a staff account with `role` (straight in the database) and signs it in.
    pub async fn staff_token(&self, email: &str, role: emporium_customers::Role) -> anyhow::Result<String> {
        let hash = hashed_admin_password().to_owned();
        let parsed = emporium_customers::Email::parse(email, "email")?;
        emporium_customers::ensure_staff(&self.app_db, &parsed, &hash, role).await?;
        let reply = self.post("/v1/auth/login", None, json!({"email": email, "password": ADMIN_PASSWORD})).await?;
        anyhow::ensure!(reply.status == StatusCode::OK, "staff login failed: {:?}", reply.body);
        Ok(reply.str("access_token")?.to_owned())
    }

    /// Registers a customer through the API and signs them in: their id and access token.
    pub async fn customer(&self, email: &str) -> anyhow::Result<(String, String)> {
        let registered = self
            .post(
                "/v1/customers",
                None,
                json!({"email": email, "password": CUSTOMER_PASSWORD, "first_name": "Ada", "last_name": "Lovelace"}),
            )
            .await?;
        anyhow::ensure!(registered.status == StatusCode::CREATED, "register failed: {:?}", registered.body);
        let reply = self
            .post("/v1/auth/login", None, json!({"email": email, "password": CUSTOMER_PASSWORD, "account": "customer"}))
            .await?;
        anyhow::ensure!(reply.status == StatusCode::OK, "customer login failed: {:?}", reply.body);
        Ok((registered.str("id")?.to_owned(), reply.str("access_token")?.to_owned()))
    }

    /// Creates an API key with `scopes` as the admin: its id and secret.
    pub async fn api_key(&self, admin: &str, scopes: &[&str]) -> anyhow::Result<(String, String)> {
        let reply = self.post("/v1/api-keys", Some(admin), json!({"name": "test key", "scopes": scopes})).await?;
        anyhow::ensure!(reply.status == StatusCode::CREATED, "key creation failed: {:?}", reply.body);
        Ok((reply.str("id")?.to_owned(), reply.str("key")?.to_owned()))
    }

    /// Posts a GraphQL operation.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> anyhow::Result<Reply> {
        self.post("/graphql", token, json!({"query": query, "variables": variables})).await
    }

    /// Creates a product as the admin and returns its body.
    pub async fn create_product(&self, token: &str, body: Value) -> anyhow::Result<Value> {
        let reply = self.post("/v1/products", Some(token), body).await?;
        anyhow::ensure!(reply.status == StatusCode::CREATED, "create failed: {} {:?}", reply.status, reply.body);
        Ok(reply.body)
    }

    /// Makes the database unreachable for this server: on PostgreSQL its database is dropped
    /// under it (ending its connections), on SQLite its pool is closed.
    pub async fn lose_database(&self) -> anyhow::Result<bool> {
        match &*self.store {
            Store::Postgres { server, name } => {
                pg_admin(server, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
                Ok(true)
            }
            // A file cannot be taken away from open connections; closing the pool makes the
            // database just as unreachable for the server.
            Store::Sqlite(_) => {
                self.state.db.clone().close().await?;
                Ok(true)
            }
        }
    }

    /// The number column `n` of what `sql` (with `?` placeholders) answers on the server's own
    /// database; 0 for no row or NULL.
    pub async fn scalar(&self, sql: &str, values: Vec<sea_orm::Value>) -> anyhow::Result<i64> {
        use sea_orm::ConnectionTrait;
        let backend = self.app_db.get_database_backend();
        let row = self.app_db.query_one_raw(emporium_core::db::statement(backend, sql, values)).await?;
        Ok(row.map(|r| r.try_get::<Option<i64>>("", "n")).transpose()?.flatten().unwrap_or(0))
    }

    /// Adds stock for a variant at a location, through the inventory service in a unit of
    /// work, as a stock write does: caches and the search index hear of it.
    pub async fn stock(&self, variant_id: &str, units: i64) -> anyhow::Result<()> {
        let mut work = self.state.writer.begin().await?;
        let location = emporium_inventory::ensure_location(&work, "main", "Main").await?;
        let restock = emporium_inventory::Adjustment {
            variant_id: variant_id.to_owned(),
            location_id: location,
            delta: units,
            reason: emporium_inventory::Reason::Restock,
            note: None,
            actor: None,
            reference: None,
        };
        let moved = emporium_inventory::adjust(&work, &restock).await?.moved;
        let refs = emporium_catalog::variant_refs(&work, &[variant_id.to_owned()]).await?;
        let moved: Vec<_> = refs.into_iter().map(|v| (v.sku, moved.clone())).collect();
        emporium_inventory::record_change(&mut work, [variant_id], &moved, &[]).await?;
        work.commit().await?;
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        if !self.owner {
            return;
        }
        if let Store::Postgres { server, name } = &*self.store {
            let (server, name) = (server.clone(), name.clone());
            // Drop is not async: a short-lived runtime on its own thread drops the database.
            // `WITH (FORCE)` ends this server's connections; the pool is not closed from here,
            // because its connections belong to the test's runtime, which waits on this thread.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(async {
                        let _ = pg_admin(&server, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    });
                }
            })
            .join();
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Self { status, headers, body })
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> anyhow::Result<&str> {
        self.body[field].as_str().with_context(|| format!("no string '{field}' in {}", self.body))
    }

    /// The `code` of a problem+json body, after checking the media type.
    pub fn problem_code(&self) -> String {
        let media = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if media != "application/problem+json" {
            return format!("<not problem+json: {media}>");
        }
        self.body["code"].as_str().unwrap_or_default().to_owned()
    }

    /// The `field`s of a validation problem's `errors`.
    pub fn error_fields(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or_default().to_owned(),
                            e["code"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A valid product body with one size option and two variants.
pub fn tee(name: &str, sku_prefix: &str) -> Value {
    json!({
        "name": name,
        "description": "Soft organic cotton.",
        "status": "published",
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "variants": [
            {"sku": format!("{sku_prefix}-S"), "options": {"Size": "S"}, "prices": [{"amount": 2500, "currency": "EUR"}, {"amount": 2700, "currency": "USD"}]},
            {"sku": format!("{sku_prefix}-M"), "options": {"Size": "M"}, "prices": [{"amount": 2600, "currency": "EUR"}]}
        ]
    })
}

/// The Redis of a test that cannot run without one (such tests are `#[ignore]`d, so a run
/// without Redis lists them as ignored in its summary; `make test` includes them whenever
/// `EMPORIUM_TEST_REDIS_URL` is set, and always in CI): `EMPORIUM_TEST_REDIS_URL`, or in CI
/// the local one. Run without either, the test fails instead of passing on nothing.
pub fn redis_required() -> anyhow::Result<String> {
    if let Some(url) = redis_url() {
        return Ok(url);
    }
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        return Ok("redis://127.0.0.1:6379".to_owned());
    }
    anyhow::bail!("this test needs Redis: set EMPORIUM_TEST_REDIS_URL")
}

/// A TCP relay between a server and Redis that a test can cut, as a network partition would.
pub struct CuttableLink {
    pub url: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableLink {
    /// Relays to the Redis at `redis` (a `redis://host:port` URL).
    pub async fn to(redis: &str) -> anyhow::Result<Self> {
        let target = redis.trim_start_matches("redis://").trim_end_matches('/').to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("redis://{}", listener.local_addr()?);
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&cut);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let flag = std::sync::Arc::clone(&flag);
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    let relay = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let watch = async {
                        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                    };
                    // Cut: stop relaying and leave the client hanging (no reset, as a partition).
                    tokio::select! {
                        _ = relay => {}
                        () = watch => { std::future::pending::<()>().await }
                    }
                });
            }
        });
        Ok(Self { url, cut, task })
    }

    /// Stops relaying: open connections hang, new ones are closed.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for CuttableLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The event types of the feed's first 100 events, read until every one of `wanted` is among
/// them or 5 s pass (on PostgreSQL an event becomes readable once every older transaction of
/// the cluster has ended, which other tests' may delay a moment).
pub async fn event_kinds(server: &TestServer, token: &str, wanted: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut kinds = Vec::new();
    for _ in 0..100 {
        kinds.clear();
        let mut path = "/v1/events?limit=100".to_owned();
        loop {
            let page = server.get_as(&path, token).await?;
            kinds.extend(
                page.body["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["type"].as_str().map(str::to_owned)),
            );
            match page.body["next_cursor"].as_str() {
                Some(next) => path = format!("/v1/events?limit=100&after={next}"),
                None => break,
            }
        }
        if wanted.iter().all(|w| kinds.iter().any(|k| k == w)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(kinds)
}
