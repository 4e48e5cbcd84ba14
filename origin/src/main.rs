//! `edge-auth-origin`: the origin service binary (serve, rotate-keys, create-admin, migrate).

use std::future::IntoFuture;
use std::process::ExitCode;

use edge_auth_origin::config::Config;
use edge_auth_origin::db::Db;
use edge_auth_origin::domain::accounts;
use edge_auth_origin::domain::audit::Ctx;
use edge_auth_origin::domain::clock::Clock;
use edge_auth_origin::domain::webhooks::processor;
use edge_auth_origin::error::AppError;
use edge_auth_origin::{app, AppState};

fn describe(e: AppError) -> String {
    match e {
        AppError::Problem(p) => p.id.to_owned(),
        AppError::Db(e) => format!("database: {e}"),
        AppError::Internal(m) => m,
    }
}

const USAGE: &str = "usage: edge-auth-origin <command>\n\
  serve                 run the HTTP service and the webhook workers (ORIGIN_ADDR, DATA_DIR,\n\
                        DATABASE_URL, ENVELOPE_SECRET, WEBHOOK_WORKERS, ...)\n\
  migrate               create/migrate the database and exit\n\
  check-config          validate the configuration from the environment and exit (no database)\n\
  rotate-keys           create a new signing key; older keys stay in the JWKS until their tokens expire\n\
  create-admin <email>  create an admin account (password from ADMIN_PASSWORD or the first stdin line),\n\
                        or grant the admin role to an existing account";

fn init_logs() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Opens the database; migrates it unless this is `serve` with `MIGRATE_ON_START=false`, in
/// which case it waits (logging) until `edge-auth-origin migrate` has applied this binary's
/// migrations.
async fn open(config: &Config, migrate: bool) -> Result<Db, String> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("DATA_DIR: cannot create {}: {e}", config.data_dir.display()))?;
    }
    let db = Db::open(&config.effective_database_url(), config.serve.pool_size)
        .await
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    if migrate {
        db.migrate()
            .await
            .map_err(|e| format!("DATABASE_URL: {e}"))?;
        return Ok(db);
    }
    loop {
        match db.migration_state().await {
            Ok(m) if m.pending.is_empty() => return Ok(db),
            Ok(m) => tracing::warn!(
                pending = ?m.pending,
                "MIGRATE_ON_START=false: waiting for `edge-auth-origin migrate` to apply these migrations"
            ),
            Err(e) => tracing::warn!(error = %e, "waiting for the database"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// Resolves on SIGTERM (systemd, a container runtime, a rolling restart) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(cmd: &str, args: &[String]) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    if cmd == "check-config" {
        // SMTP_URL / MAIL_FROM are parsed the way the mailer will use them.
        edge_auth_origin::domain::mail::Mailer::from_config(&config.mail)?;
        // The relying party is built the way `serve` builds it (webauthn-rs's own checks).
        if let Some(p) = &config.passkeys {
            edge_auth_origin::domain::passkeys::relying_party(p)?;
        }
        let database = match &config.database_url {
            Some(u) if u.starts_with("postgres") => "postgresql",
            _ => "sqlite",
        };
        println!(
            "configuration ok: listen {}, {database} database, issuer {}, {} webhook workers, \
             migrate on start {}, drain {} s + grace {} s",
            config.addr,
            config.issuer,
            config.webhooks.workers,
            config.serve.migrate_on_start,
            config.serve.drain_secs,
            config.serve.grace_secs
        );
        return Ok(());
    }
    let db = open(&config, cmd != "serve" || config.serve.migrate_on_start).await?;
    match cmd {
        "migrate" => Ok(()),
        "rotate-keys" => {
            let state = AppState::new(config, db, Clock::system()).await?;
            let (kid, retired) = edge_auth_origin::domain::keys::rotate(&state, &Ctx::cli())
                .await
                .map_err(|e| format!("rotate-keys: {}", describe(e.into())))?;
            println!("new signing key {kid}; retired {retired:?} (still published until their tokens expire)");
            Ok(())
        }
        "create-admin" => {
            let email = args.get(1).ok_or("create-admin: missing <email>")?;
            let password = match std::env::var("ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map_err(|e| {
                        format!("create-admin: reading the password from stdin: {e}")
                    })?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let state = AppState::new(config, db, Clock::system()).await?;
            let (user, created) = accounts::create_admin(&state, email, password)
                .await
                .map_err(|e| format!("create-admin: {}", describe(e.into())))?;
            if created {
                println!("created admin {} ({})", user.email, user.id);
            } else {
                println!(
                    "granted admin to existing account {} ({})",
                    user.email, user.id
                );
            }
            Ok(())
        }
        "serve" => {
            let addr = config.addr;
            let (drain, grace) = (config.serve.drain_secs, config.serve.grace_secs);
            let state = AppState::new(config, db, Clock::system()).await?;
            let lifecycle = state.lifecycle.clone();
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("ORIGIN_ADDR: cannot listen on {addr}: {e}"))?;
            tracing::info!(%addr, "origin listening");
            // Webhook workers stop after their current event on shutdown; one killed mid-event
            // loses nothing (its lease expires and the event runs again).
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let mut workers = processor::spawn(state.core.clone(), stopped.clone());
            tracing::info!(workers = workers.len(), "webhook processor started");
            // Every process runs the rotation timer; the SigningKeys lock makes them agree.
            workers.extend(edge_auth_origin::domain::keys::spawn_rotation(
                state.core.clone(),
                stopped.clone(),
            ));
            // Every process sweeps too; the deletes are idempotent.
            workers.extend(edge_auth_origin::domain::retention::spawn_sweeper(
                state.core.clone(),
                stopped,
            ));
            let (close, closed) = tokio::sync::oneshot::channel::<()>();
            let mut server = tokio::spawn(
                axum::serve(listener, app(state))
                    .with_graceful_shutdown(async {
                        let _ = closed.await;
                    })
                    .into_future(),
            );
            let early = tokio::select! {
                r = &mut server => Some(r),
                _ = shutdown_signal() => None,
            };
            // Shutdown: readiness fails first (the load balancer stops sending), then the
            // listener closes; in-flight requests and webhook handlers finish within the grace.
            if early.is_none() {
                lifecycle.start_draining();
                tracing::info!(
                    drain_secs = drain,
                    grace_secs = grace,
                    "shutting down: draining"
                );
                tokio::time::sleep(std::time::Duration::from_secs(drain)).await;
                let _ = close.send(());
            }
            let _ = stop.send(true);
            let finishing = async {
                let served = match early {
                    Some(r) => r,
                    None => server.await,
                };
                for w in workers {
                    let _ = w.await;
                }
                served
            };
            match tokio::time::timeout(std::time::Duration::from_secs(grace), finishing).await {
                Ok(Ok(Ok(()))) => {
                    tracing::info!("shut down cleanly");
                    Ok(())
                }
                Ok(Ok(Err(e))) => Err(format!("server error: {e}")),
                Ok(Err(e)) => Err(format!("server task failed: {e}")),
                Err(_) => {
                    tracing::warn!(
                        grace_secs = grace,
                        "shutdown grace period over: exiting with work in flight"
                    );
                    Ok(())
                }
            }
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
    match run(cmd, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-auth-origin: {e}");
            tracing::error!(error = %e, "fatal");
            ExitCode::FAILURE
        }
    }
}
