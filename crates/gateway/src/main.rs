//! The `emporium` binary: parse the command line, call the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use emporium_gateway::{Config, app, config::LogFormat, db, graphql, rest, seed};

/// mimalloc: request handling allocates many small short-lived objects, where glibc's
/// malloc showed up at about 15% of CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "emporium", version, about = "Emporium: a headless commerce API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve {
        /// Load the demo shop first (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load data.
    #[command(group = clap::ArgGroup::new("what").required(true).multiple(true))]
    Seed {
        /// The demo shop: categories, 50 products with variants, prices and stock.
        #[arg(long, group = "what")]
        demo: bool,
        /// A generated catalog of this many products (4 variants each), for benchmarks.
        #[arg(long, group = "what", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        products: Option<u32>,
        /// A year of generated trade ending now: this many orders (with their carts, payments,
        /// refunds and stock movements), a catalog and customers of its own, for reports.
        #[arg(long, group = "what", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        orders: Option<u32>,
    },
    /// The search index.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Print a generated document.
    Export {
        #[arg(value_enum)]
        what: Export,
    },
    /// Benchmark ceiling: serve one file's bytes from memory at GET /{anything}.
    #[command(hide = true)]
    BenchCeiling {
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Benchmark webhook receiver: answers 204 to every POST, and once `expect` events came,
    /// prints how fast they came and their lag from the event's time to receipt.
    #[command(hide = true)]
    BenchReceiver {
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long)]
        expect: usize,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account with every permission, or do nothing if the email has one.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Build the index from the database, showing progress, and have every running instance
    /// rebuild its own within a second.
    Reindex,
}

#[derive(Clone, Copy, ValueEnum)]
enum Export {
    Openapi,
    Graphql,
    ErrorCodes,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Export { what: Export::Openapi } => {
            println!("{}", rest::openapi().to_pretty_json()?);
        }
        Command::Export { what: Export::ErrorCodes } => {
            print!("{}", emporium_gateway::error::error_code_table());
        }
        Command::Export { what: Export::Graphql } => {
            print!("{}", graphql::sdl());
        }
        Command::BenchCeiling { addr, file } => bench_ceiling(addr, file).await?,
        Command::BenchReceiver { addr, expect } => bench_receiver(addr, expect).await?,
        command => {
            let config = Config::from_env()?;
            let sink = init_logging(&config);
            let ran = run(command, config).await;
            sink.flush();
            ran?;
        }
    }
    Ok(())
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => {
            let app = app::build(config).await?;
            if demo {
                // Through this instance's writer: its cache and index take the load at once.
                let report = seed::demo(&app.state.writer).await.context("loading the demo shop")?;
                tracing::info!(categories = report.categories, products = report.products, "demo shop loaded");
            }
            app::serve(app).await
        }
        Command::Migrate => {
            db::migrate(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { command: AdminCommand::Create { email, password } } => {
            if password.chars().count() < 10 {
                anyhow::bail!("--password must be at least 10 characters");
            }
            db::migrate(&config).await?;
            let database = db::connect(&config).await?;
            let created = seed::create_admin(&database, &email, password).await?;
            println!(
                "{}",
                if created {
                    "staff account created"
                } else {
                    "a staff account with this email exists; nothing changed"
                }
            );
            Ok(())
        }
        Command::Seed { demo, products, orders } => {
            db::migrate(&config).await?;
            let database = db::connect(&config).await?;
            if demo {
                let report = seed::demo(&offline(&database)).await?;
                println!("demo shop: {} categories and {} products added", report.categories, report.products);
            }
            if let Some(count) = products {
                let bar = progress_bar(u64::from(count), "products");
                let started = std::time::Instant::now();
                let report =
                    seed::generated(&offline(&database), count as usize, |done| bar.set_position(done)).await?;
                bar.finish_and_clear();
                println!(
                    "generated catalog: {} categories and {} products added in {:.1} s",
                    report.categories,
                    report.products,
                    started.elapsed().as_secs_f64()
                );
            }
            if let Some(count) = orders {
                let bar = progress_bar(u64::from(count), "orders");
                let started = std::time::Instant::now();
                let report = emporium_gateway::seed_orders::orders(&offline(&database), u64::from(count), 25, |done| {
                    bar.set_position(done)
                })
                .await?;
                bar.finish_and_clear();
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "generated trade: {} orders ({} refunds), {} customers, {} carts, {} stock movements in {seconds:.1} s \
                     ({:.0} orders/s)",
                    report.orders,
                    report.refunds,
                    report.customers,
                    report.carts,
                    report.movements,
                    report.orders as f64 / seconds.max(0.001)
                );
            }
            Ok(())
        }
        Command::Search { command: SearchCommand::Reindex } => {
            db::migrate(&config).await?;
            let database = db::connect(&config).await?;
            let bar = progress_bar(0, "products indexed");
            let started = std::time::Instant::now();
            let search = emporium_gateway::infra::search::Search::load(&database, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish_and_clear();
            let elapsed = started.elapsed();
            emporium_gateway::infra::search::request_rebuild(&offline(&database)).await?;
            println!(
                "search index: {} products indexed in {:.2} s; every running instance rebuilds its own within a second",
                search.read(emporium_search::Index::len),
                elapsed.as_secs_f64()
            );
            Ok(())
        }
        Command::Export { .. } | Command::BenchCeiling { .. } | Command::BenchReceiver { .. } => Ok(()),
    }
}

