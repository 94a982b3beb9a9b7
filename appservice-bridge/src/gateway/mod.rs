//! Gateway v10: sessions, and the dispatches the bridge fans out to them.
//!
//! A session outlives its WebSocket: its dispatches (numbered by `s`) are
//! kept in a bounded buffer so a bot that reconnects with RESUME gets what
//! it missed; a session nobody resumes within [`RESUME_WINDOW`] is dropped.

mod socket;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use socket::serve_socket;

use crate::applications::Application;

/// Dispatches kept per session for RESUME.
const REPLAY_BUFFER: usize = 1_000;
/// How long a disconnected session may be resumed.
const RESUME_WINDOW: Duration = Duration::from_secs(300);
/// What HELLO asks of the client, in milliseconds.
pub const HEARTBEAT_INTERVAL_MS: u64 = 41_250;

/// One identified bot connection (or one waiting to be resumed).
pub struct Session {
    pub id: String,
    pub application: Application,
    pub intents: u64,
    inner: Mutex<SessionInner>,
}

struct SessionInner {
    seq: u64,
    buffer: VecDeque<(u64, Value)>,
    /// The connected socket's queue, if one is connected.
    socket: Option<mpsc::UnboundedSender<Value>>,
    disconnected_at: Option<Instant>,
    /// Channel room → its guild's snowflake (None: not in a guild).
    channels: HashMap<String, Option<u64>>,
}

impl Session {
    fn new(id: String, application: Application, intents: u64) -> Session {
        Session {
            id,
            application,
            intents,
            inner: Mutex::new(SessionInner {
                seq: 0,
                buffer: VecDeque::new(),
                socket: None,
                disconnected_at: None,
                channels: HashMap::new(),
            }),
        }
    }

    /// Numbers a dispatch, keeps it for RESUME and sends it if connected.
    pub fn dispatch(&self, event: &str, data: Value) {
        let mut inner = self.inner.lock().unwrap();
        inner.seq += 1;
        let frame = json!({"op": 0, "t": event, "s": inner.seq, "d": data});
        let seq = inner.seq;
        if inner.buffer.len() == REPLAY_BUFFER {
            inner.buffer.pop_front();
        }
        inner.buffer.push_back((seq, frame.clone()));
        if let Some(socket) = &inner.socket
            && socket.send(frame).is_err()
        {
            inner.socket = None;
        }
    }

    pub fn has_intent(&self, intent: u64) -> bool {
        self.intents & intent != 0
    }

    pub fn add_channel(&self, room_id: &str, guild: Option<u64>) {
        self.inner.lock().unwrap().channels.insert(room_id.to_owned(), guild);
    }

    pub fn remove_channel(&self, room_id: &str) {
        self.inner.lock().unwrap().channels.remove(room_id);
    }

    /// The guilds this session sees.
    pub fn guilds(&self) -> Vec<u64> {
        let inner = self.inner.lock().unwrap();
        let mut guilds: Vec<u64> = inner.channels.values().filter_map(|g| *g).collect();
        guilds.sort_unstable();
        guilds.dedup();
        guilds
    }

    /// The guild of a channel this session sees, if it sees it.
    pub fn channel(&self, room_id: &str) -> Option<Option<u64>> {
        self.inner.lock().unwrap().channels.get(room_id).copied()
    }

    fn attach(&self, socket: mpsc::UnboundedSender<Value>) {
        let mut inner = self.inner.lock().unwrap();
        inner.socket = Some(socket);
        inner.disconnected_at = None;
    }

    /// Disconnected for longer than a client may resume.
    fn expired(&self) -> bool {
        self.inner.lock().unwrap().disconnected_at.is_some_and(|at| at.elapsed() >= RESUME_WINDOW)
    }

    /// The socket `socket` went away; a newer one that already resumed
    /// the session stays attached.
    fn detach(&self, socket: &mpsc::UnboundedSender<Value>) {
        let mut inner = self.inner.lock().unwrap();
        if inner.socket.as_ref().is_some_and(|attached| attached.same_channel(socket)) {
            inner.socket = None;
            inner.disconnected_at = Some(Instant::now());
        }
    }

