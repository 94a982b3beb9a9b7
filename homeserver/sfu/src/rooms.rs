//! The signalling side's rooms: who is in each, as LiveKit describes them
//! (`Room`, `ParticipantInfo` with its tracks), and the queue to each
//! participant's signalling connection. Every change to a participant
//! bumps their `version` (clients ignore older descriptions) and is told
//! to the room.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::ids;
use crate::proto::{self, ParticipantInfo, ParticipantPermission, SignalResponse, TrackInfo, signal_response};
use crate::token::MediaPermissions;

/// How long a room made by `CreateRoom` waits for its first participant.
const DEFAULT_EMPTY_TIMEOUT: Duration = Duration::from_secs(300);
/// How many messages may wait for a participant's connection before it is
/// closed as too slow (a healthy one drains them in milliseconds).
const OUTBOX: usize = 1024;

/// What goes to a participant's signalling connection.
#[derive(Debug)]
pub enum Outgoing {
    Message(Box<SignalResponse>),
    /// Close the connection, telling the client why.
    Leave(proto::DisconnectReason),
    /// The server muted or unmuted one of the participant's tracks.
    Mute {
        track: String,
        muted: bool,
    },
    /// What the participant may do changed (a moderator's decision).
    Permissions(MediaPermissions),
}

/// Why a join was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the room is full")]
    RoomFull,
    #[error("the server is full")]
    ServerFull,
}

struct Member {
    info: ParticipantInfo,
    outbox: mpsc::Sender<Outgoing>,
}

struct Room {
    info: proto::Room,
    members: BTreeMap<u64, Member>,
    /// When the room was last empty (rooms made ahead by `CreateRoom`
    /// are kept this long waiting).
    empty_since: Option<std::time::Instant>,
}

pub struct Rooms {
    rooms: Mutex<HashMap<String, Room>>,
    next_pid: AtomicU64,
    max_per_room: usize,
    max_total: usize,
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A participant's permission as LiveKit sends it.
pub fn permission_of(permissions: &MediaPermissions) -> ParticipantPermission {
    let sources = permissions
        .can_publish_sources
        .iter()
        .filter_map(|name| proto::TrackSource::from_str_name(&name.to_ascii_uppercase()))
        .map(|s| s as i32)
        .collect();
    ParticipantPermission {
        can_subscribe: permissions.can_subscribe,
        can_publish: permissions.can_publish,
        can_publish_data: permissions.can_publish_data,
        can_publish_sources: sources,
        hidden: permissions.hidden,
        can_update_metadata: permissions.can_update_metadata,
        ..Default::default()
    }
}

fn update(participants: Vec<ParticipantInfo>) -> SignalResponse {
    SignalResponse { message: Some(signal_response::Message::Update(proto::ParticipantUpdate { participants })) }
}

/// A joined participant: their ids, what the join response holds, and
/// their queue.
pub struct Joined {
    pub pid: u64,
    pub room: proto::Room,
    pub participant: ParticipantInfo,
    pub others: Vec<ParticipantInfo>,
    pub outbox: mpsc::Receiver<Outgoing>,
}

impl Rooms {
    pub fn new(max_per_room: usize, max_total: usize) -> Rooms {
        Rooms { rooms: Mutex::new(HashMap::new()), next_pid: AtomicU64::new(1), max_per_room, max_total }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().expect("rooms poisoned")
    }

    fn new_room(name: &str, empty_timeout: Duration, max_participants: u32) -> Room {
        let now = now_ms();
        Room {
            info: proto::Room {
                sid: ids::room_sid(),
                name: name.to_owned(),
                empty_timeout: empty_timeout.as_secs() as u32,
                departure_timeout: 20,
                max_participants,
                creation_time: now / 1000,
                creation_time_ms: now,
                ..Default::default()
            },
            members: BTreeMap::new(),
            empty_since: Some(std::time::Instant::now()),
        }
    }

    /// Rooms made ahead whose wait ran out go.
    fn sweep(rooms: &mut HashMap<String, Room>) {
        rooms.retain(|_, room| {
            let waited = room.empty_since.map(|since| since.elapsed());
            !room.members.is_empty() || waited.is_none_or(|w| w < Duration::from_secs(room.info.empty_timeout.into()))
        });
    }

    /// `CreateRoom`: makes the room if it does not exist; its description.
    pub fn create(&self, name: &str, empty_timeout: Option<u32>, max_participants: u32) -> proto::Room {
        let mut rooms = self.lock();
        Self::sweep(&mut rooms);
        let timeout = empty_timeout.filter(|t| *t > 0).map_or(DEFAULT_EMPTY_TIMEOUT, |t| Duration::from_secs(t.into()));
        let room = rooms.entry(name.to_owned()).or_insert_with(|| Self::new_room(name, timeout, max_participants));
        Self::described(room)
    }

    fn described(room: &Room) -> proto::Room {
        let mut info = room.info.clone();
        info.num_participants = room.members.len() as u32;
        info.num_publishers = room.members.values().filter(|m| !m.info.tracks.is_empty()).count() as u32;
        info
    }

    pub fn list(&self, names: &[String]) -> Vec<proto::Room> {
        let mut rooms = self.lock();
        Self::sweep(&mut rooms);
        rooms.values().filter(|r| names.is_empty() || names.contains(&r.info.name)).map(Self::described).collect()
    }

