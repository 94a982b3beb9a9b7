//! Active speakers from the audio-level header extension (RFC 6464) of
//! each audio track: no decoding, only the level each packet carries. A
//! room's list is sent (`SpeakersChanged`) when who is speaking changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::MediaEvent;
use super::engine::Engine;

/// Louder than about -45 dBov, smoothed, counts as speaking.
const ACTIVE_LEVEL: f32 = 0.0056;
/// Weight of the newest packet in the smoothed level.
const SMOOTHING: f32 = 0.2;
/// Silence (or DTX: no packets) this long ends speaking.
const QUIET_AFTER: Duration = Duration::from_millis(800);

struct Level {
    participant: String,
    room: Arc<str>,
    smoothed: f32,
    heard_at: Instant,
}

#[derive(Default)]
pub struct Speakers {
    /// By audio track sid.
    levels: HashMap<String, Level>,
    /// The speakers last announced in each room.
    announced: HashMap<Arc<str>, BTreeSet<String>>,
}

impl Speakers {
    /// A packet's level, in dBov (0 loudest, -127 silence).
    pub fn heard(&mut self, room: &Arc<str>, track: &str, participant: &str, dbov: i8, now: Instant) {
        let linear = 10f32.powf(f32::from(dbov.min(0)) / 20.0);
        let level = self.levels.entry(track.to_owned()).or_insert_with(|| Level {
            participant: participant.to_owned(),
            room: room.clone(),
            smoothed: 0.0,
            heard_at: now,
        });
        level.smoothed += SMOOTHING * (linear - level.smoothed);
        level.heard_at = now;
    }

    pub fn forget_track(&mut self, track: &str) {
        self.levels.remove(track);
    }

    pub fn forget_participant(&mut self, participant: &str) {
        self.levels.retain(|_, l| l.participant != participant);
    }

    pub fn forget_room(&mut self, room: &Arc<str>) {
        self.announced.remove(room);
    }

    /// Each room's speakers now, loudest first, with their levels.
    fn current(&self, now: Instant) -> HashMap<Arc<str>, Vec<(String, f32)>> {
        let mut rooms: HashMap<Arc<str>, HashMap<String, f32>> = HashMap::new();
        for level in self.levels.values() {
            if now.duration_since(level.heard_at) < QUIET_AFTER && level.smoothed > ACTIVE_LEVEL {
                let loudest =
                    rooms.entry(level.room.clone()).or_default().entry(level.participant.clone()).or_default();
                *loudest = loudest.max(level.smoothed);
            }
        }
        rooms
            .into_iter()
            .map(|(room, speakers)| {
                let mut speakers: Vec<(String, f32)> = speakers.into_iter().collect();
                speakers.sort_by(|a, b| b.1.total_cmp(&a.1));
                (room, speakers)
            })
            .collect()
    }
}

impl Engine {
    /// Tells each room whose speakers changed: who speaks now, and who
    /// stopped (level 0, inactive).
    pub(super) fn announce_speakers(&mut self, now: Instant) {
        let mut current = self.speakers.current(now);
        let rooms: BTreeSet<Arc<str>> = current.keys().chain(self.speakers.announced.keys()).cloned().collect();
        for room in rooms {
            let speaking = current.remove(&room).unwrap_or_default();
            let now_set: BTreeSet<String> = speaking.iter().map(|(sid, _)| sid.clone()).collect();
            let before = self.speakers.announced.get(&room).cloned().unwrap_or_default();
            if now_set == before {
                continue;
            }
            let mut list: Vec<(String, f32, bool)> =
                speaking.into_iter().map(|(sid, level)| (sid, level, true)).collect();
            list.extend(before.difference(&now_set).map(|sid| (sid.clone(), 0.0, false)));
            for pid in self.rooms.get(&room).into_iter().flatten() {
                if let Some(participant) = self.participants.get(pid) {
                    let _ = participant.events.send(MediaEvent::Speakers(list.clone()));
                }
            }
            if now_set.is_empty() {
                self.speakers.announced.remove(&room);
            } else {
                self.speakers.announced.insert(room, now_set);
            }
        }
    }
}
