//! The media plane: every participant's two peer connections (str0m
//! `Rtc`s, the publisher one the client offers and the subscriber one this
//! side offers, as LiveKit's protocol v0 has them) on one UDP socket, and
//! what flows between them — media frames from each publisher to its
//! room's subscribers, keyframe requests back, data packets across, audio
//! levels into speaker lists.
//!
//! One task owns all of it, so nothing is locked: signalling talks to it
//! with [`Command`]s and hears back through each participant's
//! [`MediaEvent`] channel. The task sleeps until a packet, a command or
//! the earliest timer of any connection.

mod data;
mod engine;
mod forward;
mod participant;
mod speakers;
pub mod stats;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use self::stats::Stats;

/// A participant, as the media plane knows them.
pub type Pid = u64;

/// Which of a participant's two peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Carries what the participant sends; the client offers.
    Publisher,
    /// Carries what the participant receives; this side offers.
    Subscriber,
}

/// Simulcast layers, as LiveKit names them (`VideoQuality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quality {
    Low,
    Medium,
    High,
}

/// What a participant may do in the media plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaGrants {
    pub publish: bool,
    pub subscribe: bool,
    pub publish_data: bool,
}

/// Who joins the media plane, and where its events go.
pub struct Joining {
    pub pid: Pid,
    pub sid: String,
    pub identity: String,
    pub room: Arc<str>,
    pub grants: MediaGrants,
    pub auto_subscribe: bool,
    pub events: mpsc::UnboundedSender<MediaEvent>,
}

/// Instructions from signalling.
pub enum Command {
    /// A participant joined `room`: their subscriber connection is made and
    /// offered (with the data channels and every track already in the room).
    Join(Joining),
    Leave {
        pid: Pid,
    },
    /// The client's offer for its publisher connection; the answer's SDP.
    PublisherOffer {
        pid: Pid,
        sdp: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// The client's answer to the subscriber offer numbered `id`.
    SubscriberAnswer {
        pid: Pid,
        sdp: String,
    },
    /// A remote ICE candidate (the `candidate` attribute's value).
    Candidate {
        pid: Pid,
        role: Role,
        candidate: String,
    },
    /// A track announced with `AddTrackRequest`, whose media is coming.
    ExpectTrack {
        pid: Pid,
        track: String,
        cid: String,
        video: bool,
    },
    /// The publisher stopped a track.
    RemoveTrack {
        pid: Pid,
        track: String,
    },
    /// Subscribe to or drop tracks (`UpdateSubscription`).
    Subscription {
        pid: Pid,
        tracks: Vec<String>,
        subscribe: bool,
    },
    /// `UpdateTrackSettings`: pause, or the layer wanted.
    TrackSettings {
        pid: Pid,
        tracks: Vec<String>,
        disabled: bool,
        quality: Quality,
    },
    /// Grants changed (a moderator's mute or deafen).
    Grants {
        pid: Pid,
        grants: MediaGrants,
    },
}

/// What the media plane tells one participant's signalling.
#[derive(Debug)]
pub enum MediaEvent {
    /// A new subscriber offer to send (`id` numbers it; the answer echoes it).
    SubscriberOffer { sdp: String, id: u32 },
    /// The room's active speakers changed: `(participant sid, level 0–1, active)`.
    Speakers(Vec<(String, f32, bool)>),
    /// One of this participant's tracks was subscribed to for the first time.
    TrackSubscribed { track: String },
    /// The connection failed or timed out: the participant is gone.
    Gone,
}

/// Where the media plane listens and what it tells clients.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The UDP socket every connection shares.
    pub bind: SocketAddr,
    /// The addresses offered as ICE host candidates (the socket's port is
    /// used); empty: the bound address, or every interface's when it is
    /// unspecified.
    pub candidate_ips: Vec<IpAddr>,
}

/// The running media plane.
#[derive(Clone)]
pub struct Media {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Stats>,
    local: SocketAddr,
    candidates: Arc<[SocketAddr]>,
}

impl Media {
    /// Binds the socket and starts the task.
    pub async fn start(config: MediaConfig) -> std::io::Result<Media> {
        let socket = tokio::net::UdpSocket::bind(config.bind).await?;
        let local = socket.local_addr()?;
        let candidates: Arc<[SocketAddr]> = engine::candidate_addresses(local, &config.candidate_ips).into();
        let stats = Arc::new(Stats::default());
        let (commands, receiver) = mpsc::unbounded_channel();
        let engine = engine::Engine::new(socket, local, candidates.clone(), stats.clone());
        tokio::spawn(engine.run(receiver));
        tracing::info!(%local, candidates = ?candidates, "the SFU's media socket is open");
        Ok(Media { commands, stats, local, candidates })
    }

    pub fn send(&self, command: Command) {
        // The task lives as long as the process; a send to it fails only
        // while the runtime shuts down.
        let _ = self.commands.send(command);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }
}
