//! `nexus-bridge --config bridge.toml`: the bot API as a process of its own,
//! beside any spec-compliant homeserver. It writes its appservice
//! registration on first start (give that file to the homeserver, e.g.
//! Nexus's `appservice.registration_files`), keeps its own store, and serves
//! Discord's REST and gateway, the developer portal and the appservice
//! routes on one listener. `--write-registration` only writes the
//! registration and exits (for setting up the homeserver first).
//!
//! ```toml
//! homeserver_url = "http://127.0.0.1:8008"  # the client-server API
//! server_name = "example.org"
//! listen = "127.0.0.1:9008"
//! # Where the homeserver reaches this process (default http://{listen}).
//! appservice_url = "http://127.0.0.1:9008"
//! # Where bots reach it: attachment URLs (default http://{listen}).
//! public_url = "https://bots.example.org"
//! registration = "/var/lib/nexus-bridge/registration.yaml"
//! # RocksDB directory; or postgres_url = "postgres://…"
//! data = "/var/lib/nexus-bridge/store"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use nexus_bridge::registration::Registration;
use nexus_bridge::store::BRIDGE;
use nexus_bridge::{Bridge, BridgeConfig};
use nexus_storage::backend::{Backend, StoreOptions};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    homeserver_url: String,
    server_name: String,
    listen: SocketAddr,
    appservice_url: Option<String>,
    public_url: Option<String>,
    registration: PathBuf,
    data: Option<PathBuf>,
    postgres_url: Option<String>,
}

fn usage() -> ! {
    eprintln!("usage: nexus-bridge --config <bridge.toml> [--write-registration]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut args = std::env::args().skip(1);
    let (mut config_path, mut write_only) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config_path = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--write-registration" => write_only = true,
            _ => usage(),
        }
    }
    let path = config_path.unwrap_or_else(|| usage());
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: FileConfig = toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let own_url = format!("http://{}", config.listen);
    let appservice_url = config.appservice_url.clone().unwrap_or_else(|| own_url.clone());
    let registration =
        Registration::load_or_create(&config.registration, &appservice_url).context("the appservice registration")?;
    if write_only {
        println!("{}", config.registration.display());
        return Ok(());
    }
    let backend = match (&config.data, &config.postgres_url) {
        (Some(path), None) => Backend::RocksDb { path: path.clone() },
        (None, Some(url)) => Backend::Postgres { url: url.clone(), max_connections: 8 },
        _ => bail!("give exactly one of `data` (a RocksDB directory) and `postgres_url`"),
    };
    let store = nexus_storage::open(&StoreOptions { backend, sync_writes: true, cluster: None }, BRIDGE)
        .await
        .context("the bridge's storage")?;
    let bridge = Bridge::open(
        BridgeConfig {
            homeserver_url: config.homeserver_url,
            server_name: config.server_name,
            as_token: registration.as_token,
            hs_token: registration.hs_token,
            user_prefix: registration.user_prefix,
            public_url: config.public_url.unwrap_or(own_url).trim_end_matches('/').to_owned(),
        },
        store,
    )
    .await?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, registration = %config.registration.display(), "nexus-bridge is serving");
    let router = bridge.router("");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => drop(signal.recv().await),
                    Err(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate => {}
            }
            bridge.sessions.reconnect_all();
        })
        .await
        .context("serving")
}
