//! `/sync` and the per-user data endpoints (filters, typing, receipts, read
//! markers, account data, tags): a [`Synced`] view over one `/sync` answer,
//! and [`Session`] methods that send the requests.
//!
//! Ephemeral data reaches other users asynchronously, so scenarios wait for
//! it with [`Session::sync_until`] (long-polling from a token until one
//! answer satisfies a predicate) and check that something does *not* arrive
//! with [`Session::sync_for`] (every answer during a period).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Reply, Session, enc, room_path};

/// How long [`Session::sync_until`] waits for its condition.
pub const SYNC_WAIT: Duration = Duration::from_secs(15);

/// The long-poll timeout (ms) of the syncs [`Session::sync_until`] makes.
const POLL_TIMEOUT_MS: u64 = 1000;

/// One 200 answer of `GET /sync`, with accessors for the parts scenarios
/// look at. Missing sections read as empty.
#[derive(Clone, Debug)]
pub struct Synced {
    pub reply: Reply,
    pub body: Value,
    pub next_batch: String,
    /// How long the request took.
    pub elapsed: Duration,
}

/// One receipt out of an `m.receipt` event's content, flattened.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    pub event_id: String,
    pub receipt_type: String,
    pub user_id: String,
    pub thread_id: Option<String>,
    pub ts: Option<u64>,
}

fn events_of(batch: &Value) -> Vec<Value> {
    batch["events"].as_array().cloned().unwrap_or_default()
}

impl Synced {
    /// Asserts a 200 with a string `next_batch` (the one required field).
    #[track_caller]
    pub fn from_reply(reply: Reply, elapsed: Duration) -> Synced {
        let body = reply.expect_ok().clone();
        let next_batch = body["next_batch"]
            .as_str()
            .unwrap_or_else(|| panic!("a /sync answer without a string next_batch: {reply:?}"))
            .to_owned();
        assert!(!next_batch.is_empty(), "an empty next_batch: {reply:?}");
        Synced { reply, body, next_batch, elapsed }
    }

    fn section(&self, section: &str, room_id: &str) -> Option<&Value> {
        self.body["rooms"][section].get(room_id)
    }

    /// `rooms.join[room_id]`.
    pub fn joined(&self, room_id: &str) -> Option<&Value> {
        self.section("join", room_id)
    }

    /// `rooms.invite[room_id]`.
    pub fn invited(&self, room_id: &str) -> Option<&Value> {
        self.section("invite", room_id)
    }

    /// `rooms.leave[room_id]`.
    pub fn left(&self, room_id: &str) -> Option<&Value> {
        self.section("leave", room_id)
    }

    /// `rooms.knock[room_id]`.
    pub fn knocked(&self, room_id: &str) -> Option<&Value> {
        self.section("knock", room_id)
    }

    /// The room ids of a `rooms` section (`join`, `invite`, `leave`, `knock`).
    pub fn room_ids(&self, section: &str) -> Vec<String> {
        self.body["rooms"][section].as_object().map(|rooms| rooms.keys().cloned().collect()).unwrap_or_default()
    }

    /// `rooms.join[room_id].timeline.events`.
    pub fn timeline(&self, room_id: &str) -> Vec<Value> {
        self.joined(room_id).map(|room| events_of(&room["timeline"])).unwrap_or_default()
    }

    /// `rooms.join[room_id].state.events`.
    pub fn state(&self, room_id: &str) -> Vec<Value> {
        self.joined(room_id).map(|room| events_of(&room["state"])).unwrap_or_default()
    }

    /// `rooms.join[room_id].ephemeral.events`.
    pub fn ephemeral(&self, room_id: &str) -> Vec<Value> {
        self.joined(room_id).map(|room| events_of(&room["ephemeral"])).unwrap_or_default()
    }

    /// `rooms.join[room_id].account_data.events`.
    pub fn room_account_data(&self, room_id: &str) -> Vec<Value> {
        self.joined(room_id).map(|room| events_of(&room["account_data"])).unwrap_or_default()
    }

