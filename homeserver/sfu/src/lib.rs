//! Nexus's media plane: a selective forwarding unit that speaks LiveKit's
//! signalling protocol (v0: a WebSocket of protobuf `SignalRequest` /
//! `SignalResponse`, two peer connections per participant), so LiveKit's
//! SDKs and Element Call use it unchanged, and LiveKit's server API
//! (Twirp, JSON) for the homeserver's token service.
//!
//! The narrow interface: [`Sfu::start`] with an [`SfuConfig`] (the UDP
//! socket, the candidate addresses, the API keys tokens are signed with,
//! limits), and [`Sfu::router`] to mount on the client listener. Inside:
//! `http` and `twirp` (the HTTP surface), `signal` (one client's
//! signalling), `rooms` (who is in which room, as LiveKit describes
//! them), `media` (the connections and forwarding, one task), `token`
//! (access tokens).

mod http;
mod ids;
pub mod media;
mod rooms;
mod signal;
pub mod token;
mod twirp;

/// LiveKit's signalling types, generated from the vendored schema
/// (`proto/`, Apache-2.0, Copyright LiveKit, Inc.).
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/livekit.rs"));
}

use std::sync::Arc;

pub use media::{MediaConfig, Stats};

/// The version clients are told (they need a non-empty one).
pub const VERSION: &str = concat!("nexus-sfu/", env!("CARGO_PKG_VERSION"));

/// Everything the SFU needs to start.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    pub media: MediaConfig,
    /// API keys and their secrets: tokens signed with any are accepted.
    pub keys: Vec<(String, String)>,
    pub max_participants_per_room: usize,
    pub max_participants: usize,
}

pub(crate) struct Inner {
    keys: token::Keys,
    rooms: rooms::Rooms,
    media: media::Media,
}

/// The running SFU.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Sfu {
    /// Opens the media socket and starts the media task.
    pub async fn start(config: SfuConfig) -> std::io::Result<Sfu> {
        let media = media::Media::start(config.media).await?;
        let inner = Inner {
            keys: token::Keys::new(config.keys),
            rooms: rooms::Rooms::new(config.max_participants_per_room, config.max_participants),
            media,
        };
        Ok(Sfu { inner: Arc::new(inner) })
    }

    /// The HTTP routes (`/rtc`, `/rtc/validate`, `/rtc/v1`, the Twirp
    /// `RoomService`, `/metrics`), to nest where the transport URL points.
    pub fn router(&self) -> axum::Router {
        http::router(self.inner.clone())
    }

    /// The media socket's address.
    pub fn media_addr(&self) -> std::net::SocketAddr {
        self.inner.media.local_addr()
    }

    /// The addresses offered to clients as ICE candidates.
    pub fn candidates(&self) -> &[std::net::SocketAddr] {
        self.inner.media.candidates()
    }

    pub fn stats(&self) -> &Stats {
        self.inner.media.stats()
    }
}