    /// Adds a participant (a room is made for them if there is none).
    pub fn join(
        &self,
        room_name: &str,
        identity: &str,
        name: &str,
        metadata: &str,
        attributes: HashMap<String, String>,
        permissions: &MediaPermissions,
    ) -> Result<Joined, JoinError> {
        let mut rooms = self.lock();
        let total: usize = rooms.values().map(|r| r.members.len()).sum();
        if total >= self.max_total {
            return Err(JoinError::ServerFull);
        }
        let room =
            rooms.entry(room_name.to_owned()).or_insert_with(|| Self::new_room(room_name, DEFAULT_EMPTY_TIMEOUT, 0));
        let limit = match room.info.max_participants {
            0 => self.max_per_room,
            n => (n as usize).min(self.max_per_room),
        };
        // The same identity joining again replaces its earlier session, as
        // LiveKit does (a client reconnecting from scratch).
        let replaced: Vec<u64> =
            room.members.iter().filter(|(_, m)| m.info.identity == identity).map(|(pid, _)| *pid).collect();
        if room.members.len() - replaced.len() >= limit {
            return Err(JoinError::RoomFull);
        }
        for pid in replaced {
            if let Some(old) = room.members.remove(&pid) {
                let _ = old.outbox.try_send(Outgoing::Leave(proto::DisconnectReason::DuplicateIdentity));
            }
        }
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let participant = ParticipantInfo {
            sid: ids::participant_sid(),
            identity: identity.to_owned(),
            name: name.to_owned(),
            metadata: metadata.to_owned(),
            attributes,
            state: proto::participant_info::State::Joined as i32,
            joined_at: now / 1000,
            joined_at_ms: now,
            version: 1,
            permission: Some(permission_of(permissions)),
            ..Default::default()
        };
        let others: Vec<ParticipantInfo> = room.members.values().map(|m| m.info.clone()).collect();
        let (sender, outbox) = mpsc::channel(OUTBOX);
        room.empty_since = None;
        if !permissions.hidden {
            Self::tell(room, pid, update(vec![participant.clone()]));
        }
        room.members.insert(pid, Member { info: participant.clone(), outbox: sender });
        Ok(Joined { pid, room: Self::described(room), participant, others, outbox })
    }

    /// Sends a message to everyone in the room but `except`.
    fn tell(room: &Room, except: u64, message: SignalResponse) {
        for (pid, member) in &room.members {
            if *pid != except {
                // A connection this far behind is closed by its own side.
                let _ = member.outbox.try_send(Outgoing::Message(Box::new(message.clone())));
            }
        }
    }

    /// Changes a participant's description and tells the room (and them,
    /// when `tell_self`). Returns what `change` returned.
    pub fn change<T>(
        &self,
        room_name: &str,
        pid: u64,
        tell_self: bool,
        change: impl FnOnce(&mut ParticipantInfo) -> T,
    ) -> Option<T> {
        let mut rooms = self.lock();
        let room = rooms.get_mut(room_name)?;
        let member = room.members.get_mut(&pid)?;
        let outcome = change(&mut member.info);
        member.info.version += 1;
        let info = member.info.clone();
        let hidden = info.permission.as_ref().is_some_and(|p| p.hidden);
        if tell_self {
            let _ = member.outbox.try_send(Outgoing::Message(Box::new(update(vec![info.clone()]))));
        }
        if !hidden {
            Self::tell(room, pid, update(vec![info]));
        }
        Some(outcome)
    }

    /// Removes a participant and tells the room they left.
    pub fn leave(&self, room_name: &str, pid: u64) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(room_name) else { return };
        let Some(mut member) = room.members.remove(&pid) else { return };
        member.info.state = proto::participant_info::State::Disconnected as i32;
        member.info.version += 1;
        if !member.info.permission.as_ref().is_some_and(|p| p.hidden) {
            Self::tell(room, pid, update(vec![member.info]));
        }
        if room.members.is_empty() {
            // Rooms made by a join end with their last participant;
            // rooms made ahead wait out their departure timeout.
            room.empty_since = Some(std::time::Instant::now());
            room.info.empty_timeout = room.info.departure_timeout;
            Self::sweep(&mut rooms);
        }
    }

    /// The participants of a room (`None`: no such room).
    pub fn participants(&self, room_name: &str) -> Option<Vec<ParticipantInfo>> {
        let rooms = self.lock();
        rooms.get(room_name).map(|room| room.members.values().map(|m| m.info.clone()).collect())
    }

    /// A participant by identity: their pid and description.
    pub fn find(&self, room_name: &str, identity: &str) -> Option<(u64, ParticipantInfo)> {
        let rooms = self.lock();
        let room = rooms.get(room_name)?;
        room.members.iter().find(|(_, m)| m.info.identity == identity).map(|(pid, m)| (*pid, m.info.clone()))
    }

    /// Sends one participant a message.
    pub fn send_to(&self, room_name: &str, pid: u64, outgoing: Outgoing) -> bool {
        let rooms = self.lock();
        let Some(member) = rooms.get(room_name).and_then(|r| r.members.get(&pid)) else { return false };
        member.outbox.try_send(outgoing).is_ok()
    }

    /// Ends a room: everyone in it is told to leave.
    pub fn delete(&self, room_name: &str) -> bool {
        let mut rooms = self.lock();
        let Some(room) = rooms.remove(room_name) else { return false };
        for member in room.members.values() {
            let _ = member.outbox.try_send(Outgoing::Leave(proto::DisconnectReason::RoomDeleted));
        }
        true
    }
}

/// A track's description from the client's announcement.
pub fn track_info(request: &proto::AddTrackRequest, sid: String) -> TrackInfo {
    TrackInfo {
        sid,
        r#type: request.r#type,
        name: request.name.clone(),
        muted: request.muted,
        width: request.width,
        height: request.height,
        source: request.source,
        encryption: request.encryption,
        stream: request.stream.clone(),
        disable_red: request.disable_red,
        audio_features: request.audio_features.clone(),
        ..Default::default()
    }
}
