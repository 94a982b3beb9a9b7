//! Event context — the context part of Complement's `apidoc_search` as a
//! scenario of its own; spec: client-server API "Event context"
//! (`GET /rooms/{roomId}/context/{eventId}` with `limit` and `filter`;
//! `events_before`, `event`, `events_after`, `start`, `end`, `state`).

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, event_ids, find_state};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob joined and the messages m1..m`count`;
/// returns the room's whole timeline oldest first, as `/messages` serves it.
async fn room_with_messages(hs: &Homeserver, count: usize) -> (String, Session, Session, Vec<String>) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    for i in 1..=count {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }
    let timeline = event_ids(&alice.paginate_all(&room_id, "f", 50, None).await);
    (room_id, alice, bob, timeline)
}

fn list<'a>(reply: &'a Reply, field: &str) -> &'a Vec<Value> {
    reply.expect_ok()[field].as_array().unwrap_or_else(|| panic!("no {field} array: {reply:?}"))
}

fn body_of(timeline_event: &Value) -> &str {
    timeline_event["content"]["body"].as_str().unwrap_or_default()
}

async fn context_returns_events_around_the_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, _alice, bob, timeline) = room_with_messages(&hs, 10).await;
    let target = timeline.len() - 6; // m5
    let target_id = &timeline[target];

    let reply = bob.context(&room_id, target_id, "limit=100").await;

    let event = &reply.expect_ok()["event"];
    assert_eq!(event["event_id"], target_id.as_str(), "{reply:?}");
    assert_eq!(body_of(event), "m5", "{reply:?}");
    assert_eq!(event["room_id"], room_id.as_str(), "{reply:?}");
    // "events_before: ... in reverse-chronological order"; "events_after:
    // ... in chronological order". Everything fits in the limit.
    let mut before: Vec<String> = timeline[..target].to_vec();
    before.reverse();
    assert_eq!(event_ids(list(&reply, "events_before")), before, "{reply:?}");
    assert_eq!(event_ids(list(&reply, "events_after")), timeline[target + 1..], "{reply:?}");
}
both_backends!(context_returns_events_around_the_event);

async fn context_limit_bounds_the_sum_of_both_sides(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob, timeline) = room_with_messages(&hs, 20).await;
    let target = timeline.len() - 10; // m11

    for limit in [0usize, 1, 4, 7] {
        let reply = alice.context(&room_id, &timeline[target], &format!("limit={limit}")).await;

        // "The limit applies to the sum of the events_before and
        // events_after arrays. The requested event ID is always returned in
        // event even if limit is 0."
        assert_eq!(reply.expect_ok()["event"]["event_id"], timeline[target].as_str(), "{reply:?}");
        let before = event_ids(list(&reply, "events_before"));
        let after = event_ids(list(&reply, "events_after"));
        assert!(before.len() + after.len() <= limit, "limit={limit}: {reply:?}");
        // Whatever the split, each side is the adjacent run of events.
        let expected_before: Vec<String> = timeline[target - before.len()..target].iter().rev().cloned().collect();
        assert_eq!(before, expected_before, "limit={limit}: {reply:?}");
        assert_eq!(after, timeline[target + 1..target + 1 + after.len()], "limit={limit}: {reply:?}");
    }
    // "Defaults to 10."
    let reply = alice.context(&room_id, &timeline[target], "").await;
    let total = list(&reply, "events_before").len() + list(&reply, "events_after").len();
    assert!(total <= 10, "{reply:?}");
}
both_backends!(context_limit_bounds_the_sum_of_both_sides);

async fn context_tokens_continue_with_messages(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob, timeline) = room_with_messages(&hs, 12).await;
    let target = timeline.len() - 6; // m7

    let reply = alice.context(&room_id, &timeline[target], "limit=4").await;

    let before = event_ids(list(&reply, "events_before"));
    let after = event_ids(list(&reply, "events_after"));
    // "start: A token that can be used to paginate backwards with using
    // GET /messages"; "end: ... to paginate forwards".
    let start = reply.token("start").unwrap_or_else(|| panic!("no start token: {reply:?}"));
    let end = reply.token("end").unwrap_or_else(|| panic!("no end token: {reply:?}"));
    let older = alice.messages(&room_id, &format!("dir=b&limit=3&from={}", enc(&start))).await;
    let newer = alice.messages(&room_id, &format!("dir=f&limit=3&from={}", enc(&end))).await;

    let first_before = target - before.len();
    let expected_older: Vec<String> =
        timeline[first_before.saturating_sub(3)..first_before].iter().rev().cloned().collect();
    assert_eq!(event_ids(older.expect_ok()["chunk"].as_array().unwrap()), expected_older, "{older:?}");
    let first_after = target + 1 + after.len();
    assert_eq!(
        event_ids(newer.expect_ok()["chunk"].as_array().unwrap()),
        timeline[first_after..(first_after + 3).min(timeline.len())],
        "{newer:?}"
    );
}
both_backends!(context_tokens_continue_with_messages);

