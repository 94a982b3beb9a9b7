//! One participant's media state: their two connections, the tracks they
//! publish (by the publisher connection's mids) and the tracks sent to
//! them (by the subscriber connection's mids), and the subscriber
//! connection's negotiation, which this side drives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::SdpPendingOffer;
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::media::{Direction, Mid, Rid};
use str0m::{Candidate, Rtc};
use tokio::sync::mpsc;

use super::engine::Track;
use super::{Joining, MediaEvent, MediaGrants, Pid, Quality};

/// LiveKit's data channel labels: in-order reliable, and unordered with
/// no retransmits.
pub const RELIABLE: &str = "_reliable";
pub const LOSSY: &str = "_lossy";

/// One peer connection and when it next needs time.
pub struct Pc {
    pub rtc: Rtc,
    pub timeout: Instant,
}

impl Pc {
    /// An ICE-lite connection offering this server's host candidates: the
    /// client's checks find it, so this side never trickles.
    pub fn new(candidates: &[SocketAddr], now: Instant) -> Pc {
        let mut rtc =
            Rtc::builder().set_ice_lite(true).set_stats_interval(Some(std::time::Duration::from_secs(5))).build(now);
        for address in candidates {
            if let Ok(candidate) = Candidate::host(*address, "udp") {
                rtc.add_local_candidate(candidate);
            }
        }
        Pc { rtc, timeout: now }
    }
}

/// A track going to this participant, through the subscriber connection.
pub struct OutTrack {
    pub track: String,
    pub state: OutState,
    /// The simulcast layer forwarded now (`None`: the track has none).
    pub rid: Option<Rid>,
    /// The layer wanted (`UpdateTrackSettings`).
    pub quality: Quality,
    /// Paused by the subscriber, or unsubscribed.
    pub paused: bool,
    /// Video waits for a keyframe before its first frame, or after a
    /// layer switch, so the decoder never starts mid-picture.
    pub needs_keyframe: bool,
    /// Each simulcast layer has its own RTP clock base: what is added to
    /// the forwarded layer's times so the subscriber's clock runs on
    /// across switches (`None` until the first frame, and after a switch).
    pub time_offset: Option<i128>,
    /// The last time written and when its frame arrived.
    pub last_written: Option<(u64, std::time::Instant)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

impl OutTrack {
    pub fn new(track: String) -> OutTrack {
        OutTrack {
            track,
            state: OutState::ToOpen,
            rid: None,
            quality: Quality::High,
            paused: false,
            needs_keyframe: true,
            time_offset: None,
            last_written: None,
        }
    }

    /// The time to write for a frame of the forwarded layer whose own
    /// time is `time` (ticks of `rate` Hz), arriving at `arrived`: the
    /// layer's time moved onto this track's clock. After a switch the new
    /// layer continues from the last frame written, later by the time
    /// that passed between the two frames' arrivals.
    pub fn rebased_time(&mut self, time: u64, rate: u32, arrived: std::time::Instant) -> u64 {
        let last_written = self.last_written;
        let offset = *self.time_offset.get_or_insert_with(|| match last_written {
            None => 0,
            Some((last, at)) => {
                let elapsed = arrived.saturating_duration_since(at).as_micros() as i128 * i128::from(rate) / 1_000_000;
                i128::from(last) + elapsed.max(1) - i128::from(time)
            }
        });
        let rebased = (i128::from(time) + offset).max(0) as u64;
        self.last_written = Some((rebased, arrived));
        rebased
    }

    pub fn open_mid(&self) -> Option<Mid> {
        match self.state {
            OutState::Open(mid) => Some(mid),
            _ => None,
        }
    }

    pub fn mid(&self) -> Option<Mid> {
        match self.state {
            OutState::ToOpen => None,
            OutState::Negotiating(m) | OutState::Open(m) | OutState::ToStop(m) | OutState::NegotiatingStop(m) => {
                Some(m)
            }
        }
    }
}

/// A track announced by `AddTrackRequest` whose media has not arrived.
pub struct Expected {
    pub track: String,
    pub cid: String,
    pub video: bool,
}

pub struct Participant {
    pub pid: Pid,
    pub sid: String,
    pub identity: String,
    pub room: Arc<str>,
    pub grants: MediaGrants,
    pub auto_subscribe: bool,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    pub publisher: Option<Pc>,
    pub subscriber: Pc,
    /// Candidates that arrived before the publisher connection existed.
    pub early_candidates: Vec<Candidate>,
    /// The subscriber offer awaiting its answer.
    pub pending_offer: Option<SdpPendingOffer>,
    pub offers_sent: u32,
    /// Data channels this side opened on the subscriber connection, by label.
    pub out_channels: HashMap<&'static str, ChannelId>,
    /// Data channels the client opened on the publisher connection.
    pub in_channels: HashMap<ChannelId, String>,
    pub expected: Vec<Expected>,
    /// Publisher mid → track sid.
    pub published: HashMap<Mid, String>,
    pub outgoing: Vec<OutTrack>,
}

impl Participant {
    pub fn new(joining: Joining, subscriber: Pc) -> Participant {
        let Joining { pid, sid, identity, room, grants, auto_subscribe, events } = joining;
        Participant {
            pid,
            sid,
            identity,
            room,
            grants,
            auto_subscribe,
            events,
            publisher: None,
            subscriber,
            early_candidates: Vec::new(),
            pending_offer: None,
            offers_sent: 0,
            out_channels: HashMap::new(),
            in_channels: HashMap::new(),
            expected: Vec::new(),
            published: HashMap::new(),
            outgoing: Vec::new(),
        }
    }

