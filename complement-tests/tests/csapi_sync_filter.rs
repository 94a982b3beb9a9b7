//! Filters — mirrors Complement's `sync_filter` (create / download a
//! filter) and the filter parts of `sync`; spec: client-server API
//! "Filtering", `POST /user/{userId}/filter`, `GET
//! /user/{userId}/filter/{filterId}`, `GET /sync?filter=` (an id, or inline
//! JSON when it starts with `{`), Filter / RoomFilter / RoomEventFilter,
//! "Lazy-loading room members".

use std::collections::HashSet;

use nexus_complement::{Backend, Homeserver, Session, Synced, both_backends, enc, inline_filter, message_bodies};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob joined, plus the two sessions.
async fn room_with_bob(hs: &Homeserver) -> (String, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    (room_id, alice, bob)
}

fn senders(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["sender"].as_str().unwrap_or_default().to_owned()).collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn can_create_filter(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let first = alice.upload_filter(&json!({"room": {"timeline": {"limit": 10}}})).await;
    let second = alice.upload_filter(&json!({"room": {"timeline": {"limit": 20}}})).await;

    // Different definitions cannot share an id.
    assert_ne!(first, second);
}
both_backends!(can_create_filter);

async fn can_download_filter(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let filter = json!({
        "room": {
            "timeline": {"limit": 7, "types": ["m.room.message"], "not_senders": ["@spam:example.org"]},
            "state": {"types": ["m.room.*"], "lazy_load_members": true},
            "ephemeral": {"types": ["m.receipt", "m.typing"]},
            "include_leave": true,
            "not_rooms": ["!nope:example.org"],
        },
        "account_data": {"types": ["com.example.*"]},
        "event_format": "client",
        "event_fields": ["type", "content", "sender"],
    });
    let filter_id = alice.upload_filter(&filter).await;

    let reply = alice.get(&alice.user_path(&format!("/filter/{}", enc(&filter_id)))).await;

    // "The filter definition": everything uploaded comes back as uploaded
    // (a server may spell out defaults, so extra keys are allowed).
    let got = reply.expect_ok();
    for path in [
        "/room/timeline/limit",
        "/room/timeline/types",
        "/room/timeline/not_senders",
        "/room/state/types",
        "/room/state/lazy_load_members",
        "/room/ephemeral/types",
        "/room/include_leave",
        "/room/not_rooms",
        "/account_data/types",
        "/event_format",
        "/event_fields",
    ] {
        assert_eq!(got.pointer(path), filter.pointer(path), "{path} differs: {reply:?}");
    }
}
both_backends!(can_download_filter);

async fn unknown_filter_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // "404: Unknown filter."
    let reply = alice.get(&alice.user_path("/filter/doesnotexist")).await;

    reply.expect_status(404);
    reply.expect_standard_error();
}
both_backends!(unknown_filter_is_not_found);

async fn filters_of_another_user_are_out_of_reach(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let filter_id = alice.upload_filter(&json!({"room": {"timeline": {"limit": 3}}})).await;

    // "The access token must be authorised to make requests for this user
    // id": bob may neither upload as alice nor read alice's filters (a
    // server may hide their existence behind a 404).
    let upload = bob.post(&alice.user_path("/filter"), json!({})).await;
    upload.expect_error(403, "M_FORBIDDEN");
    let download = bob.get(&alice.user_path(&format!("/filter/{}", enc(&filter_id)))).await;
    assert!(download.status == 403 || download.status == 404, "{download:?}");
    download.expect_error_in(download.status, &["M_FORBIDDEN", "M_NOT_FOUND"]);
}
both_backends!(filters_of_another_user_are_out_of_reach);

