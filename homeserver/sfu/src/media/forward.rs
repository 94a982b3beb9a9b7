//! Media from publishers to subscribers: a publisher's new media section
//! becomes the track it announced; each frame goes to every subscriber of
//! the track (one simulcast layer each, video from a keyframe on); a
//! subscriber's keyframe request goes back to the publisher.

use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaAdded, MediaData, MediaKind, MediaTime, Rid};

use super::Quality;
use super::engine::{Engine, Track};
use super::participant::OutTrack;
use super::stats::Stats;
use super::{Pid, Role};

/// Keyframe requests to one publisher track are at most this frequent.
const KEYFRAME_THROTTLE: Duration = Duration::from_millis(500);
/// A layer that carried nothing this long is taken as paused by its
/// publisher (bandwidth, or the layer is not needed).
const LAYER_IDLE: Duration = Duration::from_millis(1500);

/// LiveKit's simulcast rids, lowest first.
fn quality_of(rid: &Rid) -> Quality {
    match &**rid {
        "q" => Quality::Low,
        "h" => Quality::Medium,
        _ => Quality::High,
    }
}

/// The layer to forward: the best active one not above the wanted
/// quality, else the lowest active one.
fn choose_layer(layers: &[(Rid, Instant)], wanted: Quality, now: Instant) -> Option<Rid> {
    let mut active: Vec<Rid> =
        layers.iter().filter(|(_, seen)| now.duration_since(*seen) < LAYER_IDLE).map(|(rid, _)| *rid).collect();
    active.sort_by_key(quality_of);
    active.iter().rev().find(|rid| quality_of(rid) <= wanted).or(active.first()).copied()
}

impl Engine {
    /// A media section appeared in a publisher offer: it carries the track
    /// whose client id its msid names, else the oldest announced track of
    /// its kind (clients that rewrite track ids).
    pub(super) fn media_added(&mut self, pid: Pid, added: MediaAdded) {
        if added.direction.is_sending() && !added.direction.is_receiving() {
            return;
        }
        let Some(participant) = self.participants.get_mut(&pid) else { return };
        let msid_track = participant
            .publisher
            .as_ref()
            .and_then(|pc| pc.rtc.media(added.mid))
            .map(|media| media.track_id().to_owned())
            .unwrap_or_default();
        let video = added.kind == MediaKind::Video;
        let position = participant
            .expected
            .iter()
            .position(|e| e.cid == msid_track)
            .or_else(|| participant.expected.iter().position(|e| e.video == video));
        let Some(position) = position else {
            tracing::debug!(pid, mid = %added.mid, "media arrived for no announced track");
            return;
        };
        let expected = participant.expected.remove(position);
        participant.published.insert(added.mid, expected.track.clone());
        let room = participant.room.clone();
        let track = Track {
            publisher: pid,
            publisher_sid: participant.sid.clone(),
            room: room.clone(),
            kind: added.kind,
            mid: Some(added.mid),
            layers: Vec::new(),
            last_keyframe_request: None,
            subscribed: false,
        };
        self.tracks.insert(expected.track.clone(), track);
        Stats::set(&self.stats.tracks, self.tracks.len() as u64);
        // Everyone else in the room who takes tracks automatically gets it.
        let members = self.rooms.get(&room).cloned().unwrap_or_default();
        for other in members.into_iter().filter(|p| *p != pid) {
            let Some(subscriber) = self.participants.get_mut(&other) else { continue };
            if subscriber.auto_subscribe && subscriber.grants.subscribe {
                subscriber.outgoing.push(OutTrack::new(expected.track.clone()));
                self.renegotiate(other);
            }
        }
    }