    /// Sends a subscriber offer for whatever changed, unless one is
    /// awaiting its answer (then the answer triggers the next). The first
    /// offer also opens the data channels: LiveKit's server opens them on
    /// the subscriber connection, so clients receive data there.
    pub fn negotiate(&mut self, tracks: &HashMap<String, Track>) {
        if self.pending_offer.is_some() {
            return;
        }
        let mut api = self.subscriber.rtc.sdp_api();
        if self.out_channels.is_empty() {
            let reliable = api.add_channel_with_config(ChannelConfig {
                label: RELIABLE.to_owned(),
                ordered: true,
                reliability: Reliability::Reliable,
                ..Default::default()
            });
            let lossy = api.add_channel_with_config(ChannelConfig {
                label: LOSSY.to_owned(),
                ordered: false,
                reliability: Reliability::MaxRetransmits { retransmits: 0 },
                ..Default::default()
            });
            self.out_channels.insert(RELIABLE, reliable);
            self.out_channels.insert(LOSSY, lossy);
        }
        for out in &mut self.outgoing {
            match out.state {
                OutState::ToOpen => {
                    let Some(track) = tracks.get(&out.track) else { continue };
                    // LiveKit's clients read the publisher and the track
                    // from the stream id, `PA_…|TR_…`.
                    let stream = format!("{}|{}", track.publisher_sid, out.track);
                    let mid =
                        api.add_media(track.kind, Direction::SendOnly, Some(stream), Some(out.track.clone()), None);
                    out.state = OutState::Negotiating(mid);
                }
                OutState::ToStop(mid) => {
                    api.stop_media(mid);
                    out.state = OutState::NegotiatingStop(mid);
                }
                _ => {}
            }
        }
        if !api.has_changes() {
            return;
        }
        let Some((offer, pending)) = api.apply() else { return };
        self.pending_offer = Some(pending);
        self.offers_sent += 1;
        let _ = self.events.send(MediaEvent::SubscriberOffer { sdp: offer.to_sdp_string(), id: self.offers_sent });
    }

    /// The client answered the pending offer: what it added is open, what
    /// it stopped is gone. Returns the tracks newly open.
    pub fn answered(&mut self, sdp: &str) -> Result<Vec<String>, String> {
        let Some(pending) = self.pending_offer.take() else {
            return Err("no subscriber offer is awaiting an answer".to_owned());
        };
        let answer = str0m::change::SdpAnswer::from_sdp_string(sdp).map_err(|e| format!("answer: {e}"))?;
        self.subscriber.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| format!("answer: {e}"))?;
        let mut opened = Vec::new();
        for out in &mut self.outgoing {
            if let OutState::Negotiating(mid) = out.state {
                out.state = OutState::Open(mid);
                out.needs_keyframe = true;
                opened.push(out.track.clone());
            }
        }
        self.outgoing.retain(|o| !matches!(o.state, OutState::NegotiatingStop(_)));
        Ok(opened)
    }

    /// Stops sending `track` (at the next negotiation).
    pub fn stop_outgoing(&mut self, track: &str) {
        self.outgoing.retain_mut(|out| {
            if out.track != track {
                return true;
            }
            match out.state {
                // Never offered: forget it.
                OutState::ToOpen => false,
                OutState::Negotiating(mid) | OutState::Open(mid) => {
                    out.state = OutState::ToStop(mid);
                    true
                }
                OutState::ToStop(_) | OutState::NegotiatingStop(_) => true,
            }
        });
    }

    /// The connection a role names, if it exists.
    pub fn pc(&mut self, role: super::Role) -> Option<&mut Pc> {
        match role {
            super::Role::Publisher => self.publisher.as_mut(),
            super::Role::Subscriber => Some(&mut self.subscriber),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::OutTrack;

    #[test]
    fn a_layer_switch_continues_the_subscribers_clock() {
        let mut out = OutTrack::new("TR_x".to_owned());
        let start = Instant::now();
        let frame = Duration::from_millis(33);
        // The first layer's own times pass through unchanged.
        assert_eq!(out.rebased_time(1_000, 90_000, start), 1_000);
        assert_eq!(out.rebased_time(3_970, 90_000, start + frame), 3_970);
        // A switch to a layer with another clock base: it continues one
        // frame's worth (33 ms at 90 kHz = 2,970 ticks) later...
        out.time_offset = None;
        assert_eq!(out.rebased_time(900_000, 90_000, start + 2 * frame), 6_940);
        // ...and keeps its own spacing from there.
        assert_eq!(out.rebased_time(902_970, 90_000, start + 3 * frame), 9_910);
    }
}