async fn malformed_filter_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let mut accepted = Vec::new();
    // M_BAD_JSON: "valid JSON, but it was malformed in some way, e.g. ...
    // invalid values for keys".
    for bad in [
        json!({"room": {"timeline": {"limit": "ten"}}}),
        json!({"room": {"rooms": "!not-a-list:example.org"}}),
        json!({"event_format": "neither"}),
        // Found by the fuzz run: stored, it was served back against the schema.
        json!({"room": {"timeline": {"contains_url": {}}}}),
        // The schema's id lists hold room ids (^!) and user ids (^@).
        json!({"room": {"rooms": ["#alias:example.org"]}}),
        json!({"room": {"state": {"not_rooms": ["example"]}}}),
        json!({"presence": {"senders": ["alice"]}}),
        json!({"room": {"timeline": {"not_senders": ["!room:example.org"]}}}),
        json!(["not", "an", "object"]),
    ] {
        let reply = alice.post(&alice.user_path("/filter"), bad.clone()).await;
        match reply.status {
            400 => {
                reply.expect_error_in(400, &["M_BAD_JSON", "M_NOT_JSON", "M_INVALID_PARAM"]);
            }
            _ => accepted.push(format!("{bad} -> {reply:?}")),
        }
    }
    assert!(accepted.is_empty(), "malformed filters were not refused with a 400: {accepted:#?}");
    // The same holds for an inline filter on /sync.
    let reply = alice.sync_reply(&inline_filter(&json!({"room": {"timeline": {"limit": "ten"}}}))).await;
    reply.expect_error_in(400, &["M_BAD_JSON", "M_NOT_JSON", "M_INVALID_PARAM"]);
}
both_backends!(malformed_filter_is_rejected);

async fn sync_with_an_unknown_filter_id_fails(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.sync_reply("filter=doesnotexist").await;

    assert!(reply.status == 400 || reply.status == 404, "{reply:?}");
    reply.expect_standard_error();
}
both_backends!(sync_with_an_unknown_filter_id_fails);

async fn sync_accepts_a_filter_id_and_the_same_filter_inline(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    alice.send_message(&room_id, "hello").await;
    alice.send_event(&room_id, "com.example.other", json!({})).await;
    bob.send_message(&room_id, "hi").await;
    let filter = json!({"room": {"timeline": {"types": ["m.room.message"], "limit": 10}}});
    let filter_id = alice.upload_filter(&filter).await;

    let by_id = alice.sync_with(None, &format!("filter={}", enc(&filter_id))).await;
    let inline = alice.sync_with(None, &inline_filter(&filter)).await;

    for synced in [&by_id, &inline] {
        let timeline = synced.timeline(&room_id);
        assert_eq!(types(&timeline), ["m.room.message", "m.room.message"], "{:#}", synced.body);
        assert_eq!(message_bodies(&timeline), ["hello", "hi"]);
    }
}
both_backends!(sync_accepts_a_filter_id_and_the_same_filter_inline);

async fn a_filtered_timeline_reaches_its_limit(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    for i in 1..=12 {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }
    let filter = json!({"room": {"timeline": {"limit": 5, "types": ["m.room.message"]}}});

    let synced = alice.sync_with(None, &inline_filter(&filter)).await;

    let room = synced.joined(&room_id).unwrap_or_else(|| panic!("{:#}", synced.body));
    assert_eq!(message_bodies(&synced.timeline(&room_id)), ["m8", "m9", "m10", "m11", "m12"], "{room:#}");
    assert_eq!(room["timeline"]["limited"], json!(true), "{room:#}");
}
both_backends!(a_filtered_timeline_reaches_its_limit);

async fn timeline_filter_by_types_and_not_types(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    let since = alice.sync_token().await;
    alice.send_message(&room_id, "msg").await;
    alice.send_event(&room_id, "com.example.ping", json!({})).await;
    alice.send_event(&room_id, "com.example.pong", json!({})).await;
    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "t"})).await;

    let sync = |filter: Value| {
        let alice = alice.clone();
        let since = since.clone();
        async move { alice.sync_with(Some(&since), &inline_filter(&json!({"room": {"timeline": filter}}))).await }
    };
    let wildcard = sync(json!({"types": ["com.example.*"]})).await;
    let excluded = sync(json!({"not_types": ["com.example.*", "m.room.topic"]})).await;
    let both = sync(json!({"types": ["com.example.*", "m.room.message"], "not_types": ["com.example.pong"]})).await;

    // "A * can be used as a wildcard"; "A matching type will be excluded
    // even if it is listed in the types filter."
    assert_eq!(types(&wildcard.timeline(&room_id)), ["com.example.ping", "com.example.pong"]);
    assert_eq!(types(&excluded.timeline(&room_id)), ["m.room.message"]);
    assert_eq!(types(&both.timeline(&room_id)), ["m.room.message", "com.example.ping"]);
}
both_backends!(timeline_filter_by_types_and_not_types);

