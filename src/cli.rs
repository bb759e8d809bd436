//! The command line: `vodgate [serve]`, `vodgate api-key create|list|revoke`.

use crate::auth::{AdminAuth, ApiKeyId, Scope};
use crate::config::Config;
use crate::startup::{Application, open_store};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "vodgate",
    version,
    about = "Paid, time-limited access to private video"
)]
pub struct Cli {
    /// TOML configuration file (also VODGATE_CONFIG). Environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Manage admin API keys (needs REDIS_URL: the embedded store lives inside `serve`).
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Grant an entitlement and print it as JSON, watch_url included (needs REDIS_URL).
    Grant {
        #[arg(long)]
        viewer: String,
        #[arg(long)]
        video: String,
        #[arg(long)]
        order: Option<String>,
        /// Rental window in seconds (default: the configured default, 24 h).
        #[arg(long)]
        watch_for: Option<u64>,
        /// Watching must start within this many seconds; the window then runs from the first play.
        #[arg(long)]
        start_within: Option<u64>,
        #[arg(long)]
        max_streams: Option<u32>,
    },
    /// Revoke an entitlement, or with --order refund every entitlement of an order (needs REDIS_URL).
    Revoke {
        /// The entitlement id (ent_…); omit with --order.
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        order: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print the effective settings (secrets masked); exit non-zero when one is bad.
    CheckConfig,
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key. The key is printed once, alone on the last line, and stored only hashed.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated scopes (default: all).
        #[arg(long, value_delimiter = ',', value_parser = parse_scope)]
        scopes: Option<Vec<Scope>>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id; tokens minted from it stop working.
    Revoke { id: String },
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s)
}

