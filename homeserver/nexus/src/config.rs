//! Configuration: one TOML file, every key overridable from the environment
//! (`NEXUS__SECTION__KEY`), every key documented in `nexus.example.toml`.
//! Unknown keys are errors: a typo must not silently fall back to a default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nexus_core::Settings;
use nexus_core::settings::{
    AppserviceSettings, AuthSettings, DelayedEventSettings, E2eeSettings, ExportSettings, FederationSettings,
    GuildSettings, MatrixRtcSettings, MediaSettings, OutboundSettings, PresenceSettings, ProfileSettings,
    RateLimitSettings, RedisSettings, RegistrationSettings, SearchSettings, ServerSettings, SlidingSyncSettings,
    TurnSettings,
};
use nexus_storage::backend::{Backend, StoreOptions};
use serde::{Deserialize, Serialize};

const ENV_PREFIX: &str = "NEXUS__";

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSettings,
    pub listeners: Listeners,
    pub storage: Storage,
    pub registration: RegistrationSettings,
    pub auth: AuthSettings,
    pub rate_limits: RateLimitSettings,
    pub presence: PresenceSettings,
    pub profiles: ProfileSettings,
    pub e2ee: E2eeSettings,
    pub media: MediaSettings,
    pub federation: FederationSettings,
    pub outbound: OutboundSettings,
    pub turn: TurnSettings,
    pub sliding_sync: SlidingSyncSettings,
    pub delayed_events: DelayedEventSettings,
    pub matrix_rtc: MatrixRtcSettings,
    pub guilds: GuildSettings,
    pub appservice: AppserviceSettings,
    pub export: ExportSettings,
    pub search: SearchSettings,
    pub bot_api: BotApi,
    pub sfu: SfuSettings,
    pub web_client: WebClientSettings,
    pub logging: Logging,
    pub redis: RedisSettings,
    pub cluster: ClusterSettings,
}

/// This process's place in a cluster (`[redis] url` set): several
/// identical `nexus serve` processes on one PostgreSQL.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// A name for this process in logs and the store's writer table; a
    /// suffix unique to each start is added. Default: the host's name.
    pub instance: Option<String>,
    /// How long the others wait for a silent (dead) process before they
    /// pass its unfinished writes and take over its jobs.
    pub lease_secs: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings { instance: None, lease_secs: 10 }
    }
}

/// The Nexus web client, served at `/` of the client listener.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebClientSettings {
    /// The built client (`scripts/web-client.sh` prints where it put it;
    /// `scripts/serve.sh` sets this). Unset: `/` serves nothing.
    pub path: Option<PathBuf>,
}

/// The Discord-compatible bot API (`nexus-bridge`), run in-process: its
/// appservice registration is generated and loaded with the others.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotApi {
    pub enabled: bool,
}

impl Default for BotApi {
    fn default() -> Self {
        BotApi { enabled: true }
    }
}

/// The embedded SFU (`nexus-sfu`): voice and video with no other service.
/// It runs unless switched off or an external LiveKit is configured in
/// `[matrix_rtc]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SfuSettings {
    pub enabled: bool,
    /// The one UDP socket all media uses; unset: the client listener's
    /// address with port 7882 (so loopback unless the listener is public).
    pub udp: Option<SocketAddr>,
    /// The addresses clients are told to send media to (the public address
    /// behind NAT); unset: the socket's address, or every interface's when
    /// it is bound to all.
    pub public_ip: Vec<std::net::IpAddr>,
    pub max_participants_per_room: usize,
    pub max_participants: usize,
}