async fn timeline_filter_by_senders_and_not_senders(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    charlie.join(&room_id).await;
    let since = alice.sync_token().await;
    for who in [&alice, &bob, &charlie] {
        who.send_message(&room_id, who.localpart()).await;
    }

    let only_bob =
        alice.sync_with(Some(&since), &inline_filter(&json!({"room": {"timeline": {"senders": [bob.user_id]}}}))).await;
    let not_bob = alice
        .sync_with(Some(&since), &inline_filter(&json!({"room": {"timeline": {"not_senders": [bob.user_id]}}})))
        .await;
    let both = alice
        .sync_with(
            Some(&since),
            &inline_filter(&json!({"room": {"timeline": {
                "senders": [bob.user_id, charlie.user_id], "not_senders": [charlie.user_id]}}})),
        )
        .await;

    assert_eq!(senders(&only_bob.timeline(&room_id)), [bob.user_id.clone()], "{:#}", only_bob.body);
    assert_eq!(senders(&not_bob.timeline(&room_id)), [alice.user_id.clone(), charlie.user_id.clone()]);
    assert_eq!(senders(&both.timeline(&room_id)), [bob.user_id.clone()], "{:#}", both.body);
}
both_backends!(timeline_filter_by_senders_and_not_senders);

async fn room_filter_by_rooms_and_not_rooms(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let a = alice.create_room(json!({})).await;
    let b = alice.create_room(json!({})).await;
    let c = alice.create_room(json!({})).await;

    let joined = |synced: &Synced| synced.room_ids("join").into_iter().collect::<HashSet<_>>();
    let only_a = alice.sync_with(None, &inline_filter(&json!({"room": {"rooms": [a]}}))).await;
    let not_a = alice.sync_with(None, &inline_filter(&json!({"room": {"not_rooms": [a]}}))).await;
    let both = alice.sync_with(None, &inline_filter(&json!({"room": {"rooms": [a, b], "not_rooms": [b]}}))).await;

    assert_eq!(joined(&only_a), HashSet::from([a.clone()]), "{:#}", only_a.body);
    assert_eq!(joined(&not_a), HashSet::from([b.clone(), c.clone()]), "{:#}", not_a.body);
    // "A matching room will be excluded even if it is listed in the rooms
    // filter."
    assert_eq!(joined(&both), HashSet::from([a.clone()]), "{:#}", both.body);
}
both_backends!(room_filter_by_rooms_and_not_rooms);

async fn state_filter_by_types(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"name": "Filtered", "topic": "state filter"})).await;
    alice.send_message(&room_id, "last").await;
    let filter = json!({"room": {"timeline": {"limit": 1}, "state": {"types": ["m.room.name", "m.room.topic"]}}});

    let synced = alice.sync_with(None, &inline_filter(&filter)).await;

    let state = synced.state(&room_id);
    let got: HashSet<String> = types(&state).into_iter().collect();
    assert_eq!(got, HashSet::from(["m.room.name".to_owned(), "m.room.topic".to_owned()]), "{:#}", synced.body);
    assert_eq!(message_bodies(&synced.timeline(&room_id)), ["last"]);
}
both_backends!(state_filter_by_types);

