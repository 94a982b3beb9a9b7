//! A room that the [`SigningPeer`] is the only resident of, for the
//! partial-state join scenarios: the peer builds and signs a public room
//! (version 11) with many members of its own, answers `make_join`, answers
//! `send_join?omit_members=true` without the member events (spec:
//! `members_omitted`, `servers_in_room`), and answers `/state` and
//! `/state_ids` at the join only once the scenario releases them — so a
//! scenario can look at the joiner while its state is certainly partial.
//!
//! Like Complement's faster-joins tests, the resident is the test's own;
//! the server under test is only ever the joiner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::client::enc;
use crate::federation::TestCa;
use crate::federation_peer::{PeerAnswer, PeerIdentity, PeerRoutes, SigningPeer, now_ms, percent_decode};
use crate::signing::{KeyPair, sign_pdu};

/// The peer's room and what happened to it.
struct Room {
    server_name: String,
    key: KeyPair,
    room_id: String,
    /// Every event, by id.
    events: HashMap<String, Value>,
    /// The state (non-member and member ids), in creation order.
    state: Vec<String>,
    create: String,
    power_levels: String,
    join_rules: String,
    /// The newest event: the room's single forward extremity.
    last: String,
    depth: u64,
    /// The joiner's join, once `send_join` took it.
    join: Option<String>,
}

impl Room {
    fn add(&mut self, sender: &str, kind: &str, state_key: Option<&str>, content: Value, auth: Vec<String>) -> String {
        self.depth += 1;
        let mut event = json!({
            "room_id": self.room_id,
            "sender": sender,
            "type": kind,
            "content": content,
            "origin_server_ts": now_ms(),
            "depth": self.depth,
            "prev_events": if self.last.is_empty() { vec![] } else { vec![self.last.clone()] },
            "auth_events": auth,
        });
        if let Some(key) = state_key {
            event["state_key"] = json!(key);
        }
        let id = sign_pdu(&mut event, &self.server_name, &self.key);
        self.events.insert(id.clone(), event);
        if state_key.is_some() {
            self.state.push(id.clone());
        }
        self.last = id.clone();
        id
    }

    fn pdus(&self, ids: &[String]) -> Vec<Value> {
        ids.iter().filter_map(|id| self.events.get(id).cloned()).collect()
    }

    fn is_member_event(&self, id: &str) -> bool {
        self.events.get(id).is_some_and(|e| e["type"] == "m.room.member")
    }
}

/// See the module documentation.
pub struct PartialResident {
    pub peer: SigningPeer,
    room: Arc<Mutex<Room>>,
    release: watch::Sender<bool>,
}

struct Routes {
    room: Arc<Mutex<Room>>,
    released: watch::Receiver<bool>,
}

impl PartialResident {
    /// Starts the peer with a room of `members` joined members of its own
    /// (besides its creator). The room has no name: the creator is a hero.
    pub async fn start(ca: &TestCa, members: usize) -> PartialResident {
        let (release, released) = watch::channel(false);
        let shared: Arc<Mutex<Option<Arc<Mutex<Room>>>>> = Arc::new(Mutex::new(None));
        let slot = shared.clone();
        let peer = SigningPeer::start_with(ca, move |identity: &PeerIdentity| {
            let room = Arc::new(Mutex::new(build_room(identity, members)));
            *slot.lock().unwrap() = Some(room.clone());
            Some(Arc::new(Routes { room, released }) as Arc<dyn PeerRoutes>)
        })
        .await;
        let room = shared.lock().unwrap().take().expect("the room was built");
        PartialResident { peer, room, release }
    }

    pub fn room_id(&self) -> String {
        self.room.lock().unwrap().room_id.clone()
    }

    /// `@m{i}:peer`, one of the room's members.
    pub fn member(&self, i: usize) -> String {
        self.peer.user_id(&format!("m{i}"))
    }