    /// The content of the last room account data event of this type.
    pub fn room_account_data_content(&self, room_id: &str, event_type: &str) -> Option<Value> {
        self.room_account_data(room_id)
            .into_iter()
            .rev()
            .find(|e| e["type"] == event_type)
            .map(|e| e["content"].clone())
    }

    /// The top-level `account_data.events`.
    pub fn account_data(&self) -> Vec<Value> {
        events_of(&self.body["account_data"])
    }

    /// The content of the last global account data event of this type.
    pub fn account_data_content(&self, event_type: &str) -> Option<Value> {
        self.account_data().into_iter().rev().find(|e| e["type"] == event_type).map(|e| e["content"].clone())
    }

    /// `rooms.leave[room_id].timeline.events`.
    pub fn left_timeline(&self, room_id: &str) -> Vec<Value> {
        self.left(room_id).map(|room| events_of(&room["timeline"])).unwrap_or_default()
    }

    /// `rooms.invite[room_id].invite_state.events`.
    pub fn invite_state(&self, room_id: &str) -> Vec<Value> {
        self.invited(room_id).map(|room| events_of(&room["invite_state"])).unwrap_or_default()
    }

    /// `rooms.knock[room_id].knock_state.events`.
    pub fn knock_state(&self, room_id: &str) -> Vec<Value> {
        self.knocked(room_id).map(|room| events_of(&room["knock_state"])).unwrap_or_default()
    }

    /// The `user_ids` of the last `m.typing` event of the room's ephemeral
    /// events, if there is one ("clients MUST use the user ID list to
    /// REPLACE their knowledge").
    #[track_caller]
    pub fn typing(&self, room_id: &str) -> Option<Vec<String>> {
        let event = self.ephemeral(room_id).into_iter().rev().find(|e| e["type"] == "m.typing")?;
        let ids = event["content"]["user_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("m.typing without a user_ids array: {event:#}"));
        Some(
            ids.iter()
                .map(|id| id.as_str().unwrap_or_else(|| panic!("a non-string typing user id: {event:#}")).to_owned())
                .collect(),
        )
    }

    /// Every receipt in the room's `m.receipt` ephemeral events, flattened,
    /// in order. Asserts the `m.receipt` shape on the way.
    #[track_caller]
    pub fn receipts(&self, room_id: &str) -> Vec<Receipt> {
        let mut out = Vec::new();
        for event in self.ephemeral(room_id).iter().filter(|e| e["type"] == "m.receipt") {
            let content = event["content"].as_object().unwrap_or_else(|| panic!("m.receipt content: {event:#}"));
            for (event_id, by_type) in content {
                assert!(event_id.starts_with('$'), "m.receipt content is keyed by event id: {event:#}");
                let by_type = by_type.as_object().unwrap_or_else(|| panic!("receipt types: {event:#}"));
                for (receipt_type, by_user) in by_type {
                    let by_user = by_user.as_object().unwrap_or_else(|| panic!("receipt users: {event:#}"));
                    for (user_id, receipt) in by_user {
                        assert!(user_id.starts_with('@'), "receipts are keyed by user id: {event:#}");
                        out.push(Receipt {
                            event_id: event_id.clone(),
                            receipt_type: receipt_type.clone(),
                            user_id: user_id.clone(),
                            thread_id: receipt.get("thread_id").map(|t| {
                                t.as_str().unwrap_or_else(|| panic!("a non-string thread_id: {event:#}")).to_owned()
                            }),
                            ts: receipt
                                .get("ts")
                                .map(|ts| ts.as_u64().unwrap_or_else(|| panic!("a non-integer receipt ts: {event:#}"))),
                        });
                    }
                }
            }
        }
        out
    }

    /// The receipts of this type by this user in the room.
    pub fn receipts_by(&self, room_id: &str, receipt_type: &str, user_id: &str) -> Vec<Receipt> {
        self.receipts(room_id).into_iter().filter(|r| r.receipt_type == receipt_type && r.user_id == user_id).collect()
    }

    /// Whether the room's timeline holds an event with this id.
    pub fn timeline_has(&self, room_id: &str, event_id: &str) -> bool {
        self.timeline(room_id).iter().any(|e| e["event_id"] == event_id)
    }
}

/// The `content.body`s of the `m.room.message` events among `events`.
pub fn message_bodies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The `(type, state_key)` pairs of the state events among `events`.
pub fn state_keys(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| Some((e["type"].as_str()?.to_owned(), e.get("state_key")?.as_str()?.to_owned())))
        .collect()
}

/// A query string for `/sync`: `since` (if any) plus `extra` (already
/// encoded, without a leading `&`; may be empty).
pub fn sync_query(since: Option<&str>, extra: &str) -> String {
    let mut parts = Vec::new();
    if let Some(since) = since {
        parts.push(format!("since={}", enc(since)));
    }
    if !extra.is_empty() {
        parts.push(extra.to_owned());
    }
    parts.join("&")
}

/// `filter=<inline JSON>`, encoded for a query string.
pub fn inline_filter(filter: &Value) -> String {
    format!("filter={}", enc(&filter.to_string()))
}

impl Session {
    /// `GET /sync?{query}` (`query` may be empty), as it came back.
    pub async fn sync_reply(&self, query: &str) -> Reply {
        if query.is_empty() { self.get("/sync").await } else { self.get(&format!("/sync?{query}")).await }
    }

