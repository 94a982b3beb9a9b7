//! The cost of sliding sync requests, counted in store reads: an
//! incremental request reads what the change feed names, not the user's
//! rooms; an initial one reads each room's newest events, not its history.

use std::sync::Arc;
use std::time::Duration;

use nexus_storage::backend::{Backend, StoreOptions};
use nexus_storage::catalog::NEXUS;
use nexus_storage::{Store, WriteBatch};
use ruma::canonical_json::CanonicalJsonObject;
use ruma::{OwnedRoomId, OwnedUserId, UserId, device_id};
use serde_json::{Value, json};

use super::Request;
use crate::rooms::{CreateRoom, NewEvent};
use crate::testing::CountingStore;
use crate::{Services, Settings};

struct Fixture {
    services: Arc<Services>,
    store: Arc<CountingStore>,
    _dir: tempfile::TempDir,
}

async fn fixture(users: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let options =
        StoreOptions { backend: Backend::RocksDb { path: dir.path().join("db") }, sync_writes: false, cluster: None };
    let inner = nexus_storage::open(&options, NEXUS).await.unwrap();
    let store = Arc::new(CountingStore::new(inner));
    let mut settings = Settings::default();
    settings.server.server_name = "nexus.test".try_into().unwrap();
    settings.federation.enabled = false;
    settings.media.path = Some(dir.path().join("media"));
    let services = Services::start(settings, store.clone()).await.unwrap();
    let mut batch = WriteBatch::new();
    for user in users {
        services.profiles.create(&mut batch, user, user);
    }
    store.write(batch).await.unwrap();
    Fixture { services, store, _dir: dir }
}

fn user(localpart: &str) -> OwnedUserId {
    UserId::parse(format!("@{localpart}:nexus.test")).unwrap()
}

fn message(body: &str) -> NewEvent {
    let mut content = CanonicalJsonObject::new();
    content.insert("msgtype".to_owned(), "m.text".into());
    content.insert("body".to_owned(), body.into());
    NewEvent {
        kind: "m.room.message".to_owned(),
        state_key: None,
        content,
        redacts: None,
        transaction: None,
        origin_server_ts: None,
    }
}

/// Element X's room list: one list by recency, timeline limit 1, the
/// required state matrix-sdk-ui 0.18 asks for, and the room extensions.
fn element_x(last: u64) -> Request {
    serde_json::from_value(json!({
        "conn_id": "room-list",
        "lists": { "all_rooms": {
            "ranges": [[0, last]],
            "timeline_limit": 1,
            "required_state": [
                ["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$LAZY"],
                ["m.room.member", "$ME"], ["m.room.topic", ""], ["m.room.avatar", ""],
                ["m.room.canonical_alias", ""], ["m.room.power_levels", ""], ["m.call.member", "*"],
                ["m.room.join_rules", ""], ["m.room.tombstone", ""], ["m.room.create", ""],
                ["m.room.history_visibility", ""], ["io.element.functional_members", ""],
                ["m.space.parent", "*"], ["m.space.child", "*"], ["m.beacon_info", "*"]
            ]
        } },
        "extensions": {
            "account_data": { "enabled": true },
            "receipts": { "enabled": true, "rooms": ["*"] },
            "typing": { "enabled": true }
        }
    }))
    .unwrap()
}

impl Fixture {
    async fn rooms_with_history(&self, owner: &UserId, rooms: usize, messages: usize) -> Vec<OwnedRoomId> {
        let mut ids = Vec::new();
        for i in 0..rooms {
            let request = CreateRoom { name: Some(format!("room {i}")), ..CreateRoom::default() };
            let room_id = self.services.rooms.create_room(owner, request).await.unwrap();
            for m in 0..messages {
                self.services.rooms.send(&room_id, owner, message(&format!("message {m}"))).await.unwrap();
            }
            ids.push(room_id);
        }
        ids
    }

    async fn sync(&self, user: &UserId, pos: Option<&str>, request: Request) -> Value {
        let device = device_id!("PHONE");
        self.services.sliding_sync.sync(user, device, pos, Duration::ZERO, request).await.unwrap()
    }

    /// `(reads, entries scanned)` of one request, and its response.
    async fn measured(&self, user: &UserId, pos: Option<&str>, request: Request) -> ((u64, u64), Value) {
        let before = self.store.work();
        let body = self.sync(user, pos, request).await;
        let after = self.store.work();
        ((after.0 - before.0, after.1 - before.1), body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_request_reads_only_what_changed_whatever_the_number_of_rooms() {
    let f = fixture(&["few", "many"]).await;
    let mut work = Vec::new();
    for (name, count) in [("few", 5), ("many", 60)] {
        let owner = user(name);
        let rooms = f.rooms_with_history(&owner, count, 1).await;
        let initial = f.sync(&owner, None, element_x(99)).await;
        assert_eq!(initial["lists"]["all_rooms"]["count"], json!(count));
        assert_eq!(initial["rooms"].as_object().unwrap().len(), count);
        let pos = initial["pos"].as_str().unwrap().to_owned();

        // The oldest room gets a message: it moves to the top.
        f.services.rooms.send(&rooms[0], &owner, message("news")).await.unwrap();
        let (measured, body) = f.measured(&owner, Some(&pos), element_x(99)).await;
        let sent: Vec<&String> = body["rooms"].as_object().unwrap().keys().collect();
        assert_eq!(sent, vec![rooms[0].as_str()], "only the changed room is sent");
        assert_eq!(body["lists"]["all_rooms"]["count"], json!(count));
        let timeline = body["rooms"][rooms[0].as_str()]["timeline"].as_array().unwrap();
        assert_eq!(timeline.last().unwrap()["content"]["body"], json!("news"));
        work.push(measured);

        // And a request with nothing new reads no room at all.
        let pos = body["pos"].as_str().unwrap().to_owned();
        let (idle, body) = f.measured(&owner, Some(&pos), element_x(99)).await;
        assert!(body["rooms"].as_object().unwrap().is_empty(), "{body}");
        work.push(idle);
    }
    assert_eq!(work[0], work[2], "(reads, entries scanned) of an incremental request: 5 rooms vs 60");
    assert_eq!(work[1], work[3], "(reads, entries scanned) of an idle request: 5 rooms vs 60");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_work_of_an_initial_request_does_not_grow_with_room_history() {
    let f = fixture(&["short", "long"]).await;
    let mut work = Vec::new();
    for (name, messages) in [("short", 3), ("long", 400)] {
        let owner = user(name);
        let rooms = f.rooms_with_history(&owner, 2, messages).await;
        let (measured, body) = f.measured(&owner, None, element_x(19)).await;
        assert_eq!(body["lists"]["all_rooms"]["count"], json!(2));
        let room = &body["rooms"][rooms[1].as_str()];
        assert_eq!(room["timeline"].as_array().unwrap().len(), 1, "{room}");
        assert_eq!(room["limited"], json!(true));
        work.push(measured);
    }
    assert_eq!(work[0], work[1], "(reads, entries scanned) of an initial request: 3 messages vs 400 a room");
}
