//! `edge-auth-origin`: the origin service binary (serve, rotate-keys, create-admin, migrate).

use std::process::ExitCode;

use edge_auth_origin::config::Config;
use edge_auth_origin::db::Db;
use edge_auth_origin::domain::clock::Clock;
use edge_auth_origin::{app, AppState};

const USAGE: &str = "usage: edge-auth-origin <serve | migrate>\n\
  serve     run the HTTP service (ORIGIN_ADDR, DATA_DIR, DATABASE_URL, ENVELOPE_SECRET, ...)\n\
  migrate   create/migrate the database and exit";

fn init_logs() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

async fn open(config: &Config) -> Result<Db, String> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("DATA_DIR: cannot create {}: {e}", config.data_dir.display()))?;
    }
    Db::connect(&config.effective_database_url())
        .await
        .map_err(|e| format!("DATABASE_URL: {e}"))
}

async fn run(cmd: &str) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let db = open(&config).await?;
    match cmd {
        "migrate" => Ok(()),
        "serve" => {
            let addr = config.addr;
            let state = AppState::new(config, db, Clock::system()).await?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("ORIGIN_ADDR: cannot listen on {addr}: {e}"))?;
            tracing::info!(%addr, "origin listening");
            axum::serve(listener, app(state))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .map_err(|e| format!("server error: {e}"))
        }
        _ => Err(USAGE.to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logs();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-auth-origin: {e}");
            tracing::error!(error = %e, "fatal");
            ExitCode::FAILURE
        }
    }
}