    /// `GET /sync` from `since` (none: an initial sync) with `extra` query
    /// parameters; asserts a 200 with a `next_batch`.
    pub async fn sync_with(&self, since: Option<&str>, extra: &str) -> Synced {
        let started = Instant::now();
        let reply = self.sync_reply(&sync_query(since, extra)).await;
        Synced::from_reply(reply, started.elapsed())
    }

    /// An initial sync (no `since`, no filter, no timeout).
    pub async fn initial_sync(&self) -> Synced {
        self.sync_with(None, "").await
    }

    /// The `next_batch` of an initial sync: a point to wait for changes from.
    pub async fn sync_token(&self) -> String {
        self.initial_sync().await.next_batch
    }

    /// Long-polls `/sync` from `since` (following `next_batch`), with the
    /// `extra` query parameters, until one answer satisfies `done`, and
    /// returns that answer. Panics after [`SYNC_WAIT`], naming `what`.
    pub async fn sync_until(&self, since: &str, extra: &str, what: &str, done: impl Fn(&Synced) -> bool) -> Synced {
        self.sync_until_within(SYNC_WAIT, since, extra, what, done).await
    }

    /// [`sync_until`](Self::sync_until) with an explicit time limit (e.g.
    /// longer for events that arrive over federation).
    pub async fn sync_until_within(
        &self,
        wait: Duration,
        since: &str,
        extra: &str,
        what: &str,
        done: impl Fn(&Synced) -> bool,
    ) -> Synced {
        let deadline = Instant::now() + wait;
        let mut since = since.to_owned();
        let extra = if extra.is_empty() {
            format!("timeout={POLL_TIMEOUT_MS}")
        } else {
            format!("{extra}&timeout={POLL_TIMEOUT_MS}")
        };
        let mut seen = Vec::new();
        loop {
            let synced = self.sync_with(Some(&since), &extra).await;
            if done(&synced) {
                return synced;
            }
            since = synced.next_batch.clone();
            seen.push(synced.body);
            if Instant::now() >= deadline {
                let tail = &seen[seen.len().saturating_sub(3)..];
                panic!("{} never saw {what} in /sync within {wait:?}; the last answers: {tail:#?}", self.user_id);
            }
        }
    }

