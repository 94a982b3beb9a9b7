//! Sending and fetching room events — mirrors Complement's `room_messages`
//! (the single-server parts) and the oversized-event part of `invalid`;
//! spec: client-server API `PUT /rooms/{roomId}/send/{eventType}/{txnId}`,
//! `GET /rooms/{roomId}/event/{eventId}`, `GET /rooms/{roomId}/messages`
//! (`dir`, `from`, `to`, `limit`, `filter`; `start`/`end`), "Size limits",
//! RoomEventFilter (`types`, `not_types`).

use std::collections::HashSet;

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, event_ids, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob joined.
async fn room_with_bob(hs: &Homeserver) -> (String, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    (room_id, alice, bob)
}

fn bodies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| e["content"]["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn sent_message_can_be_fetched_by_members(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    // Integers only: canonical JSON (room versions 6+) has no floats.
    let content = json!({
        "msgtype": "m.text",
        "body": "Grüße, 世界 🌍",
        "com.example.nested": {"list": [1, -2, null, true, "x"], "empty": {}},
    });

    let event_id = alice.send_event(&room_id, "m.room.message", content.clone()).await;

    for viewer in [&alice, &bob] {
        let reply = viewer.get_event(&room_id, &event_id).await;
        let event = reply.expect_ok();
        assert_eq!(event["event_id"], event_id.as_str(), "{reply:?}");
        assert_eq!(event["type"], "m.room.message", "{reply:?}");
        assert_eq!(event["sender"], alice.user_id.as_str(), "{reply:?}");
        assert_eq!(event["room_id"], room_id.as_str(), "{reply:?}");
        assert_eq!(event["content"], content, "the content comes back as sent: {reply:?}");
        assert!(event["origin_server_ts"].is_u64(), "{reply:?}");
        assert!(event.get("state_key").is_none(), "a message event has no state_key: {reply:?}");
    }
}
both_backends!(sent_message_can_be_fetched_by_members);

async fn unknown_event_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;

    // "404: The event was not found or you do not have permission to read
    // this event."
    alice.get_event(&room_id, "$doesnotexist0000000000000000000000000000000").await.expect_error(404, "M_NOT_FOUND");
    // An event of another room is not an event of this one.
    let other = alice.create_room(json!({})).await;
    let elsewhere = alice.send_message(&other, "elsewhere").await;
    alice.get_event(&room_id, &elsewhere).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(unknown_event_is_not_found);

async fn non_member_cannot_send(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    alice.invite(&room_id, &charlie.user_id).await;
    let message = json!({"msgtype": "m.text", "body": "let me in"});

    // Authorisation rules: "If the sender's current membership state is not
    // join, reject." — neither strangers nor invitees may send.
    bob.send_event_reply(&room_id, "m.room.message", message.clone()).await.expect_error(403, "M_FORBIDDEN");
    charlie.send_event_reply(&room_id, "m.room.message", message).await.expect_error(403, "M_FORBIDDEN");

    let timeline = alice.paginate_all(&room_id, "b", 50, None).await;
    assert!(bodies(&timeline).is_empty(), "{timeline:#?}");
}
both_backends!(non_member_cannot_send);

async fn unknown_room_is_forbidden_or_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let unknown = format!("!doesnotexist:{}", hs.server_name());

    for reply in [
        alice.send_event_reply(&unknown, "m.room.message", json!({"msgtype": "m.text", "body": "void"})).await,
        alice.set_state_reply(&unknown, "m.room.name", "", json!({"name": "void"})).await,
        alice.get(&room_path(&unknown, "/state")).await,
        alice.get_state(&unknown, "m.room.name", "").await,
        alice.messages(&unknown, "dir=b").await,
        alice.get(&room_path(&unknown, "/members")).await,
        alice.get(&room_path(&unknown, "/joined_members")).await,
    ] {
        assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
        reply.expect_error_in(reply.status, &["M_FORBIDDEN", "M_NOT_FOUND"]);
    }
}
both_backends!(unknown_room_is_forbidden_or_not_found);

async fn invalid_room_id_in_path_is_bad_request(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // Path parameters have `pattern: "^!"`: this is not a room id at all.
    for room_id in ["not-a-room-id", "#alias:example.org", "@user:example.org"] {
        for reply in [
            alice.send_event_reply(room_id, "m.room.message", json!({"msgtype": "m.text", "body": "x"})).await,
            alice.get(&room_path(room_id, "/state")).await,
            alice.messages(room_id, "dir=b").await,
            alice.post(&room_path(room_id, "/invite"), json!({"user_id": "@bob:example.org"})).await,
        ] {
            reply.expect_status(400);
            reply.expect_standard_error();
        }
    }
}
both_backends!(invalid_room_id_in_path_is_bad_request);

