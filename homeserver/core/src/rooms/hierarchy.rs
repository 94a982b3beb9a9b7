//! The spaces hierarchy (spec: "Spaces"). `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
//! walks a space's `m.space.child` tree for one user, a page at a time;
//! the federation `GET /hierarchy/{roomId}` answers one level of it for
//! another server. Children this server does not have are asked of the
//! servers their `via` names, and those answers are kept briefly.
//!
//! The walk is depth-first in the spec's child order (the order Synapse
//! returns, which clients and Complement expect): a stack of rooms still to
//! look at, children pushed in reverse so the first child comes next. A
//! page stops after `limit` rooms shown, or after a fixed number looked at
//! or fetched, so the work of a request is bounded whatever the space; what
//! is left (the stack and the rooms already seen) waits in memory under an
//! opaque token for a few minutes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ruma::canonical_json::CanonicalJsonValue;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, ServerName, UserId};
use serde_json::{Map, Value, json};

use super::Rooms;
use super::discovery::Asker;
use super::incoming::encode_path;
use crate::values::{ALPHANUMERIC, random_string};
use crate::{Error, Result};

/// Rooms in one page at most (and the default).
pub const MAX_LIMIT: usize = 50;
/// How deep a walk goes at most (and by default).
pub const MAX_DEPTH: u64 = 50;
/// Rooms looked at per page, shown or not: a space full of rooms the user
/// may not see costs a bounded amount per request.
const MAX_EXAMINED: usize = 4 * MAX_LIMIT;
/// Other servers asked per page; the rest waits for the next page.
const MAX_REMOTE_FETCHES: usize = 5;
/// Servers tried for one remote room.
const MAX_VIA: usize = 3;
/// Children listed per space in a federation answer (as Synapse does).
const MAX_CHILDREN_FOR_SERVERS: usize = 50;
/// Children taken from a remote answer at most.
const MAX_REMOTE_CHILDREN: usize = 1000;
const SESSION_LIFETIME: Duration = Duration::from_secs(5 * 60);
const MAX_SESSIONS: usize = 10_000;
const REMOTE_LIFETIME: Duration = Duration::from_secs(60);
const MAX_REMOTE_CACHED: usize = 1_000;

/// What the client asked for.
pub struct HierarchyRequest<'a> {
    pub from: Option<&'a str>,
    pub limit: Option<usize>,
    pub max_depth: Option<u64>,
    pub suggested_only: bool,
}

/// One page of the walk.
pub struct HierarchyPage {
    pub rooms: Vec<Value>,
    pub next_batch: Option<String>,
}

/// A room still to look at.
#[derive(Clone)]
struct Pending {
    room_id: OwnedRoomId,
    /// The servers the parent's `m.space.child` names.
    via: Vec<OwnedServerName>,
    depth: u64,
    /// Its summary as another server gave it with its parent, if it did.
    remote: Option<Map<String, Value>>,
}

/// A walk between pages.
#[derive(Clone)]
struct Session {
    user: OwnedUserId,
    root: OwnedRoomId,
    suggested_only: bool,
    max_depth: u64,
    stack: Vec<Pending>,
    seen: HashSet<OwnedRoomId>,
    expires: Instant,
}

/// A room as the walk found it.
#[derive(Default)]
struct Found {
    summary: Map<String, Value>,
    /// Stripped `m.space.child` events, in the spec's order.
    children_state: Vec<Value>,
    /// Summaries of children another server gave with this room.
    children: HashMap<OwnedRoomId, Map<String, Value>>,
    /// Children another server said no one here can see.
    inaccessible: HashSet<OwnedRoomId>,
}

/// Another server's answer to `/hierarchy`.
struct RemoteSpace {
    room: Map<String, Value>,
    children_state: Vec<Value>,
    children: HashMap<OwnedRoomId, Map<String, Value>>,
    inaccessible: HashSet<OwnedRoomId>,
}

pub struct Hierarchy {
    rooms: Arc<Rooms>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Other servers' answers by `(room, suggested_only)`, with when they came.
    remote: Mutex<HashMap<(OwnedRoomId, bool), Cached>>,
}

type Cached = (Instant, Arc<RemoteSpace>);

impl Hierarchy {
    pub fn new(rooms: Arc<Rooms>) -> Self {
        Hierarchy { rooms, sessions: Mutex::default(), remote: Mutex::default() }
    }

