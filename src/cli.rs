//! The command line: `vodgate [serve]`, `vodgate api-key create|list|revoke`.

use crate::app::{App, Caller, GrantInput};
use crate::auth::{AdminAuth, ApiKeyId, Scope};
use crate::config::Config;
use crate::domain::{EntitlementId, OrderId, VideoId, ViewerId};
use crate::http::dto::EntitlementView;
use crate::http::server::Application;
use crate::media::origin::Origin;
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
            let app = shared_app(config).await?;
            let mut input = GrantInput::new(
                ViewerId::parse(&viewer).map_err(|e| e.to_string())?,
                VideoId::parse(&video).map_err(|e| e.to_string())?,
            );
            input.order_id = order
                .as_deref()
                .map(OrderId::parse)
                .transpose()
                .map_err(|e| e.to_string())?;
            input.watch_for_s = watch_for;
            input.start_within_s = start_within;
            input.max_streams = max_streams;
            let terms = app.terms(input).map_err(|e| e.to_string())?;
            let granted = app
                .grant(terms, &Caller::cli())
                .await
                .map_err(|e| e.to_string())?;
            let url = app.watch_url_of(&granted.launch);
            print_json(&EntitlementView::new(&granted.record, Some(url)), true)
        }
        Command::Revoke { id, order, reason } => {
            let app = shared_app(config).await?;
            let caller = Caller::cli();
            let revoked = match (id, order) {
                (Some(id), None) => {
                    let id = EntitlementId::parse(&id).map_err(|e| e.to_string())?;
                    vec![
                        app.revoke(&id, reason, &caller)
                            .await
                            .map_err(|e| e.to_string())?,
                    ]
                }
                (None, Some(order)) => {
                    let order = OrderId::parse(&order).map_err(|e| e.to_string())?;
                    app.refund_order(&order, reason, &caller)
                        .await
                        .map_err(|e| e.to_string())?
                }
                _ => return Err("name an entitlement id, or --order ORDER".into()),
            };
            for r in revoked {
                print_json(&EntitlementView::new(&r.record, None), false)?;
            }
            Ok(())
        }
    }
}

fn print_json(value: &impl serde::Serialize, pretty: bool) -> Result<(), String> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    println!("{}", text.map_err(|e| e.to_string())?);
    Ok(())
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

/// The use cases on the shared store, for commands that act on what running instances
/// serve: the command line grants, revokes and audits exactly as the API does.
async fn shared_app(config: Config) -> Result<App, String> {
    let store = shared_store(&config).await?;
    let origin = Origin::from_config(&config, &store)?;
    Ok(App::new(config, store, origin))
}

/// The shared store, for commands that act on what running instances serve.
async fn shared_store(config: &Config) -> Result<crate::store::Store, String> {
    if config.redis_url().is_none() {
        return Err("this command needs REDIS_URL: without Redis, state lives inside the running \
                    `vodgate serve` (use its HTTP API; it prints an API key at start, or set VODGATE_BOOTSTRAP_API_KEY)"
            .into());
    }
    let store = crate::store::Store::open(config.redis_url(), &config.redis_prefix)
        .map_err(|e| e.to_string())?
        .require_replicas(config.redis_wait_replicas);
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