async fn oversized_event_is_too_large(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;

    // "The complete event MUST NOT be larger than 65536 bytes". The spec
    // names M_TOO_LARGE but no status for this endpoint: 413 or 400.
    let reply = alice
        .send_event_reply(&room_id, "m.room.message", json!({"msgtype": "m.text", "body": "x".repeat(70_000)}))
        .await;

    assert!(reply.status == 413 || reply.status == 400, "{reply:?}");
    reply.expect_error(reply.status, "M_TOO_LARGE");
    // Comfortably under the limit (the envelope adds well under 5 KiB) is fine.
    alice.send_event(&room_id, "m.room.message", json!({"msgtype": "m.text", "body": "y".repeat(60_000)})).await;
    let timeline = alice.paginate_all(&room_id, "b", 50, None).await;
    assert_eq!(bodies(&timeline).len(), 1, "only the smaller event was stored");
}
both_backends!(oversized_event_is_too_large);

async fn event_type_over_255_bytes_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;

    // "type MUST NOT exceed 255 bytes."
    let reply = alice.send_event_reply(&room_id, &format!("com.example.{}", "t".repeat(250)), json!({})).await;

    assert!(reply.status == 400 || reply.status == 413, "{reply:?}");
    reply.expect_standard_error();
}
both_backends!(event_type_over_255_bytes_is_rejected);

async fn messages_backwards_returns_newest_first(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    for i in 1..=5 {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }

    let reply = bob.messages(&room_id, "dir=b&limit=3").await;

    let body = reply.expect_ok();
    assert!(body["start"].is_string(), "{reply:?}");
    assert!(body["end"].is_string(), "there are older events: {reply:?}");
    let chunk = body["chunk"].as_array().unwrap_or_else(|| panic!("no chunk: {reply:?}"));
    assert_eq!(bodies(chunk), ["m5", "m4", "m3"], "{reply:?}");
    for event in chunk {
        assert_eq!(event["room_id"], room_id.as_str(), "{event:#}");
        assert!(event["event_id"].is_string() && event["origin_server_ts"].is_u64(), "{event:#}");
    }
}
both_backends!(messages_backwards_returns_newest_first);

async fn messages_paginate_every_event_exactly_once_in_both_directions(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let mut sent = Vec::new();
    for i in 1..=12 {
        sent.push(alice.send_message(&room_id, &format!("m{i}")).await);
    }

    let backwards = alice.paginate_all(&room_id, "b", 4, None).await;
    let forwards = alice.paginate_all(&room_id, "f", 4, None).await;

    let back_ids = event_ids(&backwards);
    let forward_ids = event_ids(&forwards);
    let unique: HashSet<&String> = back_ids.iter().collect();
    assert_eq!(unique.len(), back_ids.len(), "an event was served twice: {back_ids:?}");
    let mut reversed = back_ids.clone();
    reversed.reverse();
    assert_eq!(forward_ids, reversed, "forwards is backwards reversed");
    // The room's first event is its creation; everything sent is there, in
    // order, and so is bob's join.
    assert_eq!(forwards[0]["type"], "m.room.create", "{:#}", forwards[0]);
    let positions: Vec<usize> =
        sent.iter().map(|id| forward_ids.iter().position(|f| f == id).expect("a sent event is missing")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "messages out of order: {positions:?}");
    assert!(forwards.iter().any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str()));
    assert_eq!(bodies(&forwards), (1..=12).map(|i| format!("m{i}")).collect::<Vec<_>>());
}
both_backends!(messages_paginate_every_event_exactly_once_in_both_directions);

async fn messages_end_is_omitted_when_nothing_is_left(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    alice.send_message(&room_id, "only").await;

    let reply = alice.messages(&room_id, "dir=b&limit=100").await;

    // "If no further events are available ... this property is omitted". A
    // server may only notice on the next request: then that one has no more
    // events and no end.
    let body = reply.expect_ok();
    assert!(!body["chunk"].as_array().unwrap().is_empty(), "{reply:?}");
    if let Some(end) = body.get("end") {
        let end = end.as_str().unwrap_or_else(|| panic!("a non-string end: {reply:?}"));
        let next = alice.messages(&room_id, &format!("dir=b&limit=100&from={}", enc(end))).await;
        let next_body = next.expect_ok();
        assert_eq!(next_body["chunk"], json!([]), "{next:?}");
        assert!(next_body.get("end").is_none(), "still an end at the start of the room: {next:?}");
    }
}
both_backends!(messages_end_is_omitted_when_nothing_is_left);

async fn messages_limit_defaults_to_at_most_ten(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    for i in 1..=15 {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }

    // "The maximum number of events to return. Default: 10."
    let reply = alice.messages(&room_id, "dir=b").await;

    let chunk = reply.expect_ok()["chunk"].as_array().unwrap();
    assert!(!chunk.is_empty() && chunk.len() <= 10, "{reply:?}");
    assert!(reply.json["end"].is_string(), "{reply:?}");
}
both_backends!(messages_limit_defaults_to_at_most_ten);

