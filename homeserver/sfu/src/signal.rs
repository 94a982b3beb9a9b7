//! One client's signalling connection (LiveKit protocol v0): the join
//! response first, then requests from the client (offers, answers, ICE
//! candidates, tracks, mutes, subscriptions, pings, leave) and what the
//! room and the media plane have to tell it. The participant leaves when
//! the connection closes, the client asks, pings stop, or their media
//! connection dies.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use crate::Inner;
use crate::media::{Command, Joining, MediaEvent, MediaGrants, Quality, Role};
use crate::proto::{self, SignalRequest, SignalResponse, signal_request, signal_response};
use crate::rooms::{Joined, Outgoing, now_ms, track_info};
use crate::token::{Grants, MediaPermissions};

/// What clients are told to ping at, and how long silence ends a session
/// (LiveKit's values; clients need both non-zero).
pub const PING_INTERVAL_SECS: i32 = 5;
pub const PING_TIMEOUT_SECS: i32 = 15;
/// LiveKit's protocol version this server speaks.
const PROTOCOL: i32 = 16;
/// The largest signalling message accepted (an SDP with many tracks is a
/// few tens of KiB).
pub const MAX_MESSAGE: usize = 256 * 1024;
/// Tracks one participant may announce.
const MAX_TRACKS: usize = 32;

/// Connection options from the query string.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub auto_subscribe: bool,
    pub reconnect: bool,
}

/// How a session ended: the WebSocket close code and the reason given.
type Ending = (u16, &'static str);
const NORMAL: u16 = 1000;
/// A frame the protocol does not carry (text).
const UNSUPPORTED: u16 = 1003;
/// A message that is not what the protocol allows there.
const INVALID: u16 = 1007;
/// Refused by policy (a full room or server).
const POLICY: u16 = 1008;

struct Session<'a> {
    inner: &'a Inner,
    room: String,
    pid: u64,
    sid: String,
    permissions: MediaPermissions,
    socket: futures::stream::SplitSink<WebSocket, Message>,
    /// Track sids this participant published.
    tracks: Vec<String>,
}

