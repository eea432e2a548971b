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
    Seed {
        /// The demo shop: categories, 50 products with variants, prices and stock.
        #[arg(long, required = true)]
        demo: bool,
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
        command => {
            let config = Config::from_env()?;
            init_logging(&config);
            run(command, config).await?;
        }
    }
    Ok(())
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => {
            let app = app::build(config).await?;
            if demo {
                let report = seed::demo(&app.state.db).await.context("loading the demo shop")?;
                if let Some(version) = report.version {
                    app.state.search.caught_up(version).await;
                }
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
        Command::Seed { .. } => {
            db::migrate(&config).await?;
            let database = db::connect(&config).await?;
            let report = seed::demo(&database).await?;
            println!("demo shop: {} categories and {} products added", report.categories, report.products);
            Ok(())
        }
        Command::Export { .. } | Command::BenchCeiling { .. } => Ok(()),
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
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
