//! Rooms against ruma's own checks, and the cost of a send.

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::Arc;

use nexus_storage::backend::{Backend, StoreOptions};
use nexus_storage::catalog::NEXUS;
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::canonical_json::CanonicalJsonObject;
use ruma::serde::Base64;
use ruma::signatures::{PublicKeyMap, PublicKeySet, Verified};
use ruma::{OwnedEventId, OwnedUserId, RoomId, RoomVersionId, UserId, owned_server_name};

use super::pdu::Pdu;
use super::{CreateRoom, NewEvent, Rooms, versions};
use crate::profiles::Profiles;
use crate::server_keys::ServerKeys;
use crate::testing::CountingStore;

struct Fixture {
    rooms: Rooms,
    store: Arc<CountingStore>,
    keys: Arc<ServerKeys>,
    _dir: tempfile::TempDir,
}

impl Deref for Fixture {
    type Target = Rooms;
    fn deref(&self) -> &Rooms {
        &self.rooms
    }
}

async fn fixture(users: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let options =
        StoreOptions { backend: Backend::RocksDb { path: dir.path().to_owned() }, sync_writes: false, cluster: None };
    let inner = nexus_storage::open(&options, NEXUS).await.unwrap();
    let store = Arc::new(CountingStore::new(inner));
    let server = owned_server_name!("nexus.test");
    let keys = Arc::new(ServerKeys::load_or_generate(store.as_ref()).await.unwrap());
    let profiles = Arc::new(Profiles::new(store.clone(), server.clone()));
    let mut batch = WriteBatch::new();
    for user in users {
        profiles.create(&mut batch, user, user);
    }
    store.write(batch).await.unwrap();
    let stream = crate::stream::Stream::start(store.clone()).await.unwrap();
    let changes = Arc::new(crate::changes::Changes::new(store.clone(), stream.clone()));
    let account_data = Arc::new(crate::account_data::AccountData::new(store.clone(), stream.clone(), changes.clone()));
    let push = Arc::new(crate::push::Push::new(store.clone(), account_data.clone(), profiles.clone()));
    let (pushers, _deliveries) = crate::pushers::Pushers::new(store.clone(), Default::default());
    let settings = crate::settings::FederationSettings { enabled: false, ..Default::default() };
    let client = Arc::new(
        crate::federation::client::FederationClient::new(server.clone(), keys.clone(), &settings, Default::default())
            .unwrap(),
    );
    let remote_keys = Arc::new(crate::federation::keys::RemoteKeys::new(store.clone(), client.clone(), keys.clone()));
    let outbox = Arc::new(crate::federation::outbox::Outbox::new(store.clone(), stream.clone()));
    let moderation = Arc::new(crate::moderation::Moderation::new(store.clone(), server.clone()));
    let rooms = Rooms::new(
        store.clone(),
        server,
        keys.clone(),
        profiles,
        stream,
        changes,
        push,
        Arc::new(pushers),
        account_data,
        (client, remote_keys, outbox),
        true,
        moderation,
    );
    Fixture { rooms, store, keys, _dir: dir }
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

/// Every event of the room, oldest first, as ruma sees it.
async fn all_events(rooms: &Rooms, room_id: &RoomId) -> Vec<(OwnedEventId, CanonicalJsonObject)> {
    let page = rooms.timeline.page(room_id, None, Direction::Forward, usize::MAX).await.unwrap();
    let mut events = Vec::new();
    for (_, event_id) in page {
        let stored = rooms.timeline.get(&event_id).await.unwrap().unwrap();
        events.push((event_id, stored.object().unwrap()));
    }
    events
}

async fn room_passes_rumas_checks(version: RoomVersionId) {
    let f = fixture(&["alice", "bob"]).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let request = CreateRoom {
        room_version: Some(version.clone()),
        invite: vec![bob.clone()],
        name: Some("checked".to_owned()),
        topic: Some("by ruma".to_owned()),
        ..CreateRoom::default()
    };
    let room_id = f.create_room(&alice, request).await.unwrap();
    f.join(&room_id, &bob, None, &[]).await.unwrap();
    let sent = f.send(&room_id, &bob, message("hello")).await.unwrap();
    f.send(&room_id, &alice, message("hi bob")).await.unwrap();
    let redaction = NewEvent { redacts: Some(sent), ..message("") };
    f.send(&room_id, &bob, NewEvent { kind: "m.room.redaction".to_owned(), content: Default::default(), ..redaction })
        .await
        .unwrap();

    let rules = versions::rules(&version).unwrap();
    let key_map: PublicKeyMap = BTreeMap::from([(
        "nexus.test".to_owned(),
        PublicKeySet::from([(f.keys.key_id(), Base64::new(f.keys.key_pair().public_key().to_vec()))]),
    )]);
    let events = all_events(&f, &room_id).await;
    assert!(events.len() >= 10, "create, join, power levels, join rules, history, guest, name, topic, invite, …");
    let mut pdus: HashMap<OwnedEventId, Pdu> = HashMap::new();
    for (event_id, object) in &events {
        ruma::state_res::check_pdu_format(object, &rules.event_format).unwrap();
        let verified = ruma::signatures::verify_event(&key_map, object, &rules).unwrap();
        let redacted = object.get("content").and_then(|c| c.as_object()).is_some_and(|c| c.get("body").is_none())
            && object.get("type").and_then(|t| t.as_str()) == Some("m.room.message");
        // A redacted event keeps valid signatures; only its content hash no
        // longer matches, exactly as the spec intends.
        assert_eq!(verified, if redacted { Verified::Signatures } else { Verified::All }, "{event_id}");
        let reference = ruma::signatures::reference_hash(object, &rules).unwrap();
        if rules.event_id_format != ruma::room_version_rules::EventIdFormatVersion::V1 {
            assert_eq!(event_id.as_str(), format!("${reference}"), "event ids are reference hashes");
        }
        let pdu = Pdu::from_canonical(object, event_id.clone(), &rules).unwrap();
        pdus.insert(event_id.clone(), pdu);
    }
    let create = pdus.values().find(|p| p.kind.to_string() == "m.room.create").unwrap().clone();
    if version == RoomVersionId::V12 {
        assert_eq!(
            room_id.as_str(),
            format!("!{}", &create.event_id.as_str()[1..]),
            "v12 room ids derive from the create event"
        );
        assert!(create.room_id.is_none());
    }
    for (event_id, _) in &events {
        let pdu = &pdus[event_id];
        ruma::state_res::check_state_independent_auth_rules(&rules.authorization, pdu, |id| pdus.get(id).cloned())
            .unwrap_or_else(|e| panic!("{event_id} fails auth: {e}"));
        if pdu.event_id == create.event_id {
            continue;
        }
        let mut state: HashMap<(String, String), &Pdu> = HashMap::new();
        for auth in &pdu.auth_events {
            let a = &pdus[auth];
            state.insert((a.kind.to_string(), a.state_key.clone().unwrap_or_default()), a);
        }
        state.insert(("m.room.create".to_owned(), String::new()), &create);
        ruma::state_res::check_state_dependent_auth_rules(&rules.authorization, pdu, |kind, key| {
            state.get(&(kind.to_string(), key.to_owned())).map(|p| (*p).clone())
        })
        .unwrap_or_else(|e| panic!("{event_id} fails auth against its auth events: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v12_room_created_by_nexus_passes_rumas_event_checks() {
    room_passes_rumas_checks(RoomVersionId::V12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_of_older_versions_pass_rumas_event_checks() {
    for version in [RoomVersionId::V1, RoomVersionId::V3, RoomVersionId::V6, RoomVersionId::V10, RoomVersionId::V11] {
        room_passes_rumas_checks(version).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_work_of_a_send_does_not_grow_with_room_history() {
    let f = fixture(&["alice"]).await;
    let alice = user("alice");
    let room_id = f.create_room(&alice, CreateRoom::default()).await.unwrap();
    let mut sent = 0;
    let mut measure = async |target: usize| {
        while sent < target {
            f.send(&room_id, &alice, message("filler")).await.unwrap();
            sent += 1;
        }
        let before = f.store.work();
        f.send(&room_id, &alice, message("measured")).await.unwrap();
        sent += 1;
        let after = f.store.work();
        (after.0 - before.0, after.1 - before.1, after.2 - before.2)
    };
    let after_10 = measure(10).await;
    let after_10_000 = measure(10_000).await;
    assert_eq!(after_10, after_10_000, "(reads, entries scanned, entries written) of one send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_rooms_created_at_once_get_distinct_ids() {
    // Version 12 room ids hash the create event: identical requests in
    // the same millisecond must still make distinct rooms.
    let f = fixture(&["alice"]).await;
    let alice = user("alice");
    let creations = (0..8).map(|_| f.create_room(&alice, CreateRoom::default()));
    let rooms: Vec<_> = futures::future::join_all(creations).await.into_iter().map(|r| r.unwrap()).collect();
    let mut distinct = rooms.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), rooms.len(), "{rooms:?}");
    for room in &rooms {
        assert!(f.membership.is_joined(room, &alice).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_makes_the_room_unknown_first_and_finishes_when_run_again() {
    use nexus_storage::catalog::{ROOM_HEADS, ROOM_STATE, ROOM_TIMELINE, ROOMS};
    let f = fixture(&["alice"]).await;
    let alice = user("alice");
    let room_id = f.create_room(&alice, CreateRoom::default()).await.unwrap();
    let sent = f.send(&room_id, &alice, message("soon gone")).await.unwrap();
    assert!(!f.purge_unfinished(&room_id).await.unwrap());
    // A purge cut short right after its first write: the record is gone,
    // so every request already finds the room unknown, and it is visibly
    // unfinished.
    f.store.delete(&ROOMS, room_id.as_str().as_bytes()).await.unwrap();
    assert_eq!(f.version(&room_id).await.unwrap(), None);
    assert!(f.send(&room_id, &alice, message("too late")).await.is_err());
    assert!(f.purge_unfinished(&room_id).await.unwrap());
    // Run again, it finishes.
    f.purge(&room_id).await.unwrap();
    assert!(!f.purge_unfinished(&room_id).await.unwrap());
    let prefix = nexus_storage::codec::KeyBuilder::new().str(room_id.as_str()).build();
    for map in [&ROOM_TIMELINE, &ROOM_STATE] {
        assert!(f.store.scan_prefix(map, &prefix, Direction::Forward, 1).await.unwrap().is_empty(), "{}", map.name);
    }
    assert!(f.store.get(&ROOM_HEADS, room_id.as_str().as_bytes()).await.unwrap().is_none());
    assert!(f.timeline.get(&sent).await.unwrap().is_none());
}