    /// `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`.
    pub async fn for_user(&self, user: &UserId, root: &RoomId, request: HierarchyRequest<'_>) -> Result<HierarchyPage> {
        let limit = request.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
        let max_depth = request.max_depth.unwrap_or(MAX_DEPTH).min(MAX_DEPTH);
        // Checked on every page: a user who has lost sight of the root since
        // the first one sees no more of it.
        self.check_root(user, root).await?;
        let (mut stack, mut seen) = match request.from {
            Some(token) => {
                let session = self.session(token)?;
                if session.user != user
                    || session.root != root
                    || session.suggested_only != request.suggested_only
                    || session.max_depth != max_depth
                {
                    return Err(Error::InvalidParam(
                        "the pagination token belongs to another request: room, suggested_only and max_depth \
                         cannot change while paginating"
                            .to_owned(),
                    ));
                }
                (session.stack, session.seen)
            }
            None => {
                let via = root.server_name().map(|s| vec![s.to_owned()]).unwrap_or_default();
                (vec![Pending { room_id: root.to_owned(), via, depth: 0, remote: None }], HashSet::new())
            }
        };

        let mut rooms = Vec::new();
        let (mut examined, mut fetches) = (0, 0);
        while rooms.len() < limit && examined < MAX_EXAMINED {
            let Some(pending) = stack.pop() else { break };
            if seen.contains(&pending.room_id) {
                continue;
            }
            let found = if self.is_local(&pending.room_id).await? {
                if self.rooms.may_preview(Asker::User(user), &pending.room_id).await? {
                    self.local(&pending.room_id, request.suggested_only, true).await?
                } else {
                    None
                }
            } else {
                let is_space =
                    pending.remote.as_ref().and_then(|r| r.get("room_type")).and_then(Value::as_str) == Some("m.space");
                let found = match pending.remote.clone() {
                    Some(summary) if !is_space || pending.depth >= max_depth => {
                        Some(Found { summary, ..Found::default() })
                    }
                    _ => {
                        if fetches == MAX_REMOTE_FETCHES {
                            // Enough waiting on other servers for one page.
                            stack.push(pending);
                            break;
                        }
                        fetches += 1;
                        self.remote_space(&pending.room_id, &pending.via, request.suggested_only).await.map(|space| {
                            Found {
                                summary: space.room.clone(),
                                children_state: space.children_state.clone(),
                                children: space.children.clone(),
                                inaccessible: space.inaccessible.clone(),
                            }
                        })
                    }
                };
                match found {
                    Some(found) if self.may_see_remote(user, &pending.room_id, &found.summary).await? => Some(found),
                    _ => None,
                }
            };
            examined += 1;
            seen.insert(pending.room_id.clone());
            let Some(mut found) = found else { continue };
            if pending.depth < max_depth {
                for child in found.children_state.iter().rev() {
                    let Some((room_id, via)) = child_target(child) else { continue };
                    if found.inaccessible.contains(&room_id) || seen.contains(&room_id) {
                        continue;
                    }
                    let remote = found.children.remove(&room_id);
                    stack.push(Pending { room_id, via, depth: pending.depth + 1, remote });
                }
            }
            let mut chunk = found.summary;
            chunk.insert("children_state".to_owned(), Value::Array(found.children_state));
            rooms.push(Value::Object(chunk));
        }

        stack.retain(|p| !seen.contains(&p.room_id));
        let next_batch = if stack.is_empty() {
            None
        } else {
            let session = Session {
                user: user.to_owned(),
                root: root.to_owned(),
                suggested_only: request.suggested_only,
                max_depth,
                stack,
                seen,
                expires: Instant::now() + SESSION_LIFETIME,
            };
            Some(self.keep_session(session))
        };
        Ok(HierarchyPage { rooms, next_batch })
    }

