//! The command line: `vodgate [serve]`, `vodgate api-key create|list|revoke`.

use crate::auth::{AdminAuth, ApiKeyId, Scope};
use crate::config::Config;
use crate::startup::{Application, open_store};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "vodgate", version, about = "Paid, time-limited access to private video")]
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
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config.clone()).await.map_err(|e| e.to_string())?;
    tracing::info!(listen = %config.listen, public_url = %config.public_url, "vodgate is serving");
    if let Some(key) = &app.minted_api_key {
        println!("vodgate: admin API key for this run (shown once; not kept after exit):");
        println!("{}", key.expose_secret());
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn api_key(config: Config, cmd: ApiKeyCommand) -> Result<(), String> {
    if config.redis_url().is_none() {
        return Err("api-key commands need REDIS_URL: without Redis, keys live inside the running \
                    `vodgate serve` (it prints one at start, or set VODGATE_BOOTSTRAP_API_KEY)"
            .into());
    }
    let store = open_store(&config).map_err(|e| e.to_string())?;
    store.ping().await.map_err(|e| format!("cannot reach Redis: {e}"))?;
    let auth = AdminAuth::new(store);
    match cmd {
        ApiKeyCommand::Create { name, scopes } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 100 {
                return Err("--name must be 1 to 100 characters".into());
            }
            let mut scopes = scopes.unwrap_or_else(|| Scope::ALL.to_vec());
            scopes.sort();
            scopes.dedup();
            let new = auth.create_key(name, scopes).await.map_err(|e| e.to_string())?;
            let scopes: Vec<_> = new.key.scopes.iter().map(|s| s.as_str()).collect();
            println!("created API key {} ({}) with scopes {}", new.key.id, new.key.name, scopes.join(","));
            println!("{}", new.secret.expose_secret());
        }
        ApiKeyCommand::List => {
            for k in auth.list_keys().await.map_err(|e| e.to_string())? {
                let scopes: Vec<_> = k.scopes.iter().map(|s| s.as_str()).collect();
                println!("{}\t{}\t{}\t{}", k.id, k.name, scopes.join(","), k.created_at.to_rfc3339());
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