    /// Attaches a resuming socket and queues what it missed after `seq`;
    /// false when the buffer no longer reaches back that far.
    fn resume(&self, seq: u64, socket: mpsc::UnboundedSender<Value>) -> bool {
        let mut inner = self.inner.lock().unwrap();
        let oldest = inner.buffer.front().map_or(inner.seq + 1, |(s, _)| *s);
        if seq > inner.seq || (seq + 1 < oldest && seq < inner.seq) {
            return false;
        }
        for (_, frame) in inner.buffer.iter().filter(|(s, _)| *s > seq) {
            let _ = socket.send(frame.clone());
        }
        inner.socket = Some(socket);
        inner.disconnected_at = None;
        true
    }
}

/// Every session of the bridge. Sessions past their resume window are
/// dropped at most once a second, by whoever looks next.
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    last_sweep: Mutex<Option<Instant>>,
}

impl Sessions {
    fn create(&self, application: Application, intents: u64) -> Arc<Session> {
        let id = hex_id();
        let session = Arc::new(Session::new(id.clone(), application, intents));
        self.sweep();
        self.sessions.lock().unwrap().insert(id, session.clone());
        session
    }

    fn sweep(&self) {
        {
            let mut last = self.last_sweep.lock().unwrap();
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.sessions.lock().unwrap().retain(|_, s| !s.expired());
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().unwrap().get(id).filter(|s| !s.expired()).cloned()
    }

    fn remove(&self, id: &str) {
        self.sessions.lock().unwrap().remove(id);
    }

    /// The sessions that see a room, with the room's guild.
    pub fn watching(&self, room_id: &str) -> Vec<(Arc<Session>, Option<u64>)> {
        self.sweep();
        let sessions: Vec<Arc<Session>> = self.sessions.lock().unwrap().values().cloned().collect();
        sessions.into_iter().filter_map(|s| s.channel(room_id).map(|guild| (s, guild))).collect()
    }

    /// The sessions that asked for `intent`.
    pub fn with_intent(&self, intent: u64) -> Vec<Arc<Session>> {
        let sessions = self.sessions.lock().unwrap();
        sessions.values().filter(|s| s.has_intent(intent)).cloned().collect()
    }

    /// Shutting down: every connected session is told to RECONNECT (op 7)
    /// and its socket closed with 1012, so bots come back by themselves.
    pub fn reconnect_all(&self) {
        let sessions: Vec<Arc<Session>> = self.sessions.lock().unwrap().values().cloned().collect();
        for session in sessions {
            if let Some(socket) = &session.inner.lock().unwrap().socket {
                let _ = socket.send(json!({"op": 7, "d": null}));
                let _ = socket.send(Value::Null);
            }
        }
    }

    /// The sessions of one application.
    pub fn of_application(&self, application_id: u64) -> Vec<Arc<Session>> {
        let sessions = self.sessions.lock().unwrap();
        sessions.values().filter(|s| s.application.id == application_id).cloned().collect()
    }
}

fn hex_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn application() -> Application {
        Application {
            id: 1,
            name: "bot".into(),
            description: String::new(),
            owner: "@o:x".into(),
            bot_user_id: "@_discord_bot_1:x".into(),
            privileged_intents: 0,
        }
    }

    #[test]
    fn a_resumed_session_gets_what_it_missed_in_order() {
        let session = Session::new("s".into(), application(), 0);
        let (tx, mut rx) = mpsc::unbounded_channel();
        session.attach(tx.clone());
        session.dispatch("A", json!(1));
        assert_eq!(rx.try_recv().unwrap()["s"], 1);
        session.detach(&tx);
        session.dispatch("B", json!(2));
        session.dispatch("C", json!(3));
        let (tx, mut rx) = mpsc::unbounded_channel();
        assert!(session.resume(1, tx));
        assert_eq!(rx.try_recv().unwrap()["t"], "B");
        assert_eq!(rx.try_recv().unwrap()["t"], "C");
        assert!(rx.try_recv().is_err());
        let (tx, _rx) = mpsc::unbounded_channel();
        assert!(!session.resume(7, tx), "a sequence from the future");
    }

    #[test]
    fn an_old_socket_going_away_leaves_the_resumed_one_attached() {
        let session = Session::new("s".into(), application(), 0);
        let (old, _old_rx) = mpsc::unbounded_channel();
        session.attach(old.clone());
        let (new, mut new_rx) = mpsc::unbounded_channel();
        assert!(session.resume(0, new));
        session.detach(&old);
        session.dispatch("A", json!(1));
        assert_eq!(new_rx.try_recv().unwrap()["t"], "A");
    }
}