impl Default for SfuSettings {
    fn default() -> Self {
        SfuSettings {
            enabled: true,
            udp: None,
            public_ip: Vec::new(),
            max_participants_per_room: 500,
            max_participants: 5000,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listeners {
    pub client: SocketAddr,
    /// The federation (TLS) listener; none when absent.
    pub federation: Option<SocketAddr>,
    /// Prometheus metrics at `/metrics`; none when absent (the default).
    pub metrics: Option<SocketAddr>,
    pub max_request_bytes: usize,
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            client: ([127, 0, 0, 1], 8008).into(),
            federation: None,
            metrics: None,
            max_request_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Rocksdb,
    Postgres,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    pub backend: BackendKind,
    pub path: PathBuf,
    pub postgres_url: Option<String>,
    pub postgres_max_connections: u32,
    pub sync_writes: bool,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            backend: BackendKind::Rocksdb,
            path: PathBuf::from("./nexus-data"),
            postgres_url: None,
            postgres_max_connections: 16,
            sync_writes: false,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Logging {
    pub format: LogFormat,
    pub level: String,
    /// Where spans go as OTLP over HTTP (protobuf), e.g.
    /// `http://collector:4318/v1/traces`; none when absent (the default).
    pub otlp_traces_endpoint: Option<String>,
    /// Which spans go there (an EnvFilter, like `level`).
    pub otlp_level: String,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
            otlp_traces_endpoint: None,
            otlp_level: "info".to_owned(),
        }
    }
}

#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Reads the file (if any), applies the environment, and checks the result.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let mut table = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            text.parse::<toml::Table>().map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
        }
        None => toml::Table::new(),
    };
    apply_environment(&mut table, std::env::vars())?;
    let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        ConfigError(format!("key `{key}`: {}", e.into_inner()))
    })?;
    config.check()?;
    Ok(config)
}

/// `NEXUS__STORAGE__BACKEND=postgres` sets `storage.backend`. A value that
/// reads as a TOML value (number, boolean, array) is taken as one; anything
/// else is a string.
fn apply_environment(table: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Result<(), ConfigError> {
    for (name, raw) in vars {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
        let keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err(ConfigError(format!("environment variable {name} does not name a key")));
        }
        let value = match format!("v = {raw}").parse::<toml::Table>() {
            Ok(mut parsed) => parsed.remove("v").expect("the key was just written"),
            Err(_) => toml::Value::String(raw),
        };
        let (last, sections) = keys.split_last().expect("split yields at least one key");
        let mut current = &mut *table;
        for section in sections {
            let entry = current.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = entry
                .as_table_mut()
                .ok_or_else(|| ConfigError(format!("environment variable {name}: `{section}` is not a section")))?;
        }
        current.insert(last.clone(), value);
    }
    Ok(())
}