async fn messages_from_an_end_token_continues_where_it_stopped(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    for i in 1..=6 {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }
    let filter = enc(&json!({"types": ["m.room.message"]}).to_string());

    let first = alice.messages(&room_id, &format!("dir=b&limit=2&filter={filter}")).await;
    let end = first.expect_ok()["end"].as_str().unwrap_or_else(|| panic!("no end: {first:?}")).to_owned();
    let second = alice.messages(&room_id, &format!("dir=b&limit=2&filter={filter}&from={}", enc(&end))).await;

    assert_eq!(bodies(first.json["chunk"].as_array().unwrap()), ["m6", "m5"], "{first:?}");
    assert_eq!(bodies(second.expect_ok()["chunk"].as_array().unwrap()), ["m4", "m3"], "{second:?}");
}
both_backends!(messages_from_an_end_token_continues_where_it_stopped);

async fn messages_to_token_stops_pagination(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    for i in 1..=6 {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }
    let newest = alice.messages(&room_id, "dir=b&limit=2").await;
    assert_eq!(bodies(newest.expect_ok()["chunk"].as_array().unwrap()), ["m6", "m5"], "{newest:?}");
    let end = newest.json["end"].as_str().unwrap_or_else(|| panic!("no end: {newest:?}")).to_owned();

    // "to: The token to stop returning events at ... from an end token
    // returned by a previous request to this endpoint."
    let reply = alice.messages(&room_id, &format!("dir=f&limit=100&to={}", enc(&end))).await;

    let chunk = reply.expect_ok()["chunk"].as_array().unwrap();
    assert_eq!(chunk[0]["type"], "m.room.create", "{reply:?}");
    let got = bodies(chunk);
    // The token sits at the end of [m6, m5]: m1..m4 are before it, m6 after.
    assert!(got.starts_with(&["m1", "m2", "m3", "m4"].map(String::from)), "{got:?}");
    assert!(!got.contains(&"m6".to_owned()), "{got:?}");
}
both_backends!(messages_to_token_stops_pagination);

async fn messages_filter_by_types_and_not_types(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    for i in 1..=3 {
        alice.send_message(&room_id, &format!("m{i}")).await;
        alice.send_event(&room_id, "com.example.ping", json!({"n": i})).await;
    }
    alice.send_event(&room_id, "com.example.pong", json!({"n": 0})).await;

    let only_pings = alice.paginate_all(&room_id, "b", 10, Some(&json!({"types": ["com.example.ping"]}))).await;
    let wildcard = alice.paginate_all(&room_id, "f", 10, Some(&json!({"types": ["com.example.*"]}))).await;
    let no_messages = alice.paginate_all(&room_id, "b", 10, Some(&json!({"not_types": ["m.room.message"]}))).await;
    let both = alice
        .paginate_all(&room_id, "b", 10, Some(&json!({"types": ["com.example.*"], "not_types": ["com.example.pong"]})))
        .await;

    let ns = |events: &[Value]| events.iter().map(|e| e["content"]["n"].as_i64().unwrap_or(-1)).collect::<Vec<_>>();
    assert!(only_pings.iter().all(|e| e["type"] == "com.example.ping"), "{only_pings:#?}");
    assert_eq!(ns(&only_pings), [3, 2, 1]);
    // "A * can be used as a wildcard to match any sequence of characters."
    assert_eq!(ns(&wildcard), [1, 2, 3, 0]);
    assert!(no_messages.iter().all(|e| e["type"] != "m.room.message"), "{no_messages:#?}");
    assert!(no_messages.iter().any(|e| e["type"] == "m.room.create"), "{no_messages:#?}");
    assert_eq!(no_messages.iter().filter(|e| e["type"] == "com.example.ping").count(), 3);
    // not_types wins over types.
    assert_eq!(ns(&both), [3, 2, 1]);
}
both_backends!(messages_filter_by_types_and_not_types);

async fn messages_requires_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    alice.send_message(&room_id, "members only").await;

    // "403: You aren't a member of the room."
    bob.messages(&room_id, "dir=b").await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(messages_requires_membership);

async fn messages_rejects_a_missing_or_bad_dir(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;

    // `dir` is required and is `b` or `f`.
    alice.messages(&room_id, "limit=5").await.expect_error_in(400, &["M_MISSING_PARAM", "M_INVALID_PARAM"]);
    alice.messages(&room_id, "dir=sideways").await.expect_error_in(400, &["M_INVALID_PARAM", "M_MISSING_PARAM"]);
    alice.messages(&room_id, "dir=b&limit=many").await.expect_error_in(400, &["M_INVALID_PARAM", "M_BAD_JSON"]);
    alice
        .messages(&room_id, "dir=b&filter=%7Bnot%20json")
        .await
        .expect_error_in(400, &["M_INVALID_PARAM", "M_BAD_JSON", "M_NOT_JSON"]);
}
both_backends!(messages_rejects_a_missing_or_bad_dir);