    /// Every user joined on the peer's side, the creator first.
    pub fn joined(&self) -> Vec<String> {
        let room = self.room.lock().unwrap();
        room.state
            .iter()
            .filter_map(|id| room.events.get(id))
            .filter(|e| e["type"] == "m.room.member" && e["content"]["membership"] == "join")
            .filter_map(|e| e["state_key"].as_str().map(str::to_owned))
            .filter(|user| user.ends_with(&format!(":{}", self.peer.server_name())))
            .collect()
    }

    /// Lets `/state` and `/state_ids` answer (those waiting, and all later).
    pub fn release_state(&self) {
        let _ = self.release.send(true);
    }

    /// A message from `sender` (one of the peer's members) built on the
    /// room's newest event, sent to `destination` in a transaction.
    pub async fn send_message(&self, destination: &str, base_url: &str, sender: &str, body: &str) -> String {
        let (event, id) = {
            let mut room = self.room.lock().unwrap();
            let member = room
                .state
                .iter()
                .rev()
                .find(|id| room.events[*id]["state_key"] == sender)
                .cloned()
                .expect("the sender is a member");
            let auth = vec![room.create.clone(), room.power_levels.clone(), member];
            let id = room.add(sender, "m.room.message", None, json!({"msgtype": "m.text", "body": body}), auth);
            (room.events[&id].clone(), id)
        };
        self.peer.send_transaction(destination, base_url, vec![event]).await.expect_ok();
        id
    }
}

fn build_room(identity: &PeerIdentity, members: usize) -> Room {
    let server = identity.server_name.clone();
    let creator = format!("@creator:{server}");
    let mut room = Room {
        server_name: server.clone(),
        key: identity.key.clone(),
        room_id: format!("!partial{}:{server}", now_ms()),
        events: HashMap::new(),
        state: Vec::new(),
        create: String::new(),
        power_levels: String::new(),
        join_rules: String::new(),
        last: String::new(),
        depth: 0,
        join: None,
    };
    room.create = room.add(&creator, "m.room.create", Some(""), json!({"room_version": "11"}), vec![]);
    let create = room.create.clone();
    let creator_join =
        room.add(&creator, "m.room.member", Some(&creator), json!({"membership": "join"}), vec![create.clone()]);
    room.power_levels = room.add(
        &creator,
        "m.room.power_levels",
        Some(""),
        json!({"users": {creator.clone(): 100}, "users_default": 0, "events_default": 0, "state_default": 50}),
        vec![create.clone(), creator_join.clone()],
    );
    let base = vec![create.clone(), room.power_levels.clone(), creator_join.clone()];
    room.join_rules = room.add(&creator, "m.room.join_rules", Some(""), json!({"join_rule": "public"}), base.clone());
    room.add(&creator, "m.room.history_visibility", Some(""), json!({"history_visibility": "shared"}), base);
    for i in 0..members {
        let user = format!("@m{i}:{server}");
        let auth = vec![create.clone(), room.power_levels.clone(), room.join_rules.clone()];
        room.add(
            &user,
            "m.room.member",
            Some(&user),
            json!({"membership": "join", "displayname": format!("m{i}")}),
            auth,
        );
    }
    room
}

