//! Simplified sliding sync (`POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`,
//! MSC4186 in ruma's `sync_events::v5` format, as Synapse serves it and
//! matrix-sdk-ui sends it), over raw HTTP: lists by recency with exact
//! counts, room subscriptions, `required_state` (`*`, `$ME`, `$LAZY`),
//! timelines with `prev_batch` usable with `/messages`, filters, the
//! connection state behind `pos` (resends, `M_UNKNOWN_POS`, restarts),
//! long-polling, the extensions, and bad input answered with 400.

use std::time::{Duration, Instant};

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, new_txn_id, room_path};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

async fn sliding(session: &Session, pos: Option<&str>, timeout_ms: u64, body: Value) -> Reply {
    let mut path = format!("{PATH}?timeout={timeout_ms}");
    if let Some(pos) = pos {
        path.push_str(&format!("&pos={pos}"));
    }
    session.post(&path, body).await
}

async fn ok(session: &Session, pos: Option<&str>, timeout_ms: u64, body: Value) -> Value {
    sliding(session, pos, timeout_ms, body).await.expect_ok().clone()
}

fn pos(body: &Value) -> String {
    body["pos"].as_str().unwrap_or_else(|| panic!("no pos: {body:#}")).to_owned()
}

fn list_body(ranges: Value, required_state: Value, timeline_limit: u64) -> Value {
    json!({
        "conn_id": "room-list",
        "lists": { "all": { "ranges": ranges, "required_state": required_state, "timeline_limit": timeline_limit } },
    })
}

/// The rooms of a response in the list's order: by `bump_stamp`, newest first.
fn by_recency(body: &Value) -> Vec<String> {
    let rooms = body["rooms"].as_object().cloned().unwrap_or_default();
    let mut rooms: Vec<(u64, String)> =
        rooms.iter().map(|(id, room)| (room["bump_stamp"].as_u64().expect("bump_stamp"), id.clone())).collect();
    rooms.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    rooms.into_iter().map(|(_, id)| id).collect()
}

