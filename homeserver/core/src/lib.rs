//! Nexus services. Each module owns one concern and the maps the catalog
//! assigns to it. Nothing here knows about HTTP: handlers in `nexus-api`
//! parse requests, call one service method, and render its result.

pub mod accounts;
pub mod devices;
pub mod error;
pub mod profiles;
pub mod rate_limits;
pub mod reports;
pub mod rooms;
pub mod server_keys;
pub mod settings;
pub mod tokens;
pub mod uia;
mod values;

use std::sync::Arc;

use nexus_storage::Store;
use ruma::{OwnedServerName, ServerName};

pub use error::{Error, Result};
pub use settings::Settings;

/// Every service, wired together once at start-up.
pub struct Services {
    pub settings: Settings,
    pub accounts: accounts::Accounts,
    pub devices: Arc<devices::Devices>,
    pub tokens: Arc<tokens::Tokens>,
    pub profiles: Arc<profiles::Profiles>,
    pub rate_limits: rate_limits::RateLimits,
    pub server_keys: Arc<server_keys::ServerKeys>,
    pub rooms: rooms::Rooms,
    pub reports: reports::Reports,
    store: Arc<dyn Store>,
}

impl Services {
    pub async fn start(settings: Settings, store: Arc<dyn Store>) -> Result<Arc<Self>> {
        let server_name: OwnedServerName = settings.server.server_name.clone();
        let tokens = Arc::new(tokens::Tokens::new(store.clone(), server_name.clone(), settings.auth.clone()));
        let devices = Arc::new(devices::Devices::new(store.clone(), tokens.clone()));
        let profiles = Arc::new(profiles::Profiles::new(store.clone(), server_name.clone()));
        let uia = uia::Uia::new(store.clone(), settings.auth.uia_session_lifetime());
        let accounts = accounts::Accounts::new(
            store.clone(),
            server_name,
            settings.registration.clone(),
            uia,
            devices.clone(),
            tokens.clone(),
            profiles.clone(),
        );
        let server_keys = Arc::new(server_keys::ServerKeys::load_or_generate(store.as_ref()).await?);
        let rate_limits = rate_limits::RateLimits::new(&settings.rate_limits);
        let rooms = rooms::Rooms::new(
            store.clone(),
            settings.server.server_name.clone(),
            server_keys.clone(),
            profiles.clone(),
        );
        let reports = reports::Reports::new(store.clone());
        Ok(Arc::new(Services {
            settings,
            accounts,
            devices,
            tokens,
            profiles,
            rate_limits,
            server_keys,
            rooms,
            reports,
            store,
        }))
    }

    pub fn server_name(&self) -> &ServerName {
        &self.settings.server.server_name
    }

    /// Makes every acknowledged write durable; called once at shutdown.
    pub async fn shutdown(&self) -> Result<()> {
        Ok(self.store.close().await?)
    }
}