    /// `GET /_matrix/federation/v1/hierarchy/{roomId}`: the room and its
    /// children this server has, judged for the asking server; 404 when the
    /// room is unknown here or hidden from it.
    pub async fn for_server(&self, origin: &ServerName, room_id: &RoomId, suggested_only: bool) -> Result<Value> {
        let unknown = || Error::NotFound(format!("this server cannot show {room_id} to {origin}"));
        if !self.is_local(room_id).await? || !self.server_may_see(origin, room_id).await? {
            return Err(unknown());
        }
        let found = self.local(room_id, suggested_only, true).await?.ok_or_else(unknown)?;
        let mut children = Vec::new();
        let mut inaccessible = Vec::new();
        for child in found.children_state.iter().take(MAX_CHILDREN_FOR_SERVERS) {
            let Some((child_id, _)) = child_target(child) else { continue };
            if !self.is_local(&child_id).await? {
                // Not ours to describe: the asking server tries the `via`s.
                continue;
            }
            match self.server_may_see(origin, &child_id).await? {
                true => match self.local(&child_id, suggested_only, false).await? {
                    Some(child) => children.push(Value::Object(child.summary)),
                    None => continue,
                },
                false => inaccessible.push(json!(child_id)),
            }
        }
        let mut room = found.summary;
        room.insert("children_state".to_owned(), Value::Array(found.children_state));
        Ok(json!({ "room": room, "children": children, "inaccessible_children": inaccessible }))
    }

    /// The root must be one the user may see (403 otherwise, as for an
    /// unknown room: Synapse's answer, and no existence oracle).
    async fn check_root(&self, user: &UserId, root: &RoomId) -> Result<()> {
        let forbidden = || Error::Forbidden(format!("you may not see {root}: you are not in it and it has no preview"));
        if self.is_local(root).await? {
            return match self.rooms.may_preview(Asker::User(user), root).await? {
                true => Ok(()),
                false => Err(forbidden()),
            };
        }
        let via = root.server_name().map(|s| vec![s.to_owned()]).unwrap_or_default();
        match self.remote_space(root, &via, false).await {
            Some(space) if self.may_see_remote(user, root, &space.room).await? => Ok(()),
            _ => Err(forbidden()),
        }
    }

    /// Whether this server is in the room: only then is its state current
    /// enough to describe (otherwise a resident server is asked).
    async fn is_local(&self, room_id: &RoomId) -> Result<bool> {
        if self.rooms.version(room_id).await?.is_none() {
            return Ok(false);
        }
        Ok(self.rooms.joined_servers(room_id).await?.iter().any(|s| s == self.rooms.server_name()))
    }

    async fn server_may_see(&self, origin: &ServerName, room_id: &RoomId) -> Result<bool> {
        if self.rooms.check_server_acl(room_id, origin).await.is_err() {
            return Ok(false);
        }
        self.rooms.may_preview(Asker::Server(origin), room_id).await
    }

    /// A local room's summary and, for a space with `with_children`, its
    /// `m.space.child` events.
    async fn local(&self, room_id: &RoomId, suggested_only: bool, with_children: bool) -> Result<Option<Found>> {
        let Some(version) = self.rooms.version(room_id).await? else { return Ok(None) };
        let summary = self.rooms.summary_chunk(room_id, &version).await?;
        let is_space = summary.get("room_type").and_then(Value::as_str) == Some("m.space");
        let children_state =
            if is_space && with_children { self.child_events(room_id, suggested_only).await? } else { vec![] };
        Ok(Some(Found { summary, children_state, ..Found::default() }))
    }

    /// The space's current `m.space.child` events with a `via` (an event
    /// without one is a removed child), stripped, with `origin_server_ts`.
    async fn child_events(&self, room_id: &RoomId, suggested_only: bool) -> Result<Vec<Value>> {
        let mut children = Vec::new();
        for (state_key, event_id) in self.rooms.state.current_of_type(room_id, "m.space.child").await? {
            let Some(stored) = self.rooms.timeline.get(&event_id).await? else { continue };
            let event = Value::from(CanonicalJsonValue::Object(stored.object()?));
            let content = event.get("content").cloned().unwrap_or_else(|| json!({}));
            let stripped = json!({
                "type": "m.space.child",
                "state_key": state_key,
                "content": content,
                "sender": event.get("sender").cloned().unwrap_or(Value::Null),
                "origin_server_ts": event.get("origin_server_ts").cloned().unwrap_or(json!(0)),
            });
            if child_target(&stripped).is_some() && (!suggested_only || is_suggested(&stripped)) {
                children.push(stripped);
            }
        }
        sort_children(&mut children);
        Ok(children)
    }