    /// Every `/sync` answer from `since` during `period` (long-polling,
    /// following `next_batch`), for asserting that something does *not*
    /// arrive. The last answer's `next_batch` continues from there.
    pub async fn sync_for(&self, since: &str, extra: &str, period: Duration) -> Vec<Synced> {
        let deadline = Instant::now() + period;
        let mut since = since.to_owned();
        let mut all = Vec::new();
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now()).as_millis().max(1);
            let query = if extra.is_empty() { format!("timeout={left}") } else { format!("{extra}&timeout={left}") };
            let synced = self.sync_with(Some(&since), &query).await;
            since = synced.next_batch.clone();
            all.push(synced);
        }
        all
    }

    /// `/user/{userId}` + `rest`, for this session's user.
    pub fn user_path(&self, rest: &str) -> String {
        format!("/user/{}{rest}", enc(&self.user_id))
    }

    /// `POST /user/{userId}/filter`; asserts a 200 with a `filter_id` that
    /// does not start with `{` and returns it.
    pub async fn upload_filter(&self, filter: &Value) -> String {
        let reply = self.post(&self.user_path("/filter"), filter.clone()).await;
        let id = reply.expect_ok()["filter_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no string filter_id: {reply:?}"))
            .to_owned();
        assert!(!id.is_empty() && !id.starts_with('{'), "a filter id \"cannot start with a {{\": {reply:?}");
        id
    }

    /// `PUT /rooms/{roomId}/typing/{userId}` for this user.
    pub async fn set_typing(&self, room_id: &str, typing: bool, timeout_ms: Option<u64>) -> Reply {
        let mut body = json!({"typing": typing});
        if let Some(timeout) = timeout_ms {
            body["timeout"] = json!(timeout);
        }
        self.put(&room_path(room_id, &format!("/typing/{}", enc(&self.user_id))), body).await
    }

    /// `POST /rooms/{roomId}/receipt/{receiptType}/{eventId}` with `body`.
    pub async fn send_receipt(&self, room_id: &str, receipt_type: &str, event_id: &str, body: Value) -> Reply {
        self.post(&room_path(room_id, &format!("/receipt/{}/{}", enc(receipt_type), enc(event_id))), body).await
    }

    /// `POST /rooms/{roomId}/read_markers` with `body`.
    pub async fn set_read_markers(&self, room_id: &str, body: Value) -> Reply {
        self.post(&room_path(room_id, "/read_markers"), body).await
    }

    /// `/user/{userId}/account_data/{type}`.
    pub fn account_data_path(&self, event_type: &str) -> String {
        self.user_path(&format!("/account_data/{}", enc(event_type)))
    }

    /// `/user/{userId}/rooms/{roomId}/account_data/{type}`.
    pub fn room_account_data_path(&self, room_id: &str, event_type: &str) -> String {
        self.user_path(&format!("/rooms/{}/account_data/{}", enc(room_id), enc(event_type)))
    }

    /// `PUT` global account data.
    pub async fn put_account_data(&self, event_type: &str, content: Value) -> Reply {
        self.put(&self.account_data_path(event_type), content).await
    }

    /// `GET` global account data.
    pub async fn get_account_data(&self, event_type: &str) -> Reply {
        self.get(&self.account_data_path(event_type)).await
    }

    /// `PUT` room account data.
    pub async fn put_room_account_data(&self, room_id: &str, event_type: &str, content: Value) -> Reply {
        self.put(&self.room_account_data_path(room_id, event_type), content).await
    }

    /// `GET` room account data.
    pub async fn get_room_account_data(&self, room_id: &str, event_type: &str) -> Reply {
        self.get(&self.room_account_data_path(room_id, event_type)).await
    }

    /// `/user/{userId}/rooms/{roomId}/tags`.
    pub fn tags_path(&self, room_id: &str) -> String {
        self.user_path(&format!("/rooms/{}/tags", enc(room_id)))
    }

    /// `GET /user/{userId}/rooms/{roomId}/tags`.
    pub async fn get_tags(&self, room_id: &str) -> Reply {
        self.get(&self.tags_path(room_id)).await
    }

    /// `PUT /user/{userId}/rooms/{roomId}/tags/{tag}` with `body`.
    pub async fn put_tag(&self, room_id: &str, tag: &str, body: Value) -> Reply {
        self.put(&format!("{}/{}", self.tags_path(room_id), enc(tag)), body).await
    }

    /// `DELETE /user/{userId}/rooms/{roomId}/tags/{tag}` (no body).
    pub async fn delete_tag(&self, room_id: &str, tag: &str) -> Reply {
        self.request(Method::DELETE, &format!("{}/{}", self.tags_path(room_id), enc(tag)), None).await
    }
}
