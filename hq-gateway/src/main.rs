//! `kasir-gateway`: the HQ REST API.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use kasir_gateway::AppState;
use kasir_gateway::config::Config;

/// The kasir HQ gateway: the REST API HQ systems use and store leaders sync with.
///
/// Settings come from defaults, then --config FILE (TOML), then KASIR_* environment variables,
/// then these flags. With no database URL it keeps everything in ./kasir-hq.db (SQLite).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML file with settings (database_url, listen, rate_limit_per_minute, …).
    #[arg(long)]
    config: Option<PathBuf>,
    /// mysql://user:pass@host:3306/db or sqlite://path.db (env KASIR_DATABASE_URL).
    #[arg(long)]
    database_url: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (env KASIR_LISTEN).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KASIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("kasir-gateway: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = Config::load(args.config.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let listen = config.listen;
    let state = AppState::open(config).await?;
    if let Some(msg) = kasir_gateway::bootstrap_admin(
        &state,
        std::env::var("KASIR_ADMIN_USERNAME").ok(),
        std::env::var("KASIR_ADMIN_PASSWORD").ok(),
    )
    .await?
    {
        println!("kasir-gateway: {msg}")
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!(
        "kasir-gateway: listening on http://{} ({} database)",
        listener.local_addr().map_err(|e| e.to_string())?,
        state.db.backend()
    );
    kasir_gateway::serve(state, listener)
        .await
        .map_err(|e| e.to_string())
}