pub async fn run(cli: Cli) -> Result<(), String> {
    let config = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::ApiKey(cmd) => api_key(config, cmd).await,
        Command::CheckConfig => {
            for (k, v) in config.describe() {
                println!("{k:<26} {v}");
            }
            println!("configuration is valid");
            Ok(())
        }
        Command::Grant {
            viewer,
            video,
            order,
            watch_for,
            start_within,
            max_streams,
        } => {
            let store = shared_store(&config).await?;
            let entitlements =
                crate::entitlements::Entitlements::new(store.clone(), config.launch_ttl);
            let watch_for_s = watch_for.unwrap_or(config.default_watch_for_s);
            if !(1..=crate::entitlements::MAX_WINDOW_S).contains(&watch_for_s) {
                return Err(format!(
                    "--watch-for must be between 1 and {} seconds",
                    crate::entitlements::MAX_WINDOW_S
                ));
            }
            let req = crate::entitlements::GrantRequest {
                viewer_id: crate::domain::ViewerId::parse(&viewer).map_err(|e| e.to_string())?,
                video_id: crate::domain::VideoId::parse(&video).map_err(|e| e.to_string())?,
                order_id: order
                    .as_deref()
                    .map(crate::domain::OrderId::parse)
                    .transpose()
                    .map_err(|e| e.to_string())?,
                watch_for_s,
                start_within_s: start_within,
                max_streams: max_streams
                    .unwrap_or(config.default_max_streams)
                    .clamp(1, 100),
                age_gate: crate::domain::AgeGate::None,
                playback_mode: None,
                age_verification: None,
            };
            let granted = entitlements.grant(req).await.map_err(|e| e.to_string())?;
            let id = granted.entitlement.id.clone();
            if granted.created {
                let ev = cli_event(crate::audit::AuditKind::Grant, &granted.entitlement);
                audit(&config, &store).record(ev).await;
            }
            let record = entitlements
                .get(&id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the entitlement vanished")?;
            let token = entitlements
                .mint_launch(&id)
                .await
                .map_err(|e| e.to_string())?;
            let url = format!("{}/w/{}", config.public_base(), token.reveal());
            let view = crate::routes::entitlements::EntitlementView::new(&record, Some(url));
            println!(
                "{}",
                serde_json::to_string_pretty(&view).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Revoke { id, order, reason } => {
            let store = shared_store(&config).await?;
            let entitlements =
                crate::entitlements::Entitlements::new(store.clone(), config.launch_ttl);
            let (kind, records) = match (id, order) {
                (Some(id), None) => {
                    let id = crate::domain::EntitlementId::parse(&id).map_err(|e| e.to_string())?;
                    let r = entitlements
                        .revoke(&id, crate::domain::RevocationKind::Revoke, reason.clone())
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("no entitlement {id}"))?;
                    (crate::audit::AuditKind::Revoke, vec![r])
                }
                (None, Some(order)) => {
                    let order = crate::domain::OrderId::parse(&order).map_err(|e| e.to_string())?;
                    let r = entitlements
                        .refund_order(&order, reason.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    if r.is_empty() {
                        return Err(format!("no entitlements belong to order {order}"));
                    }
                    (crate::audit::AuditKind::Refund, r)
                }
                _ => return Err("name an entitlement id, or --order ORDER".into()),
            };
            let trail = audit(&config, &store);
            for r in records.iter().filter(|r| r.by_this_call) {
                let mut ev = cli_event(kind, &r.record.entitlement);
                ev.reason = reason.clone();
                trail.record(ev).await;
            }
            for r in records {
                let view = crate::routes::entitlements::EntitlementView::new(&r.record, None);
                println!(
                    "{}",
                    serde_json::to_string(&view).map_err(|e| e.to_string())?
                );
            }
            Ok(())
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(listen = %config.listen, public_url = %config.public_url, "vodgate is serving");
    if let Some(key) = &app.minted_api_key {
        println!("vodgate: admin API key for this run (shown once; not kept after exit):");
        println!("{}", key.expose_secret());
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

/// The audit trail of the shared store: the command line leaves the same evidence as the API.
fn audit(config: &Config, store: &crate::store::Store) -> crate::audit::Audit {
    crate::audit::Audit::new(store.clone(), config.audit_ip_key.as_ref())
}

/// An audit event made at the command line: no client IP, the user agent says so.
fn cli_event(
    kind: crate::audit::AuditKind,
    e: &crate::domain::Entitlement,
) -> crate::audit::AuditEvent {
    let mut ev =
        crate::audit::AuditEvent::new(kind).entitlement(&e.id, e.order_id.as_ref(), &e.viewer_id);
    ev.user_agent = Some(format!("vodgate-cli/{}", env!("CARGO_PKG_VERSION")));
    ev
}

/// The shared store, for commands that act on what running instances serve.
async fn shared_store(config: &Config) -> Result<crate::store::Store, String> {
    if config.redis_url().is_none() {
        return Err("this command needs REDIS_URL: without Redis, state lives inside the running \
                    `vodgate serve` (use its HTTP API; it prints an API key at start, or set VODGATE_BOOTSTRAP_API_KEY)"
            .into());
    }
    let store = open_store(config).map_err(|e| e.to_string())?;
    store
        .ping()
        .await
        .map_err(|e| format!("cannot reach Redis: {e}"))?;
    Ok(store)
}

async fn api_key(config: Config, cmd: ApiKeyCommand) -> Result<(), String> {
    let auth = AdminAuth::new(shared_store(&config).await?);
    match cmd {
        ApiKeyCommand::Create { name, scopes } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 100 {
                return Err("--name must be 1 to 100 characters".into());
            }
            let mut scopes = scopes.unwrap_or_else(|| Scope::ALL.to_vec());
            scopes.sort();
            scopes.dedup();
            let new = auth
                .create_key(name, scopes)
                .await
                .map_err(|e| e.to_string())?;
            let scopes: Vec<_> = new.key.scopes.iter().map(|s| s.as_str()).collect();
            println!(
                "created API key {} ({}) with scopes {}",
                new.key.id,
                new.key.name,
                scopes.join(",")
            );
            println!("{}", new.secret.expose_secret());
        }
        ApiKeyCommand::List => {
            for k in auth.list_keys().await.map_err(|e| e.to_string())? {
                let scopes: Vec<_> = k.scopes.iter().map(|s| s.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    scopes.join(","),
                    k.created_at.to_rfc3339()
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            let id = ApiKeyId::parse(&id)?;
            if auth.revoke_key(&id).await.map_err(|e| e.to_string())? {
                println!("revoked API key {id}");
            } else {
                return Err(format!("no API key {id}"));
            }
        }
    }
    Ok(())
}
