//! The settings services need, as they appear in the `[server]`,
//! `[registration]`, `[auth]` and `[rate_limits]` sections of the config
//! file (`nexus.example.toml` documents every key).

use std::time::Duration;

use ruma::OwnedServerName;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
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
    pub redis: RedisSettings,
}

/// Several processes on one PostgreSQL (docs/scale-out.md): their
/// wake-ups cross over Redis.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://host:port`; set, this process is one of a cluster (and
    /// `storage.backend` must be `postgres`).
    pub url: Option<String>,
}

/// Full-text search (`crate::search`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSettings {
    /// Where the index lives. Absent: `<storage.path>/search` (set by the
    /// binary); absent here too, the index is kept in memory (tests).
    pub path: Option<std::path::PathBuf>,
    /// The stemming language (`english`, `french`, `german`, … — Snowball's
    /// eighteen). Changing it rebuilds the index.
    pub language: String,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings { path: None, language: "english".to_owned() }
    }
}

/// Personal data exports (`crate::export`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSettings {
    /// Where finished archives wait for download. Absent:
    /// `<storage.path>/exports` (set by the binary).
    pub path: Option<std::path::PathBuf>,
    /// How long an archive is kept after it is ready.
    pub retention_secs: u64,
    /// The shortest time between two exports of one user.
    pub min_interval_secs: u64,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings { path: None, retention_secs: 7 * 24 * 3600, min_interval_secs: 600 }
    }
}

/// Application services (`crate::appservice`): the registration files
/// bridges generate, read at start-up and again on SIGHUP.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppserviceSettings {
    pub registration_files: Vec<std::path::PathBuf>,
}