/// A progress bar on stderr (hidden when it is not a terminal).
fn progress_bar(length: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(length);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Logs to standard output through one buffer (see [`LogSink`]); the sink is flushed on exit.
fn init_logging(config: &Config) -> emporium_gateway::infra::access_log::LogSink {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let sink = emporium_gateway::infra::access_log::LogSink::stdout();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink.clone());
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        // Colours only for a terminal: a file or a collector gets plain text.
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())).init(),
    }
    sink
}

/// The benchmark's ceiling: a minimal axum handler returning fixed bytes from memory.
async fn bench_ceiling(addr: std::net::SocketAddr, file: std::path::PathBuf) -> anyhow::Result<()> {
    use axum::http::header;
    let body = bytes::Bytes::from(std::fs::read(&file)?);
    let router = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

/// The webhook benchmark's receiver: records each event's lag (receipt time less the event's
/// `created_at`) and, once `expect` distinct events came, prints one JSON line and returns.
async fn bench_receiver(addr: std::net::SocketAddr, expect: usize) -> anyhow::Result<()> {
    use std::sync::{Arc, Mutex};
    type Seen = (std::collections::HashSet<String>, Vec<f64>, Option<std::time::Instant>, usize);
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let done = Arc::new(tokio::sync::Notify::new());
    let (keep, finished) = (Arc::clone(&seen), Arc::clone(&done));
    let router = axum::Router::new().fallback(move |body: bytes::Bytes| {
        let (keep, finished) = (Arc::clone(&keep), Arc::clone(&finished));
        async move {
            let now = chrono::Utc::now();
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let created = event["created_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            let mut seen = keep.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.3 += 1;
            seen.2.get_or_insert_with(std::time::Instant::now);
            if let Some(id) = event["id"].as_str() {
                if seen.0.insert(id.to_owned()) {
                    if let Some(created) = created {
                        seen.1.push(
                            (now - created.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                        );
                    }
                    if seen.0.len() == expect {
                        finished.notify_one();
                    }
                }
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    done.notified().await;
    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let elapsed = seen.2.map_or(0.0, |first| first.elapsed().as_secs_f64());
    seen.1.sort_by(f64::total_cmp);
    let at = |q: f64| seen.1.get(((seen.1.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    println!(
        "{}",
        serde_json::json!({
            "events": seen.0.len(),
            "requests": seen.3,
            "seconds": elapsed,
            "events_per_second": seen.0.len() as f64 / elapsed.max(1e-9),
            "lag_p50_ms": at(0.5),
            "lag_p99_ms": at(0.99),
        })
    );
    server.abort();
    Ok(())
}

/// Units of work for a command that serves nothing: running servers hear of its writes from
/// the change log.
fn offline(database: &sea_orm::DatabaseConnection) -> emporium_core::uow::Writer {
    emporium_core::uow::Writer::new(database.clone(), std::sync::Arc::new(emporium_core::uow::NoCache))
}