async fn lazy_loading_sends_only_the_members_the_timeline_needs(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    alice.set_state(&room_id, "m.room.name", "", json!({"name": "Lazy"})).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let dave = hs.api().register("dave", PASSWORD).await;
    charlie.join(&room_id).await;
    dave.join(&room_id).await;
    bob.send_message(&room_id, "bob speaks last").await;
    let lazy = json!({"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": true}}});

    let eager = charlie.sync_with(None, &inline_filter(&json!({"room": {"timeline": {"limit": 1}}}))).await;
    let synced = charlie.sync_with(None, &inline_filter(&lazy)).await;

    let members = |s: &Synced| -> HashSet<String> {
        s.state(&room_id)
            .iter()
            .filter(|e| e["type"] == "m.room.member")
            .map(|e| e["state_key"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // Without lazy-loading, "the default behaviour of state is to include
    // all membership events".
    let everyone: HashSet<String> = [&alice, &bob, &charlie, &dave].iter().map(|s| s.user_id.clone()).collect();
    assert_eq!(members(&eager), everyone, "{:#}", eager.body);
    // With it, "only membership events for the sender of events in the
    // timeline" — plus the syncing user's own and the heroes', which the
    // spec requires or allows.
    let lazy_members = members(&synced);
    assert!(lazy_members.contains(&bob.user_id), "the timeline sender's membership: {:#}", synced.body);
    let mut allowed: HashSet<String> = HashSet::from([bob.user_id.clone(), charlie.user_id.clone()]);
    if let Some(heroes) = synced.joined(&room_id).unwrap()["summary"]["m.heroes"].as_array() {
        allowed.extend(heroes.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    assert!(lazy_members.is_subset(&allowed), "{lazy_members:?} is more than {allowed:?}");
    // The rest of the state is still there.
    assert!(synced.state(&room_id).iter().any(|e| e["type"] == "m.room.create"), "{:#}", synced.body);
}
both_backends!(lazy_loading_sends_only_the_members_the_timeline_needs);

async fn ephemeral_filter_by_types(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let event_id = alice.send_message(&room_id, "read me").await;
    let since = alice.sync_token().await;

    bob.set_typing(&room_id, true, Some(30_000)).await.expect_ok();
    bob.send_receipt(&room_id, "m.read", &event_id, json!({})).await.expect_ok();
    // Both kinds arrived (possibly over several answers) ...
    alice.sync_until(&since, "", "bob typing", |s| s.typing(&room_id).is_some_and(|t| t.contains(&bob.user_id))).await;
    alice
        .sync_until(&since, "", "bob's receipt", |s| !s.receipts_by(&room_id, "m.read", &bob.user_id).is_empty())
        .await;

    // ... and a filter on the ephemeral types keeps only one of them. Syncing
    // from the same token is allowed: it is "a point in time".
    let only_receipts = inline_filter(&json!({"room": {"ephemeral": {"types": ["m.receipt"]}}}));
    let synced = alice.sync_with(Some(&since), &only_receipts).await;
    let no_typing = inline_filter(&json!({"room": {"ephemeral": {"not_types": ["m.typing"]}}}));
    let synced_too = alice.sync_with(Some(&since), &no_typing).await;
    let nothing = inline_filter(&json!({"room": {"ephemeral": {"types": []}}}));
    let empty = alice.sync_with(Some(&since), &nothing).await;

    for s in [&synced, &synced_too] {
        assert!(s.ephemeral(&room_id).iter().all(|e| e["type"] != "m.typing"), "{:#}", s.body);
        assert!(!s.receipts_by(&room_id, "m.read", &bob.user_id).is_empty(), "{:#}", s.body);
    }
    assert!(empty.ephemeral(&room_id).is_empty(), "{:#}", empty.body);
}
both_backends!(ephemeral_filter_by_types);

async fn account_data_filter_by_types(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    for t in ["com.example.keep", "com.example.drop"] {
        alice.put_account_data(t, json!({"t": t})).await.expect_ok();
        alice.put_room_account_data(&room_id, t, json!({"t": t})).await.expect_ok();
    }
    let filter = json!({
        "account_data": {"types": ["com.example.keep"]},
        "room": {"account_data": {"not_types": ["com.example.drop"]}},
    });

    let synced = alice.sync_with(None, &inline_filter(&filter)).await;

    let global = types(&synced.account_data());
    assert!(global.contains(&"com.example.keep".to_owned()), "{:#}", synced.body);
    assert!(!global.contains(&"com.example.drop".to_owned()), "{:#}", synced.body);
    let room = types(&synced.room_account_data(&room_id));
    assert!(room.contains(&"com.example.keep".to_owned()), "{:#}", synced.body);
    assert!(!room.contains(&"com.example.drop".to_owned()), "{:#}", synced.body);
}
both_backends!(account_data_filter_by_types);

/// A filter is an object: an array (which a lenient parser would read as
/// the filter's fields in order) is refused, so stored filters always
/// match the spec's answer (found by the fuzz run).
async fn a_filter_that_is_not_an_object_is_bad_json(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    for body in [
        json!([null, null]),
        json!("x"),
        json!(1),
        json!({"room": [null]}),
        json!({"room": {"timeline": [null, null]}}),
        json!({"presence": "all"}),
    ] {
        alice.post(&format!("/user/{}/filter", enc(&alice.user_id)), body).await.expect_error(400, "M_BAD_JSON");
    }
}
both_backends!(a_filter_that_is_not_an_object_is_bad_json);

/// A null field of a filter is an absent one, and the filter handed back
/// says so (the spec's schema has no nulls there; found by the fuzz run).
async fn null_filter_fields_are_handed_back_absent(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let path = format!("/user/{}/filter", enc(&alice.user_id));
    let created = alice.post(&path, json!({"room": {"timeline": {"rooms": null, "limit": 5}}, "presence": null})).await;
    let id = created.expect_ok()["filter_id"].as_str().unwrap().to_owned();
    let filter = alice.get(&format!("{path}/{}", enc(&id))).await;
    assert_eq!(filter.expect_ok(), &json!({"room": {"timeline": {"limit": 5}}}), "{filter:?}");
}
both_backends!(null_filter_fields_are_handed_back_absent);
