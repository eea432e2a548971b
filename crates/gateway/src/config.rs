//! Configuration from `EMPORIUM_*` environment variables. A bad value stops the start,
//! naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

/// A secret that never shows up in logs or debug output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `EMPORIUM_ADDR`: where to listen.
    pub addr: SocketAddr,
    /// `EMPORIUM_DATABASE_URL`: `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// `EMPORIUM_DB_MAX_CONNECTIONS`: pool size.
    pub db_max_connections: u32,
    /// `EMPORIUM_REDIS_URL`: cache product reads in Redis instead of in process.
    pub redis_url: Option<Secret>,
    /// `EMPORIUM_REDIS_TIMEOUT_MS`: the longest a request waits on Redis.
    pub redis_timeout: Duration,
    /// `EMPORIUM_CACHE_PREFIX`: prefix of every Redis key, so several shops can share one Redis.
    pub cache_prefix: String,
    /// `EMPORIUM_CACHE_TTL`: seconds a cached product lives at most.
    pub cache_ttl: Duration,
    /// `EMPORIUM_CART_ABANDON_AFTER`: seconds a cart with items stays unchanged, never ordered,
    /// before the conversion report counts it abandoned (86400).
    pub cart_abandon_after: Duration,
    /// `EMPORIUM_JWT_SECRET`: token signing key; unset, one is generated and kept in the database.
    pub jwt_secret: Option<Secret>,
    /// `EMPORIUM_ACCESS_TOKEN_TTL`: seconds an access token is valid.
    pub access_token_ttl: Duration,
    /// `EMPORIUM_REFRESH_TOKEN_TTL`: seconds a refresh token is valid.
    pub refresh_token_ttl: Duration,
    /// `EMPORIUM_SESSION_MAX_AGE`: seconds a sign-in lasts at most, however often its refresh
    /// token is rotated.
    pub session_max_age: Duration,
    /// `EMPORIUM_RESERVATION_TTL`: seconds a checkout's reservation holds units when no request
    /// finishes it (a crash); then any instance releases them.
    pub reservation_ttl: Duration,
    /// `EMPORIUM_RATE_LIMIT_ANONYMOUS`, `_CUSTOMER`, `_API_KEY`: requests per minute (0: off).
    pub rate_limits: crate::infra::limits::Allowances,
    /// `EMPORIUM_CLIENT_IP_HEADER`: a header a trusted proxy sets to the client's address
    /// (e.g. `x-forwarded-for`; its last entry is used). Unset: the connection's peer address.
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// `EMPORIUM_BODY_LIMIT`: largest request body in bytes.
    pub body_limit: usize,
    /// `EMPORIUM_HEADER_TIMEOUT_MS`: a connection that has not sent a request's headers in this
    /// time is closed.
    pub header_read_timeout: Duration,
    /// `EMPORIUM_REQUEST_TIMEOUT_MS`: a request still running after this is answered 503.
    pub request_timeout: Duration,
    /// `EMPORIUM_DB_STATEMENT_TIMEOUT_MS`: PostgreSQL cancels a statement running longer.
    pub db_statement_timeout: Duration,
    /// `EMPORIUM_CORS_ORIGINS`: exact origins whose browser pages may call the API.
    pub cors_origins: Vec<String>,
    /// `EMPORIUM_LOG`: a tracing filter such as `info` or `emporium_gateway=debug`.
    pub log_filter: String,
    /// `EMPORIUM_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `EMPORIUM_ACCESS_LOG`: one `info` line per request (`true`, the default); `false` keeps
    /// only the lines of answers of 500 and up.
    pub access_log: bool,
    /// `EMPORIUM_SECRET_KEY` (32 characters or more): the key webhook secrets derive from. Kept
    /// out of the database, so a dump of it cannot sign. Unset, the key in
    /// `EMPORIUM_SECRET_KEY_FILE` is used, and made when missing; instances that share a
    /// database must share the key.
    pub secret_key: Option<Secret>,
    /// `EMPORIUM_SECRET_KEY_FILE`: where the key is kept when `EMPORIUM_SECRET_KEY` is unset.
    pub secret_key_file: std::path::PathBuf,
    /// `EMPORIUM_WEBHOOK_ALLOW_PRIVATE`: allow `http` and private, loopback and link-local
    /// webhook targets (tests, on-premise receivers). Off by default.
    pub webhook_allow_private: bool,
    /// `EMPORIUM_WEBHOOK_RETRY_BASE`: seconds of the first retry's gap; scales the whole retry
    /// schedule (three days at the default 30).
    pub webhook_retry_base: f64,
    /// The longest a webhook attempt may take: 10 s, as API.md states (not configurable from
    /// the environment; tests shorten it to time out without waiting).
    pub webhook_timeout: Duration,
    /// How long ranked recommendations are reused: 30 s, so they follow new orders within a
    /// minute (not configurable from the environment; tests shorten it).
    pub recommendations_fresh_for: Duration,
    /// `EMPORIUM_NATS_URL`: relay every event to this NATS server's JetStream.
    pub nats_url: Option<Secret>,
    /// `EMPORIUM_NATS_STREAM`: the stream the relay publishes to (`EMPORIUM`).
    pub nats_stream: String,
    /// `EMPORIUM_NATS_SUBJECT_PREFIX`: the first token of its subjects (`emporium`).
    pub nats_subject_prefix: String,
}