fn bodies(events: &Value) -> Vec<String> {
    events
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["type"] == "m.room.message")
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn state_pairs(room: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = room["required_state"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| (e["type"].as_str().unwrap().to_owned(), e["state_key"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
}

async fn users(hs: &Homeserver) -> (Session, Session) {
    (hs.api().register("alice", PASSWORD).await, hs.api().register("bob", PASSWORD).await)
}

async fn lists_order_rooms_by_recency_with_exact_counts(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, _) = users(&hs).await;
    let versions = hs.api().get("/_matrix/client/versions").await;
    assert_eq!(versions.expect_ok()["unstable_features"]["org.matrix.simplified_msc3575"], json!(true));
    let mut rooms = Vec::new();
    for i in 0..5 {
        rooms.push(alice.create_room(json!({ "name": format!("room {i}") })).await);
    }
    // Activity order, oldest first: 3, 0, 4, 1, 2 → newest first 2, 1, 4, 0, 3.
    for i in [3, 0, 4, 1, 2] {
        alice.send_message(&rooms[i], &format!("hello {i}")).await;
    }
    let body = ok(&alice, None, 0, list_body(json!([[0, 2]]), json!([["m.room.name", ""]]), 1)).await;
    assert_eq!(body["lists"]["all"]["count"], json!(5), "{body:#}");
    assert_eq!(by_recency(&body), [rooms[2].clone(), rooms[1].clone(), rooms[4].clone()], "{body:#}");
    let room = &body["rooms"][&rooms[2]];
    assert_eq!(room["initial"], json!(true));
    assert_eq!(room["name"], json!("room 2"));
    assert_eq!(bodies(&room["timeline"]), ["hello 2"]);
    assert_eq!(room["limited"], json!(true), "one of several events: {room:#}");
    assert_eq!(room["joined_count"], json!(1));
    assert_eq!(room["notification_count"], json!(0));
    assert_eq!(state_pairs(room), [("m.room.name".to_owned(), String::new())]);
    // prev_batch continues with /messages back to the room's creation.
    let prev = room["prev_batch"].as_str().expect("prev_batch");
    let older = alice.messages(&rooms[2], &format!("dir=b&limit=100&from={prev}")).await;
    let chunk = older.expect_chunk();
    assert!(chunk.iter().all(|e| e["content"]["body"] != "hello 2"), "no duplicate of the timeline: {chunk:#?}");
    assert_eq!(chunk.last().unwrap()["type"], "m.room.create", "back to creation: {chunk:#?}");

    // Growing the range (same connection) sends only the rooms new to it.
    let next = ok(&alice, Some(&pos(&body)), 0, list_body(json!([[0, 9]]), json!([["m.room.name", ""]]), 1)).await;
    assert_eq!(next["lists"]["all"]["count"], json!(5));
    assert_eq!(by_recency(&next), [rooms[0].clone(), rooms[3].clone()], "{next:#}");
}
both_backends!(lists_order_rooms_by_recency_with_exact_counts);

async fn a_message_moves_its_room_to_the_top_and_a_resent_pos_repeats_the_answer(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    let shared = bob.create_room(json!({ "preset": "public_chat", "name": "shared" })).await;
    alice.join(&shared).await;
    let own = alice.create_room(json!({ "name": "own" })).await;
    alice.send_message(&own, "newest").await;
    let request = list_body(json!([[0, 0]]), json!([]), 5);
    let first = ok(&alice, None, 0, request.clone()).await;
    assert_eq!(by_recency(&first), [own.clone()]);
    let first_pos = pos(&first);

    // A long-poll with nothing new waits, then answers with no rooms.
    let started = Instant::now();
    let idle = ok(&alice, Some(&first_pos), 300, request.clone()).await;
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited");
    assert!(idle["rooms"].as_object().is_none_or(|r| r.is_empty()), "{idle:#}");

    // A message from bob wakes the long-poll; the room enters the window.
    let waiter = {
        let alice = alice.clone();
        let request = request.clone();
        let first_pos = first_pos.clone();
        tokio::spawn(async move { ok(&alice, Some(&first_pos), 20_000, request).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    bob.send_message(&shared, "from bob").await;
    let woken = waiter.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the message");
    assert_eq!(by_recency(&woken), [shared.clone()], "{woken:#}");
    let room = &woken["rooms"][shared.clone()];
    assert_eq!(room["initial"], json!(true), "new to the window: {room:#}");
    assert_eq!(bodies(&room["timeline"]), ["from bob"]);
    assert_eq!(room["num_live"], json!(1), "{room:#}");
    assert_eq!(room["notification_count"], json!(1), "{room:#}");

    // The same pos again gives the same rooms.
    let again = ok(&alice, Some(&first_pos), 0, request.clone()).await;
    assert_eq!(by_recency(&again), [shared.clone()]);
    assert_eq!(bodies(&again["rooms"][shared.clone()]["timeline"]), ["from bob"]);

    // Continuing from the new pos: the next message is incremental.
    let after = pos(&woken);
    bob.send_message(&shared, "second").await;
    let next = ok(&alice, Some(&after), 5_000, request.clone()).await;
    let room = &next["rooms"][shared.clone()];
    assert!(room.get("initial").is_none(), "{room:#}");
    assert_eq!(bodies(&room["timeline"]), ["second"]);
    assert_eq!(room["limited"], json!(false), "{room:#}");
    assert_eq!(room["num_live"], json!(1));
    assert_eq!(room["notification_count"], json!(2));
}
both_backends!(a_message_moves_its_room_to_the_top_and_a_resent_pos_repeats_the_answer);

async fn required_state_understands_wildcards_me_and_lazy(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    let carol = hs.api().register("carol", PASSWORD).await;
    let room = alice.create_room(json!({ "preset": "public_chat", "name": "state", "topic": "t" })).await;
    bob.join(&room).await;
    carol.join(&room).await;
    bob.send_message(&room, "bob speaks").await;
    let everything = ok(&alice, None, 0, list_body(json!([[0, 0]]), json!([["*", "*"]]), 1)).await;
    let current: Vec<(String, String)> = {
        let mut pairs: Vec<(String, String)> = alice
            .room_state(&room)
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["state_key"].as_str().unwrap().to_owned()))
            .collect();
        pairs.sort();
        pairs
    };
    assert_eq!(state_pairs(&everything["rooms"][&room]), current);

    let members = ok(
        &alice,
        None,
        0,
        list_body(
            json!([[0, 0]]),
            json!([["m.room.member", "$ME"], ["m.room.member", "$LAZY"], ["m.room.topic", "*"]]),
            1,
        ),
    )
    .await;
    let pairs = state_pairs(&members["rooms"][&room]);
    let alice_id = alice.user_id.clone();
    let bob_id = bob.user_id.clone();
    assert_eq!(
        pairs,
        [
            ("m.room.member".to_owned(), alice_id.clone()),
            ("m.room.member".to_owned(), bob_id.clone()),
            ("m.room.topic".to_owned(), String::new())
        ],
        "$ME, the timeline's sender, the topic — not carol: {members:#}"
    );
    // A later message from carol sends her member event once.
    let request = list_body(
        json!([[0, 0]]),
        json!([["m.room.member", "$ME"], ["m.room.member", "$LAZY"], ["m.room.topic", "*"]]),
        1,
    );
    carol.send_message(&room, "carol speaks").await;
    let next = ok(&alice, Some(&pos(&members)), 5_000, request.clone()).await;
    assert_eq!(state_pairs(&next["rooms"][&room]), [("m.room.member".to_owned(), carol.user_id.clone())], "{next:#}");
    carol.send_message(&room, "carol again").await;
    let third = ok(&alice, Some(&pos(&next)), 5_000, request).await;
    assert!(state_pairs(&third["rooms"][&room]).is_empty(), "already sent: {third:#}");

    // Asking for more state on the same connection delivers it at once.
    let grown = ok(
        &alice,
        Some(&pos(&third)),
        0,
        list_body(json!([[0, 0]]), json!([["m.room.name", ""], ["m.room.member", "$ME"]]), 1),
    )
    .await;
    assert!(state_pairs(&grown["rooms"][&room]).contains(&("m.room.name".to_owned(), String::new())), "{grown:#}");
}
both_backends!(required_state_understands_wildcards_me_and_lazy);

async fn room_subscriptions_and_a_raised_timeline_limit(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, _) = users(&hs).await;
    let room = alice.create_room(json!({ "name": "sub" })).await;
    for i in 0..5 {
        alice.send_message(&room, &format!("m{i}")).await;
    }
    let first = ok(&alice, None, 0, list_body(json!([[0, 0]]), json!([]), 1)).await;
    assert_eq!(bodies(&first["rooms"][&room]["timeline"]), ["m4"]);
    let mut body = list_body(json!([[0, 0]]), json!([]), 1);
    body["room_subscriptions"] =
        json!({ room.clone(): { "timeline_limit": 3, "required_state": [["m.room.create", ""]] } });
    let raised = ok(&alice, Some(&pos(&first)), 0, body.clone()).await;
    let entry = &raised["rooms"][&room];
    assert_eq!(bodies(&entry["timeline"]), ["m2", "m3", "m4"], "oldest first: {entry:#}");
    assert_eq!(entry["limited"], json!(true));
    assert_eq!(state_pairs(entry), [("m.room.create".to_owned(), String::new())]);
    // Subscribing to a room the user has no part in shows nothing.
    let other = hs.api().register("other", PASSWORD).await;
    let private = other.create_room(json!({})).await;
    body["room_subscriptions"] = json!({ private.clone(): { "timeline_limit": 3 } });
    let none = ok(&alice, Some(&pos(&raised)), 0, body).await;
    assert!(none["rooms"].get(&private).is_none(), "{none:#}");
}
both_backends!(room_subscriptions_and_a_raised_timeline_limit);

async fn history_visibility_holds_for_sliding_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    let room = alice.create_room(json!({ "preset": "public_chat" })).await;
    alice.set_state(&room, "m.room.history_visibility", "", json!({ "history_visibility": "joined" })).await;
    alice.send_message(&room, "before bob").await;
    bob.join(&room).await;
    alice.send_message(&room, "after bob").await;
    let body = ok(&bob, None, 0, list_body(json!([[0, 0]]), json!([]), 20)).await;
    let entry = &body["rooms"][&room];
    assert_eq!(bodies(&entry["timeline"]), ["after bob"], "{entry:#}");
    // The same rule applies to subscriptions of a room bob left.
    bob.leave(&room).await;
    alice.send_message(&room, "after leaving").await;
    let mut request = json!({ "conn_id": "sub" });
    request["room_subscriptions"] = json!({ room.clone(): { "timeline_limit": 20 } });
    let sub = ok(&bob, None, 0, request).await;
    let texts = bodies(&sub["rooms"][&room]["timeline"]);
    assert!(!texts.contains(&"after leaving".to_owned()) && !texts.contains(&"before bob".to_owned()), "{sub:#}");
}
both_backends!(history_visibility_holds_for_sliding_sync);

async fn filters_select_rooms(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    let plain = alice.create_room(json!({})).await;
    let encrypted = alice
        .create_room(json!({ "initial_state": [{ "type": "m.room.encryption", "state_key": "", "content": { "algorithm": "m.megolm.v1.aes-sha2" } }] }))
        .await;
    let space = alice.create_room(json!({ "creation_content": { "type": "m.space" } })).await;
    alice.set_state(&space, "m.space.child", &plain, json!({ "via": [hs.server_name()] })).await;
    let dm = bob.create_room(json!({ "is_direct": true, "invite": [alice.user_id] })).await;
    alice.put_tag(&plain, "m.favourite", json!({})).await.expect_ok();
    alice.put_account_data("m.direct", json!({ bob.user_id.clone(): [dm.clone()] })).await.expect_ok();

    let list = |filters: Value| json!({ "ranges": [[0, 99]], "timeline_limit": 0, "filters": filters });
    let body = ok(
        &alice,
        None,
        0,
        json!({ "lists": {
            "invites": list(json!({ "is_invite": true })),
            "dms": list(json!({ "is_dm": true })),
            "encrypted": list(json!({ "is_encrypted": true })),
            "spaces": list(json!({ "room_types": ["m.space"] })),
            "no_spaces": list(json!({ "not_room_types": ["m.space"], "is_invite": false })),
            "untyped": list(json!({ "room_types": [null] , "is_invite": false})),
            "in_space": list(json!({ "spaces": [space] })),
            "favourites": list(json!({ "tags": ["m.favourite"] })),
            "not_favourites": list(json!({ "not_tags": ["m.favourite"], "is_invite": false })),
        } }),
    )
    .await;
    let count = |name: &str| body["lists"][name]["count"].as_u64().unwrap_or_else(|| panic!("{name}: {body:#}"));
    assert_eq!(count("invites"), 1);
    assert_eq!(count("dms"), 1);
    // The direct message is encrypted too (Nexus encrypts new DMs by default).
    assert_eq!(count("encrypted"), 2);
    assert_eq!(count("spaces"), 1);
    assert_eq!(count("no_spaces"), 2);
    assert_eq!(count("untyped"), 2);
    assert_eq!(count("in_space"), 1);
    assert_eq!(count("favourites"), 1);
    assert_eq!(count("not_favourites"), 2);
    // The invite carries stripped state with alice's own member event.
    let invite = &body["rooms"][&dm];
    let stripped = invite["invite_state"].as_array().unwrap_or_else(|| panic!("{invite:#}"));
    assert!(
        stripped.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == alice.user_id.as_str()
            && e["content"]["membership"] == "invite"),
        "{invite:#}"
    );
    assert!(invite.get("timeline").is_none());
    assert!(body["rooms"][&encrypted].is_object());
}
both_backends!(filters_select_rooms);