    /// Whether the user may see a room known from another server's answer:
    /// it is public, knockable or world-readable, the user is in one of the
    /// rooms its restricted rule names, or they are joined or invited here.
    async fn may_see_remote(&self, user: &UserId, room_id: &RoomId, summary: &Map<String, Value>) -> Result<bool> {
        let join_rule = summary.get("join_rule").and_then(Value::as_str).unwrap_or("public");
        if matches!(join_rule, "public" | "knock" | "knock_restricted")
            || summary.get("world_readable").and_then(Value::as_bool) == Some(true)
        {
            return Ok(true);
        }
        let allowed = summary.get("allowed_room_ids").and_then(Value::as_array).into_iter().flatten();
        for allowed in allowed.filter_map(Value::as_str).take(MAX_REMOTE_CHILDREN) {
            if let Ok(allowed) = <&RoomId>::try_from(allowed)
                && self.rooms.membership.is_joined(allowed, user).await?
            {
                return Ok(true);
            }
        }
        Ok(matches!(
            self.rooms.membership.of(room_id, user).await?,
            Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock)
        ))
    }

    /// Another server's `/hierarchy` answer for a room, from the first of
    /// `via` that gives one; kept for a minute.
    async fn remote_space(
        &self,
        room_id: &RoomId,
        via: &[OwnedServerName],
        suggested_only: bool,
    ) -> Option<Arc<RemoteSpace>> {
        let key = (room_id.to_owned(), suggested_only);
        if let Some((at, space)) = self.remote.lock().expect("hierarchy cache poisoned").get(&key)
            && at.elapsed() < REMOTE_LIFETIME
        {
            return Some(space.clone());
        }
        let path = format!(
            "/_matrix/federation/v1/hierarchy/{}?suggested_only={suggested_only}",
            encode_path(room_id.as_str())
        );
        let own = self.rooms.server_name();
        for server in via.iter().filter(|s| s.as_str() != own.as_str()).take(MAX_VIA) {
            let answer = match self.rooms.federation.get(server, &path).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::info!(%room_id, %server, error = %e.detail, "hierarchy: no answer from this server");
                    continue;
                }
            };
            let Some(space) = parse_remote(room_id, answer, suggested_only) else {
                tracing::info!(%room_id, %server, "hierarchy: the server's answer is malformed");
                continue;
            };
            let space = Arc::new(space);
            let mut cache = self.remote.lock().expect("hierarchy cache poisoned");
            cache.retain(|_, (at, _)| at.elapsed() < REMOTE_LIFETIME);
            if cache.len() < MAX_REMOTE_CACHED {
                cache.insert(key, (Instant::now(), space.clone()));
            }
            return Some(space);
        }
        None
    }

    fn session(&self, token: &str) -> Result<Session> {
        let sessions = self.sessions.lock().expect("hierarchy sessions poisoned");
        match sessions.get(token) {
            Some(session) if session.expires > Instant::now() => Ok(session.clone()),
            _ => Err(Error::InvalidParam("unknown or expired pagination token".to_owned())),
        }
    }

    fn keep_session(&self, session: Session) -> String {
        let token = random_string(ALPHANUMERIC, 24);
        let mut sessions = self.sessions.lock().expect("hierarchy sessions poisoned");
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.expires).map(|(t, _)| t.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(token.clone(), session);
        token
    }
}

/// The child room a stripped `m.space.child` event points at, and its
/// `via` servers; `None` for one without a usable `via` (removed).
fn child_target(event: &Value) -> Option<(OwnedRoomId, Vec<OwnedServerName>)> {
    let room_id = OwnedRoomId::try_from(event.get("state_key")?.as_str()?).ok()?;
    let via = event.get("content")?.get("via")?.as_array()?;
    let servers: Vec<OwnedServerName> =
        via.iter().map(|v| v.as_str().and_then(|s| OwnedServerName::try_from(s).ok())).collect::<Option<_>>()?;
    (!servers.is_empty()).then_some((room_id, servers))
}

fn is_suggested(event: &Value) -> bool {
    event.get("content").and_then(|c| c.get("suggested")).and_then(Value::as_bool) == Some(true)
}

