//! `nexus-bridge`: a Discord-compatible bot API (REST v10 and gateway v10)
//! served as a Matrix application service, so bots written with discord.py
//! or discord.js run against a Matrix homeserver by changing only their base
//! URL. It acts on Matrix only through the appservice API, so it works
//! beside any spec-compliant homeserver; `nexus serve` runs it in-process.
//!
//! Mapping: guild = space (a Nexus server), channel = a child room the bot
//! has joined, role = `nexus.role`, message = `m.room.message`; ids are
//! snowflakes ([`snowflake`]). Bots are the bridge's users
//! `@{prefix}bot_{application id}`.

// The guild object is one large `json!` literal.
#![recursion_limit = "256"]

pub mod applications;
mod attachments;
pub mod commands;
mod dispatch;
mod dms;
pub mod gateway;
pub mod guilds;
pub mod interactions;
pub mod matrix;
mod members;
mod presence;
pub mod registration;
pub mod rest;
mod rooms_cache;
pub mod shapes;
pub mod snowflake;
pub mod store;
pub mod threads;
mod transactions;
pub mod webhooks;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use nexus_storage::Store;

use applications::Applications;
use commands::Commands;
use gateway::Sessions;
use matrix::Homeserver;
use snowflake::Snowflakes;

/// What the bridge needs to know of its homeserver and registration.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Where the bridge reaches the homeserver's client-server API.
    pub homeserver_url: String,
    pub server_name: String,
    pub as_token: String,
    pub hs_token: String,
    /// The registration's exclusive user namespace is `@{prefix}.*`.
    pub user_prefix: String,
    /// Where clients reach the bridge (its CDN-style attachment URLs), e.g.
    /// `https://chat.example.org`.
    pub public_url: String,
}

pub struct Bridge {
    pub config: BridgeConfig,
    store: Arc<dyn Store>,
    pub homeserver: Homeserver,
    pub snowflakes: Arc<Snowflakes>,
    pub applications: Applications,
    pub commands: Commands,
    pub sessions: Sessions,
    rooms_cache: rooms_cache::RoomsCache,
    /// Transaction ids recently handled: a retried transaction is
    /// acknowledged without being applied twice.
    recent_transactions: Mutex<VecDeque<String>>,
    /// Who was typing in each room at the last `m.typing`, so only those
    /// who start typing become TYPING_START.
    typing: Mutex<std::collections::HashMap<String, Vec<String>>>,
}

impl Bridge {
    pub async fn open(config: BridgeConfig, store: Arc<dyn Store>) -> Result<Arc<Bridge>> {
        let homeserver = Homeserver::new(&config.homeserver_url, &config.as_token)?;
        let snowflakes = Arc::new(Snowflakes::open(store.clone()).await?);
        let applications = Applications::new(store.clone(), snowflakes.clone());
        let commands = Commands::new(store.clone(), snowflakes.clone());
        Ok(Arc::new(Bridge {
            config,
            store,
            typing: Mutex::new(std::collections::HashMap::new()),
            homeserver,
            snowflakes,
            applications,
            commands,
            sessions: Sessions::default(),
            recent_transactions: Mutex::new(VecDeque::new()),
            rooms_cache: rooms_cache::RoomsCache::default(),
        }))
    }

    /// The Matrix user of an application's bot.
    pub fn bot_user_id(&self, application_id: u64) -> (String, String) {
        let localpart = format!("{}bot_{application_id}", self.config.user_prefix);
        let user_id = format!("@{localpart}:{}", self.config.server_name);
        (localpart, user_id)
    }

    /// Whether a Matrix user is one of the bridge's bots.
    pub fn is_bot(&self, user_id: &str) -> bool {
        user_id.starts_with(&format!("@{}bot_", self.config.user_prefix))
    }

    /// True the first time a transaction id is seen (of the last 1,000).
    fn first_sight_of_transaction(&self, txn_id: &str) -> bool {
        let mut recent = self.recent_transactions.lock().unwrap();
        if recent.iter().any(|t| t == txn_id) {
            return false;
        }
        if recent.len() == 1_000 {
            recent.pop_front();
        }
        recent.push_back(txn_id.to_owned());
        true
    }
}

/// Where the homeserver reaches an in-process bridge's appservice routes.
pub const APPSERVICE_PATH: &str = "/_nexus/discord-bridge";

impl Bridge {
    /// Every route of the bridge: Discord's REST under `/api/v10` and
    /// `/api`, the gateway at `/gateway`, the developer portal under
    /// `/_nexus/bridge/v1`, and the appservice routes under `appservice_path`
    /// (`""` when the bridge has a listener of its own).
    pub fn router(self: &Arc<Self>, appservice_path: &str) -> axum::Router {
        let appservice = transactions::router();
        let appservice =
            if appservice_path.is_empty() { appservice } else { axum::Router::new().nest(appservice_path, appservice) };
        // One set of buckets for both prefixes.
        let limits = Arc::new(rest::RateLimits::default());
        axum::Router::new()
            .nest("/api/v10", rest::router(limits.clone()))
            .nest("/api", rest::router(limits))
            .route("/gateway", axum::routing::get(gateway_upgrade))
            .route("/attachments/{channel_id}/{attachment_id}/{filename}", axum::routing::get(attachments::serve))
            .merge(rest::portal_router())
            .merge(appservice)
            .with_state(self.clone())
    }
}

async fn gateway_upgrade(
    axum::extract::State(bridge): axum::extract::State<Arc<Bridge>>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> axum::response::Response {
    let resume_url = rest::gateway_url(&headers);
    // zlib-stream is what discord.py asks for; anything else (zstd-stream,
    // none) gets plain text frames, which every library reads.
    let zlib = query.get("compress").map(String::as_str) == Some("zlib-stream");
    // Small buffers: a gateway session mostly idles, and there may be
    // thousands (tungstenite's defaults are 128 KiB each way).
    upgrade
        .max_message_size(64 * 1024)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .on_upgrade(move |socket| gateway::serve_socket(bridge, socket, resume_url, zlib))
}