async fn a_left_room_is_reported_once_and_kicks_stay(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    let left = bob.create_room(json!({ "preset": "public_chat" })).await;
    let kicked = bob.create_room(json!({ "preset": "public_chat" })).await;
    alice.join(&left).await;
    alice.join(&kicked).await;
    let request = list_body(json!([[0, 9]]), json!([["m.room.member", "$ME"]]), 5);
    let first = ok(&alice, None, 0, request.clone()).await;
    assert_eq!(first["lists"]["all"]["count"], json!(2));
    alice.leave(&left).await;
    bob.post(&room_path(&kicked, "/kick"), json!({ "user_id": alice.user_id })).await.expect_ok();
    let next = ok(&alice, Some(&pos(&first)), 5_000, request.clone()).await;
    let entry = &next["rooms"][&left];
    let me =
        entry["required_state"].as_array().unwrap().iter().find(|e| e["state_key"] == alice.user_id.as_str()).cloned();
    assert_eq!(me.map(|e| e["content"]["membership"].clone()), Some(json!("leave")), "{next:#}");
    let last = entry["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"]["membership"], "leave", "{entry:#}");
    // Then the left room is gone; the kick stays listed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = ok(&alice, Some(&pos(&next)), 0, request).await;
    assert_eq!(after["lists"]["all"]["count"], json!(1), "{after:#}");
    // Bob's messages after the kick are not shown to alice.
    bob.send_message(&kicked, "after kick").await;
    let later = ok(&alice, Some(&pos(&after)), 0, list_body(json!([[0, 9]]), json!([]), 5)).await;
    if let Some(room) = later["rooms"].get(&kicked) {
        assert!(!bodies(&room["timeline"]).contains(&"after kick".to_owned()), "{later:#}");
    }
}
both_backends!(a_left_room_is_reported_once_and_kicks_stay);