/// The TURN server offered to clients for 1:1 calls (`crate::voip`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnSettings {
    /// `turn:`/`turns:` URIs of the TURN server; none: no TURN offered.
    pub uris: Vec<String>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`).
    pub shared_secret: Option<String>,
    /// How long handed-out credentials stay valid.
    pub ttl_secs: u64,
}

impl Default for TurnSettings {
    fn default() -> Self {
        TurnSettings { uris: Vec::new(), shared_secret: None, ttl_secs: 86_400 }
    }
}

/// Where user-chosen destinations (federation, pushers) may connect; see
/// `crate::outbound`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSettings {
    /// CIDR ranges never connected to for a user-chosen destination.
    pub denied_ip_ranges: Vec<String>,
    /// CIDR ranges permitted even inside a denied one (a private federation,
    /// a push gateway on the local network, tests on loopback).
    pub allowed_ip_ranges: Vec<String>,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        OutboundSettings { denied_ip_ranges: crate::outbound::default_denied_ranges(), allowed_ip_ranges: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileSettings {
    /// How long a display name or avatar change may spend updating the
    /// user's rooms' member events before it answers; the rest continues in
    /// the background (and after a restart).
    pub member_update_inline_ms: u64,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        ProfileSettings { member_update_inline_ms: 2_000 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// Talk to other servers at all (outbound requests and the listener).
    pub enabled: bool,
    /// PEM certificate chain and key of the federation TLS listener.
    pub tls_certificate: Option<std::path::PathBuf>,
    pub tls_private_key: Option<std::path::PathBuf>,
    /// PEM files of CAs trusted for outbound federation, besides the
    /// system's roots (a private federation, tests).
    pub trusted_ca_files: Vec<std::path::PathBuf>,
    /// Accept any certificate from other servers. Never in production:
    /// anyone on the path can then impersonate any server.
    pub dangerously_skip_tls_verification: bool,
    /// The longest wait between retries to an unreachable server.
    pub max_retry_interval_secs: u64,
    /// DNS servers (`ip:port`) for finding other servers; none: the
    /// system's configuration (`/etc/resolv.conf`).
    pub nameservers: Vec<std::net::SocketAddr>,
    /// The longest a DNS query may take before it counts as failed.
    pub dns_timeout_secs: u64,
}

impl Default for FederationSettings {
    fn default() -> Self {
        FederationSettings {
            enabled: true,
            tls_certificate: None,
            tls_private_key: None,
            trusted_ca_files: Vec::new(),
            dangerously_skip_tls_verification: false,
            max_retry_interval_secs: 600,
            nameservers: Vec::new(),
            dns_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSettings {
    /// Where media files live; empty: `<storage.path>/media`.
    pub path: Option<std::path::PathBuf>,
    /// `filesystem` (under `path`) or `s3` (the bucket below; `path` then
    /// holds a local copy for serving and thumbnails).
    pub backend: String,
    pub s3_bucket: Option<String>,
    /// An S3-compatible service's URL (MinIO, Garage, ...); empty: AWS.
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// Allow a plain-HTTP endpoint (a service on the same host).
    pub s3_allow_http: bool,
    /// With S3, the most bytes of local copies kept (least recently used
    /// go first; the bucket refills them).
    pub s3_local_cache_bytes: u64,
    /// The largest upload accepted, in bytes. The operator decides; nothing
    /// is paywalled.
    pub max_upload_bytes: u64,
    /// Serve media only through the authenticated endpoints (spec v1.11:
    /// "freeze" the legacy unauthenticated ones).
    pub freeze_legacy_endpoints: bool,
    /// Thumbnails made as soon as an image is uploaded: `[width, height,
    /// "crop" | "scale"]`.
    pub thumbnail_sizes: Vec<(u32, u32, String)>,
    /// URL previews fetch pages on users' behalf: off unless turned on.
    pub url_previews: bool,
    /// Addresses previews never fetch from (CIDR).
    pub url_preview_blocked_ip_ranges: Vec<String>,
    /// The most bytes a preview reads of a page or image.
    pub url_preview_max_bytes: u64,
    pub url_preview_timeout_secs: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            path: None,
            backend: "filesystem".to_owned(),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            s3_local_cache_bytes: 10 * 1024 * 1024 * 1024,
            max_upload_bytes: 100 * 1024 * 1024,
            freeze_legacy_endpoints: true,
            thumbnail_sizes: vec![
                (32, 32, "crop".to_owned()),
                (96, 96, "crop".to_owned()),
                (320, 240, "scale".to_owned()),
                (640, 480, "scale".to_owned()),
                (800, 600, "scale".to_owned()),
            ],
            url_previews: false,
            url_preview_blocked_ip_ranges: crate::outbound::default_denied_ranges(),
            url_preview_max_bytes: 10 * 1024 * 1024,
            url_preview_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct E2eeSettings {
    /// New direct-message rooms are end-to-end encrypted.
    pub encrypt_direct_messages: bool,
}

impl Default for E2eeSettings {
    fn default() -> Self {
        E2eeSettings { encrypt_direct_messages: true }
    }
}

/// Simplified sliding sync (`crate::sliding_sync`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlidingSyncSettings {
    /// A connection unused this long is forgotten; its `pos` then answers
    /// `M_UNKNOWN_POS` and the client starts over.
    pub connection_idle_secs: u64,
}

impl Default for SlidingSyncSettings {
    fn default() -> Self {
        SlidingSyncSettings { connection_idle_secs: 7 * 24 * 3600 }
    }
}

/// Delayed events (MSC4140, `crate::delayed_events`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelayedEventSettings {
    /// The longest delay a client may ask for; longer is
    /// `M_MAX_DELAY_EXCEEDED`.
    pub max_delay_ms: u64,
    /// How many delayed events one user may have scheduled at once.
    pub max_per_user: usize,
    /// Cancel/restart/send requests per second and burst, per user (or per
    /// address when unauthenticated), as Synapse's `rc_delayed_event_mgmt`.
    pub management_per_second: f64,
    pub management_burst: u32,
}

impl Default for DelayedEventSettings {
    fn default() -> Self {
        DelayedEventSettings {
            max_delay_ms: 24 * 3600 * 1000,
            max_per_user: 100,
            management_per_second: 1.0,
            management_burst: 5,
        }
    }
}