fn response(message: signal_response::Message) -> SignalResponse {
    SignalResponse { message: Some(message) }
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: reason.to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Runs a signalling connection to its end.
pub async fn serve(mut socket: WebSocket, inner: std::sync::Arc<Inner>, grants: Grants, options: ConnectOptions) {
    if options.reconnect {
        // Resuming needs the session kept across connections, which this
        // server does not do: the client is told to join afresh.
        let leave = proto::LeaveRequest {
            action: proto::leave_request::Action::Reconnect as i32,
            reason: proto::DisconnectReason::StateMismatch as i32,
            ..Default::default()
        };
        let _ =
            socket.send(Message::Binary(response(signal_response::Message::Leave(leave)).encode_to_vec().into())).await;
        return close(socket, NORMAL, "resume is not supported; join again").await;
    }
    let permissions = grants.permissions();
    let joined = inner.rooms.join(
        &grants.video.room,
        &grants.identity,
        &grants.name,
        &grants.metadata,
        grants.attributes.clone(),
        &permissions,
    );
    let Joined { pid, room, participant, others, mut outbox } = match joined {
        Ok(joined) => joined,
        Err(e) => return close(socket, POLICY, &e.to_string()).await,
    };
    let join = proto::JoinResponse {
        room: Some(room),
        participant: Some(participant.clone()),
        other_participants: others,
        server_version: crate::VERSION.to_owned(),
        server_info: Some(proto::ServerInfo {
            edition: proto::server_info::Edition::Standard as i32,
            version: crate::VERSION.to_owned(),
            protocol: PROTOCOL,
            node_id: "nexus".to_owned(),
            ..Default::default()
        }),
        subscriber_primary: true,
        ping_interval: PING_INTERVAL_SECS,
        ping_timeout: PING_TIMEOUT_SECS,
        ..Default::default()
    };
    let (sink, mut stream) = socket.split();
    let mut session = Session {
        inner: &inner,
        room: grants.video.room.clone(),
        pid,
        sid: participant.sid.clone(),
        permissions: permissions.clone(),
        socket: sink,
        tracks: Vec::new(),
    };
    tracing::info!(room = %session.room, sid = %session.sid, "a participant joined");
    let (events, mut media_events) = mpsc::unbounded_channel();
    if session.send(response(signal_response::Message::Join(join))).await.is_ok() {
        inner.media.send(Command::Join(Joining {
            pid,
            sid: participant.sid.clone(),
            identity: grants.identity.clone(),
            room: session.room.as_str().into(),
            grants: media_grants(&permissions),
            auto_subscribe: options.auto_subscribe,
            events,
        }));
        let (code, reason) = session.run(&mut stream, &mut outbox, &mut media_events).await;
        tracing::info!(room = %session.room, sid = %session.sid, reason, "a participant left");
        let mut socket = session.socket;
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
    inner.media.send(Command::Leave { pid });
    inner.rooms.leave(&grants.video.room, pid);
}

pub fn media_grants(permissions: &MediaPermissions) -> MediaGrants {
    MediaGrants {
        publish: permissions.can_publish,
        subscribe: permissions.can_subscribe,
        publish_data: permissions.can_publish_data,
    }
}

impl Session<'_> {
    async fn send(&mut self, message: SignalResponse) -> Result<(), ()> {
        self.socket.send(Message::Binary(message.encode_to_vec().into())).await.map_err(|_| ())
    }

    /// The session's loop; why it ended.
    async fn run(
        &mut self,
        stream: &mut futures::stream::SplitStream<WebSocket>,
        outbox: &mut mpsc::Receiver<Outgoing>,
        media_events: &mut mpsc::UnboundedReceiver<MediaEvent>,
    ) -> Ending {
        let silence = Duration::from_secs(PING_TIMEOUT_SECS as u64);
        let mut deadline = tokio::time::Instant::now() + silence;
        loop {
            tokio::select! {
                frame = stream.next() => {
                    deadline = tokio::time::Instant::now() + silence;
                    let bytes = match frame {
                        Some(Ok(Message::Binary(bytes))) => bytes,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Text(_))) => return (UNSUPPORTED, "text signalling is not supported"),
                        Some(Ok(Message::Close(_))) | None => return (NORMAL, "the client closed the connection"),
                        Some(Err(_)) => return (NORMAL, "the connection failed"),
                    };
                    let Ok(request) = SignalRequest::decode(bytes.as_ref()) else {
                        return (INVALID, "a message was not a SignalRequest");
                    };
                    match self.request(request).await {
                        Ok(true) => {}
                        Ok(false) => return (NORMAL, "the client left"),
                        Err(reason) => return (INVALID, reason),
                    }
                }
                outgoing = outbox.recv() => match outgoing {
                    Some(Outgoing::Message(message)) => {
                        if self.send(*message).await.is_err() {
                            return (NORMAL, "the connection failed");
                        }
                    }
                    Some(Outgoing::Leave(reason)) => {
                        let leave = proto::LeaveRequest { reason: reason as i32, ..Default::default() };
                        let _ = self.send(response(signal_response::Message::Leave(leave))).await;
                        return (NORMAL, "removed by the server");
                    }
                    Some(Outgoing::Mute { track, muted }) => {
                        if self.server_mute(&track, muted).await.is_err() {
                            return (NORMAL, "the connection failed");
                        }
                    }
                    Some(Outgoing::Permissions(permissions)) => {
                        if self.permissions_changed(permissions).await.is_err() {
                            return (NORMAL, "the connection failed");
                        }
                    }
                    None => return (NORMAL, "removed by the server"),
                },
                event = media_events.recv() => {
                    let Some(event) = event else { return (NORMAL, "the media plane stopped") };
                    if let Some(message) = self.media_event(event) {
                        if self.send(message).await.is_err() {
                            return (NORMAL, "the connection failed");
                        }
                    } else {
                        return (NORMAL, "the media connection was lost");
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return (NORMAL, "the client stopped pinging"),
            }
        }
    }

    /// What a media event becomes on the wire; `None` ends the session.
    fn media_event(&mut self, event: MediaEvent) -> Option<SignalResponse> {
        Some(match event {
            MediaEvent::SubscriberOffer { sdp, id } => {
                response(signal_response::Message::Offer(proto::SessionDescription {
                    r#type: "offer".to_owned(),
                    sdp,
                    id,
                    ..Default::default()
                }))
            }
            MediaEvent::Speakers(list) => response(signal_response::Message::SpeakersChanged(proto::SpeakersChanged {
                speakers: list
                    .into_iter()
                    .map(|(sid, level, active)| proto::SpeakerInfo { sid, level, active })
                    .collect(),
            })),
            MediaEvent::TrackSubscribed { track } => {
                response(signal_response::Message::TrackSubscribed(proto::TrackSubscribed { track_sid: track }))
            }
            MediaEvent::Gone => return None,
        })
    }

    /// Handles one request; `Ok(false)` when the client leaves.
    async fn request(&mut self, request: SignalRequest) -> Result<bool, &'static str> {
        use signal_request::Message as M;
        let Some(message) = request.message else { return Ok(true) };
        match message {
            M::Offer(offer) => {
                let (reply, answer) = oneshot::channel();
                self.inner.media.send(Command::PublisherOffer { pid: self.pid, sdp: offer.sdp, reply });
                match answer.await {
                    Ok(Ok(sdp)) => {
                        let answer = proto::SessionDescription {
                            r#type: "answer".to_owned(),
                            sdp,
                            id: offer.id,
                            ..Default::default()
                        };
                        self.send(response(signal_response::Message::Answer(answer)))
                            .await
                            .map_err(|_| "the connection failed")?;
                    }
                    Ok(Err(e)) => {
                        tracing::info!(sid = %self.sid, error = %e, "a publisher offer was refused");
                        return Err("the publisher offer could not be accepted");
                    }
                    Err(_) => return Err("the media plane stopped"),
                }
            }
            M::Answer(answer) => self.inner.media.send(Command::SubscriberAnswer { pid: self.pid, sdp: answer.sdp }),
            M::Trickle(trickle) => {
                let role = match trickle.target {
                    1 => Role::Subscriber,
                    _ => Role::Publisher,
                };
                if let Some(candidate) = candidate_of(&trickle.candidate_init) {
                    self.inner.media.send(Command::Candidate { pid: self.pid, role, candidate });
                }
            }
            M::AddTrack(add) => self.add_track(add).await?,
            M::Mute(mute) => {
                let sid = mute.sid.clone();
                if self.tracks.contains(&sid) {
                    self.inner.rooms.change(&self.room, self.pid, false, |info| {
                        if let Some(track) = info.tracks.iter_mut().find(|t| t.sid == sid) {
                            track.muted = mute.muted;
                        }
                    });
                }
            }
            M::Subscription(subscription) => {
                let mut tracks = subscription.track_sids;
                tracks.extend(subscription.participant_tracks.into_iter().flat_map(|p| p.track_sids));
                self.inner.media.send(Command::Subscription {
                    pid: self.pid,
                    tracks,
                    subscribe: subscription.subscribe,
                });
            }
            M::TrackSetting(settings) => {
                let quality = match proto::VideoQuality::try_from(settings.quality) {
                    Ok(proto::VideoQuality::Low) => Quality::Low,
                    Ok(proto::VideoQuality::Medium) => Quality::Medium,
                    _ => Quality::High,
                };
                self.inner.media.send(Command::TrackSettings {
                    pid: self.pid,
                    tracks: settings.track_sids,
                    disabled: settings.disabled,
                    quality,
                });
            }
            M::Leave(_) => return Ok(false),
            M::Ping(_) => {
                self.send(response(signal_response::Message::Pong(now_ms())))
                    .await
                    .map_err(|_| "the connection failed")?;
            }
            M::PingReq(ping) => {
                let pong = proto::Pong { last_ping_timestamp: ping.timestamp, timestamp: now_ms() };
                self.send(response(signal_response::Message::PongResp(pong)))
                    .await
                    .map_err(|_| "the connection failed")?;
            }
            M::UpdateMetadata(update) if self.permissions.can_update_metadata => {
                self.inner.rooms.change(&self.room, self.pid, true, |info| {
                    if !update.name.is_empty() {
                        info.name = update.name.clone();
                    }
                    if !update.metadata.is_empty() {
                        info.metadata = update.metadata.clone();
                    }
                    info.attributes.extend(update.attributes.clone());
                    info.attributes.retain(|_, v| !v.is_empty());
                });
            }
            // Features this server does not offer (data tracks, blobs,
            // simulated scenarios, resumption state) are ignored, as an
            // older LiveKit ignores what it does not know.
            _ => {}
        }
        Ok(true)
    }

    /// Tells the client the server muted (or unmuted) its track.
    async fn server_mute(&mut self, track: &str, muted: bool) -> Result<(), ()> {
        let mute = proto::MuteTrackRequest { sid: track.to_owned(), muted };
        self.send(response(signal_response::Message::Mute(mute))).await
    }

    /// A moderator changed what the participant may do: the media plane
    /// stops (or resumes) forwarding at once, and a participant who may
    /// no longer publish has their tracks muted, so every client shows it.
    async fn permissions_changed(&mut self, permissions: MediaPermissions) -> Result<(), ()> {
        let revoked = self.permissions.can_publish && !permissions.can_publish;
        self.inner.media.send(Command::Grants { pid: self.pid, grants: media_grants(&permissions) });
        self.permissions = permissions;
        if revoked {
            let tracks = self.tracks.clone();
            self.inner.rooms.change(&self.room, self.pid, false, |info| {
                for track in &mut info.tracks {
                    track.muted = true;
                }
            });
            for track in tracks {
                self.server_mute(&track, true).await?;
            }
        }
        Ok(())
    }

    async fn add_track(&mut self, add: proto::AddTrackRequest) -> Result<(), &'static str> {
        let source_name =
            proto::TrackSource::try_from(add.source).map(|s| s.as_str_name().to_ascii_lowercase()).unwrap_or_default();
        let allowed = self.permissions.can_publish
            && (self.permissions.can_publish_sources.is_empty()
                || self.permissions.can_publish_sources.iter().any(|s| s.eq_ignore_ascii_case(&source_name)))
            && self.tracks.len() < MAX_TRACKS;
        if !allowed {
            // LiveKit leaves the request unanswered; the client's publish
            // times out with its own error.
            tracing::info!(sid = %self.sid, "a track the participant may not publish was refused");
            return Ok(());
        }
        let video = add.r#type == proto::TrackType::Video as i32;
        let (kind_letter, source_letter) = match (video, add.source) {
            (false, _) => ('A', 'M'),
            (true, s) if s == proto::TrackSource::ScreenShare as i32 => ('V', 'S'),
            (true, _) => ('V', 'C'),
        };
        let sid = crate::ids::track_sid(kind_letter, source_letter);
        let info = track_info(&add, sid.clone());
        self.tracks.push(sid.clone());
        self.inner.media.send(Command::ExpectTrack { pid: self.pid, track: sid, cid: add.cid.clone(), video });
        let published = proto::TrackPublishedResponse { cid: add.cid, track: Some(info.clone()) };
        self.send(response(signal_response::Message::TrackPublished(published)))
            .await
            .map_err(|_| "the connection failed")?;
        self.inner.rooms.change(&self.room, self.pid, false, |participant| {
            participant.tracks.push(info);
            participant.is_publisher = true;
            participant.state = proto::participant_info::State::Active as i32;
        });
        Ok(())
    }
}

/// The candidate attribute out of a trickled `RTCIceCandidateInit` (JSON);
/// `None` for the end-of-candidates marker or anything unreadable.
fn candidate_of(init: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(init).ok()?;
    let candidate = value.get("candidate")?.as_str()?.trim();
    let candidate = candidate.strip_prefix("a=").unwrap_or(candidate);
    (!candidate.is_empty()).then(|| candidate.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn candidates_are_read_from_trickled_json() {
        let init =
            r#"{"candidate":"candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
        assert_eq!(super::candidate_of(init).unwrap(), "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host");
        assert_eq!(super::candidate_of(r#"{"candidate":""}"#), None);
        assert_eq!(super::candidate_of("not json"), None);
    }
}