/// A configuration variable with a bad value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// What was wrong with it.
    pub problem: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://emporium.db".to_owned(),
            db_max_connections: 16,
            redis_url: None,
            redis_timeout: Duration::from_millis(250),
            cache_prefix: "emporium:".to_owned(),
            cache_ttl: Duration::from_secs(300),
            cart_abandon_after: Duration::from_secs(86_400),
            jwt_secret: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            session_max_age: Duration::from_secs(90 * 24 * 3600),
            reservation_ttl: Duration::from_secs(900),
            rate_limits: crate::infra::limits::Allowances {
                anonymous: std::num::NonZeroU32::new(600),
                customer: std::num::NonZeroU32::new(1200),
                api_key: std::num::NonZeroU32::new(6000),
            },
            client_ip_header: None,
            body_limit: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            db_statement_timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            log_filter: "info".to_owned(),
            log_format: LogFormat::Text,
            access_log: true,
            secret_key: None,
            secret_key_file: std::path::PathBuf::from("emporium.key"),
            webhook_allow_private: false,
            webhook_retry_base: emporium_webhooks::Schedule::DEFAULT_BASE_SECONDS,
            webhook_timeout: crate::infra::webhooks::sender::TIMEOUT,
            recommendations_fresh_for: crate::usecases::recommendations::FRESH_FOR,
            nats_url: None,
            nats_stream: "EMPORIUM".to_owned(),
            nats_subject_prefix: "emporium".to_owned(),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`; unset and empty variables keep their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = Self::default();
        if let Some(v) = get("EMPORIUM_ADDR") {
            config.addr = parse("EMPORIUM_ADDR", &v, "a socket address such as 127.0.0.1:8080")?;
        }
        if let Some(v) = get("EMPORIUM_DATABASE_URL") {
            if !(v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://")) {
                return Err(ConfigError {
                    variable: "EMPORIUM_DATABASE_URL",
                    problem: "must start with sqlite:, postgres:// or postgresql://".to_owned(),
                });
            }
            config.database_url = v;
        }
        if let Some(v) = get("EMPORIUM_DB_MAX_CONNECTIONS") {
            config.db_max_connections = parse_range("EMPORIUM_DB_MAX_CONNECTIONS", &v, 1, 1000)? as u32;
        }
        if let Some(v) = get("EMPORIUM_REDIS_URL") {
            if !(v.starts_with("redis://") || v.starts_with("rediss://")) {
                return Err(ConfigError {
                    variable: "EMPORIUM_REDIS_URL",
                    problem: "must start with redis:// or rediss://".to_owned(),
                });
            }
            config.redis_url = Some(Secret::new(v));
        }
        if let Some(v) = get("EMPORIUM_REDIS_TIMEOUT_MS") {
            config.redis_timeout = Duration::from_millis(parse_range("EMPORIUM_REDIS_TIMEOUT_MS", &v, 1, 10_000)?);
        }
        if let Some(v) = get("EMPORIUM_CACHE_PREFIX") {
            config.cache_prefix = v;
        }
        if let Some(v) = get("EMPORIUM_CART_ABANDON_AFTER") {
            config.cart_abandon_after =
                Duration::from_secs(parse_range("EMPORIUM_CART_ABANDON_AFTER", &v, 60, 90 * 24 * 3600)?);
        }
        if let Some(v) = get("EMPORIUM_CACHE_TTL") {
            config.cache_ttl = Duration::from_secs(parse_range("EMPORIUM_CACHE_TTL", &v, 1, 7 * 24 * 3600)?);
        }
        if let Some(v) = get("EMPORIUM_JWT_SECRET") {
            if v.len() < 32 {
                return Err(ConfigError {
                    variable: "EMPORIUM_JWT_SECRET",
                    problem: "must be at least 32 characters".to_owned(),
                });
            }
            config.jwt_secret = Some(Secret::new(v));
        }
        if let Some(v) = get("EMPORIUM_ACCESS_TOKEN_TTL") {
            config.access_token_ttl = Duration::from_secs(parse_range("EMPORIUM_ACCESS_TOKEN_TTL", &v, 30, 24 * 3600)?);
        }
        if let Some(v) = get("EMPORIUM_REFRESH_TOKEN_TTL") {
            config.refresh_token_ttl =
                Duration::from_secs(parse_range("EMPORIUM_REFRESH_TOKEN_TTL", &v, 60, 365 * 24 * 3600)?);
        }
        if let Some(v) = get("EMPORIUM_SESSION_MAX_AGE") {
            config.session_max_age =
                Duration::from_secs(parse_range("EMPORIUM_SESSION_MAX_AGE", &v, 60, 5 * 365 * 24 * 3600)?);
        }
        if let Some(v) = get("EMPORIUM_RESERVATION_TTL") {
            config.reservation_ttl = Duration::from_secs(parse_range("EMPORIUM_RESERVATION_TTL", &v, 10, 24 * 3600)?);
        }
        if config.session_max_age < config.refresh_token_ttl {
            config.session_max_age = config.refresh_token_ttl;
        }
        for (variable, slot) in [
            ("EMPORIUM_RATE_LIMIT_ANONYMOUS", &mut config.rate_limits.anonymous),
            ("EMPORIUM_RATE_LIMIT_CUSTOMER", &mut config.rate_limits.customer),
            ("EMPORIUM_RATE_LIMIT_API_KEY", &mut config.rate_limits.api_key),
        ] {
            if let Some(v) = get(variable) {
                *slot = std::num::NonZeroU32::new(parse_range(variable, &v, 0, 1_000_000)? as u32);
            }
        }
        if let Some(v) = get("EMPORIUM_CLIENT_IP_HEADER") {
            config.client_ip_header = Some(axum::http::HeaderName::from_bytes(v.trim().as_bytes()).map_err(|_| {
                ConfigError { variable: "EMPORIUM_CLIENT_IP_HEADER", problem: format!("'{v}' is not a header name") }
            })?);
        }
        if let Some(v) = get("EMPORIUM_BODY_LIMIT") {
            config.body_limit = parse_range("EMPORIUM_BODY_LIMIT", &v, 1024, 1 << 30)? as usize;
        }
        if let Some(v) = get("EMPORIUM_HEADER_TIMEOUT_MS") {
            config.header_read_timeout =
                Duration::from_millis(parse_range("EMPORIUM_HEADER_TIMEOUT_MS", &v, 100, 600_000)?);
        }
        if let Some(v) = get("EMPORIUM_REQUEST_TIMEOUT_MS") {
            config.request_timeout =
                Duration::from_millis(parse_range("EMPORIUM_REQUEST_TIMEOUT_MS", &v, 100, 600_000)?);
        }
        if let Some(v) = get("EMPORIUM_DB_STATEMENT_TIMEOUT_MS") {
            config.db_statement_timeout =
                Duration::from_millis(parse_range("EMPORIUM_DB_STATEMENT_TIMEOUT_MS", &v, 100, 600_000)?);
        }
        if let Some(v) = get("EMPORIUM_CORS_ORIGINS") {
            config.cors_origins = parse_origins(&v)?;
        }
        if let Some(v) = get("EMPORIUM_LOG") {
            config.log_filter = v;
        }
        if let Some(v) = get("EMPORIUM_ACCESS_LOG") {
            config.access_log = match v.trim() {
                "true" | "1" | "on" => true,
                "false" | "0" | "off" => false,
                _ => {
                    return Err(ConfigError {
                        variable: "EMPORIUM_ACCESS_LOG",
                        problem: "must be true or false".to_owned(),
                    });
                }
            };
        }
        if let Some(v) = get("EMPORIUM_SECRET_KEY") {
            if v.len() < 32 {
                return Err(ConfigError {
                    variable: "EMPORIUM_SECRET_KEY",
                    problem: "must be at least 32 characters".to_owned(),
                });
            }
            config.secret_key = Some(Secret::new(v));
        }
        if let Some(v) = get("EMPORIUM_SECRET_KEY_FILE") {
            config.secret_key_file = v.into();
        }
        if let Some(v) = get("EMPORIUM_WEBHOOK_ALLOW_PRIVATE") {
            config.webhook_allow_private = match v.trim() {
                "true" | "1" | "on" => true,
                "false" | "0" | "off" => false,
                _ => {
                    return Err(ConfigError {
                        variable: "EMPORIUM_WEBHOOK_ALLOW_PRIVATE",
                        problem: "must be true or false".to_owned(),
                    });
                }
            };
        }
        if let Some(v) = get("EMPORIUM_WEBHOOK_RETRY_BASE") {
            config.webhook_retry_base = match v.trim().parse::<f64>() {
                Ok(base) if (0.001..=3600.0).contains(&base) => base,
                _ => {
                    return Err(ConfigError {
                        variable: "EMPORIUM_WEBHOOK_RETRY_BASE",
                        problem: "must be a number of seconds from 0.001 to 3600".to_owned(),
                    });
                }
            };
        }
        if let Some(v) = get("EMPORIUM_NATS_URL") {
            if !(v.starts_with("nats://") || v.starts_with("tls://")) {
                return Err(ConfigError {
                    variable: "EMPORIUM_NATS_URL",
                    problem: "must start with nats:// or tls://".to_owned(),
                });
            }
            config.nats_url = Some(Secret::new(v));
        }
        for (variable, value) in [
            ("EMPORIUM_NATS_STREAM", &mut config.nats_stream),
            ("EMPORIUM_NATS_SUBJECT_PREFIX", &mut config.nats_subject_prefix),
        ] {
            if let Some(v) = get(variable) {
                if v.is_empty()
                    || v.len() > 64
                    || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(ConfigError {
                        variable,
                        problem: "must be 1 to 64 letters, digits, '_' or '-'".to_owned(),
                    });
                }
                *value = v;
            }
        }
        if let Some(v) = get("EMPORIUM_LOG_FORMAT") {
            config.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError {
                        variable: "EMPORIUM_LOG_FORMAT",
                        problem: "must be text or json".to_owned(),
                    });
                }
            };
        }
        Ok(config)
    }
}

fn parse<T: std::str::FromStr>(variable: &'static str, value: &str, expected: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError { variable, problem: format!("'{value}' is not {expected}") })
}

/// A comma-separated list of exact origins (`scheme://host[:port]`, nothing after).
fn parse_origins(value: &str) -> Result<Vec<String>, ConfigError> {
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        let valid =
            rest.is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', ' ', '*']) && host.is_ascii());
        if !valid {
            return Err(ConfigError {
                variable: "EMPORIUM_CORS_ORIGINS",
                problem: format!("'{origin}' is not an origin such as https://shop.example or http://localhost:3000"),
            });
        }
        origins.push(origin.to_owned());
    }
    Ok(origins)
}