impl Config {
    fn check(&self) -> Result<(), ConfigError> {
        if self.storage.backend == BackendKind::Postgres && self.storage.postgres_url.is_none() {
            return Err(ConfigError(
                "key `storage.postgres_url`: required when storage.backend = \"postgres\"".to_owned(),
            ));
        }
        if self.redis.url.is_some() && self.storage.backend != BackendKind::Postgres {
            return Err(ConfigError(
                "key `redis.url`: several processes share one PostgreSQL; set storage.backend = \"postgres\""
                    .to_owned(),
            ));
        }
        if self.redis.url.is_some() && self.bot_api.enabled {
            return Err(ConfigError(
                "key `bot_api.enabled`: the bot API runs in one process, not yet in a cluster ([redis]); \
                 set it to false and run bots against a single-process server"
                    .to_owned(),
            ));
        }
        if self.redis.url.is_some() && crate::sfu::wanted(self) {
            return Err(ConfigError(
                "key `sfu.enabled`: the embedded SFU serves one process, so a call's members on different \
                 processes would not meet; in a cluster set it to false and point matrix_rtc.livekit_url \
                 (with its key and secret) at a LiveKit server"
                    .to_owned(),
            ));
        }
        if self.redis.url.is_some() && self.search.path.is_none() {
            return Err(ConfigError(
                "key `search.path`: several processes share one search index (one writes, all read): \
                 set a directory every process reaches"
                    .to_owned(),
            ));
        }
        if self.cluster.lease_secs < 2 {
            return Err(ConfigError("key `cluster.lease_secs`: at least 2".to_owned()));
        }
        if self.listeners.max_request_bytes == 0 {
            return Err(ConfigError("key `listeners.max_request_bytes`: must be greater than 0".to_owned()));
        }
        for (key, rate) in [
            ("rate_limits.login_per_second", self.rate_limits.login_per_second),
            ("rate_limits.register_per_second", self.rate_limits.register_per_second),
            ("delayed_events.management_per_second", self.delayed_events.management_per_second),
        ] {
            if !rate.is_finite() || rate < 0.0 {
                return Err(ConfigError(format!("key `{key}`: must be a non-negative number")));
            }
        }
        if self.listeners.federation.is_some()
            && (self.federation.tls_certificate.is_none() || self.federation.tls_private_key.is_none())
        {
            return Err(ConfigError(
                "key `federation.tls_certificate`: the federation listener needs a certificate and key".to_owned(),
            ));
        }
        // Checked here too, so `nexus check-config` catches a broken bridge
        // registration before a restart does.
        for file in &self.appservice.registration_files {
            nexus_core::appservice::registration::load_file(file, &self.server.server_name)
                .map_err(|e| ConfigError(format!("key `appservice.registration_files`: {e}")))?;
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.logging.level) {
            return Err(ConfigError(format!("key `logging.level`: {e}")));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.logging.otlp_level) {
            return Err(ConfigError(format!("key `logging.otlp_level`: {e}")));
        }
        if let Some(endpoint) = &self.logging.otlp_traces_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError("key `logging.otlp_traces_endpoint`: an http:// or https:// URL".to_owned()));
        }
        Ok(())
    }

    pub fn settings(&self) -> Settings {
        Settings {
            server: self.server.clone(),
            registration: self.registration.clone(),
            auth: self.auth.clone(),
            rate_limits: self.rate_limits.clone(),
            presence: self.presence.clone(),
            profiles: self.profiles.clone(),
            e2ee: self.e2ee.clone(),
            federation: self.federation.clone(),
            outbound: self.outbound.clone(),
            turn: self.turn.clone(),
            sliding_sync: self.sliding_sync.clone(),
            delayed_events: self.delayed_events.clone(),
            matrix_rtc: self.matrix_rtc.clone(),
            guilds: self.guilds.clone(),
            appservice: self.appservice.clone(),
            export: ExportSettings {
                path: Some(self.export.path.clone().unwrap_or_else(|| self.storage.path.join("exports"))),
                ..self.export.clone()
            },
            media: MediaSettings {
                path: Some(self.media.path.clone().unwrap_or_else(|| self.storage.path.join("media"))),
                ..self.media.clone()
            },
            search: SearchSettings {
                path: Some(self.search.path.clone().unwrap_or_else(|| self.storage.path.join("search"))),
                ..self.search.clone()
            },
            redis: self.redis.clone(),
        }
    }

    /// Where the embedded SFU keeps its API secret.
    pub fn sfu_dir(&self) -> PathBuf {
        self.storage.path.join("sfu")
    }

    /// Where the bot API keeps its registration (and, on RocksDB, its data).
    pub fn bot_api_dir(&self) -> PathBuf {
        self.storage.path.join("bot-api")
    }

    /// The bot API's own store: a RocksDB directory of its own, or its
    /// tables in the homeserver's PostgreSQL database.
    pub fn bot_api_store_options(&self) -> StoreOptions {
        let mut options = self.store_options();
        // The bridge's own store is written by this process only.
        options.cluster = None;
        match &mut options.backend {
            Backend::RocksDb { path } => *path = self.bot_api_dir().join("store"),
            // A few connections: the bridge's reads are point lookups.
            Backend::Postgres { max_connections, .. } => *max_connections = (*max_connections).min(4),
        }
        options
    }

    pub fn store_options(&self) -> StoreOptions {
        let backend = match self.storage.backend {
            BackendKind::Rocksdb => Backend::RocksDb { path: self.storage.path.clone() },
            BackendKind::Postgres => Backend::Postgres {
                url: self.storage.postgres_url.clone().expect("checked when loading"),
                max_connections: self.storage.postgres_max_connections,
            },
        };
        StoreOptions { backend, sync_writes: self.storage.sync_writes, cluster: self.cluster_options() }
    }

    /// Set when this process is one of a cluster. The instance is fixed
    /// for the life of the process: a restart is a new writer.
    fn cluster_options(&self) -> Option<nexus_storage::ClusterOptions> {
        static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        self.redis.url.as_ref()?;
        let instance = INSTANCE.get_or_init(|| {
            let name = self.cluster.instance.clone().unwrap_or_else(|| {
                std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "nexus".into())
            });
            let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            format!("{name}-{}-{:x}", std::process::id(), started.as_micros())
        });
        Some(nexus_storage::ClusterOptions {
            instance: instance.clone(),
            lease: std::time::Duration::from_secs(self.cluster.lease_secs),
        })
    }

    /// The effective configuration, secrets left out.
    pub fn describe(&self) -> String {
        let storage = match self.storage.backend {
            BackendKind::Rocksdb => format!("rocksdb at {}", self.storage.path.display()),
            BackendKind::Postgres if self.redis.url.is_some() => {
                format!("postgres (url hidden), clustered over redis, lease {} s", self.cluster.lease_secs)
            }
            BackendKind::Postgres => "postgres (url hidden)".to_owned(),
        };
        let federation = match (self.federation.enabled, self.listeners.federation) {
            (false, _) => "off".to_owned(),
            (true, Some(address)) => format!("on, listening on {address} (TLS)"),
            (true, None) => "outbound only (no federation listener)".to_owned(),
        };
        let media = match self.media.backend.as_str() {
            "s3" => format!("s3 bucket {}", self.media.s3_bucket.as_deref().unwrap_or("(none set)")),
            other => other.to_owned(),
        };
        format!(
            "server_name = {}\nclient listener = {}\nfederation = {federation}\nmedia = {media}, URL previews {}\nstorage = {storage}, sync_writes = {}\nregistration = {} ({} tokens)\nlogging = {:?} {}",
            self.server.server_name,
            self.listeners.client,
            if self.media.url_previews { "on" } else { "off" },
            self.storage.sync_writes,
            if self.registration.enabled { "open" } else { "closed" },
            self.registration.tokens.len(),
            self.logging.format,
            self.logging.level,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_from(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut table = text.parse::<toml::Table>().unwrap();
        apply_environment(&mut table, env.iter().map(|(k, v)| (k.to_string(), v.to_string())))?;
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError(format!("key `{key}`: {}", e.into_inner()))
        })?;
        config.check()?;
        Ok(config)
    }

    #[test]
    fn no_config_at_all_gives_the_documented_defaults() {
        let config = load_from("", &[]).unwrap();
        assert_eq!(config.server.server_name.as_str(), "localhost:8008");
        assert_eq!(config.listeners.client.to_string(), "127.0.0.1:8008");
        assert_eq!(config.storage.backend, BackendKind::Rocksdb);
        assert_eq!(config.storage.path, PathBuf::from("./nexus-data"));
        assert!(config.registration.enabled);
    }

    #[test]
    fn the_example_file_is_valid_and_matches_the_defaults() {
        let example = include_str!("../../../nexus.example.toml");
        let config = load_from(example, &[]).unwrap();
        let defaults = load_from("", &[]).unwrap();
        assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
    }

    /// Every key the server reads appears in `nexus.example.toml` (as a
    /// setting or, for keys without a default, a commented example).
    #[test]
    fn the_example_file_documents_every_key() {
        fn keys(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
            if let toml::Value::Table(table) = value {
                for (key, inner) in table {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    if inner.is_table() {
                        keys(&path, inner, out);
                    } else {
                        out.push(path);
                    }
                }
            }
        }
        let defaults = toml::Value::try_from(load_from("", &[]).unwrap()).unwrap();
        let mut all = Vec::new();
        keys("", &defaults, &mut all);
        let example = include_str!("../../../nexus.example.toml");
        for key in all {
            let name = key.rsplit('.').next().unwrap();
            let documented = example.lines().any(|l| {
                let l = l.trim_start_matches('#').trim_start();
                l.starts_with(&format!("{name} =")) || l.starts_with(&format!("{name}="))
            });
            assert!(documented, "nexus.example.toml does not document `{key}`");
        }
        for optional in [
            "public_baseurl",
            "federation_endpoint",
            "postgres_url",
            "federation",
            "tls_certificate",
            "tls_private_key",
            "shared_secret",
            "s3_bucket",
            "s3_endpoint",
            "s3_secret_access_key",
        ] {
            assert!(example.contains(&format!("# {optional} =")), "{optional} is not shown");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load_from(
            "[server]\nserver_name = \"a.example\"\n",
            &[
                ("NEXUS__SERVER__SERVER_NAME", "b.example:8448"),
                ("NEXUS__LISTENERS__MAX_REQUEST_BYTES", "42"),
                ("NEXUS__REGISTRATION__ENABLED", "false"),
                ("NEXUS__REGISTRATION__TOKENS", "[\"t1\", \"t2\"]"),
                ("NEXUS__RATE_LIMITS__LOGIN_PER_SECOND", "3"),
            ],
        )
        .unwrap();
        assert_eq!(config.server.server_name.as_str(), "b.example:8448");
        assert_eq!(config.listeners.max_request_bytes, 42);
        assert!(!config.registration.enabled);
        assert_eq!(config.registration.tokens, vec!["t1", "t2"]);
        assert_eq!(config.rate_limits.login_per_second, 3.0);
    }

    #[test]
    fn a_cluster_needs_postgres_a_shared_index_and_no_single_process_parts() {
        let cluster = [
            ("NEXUS__STORAGE__BACKEND", "postgres"),
            ("NEXUS__STORAGE__POSTGRES_URL", "postgres://nexus@db/nexus"),
            ("NEXUS__REDIS__URL", "redis://redis:6379"),
            ("NEXUS__SEARCH__PATH", "/search"),
            ("NEXUS__BOT_API__ENABLED", "false"),
            ("NEXUS__SFU__ENABLED", "false"),
        ];
        let config = load_from("", &cluster).unwrap();
        assert!(config.describe().contains("clustered over redis"));
        let options = config.store_options();
        assert!(options.cluster.is_some(), "a clustered process registers as a writer");
        assert!(config.bot_api_store_options().cluster.is_none());
        for (key, value, named) in [
            ("NEXUS__STORAGE__BACKEND", "rocksdb", "redis.url"),
            ("NEXUS__BOT_API__ENABLED", "true", "bot_api.enabled"),
            ("NEXUS__SFU__ENABLED", "true", "sfu.enabled"),
            ("NEXUS__CLUSTER__LEASE_SECS", "1", "cluster.lease_secs"),
        ] {
            let mut vars = cluster.to_vec();
            vars.push((key, value));
            let refused = load_from("", &vars).unwrap_err();
            assert!(refused.0.contains(named), "{key}={value}: {refused}");
        }
        let unshared: Vec<_> = cluster.iter().copied().filter(|(k, _)| *k != "NEXUS__SEARCH__PATH").collect();
        assert!(load_from("", &unshared).unwrap_err().0.contains("search.path"));
    }

    #[test]
    fn errors_name_the_key() {
        let bad_type = load_from("", &[("NEXUS__LISTENERS__MAX_REQUEST_BYTES", "lots")]).unwrap_err();
        assert!(bad_type.0.contains("listeners.max_request_bytes"), "{bad_type}");
        let unknown = load_from("[storage]\nbackedn = \"rocksdb\"\n", &[]).unwrap_err();
        assert!(unknown.0.contains("backedn"), "{unknown}");
        let missing_url = load_from("[storage]\nbackend = \"postgres\"\n", &[]).unwrap_err();
        assert!(missing_url.0.contains("storage.postgres_url"), "{missing_url}");
        let bad_name = load_from("[server]\nserver_name = \"not a name\"\n", &[]).unwrap_err();
        assert!(bad_name.0.contains("server.server_name"), "{bad_name}");
    }
}