async fn context_state_is_the_state_at_the_last_event_returned(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "name": "Before"})).await;
    bob.join(&room_id).await;
    let target = alice.send_message(&room_id, "in the middle").await;
    alice.set_state(&room_id, "m.room.name", "", json!({"name": "After"})).await;

    let narrow = bob.context(&room_id, &target, "limit=0").await;
    let wide = bob.context(&room_id, &target, "limit=10").await;

    // "state: The state of the room at the last event returned."
    let state = Value::Array(list(&narrow, "state").clone());
    assert!(find_state(&state, "m.room.create", "").is_some(), "{narrow:?}");
    assert_eq!(find_state(&state, "m.room.member", &bob.user_id).unwrap()["content"]["membership"], "join");
    assert_eq!(find_state(&state, "m.room.name", "").expect("a name")["content"]["name"], "Before", "{narrow:?}");
    // When the renaming is among events_after it is the last event returned
    // (the server splits the limit as it likes).
    let renamed = list(&wide, "events_after").iter().any(|e| e["type"] == "m.room.name");
    let state = Value::Array(list(&wide, "state").clone());
    let name = if renamed { "After" } else { "Before" };
    assert_eq!(find_state(&state, "m.room.name", "").expect("a name")["content"]["name"], name, "{wide:?}");
}
both_backends!(context_state_is_the_state_at_the_last_event_returned);

async fn context_filter_applies_around_but_not_to_the_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _) = room_with_messages(&hs, 0).await;
    for i in 1..=3 {
        alice.send_message(&room_id, &format!("before {i}")).await;
        alice.send_event(&room_id, "com.example.ping", json!({"n": i})).await;
    }
    let target = alice.send_event(&room_id, "com.example.ping", json!({"n": 0})).await;
    for i in 1..=3 {
        alice.send_event(&room_id, "com.example.ping", json!({"n": 10 + i})).await;
        alice.send_message(&room_id, &format!("after {i}")).await;
    }
    let filter = enc(&json!({"types": ["m.room.message"]}).to_string());

    let reply = bob.context(&room_id, &target, &format!("limit=20&filter={filter}")).await;

    // "The filter is only applied to events_before, events_after, and state.
    // It is not applied to the event itself."
    assert_eq!(reply.expect_ok()["event"]["event_id"], target.as_str(), "{reply:?}");
    let before = list(&reply, "events_before");
    let after = list(&reply, "events_after");
    assert!(before.iter().chain(after).all(|e| e["type"] == "m.room.message"), "{reply:?}");
    assert_eq!(before.iter().map(body_of).collect::<Vec<_>>(), ["before 3", "before 2", "before 1"], "{reply:?}");
    assert_eq!(after.iter().map(body_of).collect::<Vec<_>>(), ["after 1", "after 2", "after 3"], "{reply:?}");
    // No state event is an m.room.message.
    assert_eq!(list(&reply, "state"), &Vec::<Value>::new(), "{reply:?}");
}
both_backends!(context_filter_applies_around_but_not_to_the_event);

async fn context_of_unknown_or_invisible_event_is_refused(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}],
        }))
        .await;
    let before_bob = alice.send_message(&room_id, "before bob").await;
    bob.join(&room_id).await;
    let after_bob = alice.send_message(&room_id, "after bob").await;

    // The endpoint documents no error; as for GET /event, an event the user
    // may not see is "not found" (or, for a non-member, the room-level 403).
    bob.context(&room_id, "$doesnotexist0000000000000000000000000000000", "").await.expect_error(404, "M_NOT_FOUND");
    bob.context(&room_id, &before_bob, "").await.expect_error(404, "M_NOT_FOUND");
    let reply = charlie.context(&room_id, &after_bob, "").await;
    assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
    reply.expect_error_in(reply.status, &["M_FORBIDDEN", "M_NOT_FOUND"]);
    // Bob's own view of the visible event leaves out what he cannot see.
    let reply = bob.context(&room_id, &after_bob, "limit=20").await;
    assert!(!event_ids(list(&reply, "events_before")).contains(&before_bob), "{reply:?}");
}
both_backends!(context_of_unknown_or_invisible_event_is_refused);