fn parse_range(variable: &'static str, value: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    let n: u64 = parse(variable, value, "a whole number")?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(ConfigError { variable, problem: format!("{n} is outside {min}..={max}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults_need_no_variables() -> Result<(), ConfigError> {
        let c = config(&[])?;
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.starts_with("sqlite:"));
        assert!(c.redis_url.is_none());
        assert_eq!(c.cache_ttl, Duration::from_secs(300));
        assert_eq!(c.body_limit, 1 << 20);
        Ok(())
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = config(&[("EMPORIUM_CACHE_TTL", "soon")]).err().map(|e| e.variable);
        assert_eq!(err, Some("EMPORIUM_CACHE_TTL"));
        let err = config(&[("EMPORIUM_ADDR", "nowhere")]).err().map(|e| e.variable);
        assert_eq!(err, Some("EMPORIUM_ADDR"));
        let err = config(&[("EMPORIUM_JWT_SECRET", "short")]).err().map(|e| e.variable);
        assert_eq!(err, Some("EMPORIUM_JWT_SECRET"));
    }

    #[test]
    fn cors_origins_are_exact_origins() -> Result<(), ConfigError> {
        let c = config(&[("EMPORIUM_CORS_ORIGINS", "https://shop.example, http://localhost:3000")])?;
        assert_eq!(c.cors_origins, ["https://shop.example", "http://localhost:3000"]);
        for bad in ["*", "shop.example", "https://shop.example/", "https://shop.example/path"] {
            let err = config(&[("EMPORIUM_CORS_ORIGINS", bad)]).err().map(|e| e.variable);
            assert_eq!(err, Some("EMPORIUM_CORS_ORIGINS"), "{bad} was accepted");
        }
        Ok(())
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