async fn unknown_foreign_and_malformed_input_are_400(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    alice.create_room(json!({})).await;
    sliding(&alice, Some("12345"), 0, json!({})).await.expect_error(400, "M_UNKNOWN_POS");
    sliding(&alice, Some("not-a-pos"), 0, json!({})).await.expect_error(400, "M_UNKNOWN_POS");
    let body = ok(&alice, None, 0, list_body(json!([[0, 5]]), json!([]), 1)).await;
    // Bob cannot continue alice's connection; neither can another conn_id.
    sliding(&bob, Some(&pos(&body)), 0, list_body(json!([[0, 5]]), json!([]), 1))
        .await
        .expect_error(400, "M_UNKNOWN_POS");
    sliding(&alice, Some(&pos(&body)), 0, json!({ "conn_id": "other" })).await.expect_error(400, "M_UNKNOWN_POS");
    for bad in [
        json!({ "lists": { "a": { "ranges": [[5, 1]], "timeline_limit": 1 } } }),
        json!({ "lists": { "a": { "ranges": [[-1, 1]], "timeline_limit": 1 } } }),
        json!({ "lists": { "a": { "ranges": [[0, 1, 2]], "timeline_limit": 1 } } }),
        json!({ "lists": { "a": { "ranges": "all", "timeline_limit": 1 } } }),
        json!({ "lists": { "a": { "ranges": [[0, 1]], "timeline_limit": "ten" } } }),
        json!({ "lists": { "a": { "ranges": [[0, 1]], "required_state": [["m.room.name"]] } } }),
        json!({ "lists": [] }),
        json!({ "room_subscriptions": { "not a room id": { "timeline_limit": 1 } } }),
        json!({ "extensions": { "to_device": { "enabled": "yes" } } }),
        json!({ "extensions": { "to_device": { "enabled": true, "since": "garbage" } } }),
        json!({ "conn_id": 7 }),
        json!([]),
    ] {
        let reply = sliding(&alice, None, 0, bad.clone()).await;
        assert_eq!(reply.status, 400, "{bad} → {reply:?}");
    }
    let reply = alice.api.send(alice.api.raw(Method::POST, PATH).bearer_auth(&alice.access_token).body("{nope")).await;
    assert_eq!(reply.status, 400);
    // Unknown extensions and fields are ignored.
    let fine =
        ok(&alice, None, 0, json!({ "extensions": { "org.example.unknown": { "enabled": true } }, "whatever": 1 }))
            .await;
    assert!(fine["pos"].is_string());
    // Without a token: 401.
    hs.api().post(PATH, json!({})).await.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(unknown_foreign_and_malformed_input_are_400);

async fn a_restart_keeps_the_pos(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    let room = bob.create_room(json!({ "preset": "public_chat" })).await;
    alice.join(&room).await;
    let request = list_body(json!([[0, 9]]), json!([]), 5);
    let first = ok(&alice, None, 0, request.clone()).await;
    hs.restart().await;
    bob.send_message(&room, "after restart").await;
    let next = ok(&alice, Some(&pos(&first)), 5_000, request).await;
    let entry = &next["rooms"][&room];
    assert!(entry.get("initial").is_none(), "continued, not restarted: {next:#}");
    assert_eq!(bodies(&entry["timeline"]), ["after restart"]);
}
both_backends!(a_restart_keeps_the_pos);

async fn extensions_carry_to_device_e2ee_account_data_receipts_and_typing(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = users(&hs).await;
    let room = bob.create_room(json!({ "preset": "public_chat" })).await;
    alice.join(&room).await;
    let message = bob.send_message(&room, "read me").await;
    alice.send_receipt(&room, "m.read", &message, json!({})).await.expect_ok();
    alice.put_account_data("org.example.global", json!({ "a": 1 })).await.expect_ok();
    alice.put_room_account_data(&room, "org.example.room", json!({ "b": 2 })).await.expect_ok();
    alice
        .post(
            "/_matrix/client/v3/keys/upload",
            json!({ "one_time_keys": { "signed_curve25519:AAAA": { "key": "k", "signatures": {} } } }),
        )
        .await
        .expect_ok();
    for i in 0..3 {
        bob.put(
            &format!("/_matrix/client/v3/sendToDevice/m.test/{}", new_txn_id()),
            json!({ "messages": { alice.user_id.clone(): { alice.device_id.clone(): { "i": i } } } }),
        )
        .await
        .expect_ok();
    }
    let extensions = |since: Option<&str>| {
        let mut to_device = json!({ "enabled": true, "limit": 2 });
        if let Some(since) = since {
            to_device["since"] = json!(since);
        }
        json!({
            "to_device": to_device,
            "e2ee": { "enabled": true },
            "account_data": { "enabled": true },
            "receipts": { "enabled": true },
            "typing": { "enabled": true },
        })
    };
    let mut request = list_body(json!([[0, 9]]), json!([]), 1);
    request["extensions"] = extensions(None);
    let first = ok(&alice, None, 0, request.clone()).await;
    let ext = &first["extensions"];
    assert_eq!(ext["to_device"]["events"].as_array().unwrap().len(), 2, "limit 2: {ext:#}");
    assert!(ext["e2ee"].get("device_lists").is_none(), "no device lists without a pos: {ext:#}");
    assert_eq!(ext["e2ee"]["device_one_time_keys_count"]["signed_curve25519"], json!(1), "{ext:#}");
    assert!(ext["e2ee"]["device_unused_fallback_key_types"].is_array());
    let global: Vec<&str> =
        ext["account_data"]["global"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(global.contains(&"org.example.global") && global.contains(&"m.push_rules"), "{ext:#}");
    assert_eq!(ext["account_data"]["rooms"][&room][0]["type"], "org.example.room", "{ext:#}");
    let receipt = &ext["receipts"]["rooms"][&room];
    assert_eq!(receipt["type"], "m.receipt");
    assert!(receipt["content"][&message]["m.read"][&alice.user_id].is_object(), "{ext:#}");

    // The next since acknowledges the first two and brings the third.
    let since = ext["to_device"]["next_batch"].as_str().unwrap().to_owned();
    request["extensions"] = extensions(Some(&since));
    bob.put(
        &format!("/_matrix/client/v3/rooms/{room}/typing/{}", bob.user_id),
        json!({ "typing": true, "timeout": 30000 }),
    )
    .await
    .expect_ok();
    let next = ok(&alice, Some(&pos(&first)), 5_000, request.clone()).await;
    let ext = &next["extensions"];
    let events = ext["to_device"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{ext:#}");
    assert_eq!(events[0]["content"]["i"], json!(2));
    assert!(ext["e2ee"]["device_lists"].is_object(), "with a pos: {ext:#}");
    assert_eq!(ext["typing"]["rooms"][&room]["content"]["user_ids"], json!([bob.user_id]), "{ext:#}");
    // A resent since gives the third again (not acknowledged yet).
    let again = ok(&alice, Some(&pos(&first)), 0, request).await;
    assert_eq!(again["extensions"]["to_device"]["events"].as_array().unwrap().len(), 1);
}
both_backends!(extensions_carry_to_device_e2ee_account_data_receipts_and_typing);