    /// One frame from a publisher, to each subscriber of its track.
    pub(super) fn forward(&mut self, pid: Pid, data: MediaData) {
        let Some(publisher) = self.participants.get(&pid) else { return };
        let Some(track_sid) = publisher.published.get(&data.mid).cloned() else { return };
        // A server-muted publisher's media stops here.
        if !publisher.grants.publish {
            return;
        }
        let room = publisher.room.clone();
        let now = Instant::now();
        let Some(track) = self.tracks.get_mut(&track_sid) else { return };
        if let Some(rid) = data.rid {
            match track.layers.iter_mut().find(|(r, _)| *r == rid) {
                Some(layer) => layer.1 = now,
                None => track.layers.push((rid, now)),
            }
        }
        let layers = track.layers.clone();
        if track.kind == MediaKind::Audio
            && let Some(level) = data.ext_vals.audio_level
        {
            self.speakers.heard(&room, &track_sid, &publisher.sid, level, now);
        }
        let keyframe = data.is_keyframe();
        let members = self.rooms.get(&room).cloned().unwrap_or_default();
        let mut wants_keyframe = false;
        for other in members.into_iter().filter(|p| *p != pid) {
            let Some(subscriber) = self.participants.get_mut(&other) else { continue };
            if !subscriber.grants.subscribe {
                continue;
            }
            let Some(out) = subscriber.outgoing.iter_mut().find(|o| o.track == track_sid) else { continue };
            let Some(mid) = out.open_mid() else { continue };
            if out.paused {
                continue;
            }
            if data.rid.is_some() {
                let chosen = choose_layer(&layers, out.quality, now);
                if chosen != out.rid {
                    out.rid = chosen;
                    out.needs_keyframe = true;
                    out.time_offset = None;
                }
                if data.rid != out.rid {
                    continue;
                }
            }
            let video = data.params.spec().codec.is_video();
            if video && out.needs_keyframe {
                if !keyframe {
                    wants_keyframe = true;
                    continue;
                }
                out.needs_keyframe = false;
            }
            let Some(mut writer) = subscriber.subscriber.rtc.writer(mid) else { continue };
            let Some(pt) = writer.match_params(data.params) else {
                Stats::add(&self.stats.frames_dropped, 1);
                continue;
            };
            if let Some(level) = data.ext_vals.audio_level {
                writer = writer.audio_level(level, data.ext_vals.voice_activity.unwrap_or(false));
            }
            let rate = data.time.frequency();
            let time = MediaTime::new(out.rebased_time(data.time.numer(), rate.get(), data.network_time), rate);
            match writer.write(pt, data.network_time, time, data.data.clone()) {
                Ok(()) => {
                    Stats::add(&self.stats.frames_forwarded, 1);
                    Stats::add(&self.stats.bytes_forwarded, data.data.len() as u64);
                }
                Err(e) => {
                    Stats::add(&self.stats.frames_dropped, 1);
                    tracing::trace!(error = %e, "a frame could not be forwarded");
                }
            }
            self.drain((other, Role::Subscriber));
        }
        if wants_keyframe || !data.contiguous {
            self.request_keyframe(&track_sid);
        }
    }

    /// A subscriber lost a picture: ask the track's publisher for a keyframe.
    pub(super) fn keyframe_wanted(&mut self, pid: Pid, request: KeyframeRequest) {
        let Some(subscriber) = self.participants.get(&pid) else { return };
        let Some(out) = subscriber.outgoing.iter().find(|o| o.mid() == Some(request.mid)) else { return };
        let track = out.track.clone();
        self.request_keyframe(&track);
    }

    /// Asks a video track's publisher for a keyframe on every layer (a
    /// subscriber may switch to any), at most every half second.
    pub(super) fn request_keyframe(&mut self, track_sid: &str) {
        let now = Instant::now();
        let Some(track) = self.tracks.get_mut(track_sid) else { return };
        if track.kind != MediaKind::Video
            || track.last_keyframe_request.is_some_and(|at| now.duration_since(at) < KEYFRAME_THROTTLE)
        {
            return;
        }
        let (Some(mid), publisher) = (track.mid, track.publisher) else { return };
        track.last_keyframe_request = Some(now);
        let rids: Vec<Option<Rid>> = match track.layers.is_empty() {
            true => vec![None],
            false => track.layers.iter().map(|(rid, _)| Some(*rid)).collect(),
        };
        let Some(pc) = self.participants.get_mut(&publisher).and_then(|p| p.publisher.as_mut()) else { return };
        for rid in rids {
            let Some(mut writer) = pc.rtc.writer(mid) else { return };
            // PLI where the publisher offered it (browsers do), else FIR.
            let kind = match writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
                true => KeyframeRequestKind::Pli,
                false => KeyframeRequestKind::Fir,
            };
            if writer.request_keyframe(rid, kind).is_ok() {
                Stats::add(&self.stats.keyframe_requests, 1);
            }
        }
        self.drain((publisher, Role::Publisher));
    }
}
