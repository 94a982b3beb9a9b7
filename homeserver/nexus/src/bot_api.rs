//! The Discord-compatible bot API (`nexus-bridge`) in-process: its
//! registration is generated beside the data and loaded like any bridge's;
//! its routes join the client listener (`/api`, `/gateway`,
//! `/_nexus/bridge/v1`, and its appservice routes under
//! [`nexus_bridge::APPSERVICE_PATH`], which the homeserver calls over
//! loopback like any appservice).

use std::net::SocketAddr;

use anyhow::Context;
use nexus_bridge::registration::Registration;
use nexus_bridge::store::BRIDGE;
use nexus_bridge::{Bridge, BridgeConfig};
use nexus_core::Settings;

use crate::config::Config;

/// The registration, made before the homeserver starts so it loads it.
pub struct Prepared {
    registration: Registration,
    homeserver_url: String,
}

pub fn prepare(config: &Config, settings: &mut Settings, listening: SocketAddr) -> anyhow::Result<Prepared> {
    // The homeserver reaches the bridge, and the bridge the homeserver, on
    // loopback whatever address the listener binds.
    let homeserver_url = format!("http://127.0.0.1:{}", listening.port());
    let path = config.bot_api_dir().join("registration.yaml");
    let url = format!("{homeserver_url}{}", nexus_bridge::APPSERVICE_PATH);
    let registration = Registration::load_or_create(&path, &url).context("the bot API's registration")?;
    settings.appservice.registration_files.push(path);
    Ok(Prepared { registration, homeserver_url })
}

impl Prepared {
    /// Opens the bridge's store; its routes, and the bridge (to tell its
    /// bots to reconnect when the server shuts down).
    pub async fn start(self, config: &Config) -> anyhow::Result<(axum::Router, std::sync::Arc<Bridge>)> {
        let store =
            nexus_storage::open(&config.bot_api_store_options(), BRIDGE).await.context("the bot API's storage")?;
        let bridge_config = BridgeConfig {
            homeserver_url: self.homeserver_url,
            server_name: config.server.server_name.to_string(),
            as_token: self.registration.as_token,
            hs_token: self.registration.hs_token,
            user_prefix: self.registration.user_prefix,
            public_url: config.server.client_base_url().trim_end_matches('/').to_owned(),
        };
        let bridge = Bridge::open(bridge_config, store).await?;
        tracing::info!("the bot API is served under /api and /gateway");
        Ok((bridge.router(nexus_bridge::APPSERVICE_PATH), bridge))
    }
}