/// MatrixRTC (`crate::matrix_rtc`): where clients find their media server,
/// and the built-in LiveKit token service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatrixRtcSettings {
    /// A LiveKit token service to offer as the `livekit` transport (an
    /// lk-jwt-service elsewhere); unset: this server's own, when a LiveKit
    /// server is configured below; neither: no transport is offered.
    pub livekit_service_url: Option<String>,
    /// The LiveKit server's URL as clients connect to it (`wss://…`).
    pub livekit_url: Option<String>,
    /// Where this server reaches the LiveKit server's API (Twirp); unset:
    /// the HTTP form of `livekit_url`. (The embedded SFU sets it to the
    /// loopback listener.)
    pub livekit_api_url: Option<String>,
    /// The LiveKit server's API key and secret: tokens are signed with them.
    pub livekit_api_key: Option<String>,
    pub livekit_api_secret: Option<String>,
    /// Where the built-in token service is served on the client listener
    /// (`/sfu/get`, `/get_token`, `/delegate_delayed_leave`, `/healthz`
    /// below it).
    pub token_service_path: String,
    /// Servers whose users may have rooms created on the LiveKit server
    /// (this server's always may; `"*"`: every server).
    pub full_access_servers: Vec<String>,
}

impl Default for MatrixRtcSettings {
    fn default() -> Self {
        MatrixRtcSettings {
            livekit_service_url: None,
            livekit_url: None,
            livekit_api_url: None,
            livekit_api_key: None,
            livekit_api_secret: None,
            token_service_path: "/_nexus/livekit/jwt".to_owned(),
            full_access_servers: Vec::new(),
        }
    }
}

/// Nexus servers (`crate::guilds`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuildSettings {
    /// How long one minute of a thread's `auto_archive_duration` lasts
    /// (extensions-spec §10.3), in milliseconds. 60000 in production; a test
    /// network shortens it so that the shortest duration (60) passes in
    /// seconds.
    pub auto_archive_minute_ms: u64,
}

impl Default for GuildSettings {
    fn default() -> Self {
        GuildSettings { auto_archive_minute_ms: 60_000 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceSettings {
    pub enabled: bool,
    pub offline_after_secs: u64,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        PresenceSettings { enabled: true, offline_after_secs: 300 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub server_name: OwnedServerName,
    pub public_baseurl: Option<String>,
    pub federation_endpoint: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            server_name: "localhost:8008".try_into().expect("a valid server name"),
            public_baseurl: None,
            federation_endpoint: None,
        }
    }
}

impl ServerSettings {
    /// The client base URL advertised in `/.well-known/matrix/client`.
    pub fn client_base_url(&self) -> String {
        match &self.public_baseurl {
            Some(url) => url.clone(),
            None => format!("http://{}/", self.server_name),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationSettings {
    pub enabled: bool,
    pub tokens: Vec<String>,
    /// Registering needs a token (one of `tokens` or one an admin made
    /// through the admin API); also implied by a non-empty `tokens`.
    pub requires_token: bool,
    /// Enables `/_synapse/admin/v1/register` (accounts created by whoever
    /// knows this secret, also when registration is closed).
    pub shared_secret: Option<String>,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        RegistrationSettings { enabled: true, tokens: Vec::new(), requires_token: false, shared_secret: None }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub access_token_lifetime_secs: u64,
    pub uia_session_lifetime_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings { access_token_lifetime_secs: 3600, uia_session_lifetime_secs: 600 }
    }
}

impl AuthSettings {
    /// How long an access token lives when the client holds a refresh token.
    pub fn access_token_lifetime(&self) -> Option<Duration> {
        (self.access_token_lifetime_secs > 0).then(|| Duration::from_secs(self.access_token_lifetime_secs))
    }

    pub fn uia_session_lifetime(&self) -> Duration {
        Duration::from_secs(self.uia_session_lifetime_secs.max(1))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub login_per_second: f64,
    pub login_burst: u32,
    pub register_per_second: f64,
    pub register_burst: u32,
    /// Events one user may send to rooms per second (0: no limit, the
    /// default), and how many at once.
    pub message_per_second: f64,
    pub message_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            login_per_second: 0.2,
            login_burst: 5,
            register_per_second: 0.1,
            register_burst: 5,
            message_per_second: 0.0,
            message_burst: 10,
        }
    }
}
