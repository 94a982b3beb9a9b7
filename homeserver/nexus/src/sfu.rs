//! The embedded SFU (`nexus-sfu`) in-process: started unless switched off
//! or an external LiveKit is configured; its routes join the client
//! listener under [`PATH`], and the token service is pointed at it — the
//! URL clients connect to, the loopback address the homeserver calls its
//! server API on, and an API key and secret kept beside the data.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::Context;
use nexus_core::Settings;
use nexus_sfu::{MediaConfig, Sfu, SfuConfig};

use crate::config::Config;

/// Where the SFU's routes are served on the client listener.
pub const PATH: &str = "/_nexus/sfu";
/// The UDP port used when none is configured (LiveKit's UDP port).
const DEFAULT_UDP_PORT: u16 = 7882;
/// The API key's name (the secret is what matters).
const API_KEY: &str = "nexus";

/// Whether the embedded SFU is to run.
pub fn wanted(config: &Config) -> bool {
    config.sfu.enabled && config.matrix_rtc.livekit_url.is_none() && config.matrix_rtc.livekit_service_url.is_none()
}

/// Starts the SFU and points `settings.matrix_rtc` at it.
pub async fn start(config: &Config, settings: &mut Settings, listening: SocketAddr) -> anyhow::Result<Sfu> {
    let secret = load_or_create_secret(&config.sfu_dir().join("api-secret")).context("the SFU's API secret")?;
    let udp = config.sfu.udp.unwrap_or_else(|| SocketAddr::new(listening.ip(), DEFAULT_UDP_PORT));
    let sfu = Sfu::start(SfuConfig {
        media: MediaConfig { bind: udp, candidate_ips: config.sfu.public_ip.clone() },
        keys: vec![(API_KEY.to_owned(), secret.clone())],
        max_participants_per_room: config.sfu.max_participants_per_room,
        max_participants: config.sfu.max_participants,
    })
    .await
    .with_context(|| format!("the SFU's UDP socket {udp}"))?;
    let public = config.server.client_base_url();
    let public = public.trim_end_matches('/');
    let websocket = match public.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{public}"),
    };
    // The homeserver calls the SFU's API on loopback whatever address the
    // listener binds.
    let loopback = match listening.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let rtc = &mut settings.matrix_rtc;
    rtc.livekit_url = Some(format!("{websocket}{PATH}"));
    rtc.livekit_api_url = Some(format!("http://{}{PATH}", SocketAddr::new(loopback, listening.port())));
    rtc.livekit_api_key = Some(API_KEY.to_owned());
    rtc.livekit_api_secret = Some(secret);
    tracing::info!(udp = %sfu.media_addr(), candidates = ?sfu.candidates(), "the embedded SFU is served under {PATH}");
    Ok(sfu)
}

/// The secret tokens are signed with: made once, kept (owner-only) so
/// tokens stay valid across restarts.
fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        let secret = secret.trim().to_owned();
        if secret.len() >= 32 {
            return Ok(secret);
        }
    }
    let dir = path.parent().context("the secret's directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret: String = {
        use rand::Rng;
        rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(48).map(char::from).collect()
    };
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(secret)
}