/// The spec's order of a space's children: by `order` (when it is a
/// string of at most 50 printable ASCII characters; children without one
/// come last), then `origin_server_ts`, then room id.
fn sort_children(children: &mut [Value]) {
    fn key(event: &Value) -> (bool, String, u64, String) {
        let order = event
            .get("content")
            .and_then(|c| c.get("order"))
            .and_then(Value::as_str)
            .filter(|o| o.len() <= 50 && o.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        let ts = event.get("origin_server_ts").and_then(Value::as_u64).unwrap_or(0);
        let room = event.get("state_key").and_then(Value::as_str).unwrap_or_default().to_owned();
        (order.is_none(), order.unwrap_or_default().to_owned(), ts, room)
    }
    children.sort_by_cached_key(key);
}

/// Reads another server's `/hierarchy` answer, keeping what is well formed.
fn parse_remote(room_id: &RoomId, answer: Value, suggested_only: bool) -> Option<RemoteSpace> {
    let Value::Object(mut answer) = answer else { return None };
    let Some(Value::Object(mut room)) = answer.remove("room") else { return None };
    if room.get("room_id").and_then(Value::as_str) != Some(room_id.as_str()) {
        return None;
    }
    let mut children_state: Vec<Value> = match room.remove("children_state") {
        Some(Value::Array(events)) => events
            .into_iter()
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("m.space.child"))
            .filter(|e| child_target(e).is_some() && (!suggested_only || is_suggested(e)))
            .take(MAX_REMOTE_CHILDREN)
            .collect(),
        _ => Vec::new(),
    };
    sort_children(&mut children_state);
    let children = match answer.remove("children") {
        Some(Value::Array(children)) => children
            .into_iter()
            .take(MAX_REMOTE_CHILDREN)
            .filter_map(|child| match child {
                Value::Object(mut child) => {
                    child.remove("children_state");
                    let id = OwnedRoomId::try_from(child.get("room_id")?.as_str()?).ok()?;
                    Some((id, child))
                }
                _ => None,
            })
            .collect(),
        _ => HashMap::new(),
    };
    let inaccessible = match answer.remove("inaccessible_children") {
        Some(Value::Array(ids)) => {
            ids.iter().take(MAX_REMOTE_CHILDREN).filter_map(|id| OwnedRoomId::try_from(id.as_str()?).ok()).collect()
        }
        _ => HashSet::new(),
    };
    Some(RemoteSpace { room, children_state, children, inaccessible })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(room: &str, order: Option<&str>, ts: u64) -> Value {
        let mut content = json!({ "via": ["example.org"] });
        if let Some(order) = order {
            content["order"] = json!(order);
        }
        json!({ "type": "m.space.child", "state_key": room, "content": content, "origin_server_ts": ts })
    }

    #[test]
    fn children_are_ordered_by_order_then_time_then_room() {
        let mut children = vec![
            child("!c:example.org", None, 1),
            child("!b:example.org", None, 1),
            child("!a:example.org", None, 2),
            child("!z:example.org", Some("b"), 9),
            child("!y:example.org", Some("a"), 9),
            child("!x:example.org", Some("bad\u{7f}"), 0),
        ];
        sort_children(&mut children);
        let ids: Vec<&str> = children.iter().map(|c| c["state_key"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "!y:example.org",
                "!z:example.org",
                "!x:example.org",
                "!b:example.org",
                "!c:example.org",
                "!a:example.org"
            ]
        );
    }

    #[test]
    fn a_child_without_via_is_no_child() {
        assert!(child_target(&json!({ "state_key": "!a:example.org", "content": {} })).is_none());
        assert!(child_target(&json!({ "state_key": "!a:example.org", "content": { "via": [] } })).is_none());
        assert!(child_target(&json!({ "state_key": "!a:example.org", "content": { "via": [1] } })).is_none());
        assert!(child_target(&child("!a:example.org", None, 0)).is_some());
    }

    #[test]
    fn a_remote_answer_for_another_room_is_refused() {
        let room_id = <&RoomId>::try_from("!space:example.org").unwrap();
        let answer =
            json!({ "room": { "room_id": "!other:example.org" }, "children": [], "inaccessible_children": [] });
        assert!(parse_remote(room_id, answer, false).is_none());
        let answer = json!({
            "room": { "room_id": "!space:example.org", "children_state": [child("!a:example.org", None, 0)] },
            "children": [{ "room_id": "!a:example.org", "join_rule": "public" }, { "room_id": 3 }],
            "inaccessible_children": ["!b:example.org", "nonsense"],
        });
        let space = parse_remote(room_id, answer, false).unwrap();
        assert_eq!(space.children_state.len(), 1);
        assert_eq!(space.children.len(), 1);
        assert_eq!(space.inaccessible.len(), 1);
        assert!(!space.room.contains_key("children_state"));
    }
}