impl PeerRoutes for Routes {
    fn answer(&self, method: &str, target: &str, body: &Value) -> PeerAnswer {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Vec<String> = path.split('/').map(percent_decode).collect();
        let room = self.room.clone();
        let mut released = self.released.clone();
        let method = method.to_owned();
        let query = query.to_owned();
        let body = body.clone();
        Box::pin(async move {
            let seg = |i: usize| segments.get(i).map(String::as_str).unwrap_or_default();
            // ["", "_matrix", "federation", "v1", <endpoint>, ...]
            match (method.as_str(), seg(3), seg(4)) {
                ("GET", "v1", "make_join") => Some(make_join(&room, seg(6))),
                ("PUT", "v2", "send_join") => Some(send_join(&room, body, query.contains("omit_members=true"))),
                ("GET", "v1", endpoint @ ("state" | "state_ids")) => {
                    // Held until the scenario releases the full state.
                    while !*released.borrow() {
                        if released.changed().await.is_err() {
                            return None;
                        }
                    }
                    let event_id = query
                        .split('&')
                        .find_map(|pair| pair.strip_prefix("event_id="))
                        .map(percent_decode)
                        .unwrap_or_default();
                    Some(state_at(&room, &event_id, endpoint == "state_ids"))
                }
                ("GET", "v1", "event") => {
                    let room = room.lock().unwrap();
                    Some(match room.events.get(seg(5)) {
                        Some(event) => {
                            (200, json!({"origin": room.server_name, "origin_server_ts": now_ms(), "pdus": [event]}))
                        }
                        None => (404, json!({"errcode": "M_NOT_FOUND", "error": "unknown event"})),
                    })
                }
                ("POST", "v1", "get_missing_events") => Some((200, json!({"events": []}))),
                ("GET", "v1", "backfill") => {
                    let room = room.lock().unwrap();
                    Some((200, json!({"origin": room.server_name, "origin_server_ts": now_ms(), "pdus": []})))
                }
                _ => None,
            }
        })
    }
}

fn make_join(room: &Mutex<Room>, user_id: &str) -> (u16, Value) {
    let room = room.lock().unwrap();
    let template = json!({
        "room_id": room.room_id,
        "sender": user_id,
        "type": "m.room.member",
        "state_key": user_id,
        "content": {"membership": "join"},
        "origin_server_ts": now_ms(),
        "depth": room.depth + 1,
        "prev_events": [room.last],
        "auth_events": [room.create, room.power_levels, room.join_rules],
    });
    (200, json!({"room_version": "11", "event": template}))
}

fn send_join(room: &Mutex<Room>, join: Value, omit_members: bool) -> (u16, Value) {
    let mut room = room.lock().unwrap();
    if !join.is_object() {
        return (400, json!({"errcode": "M_BAD_JSON", "error": "not an event"}));
    }
    let join_id = crate::signing::reference_event_id(&join);
    let state_before = room.state.clone();
    let kept: Vec<String> = state_before
        .iter()
        .filter(|id| {
            !omit_members
                || !room.is_member_event(id)
                || room.events[*id]["sender"].as_str() == Some(&format!("@creator:{}", room.server_name))
        })
        .cloned()
        .collect();
    let response = json!({
        "origin": room.server_name,
        "state": room.pdus(&kept),
        // Every auth event of the kept state and of the join is in it.
        "auth_chain": [],
        "members_omitted": omit_members,
        "servers_in_room": [room.server_name],
    });
    room.depth = room.depth.max(join["depth"].as_u64().unwrap_or(0));
    room.events.insert(join_id.clone(), join);
    room.state.push(join_id.clone());
    room.last = join_id.clone();
    room.join = Some(join_id);
    (200, response)
}

/// The state before `event_id` (the joiner's join): everything before it.
fn state_at(room: &Mutex<Room>, event_id: &str, ids_only: bool) -> (u16, Value) {
    let room = room.lock().unwrap();
    let Some(position) = room.state.iter().position(|id| id == event_id) else {
        return (404, json!({"errcode": "M_NOT_FOUND", "error": "the peer answers the state at the join only"}));
    };
    let before: Vec<String> = room.state[..position].to_vec();
    if ids_only {
        (200, json!({"pdu_ids": before, "auth_chain_ids": []}))
    } else {
        (200, json!({"pdus": room.pdus(&before), "auth_chain": []}))
    }
}

/// `/_matrix/client/v3/join/{room}?server_name=<peer>`.
pub fn join_path(room_id: &str, via: &str) -> String {
    format!("/_matrix/client/v3/join/{}?server_name={}", enc(room_id), enc(via))
}
