//! `GET /sync` — mirrors Complement's `sync` (single-server parts: joined
//! rooms, incremental and full-state syncs, gaps, room summaries) and
//! `sync_archive` (the leave section); spec: client-server API "Syncing",
//! `GET /sync` (`since`, `timeout`, `full_state`; `rooms.join` /
//! `invite` / `knock` / `leave`; TimelineBatch `limited` / `prev_batch`;
//! RoomSummary), "Stripped state".
//!
//! Not covered because Nexus does not implement them yet: presence,
//! `unread_notifications`, `to_device`, `device_lists`, one-time key counts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nexus_complement::{
    Backend, Homeserver, Session, Synced, both_backends, enc, event_ids, inline_filter, message_bodies, room_path,
    state_keys,
};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn alice_and_bob(hs: &Homeserver) -> (Session, Session) {
    (hs.api().register("alice", PASSWORD).await, hs.api().register("bob", PASSWORD).await)
}

/// Asserts that the room's `state` plus the state events of its `timeline`
/// in this (initial or full-state) sync cover every current state event
/// (spec: `state` is the state at the start of the timeline; the timeline
/// carries the rest).
#[track_caller]
fn assert_covers_current_state(synced: &Synced, room_id: &str, current: &Value) {
    let mut seen: HashSet<(String, String)> = state_keys(&synced.state(room_id)).into_iter().collect();
    seen.extend(state_keys(&synced.timeline(room_id)));
    for key in state_keys(current.as_array().expect("GET /state is an array")) {
        assert!(seen.contains(&key), "state {key:?} is in neither state nor timeline: {:#}", synced.body);
    }
}

/// The `m.room.member` event for `user_id` that took the user out of a
/// room, from its entry in `rooms.leave`. An unlimited timeline holds every
/// event since the token, so the membership change must be in it; only a
/// `limited` timeline may leave it to the state delta of the gap.
#[track_caller]
fn departure(synced: &Synced, room_id: &str, user_id: &str) -> Value {
    let room = synced.left(room_id).unwrap_or_else(|| panic!("not in rooms.leave: {:#}", synced.body));
    let is_it = |e: &&Value| e["type"] == "m.room.member" && e["state_key"] == user_id;
    if let Some(event) = synced.left_timeline(room_id).iter().rev().find(is_it) {
        return event.clone();
    }
    let in_state = room["state"]["events"].as_array().and_then(|s| s.iter().rev().find(is_it));
    assert!(
        in_state.is_some() && room["timeline"]["limited"] == json!(true),
        "the departure of {user_id} must be in the leave timeline (or, for a limited timeline, in the state \
         delta): {:#}",
        synced.body
    );
    in_state.unwrap().clone()
}

/// The basic shape of a ClientEventWithoutRoomID.
#[track_caller]
fn assert_client_event(event: &Value) {
    assert!(event["event_id"].as_str().is_some_and(|id| id.starts_with('$')), "{event:#}");
    assert!(event["type"].is_string() && event["sender"].is_string(), "{event:#}");
    assert!(event["origin_server_ts"].is_u64() && event["content"].is_object(), "{event:#}");
}

async fn can_sync_a_joined_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"name": "Synced", "topic": "sync me"})).await;
    let message = alice.send_message(&room_id, "hello sync").await;

    let synced = alice.initial_sync().await;

    let room = synced.joined(&room_id).unwrap_or_else(|| panic!("the room is not in rooms.join: {:#}", synced.body));
    assert!(room["timeline"]["events"].is_array(), "{room:#}");
    let timeline = synced.timeline(&room_id);
    assert_eq!(timeline.last().map(|e| e["event_id"].clone()), Some(json!(message)), "{room:#}");
    assert_eq!(message_bodies(&timeline), ["hello sync"]);
    for event in timeline.iter().chain(synced.state(&room_id).iter()) {
        assert_client_event(event);
    }
    assert_covers_current_state(&synced, &room_id, &alice.room_state(&room_id).await);
    // A room of one is a room the user is joined to, not invited to or left.
    assert!(synced.invited(&room_id).is_none() && synced.left(&room_id).is_none(), "{:#}", synced.body);
}
both_backends!(can_sync_a_joined_room);

async fn initial_sync_lists_every_joined_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let own = alice.create_room(json!({})).await;
    let bobs = bob.create_room(json!({"preset": "public_chat"})).await;
    alice.join(&bobs).await;
    let not_joined = bob.create_room(json!({"preset": "public_chat"})).await;

    let synced = alice.initial_sync().await;

    let joined: HashSet<String> = synced.room_ids("join").into_iter().collect();
    assert_eq!(joined, HashSet::from([own, bobs]), "{:#}", synced.body);
    assert!(!synced.room_ids("invite").contains(&not_joined) && !synced.room_ids("leave").contains(&not_joined));
}
both_backends!(initial_sync_lists_every_joined_room);

async fn a_message_sent_after_an_initial_sync_appears_in_the_timeline_of_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let busy = alice.create_room(json!({})).await;
    let quiet = alice.create_room(json!({})).await;
    alice.send_message(&busy, "before").await;
    let initial = alice.initial_sync().await;

    let message = alice.send_message(&busy, "after").await;
    let incremental = alice.sync_with(Some(&initial.next_batch), "").await;

    // Only what changed since the token: the one new message, no state
    // (the timeline is not limited, so the state delta is empty).
    assert_eq!(event_ids(&incremental.timeline(&busy)), [message.clone()], "{:#}", incremental.body);
    assert!(incremental.state(&busy).is_empty(), "{:#}", incremental.body);
    assert_ne!(incremental.joined(&busy).unwrap()["timeline"]["limited"], json!(true), "{:#}", incremental.body);
    // The quiet room had no updates: absent, or present with nothing new.
    assert!(incremental.timeline(&quiet).is_empty() && incremental.state(&quiet).is_empty(), "{:#}", incremental.body);

    // And from the newest token, nothing at all is new.
    let again = alice.sync_with(Some(&incremental.next_batch), "").await;
    assert!(again.timeline(&busy).is_empty(), "{:#}", again.body);
}
both_backends!(a_message_sent_after_an_initial_sync_appears_in_the_timeline_of_an_incremental_sync);

async fn sync_with_the_same_since_token_returns_the_same_events(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let since = alice.sync_token().await;
    let first = alice.send_message(&room_id, "one").await;
    let second = alice.send_message(&room_id, "two").await;

    // `since` is "a point in time to continue a sync from": a client that
    // lost an answer retries from the same point and must not lose events.
    let a = alice.sync_with(Some(&since), "").await;
    let b = alice.sync_with(Some(&since), "").await;

    assert_eq!(event_ids(&a.timeline(&room_id)), [first.clone(), second.clone()], "{:#}", a.body);
    assert_eq!(event_ids(&b.timeline(&room_id)), [first, second], "{:#}", b.body);
}
both_backends!(sync_with_the_same_since_token_returns_the_same_events);

async fn can_sync_a_room_with_a_message_with_a_transaction_id(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    let other_device = alice.login_again().await;
    let alice_since = alice.sync_token().await;
    let device_since = other_device.sync_token().await;
    let bob_since = bob.sync_token().await;

    let path = room_path(&room_id, "/send/m.room.message/my-txn-1");
    let event_id = alice.put(&path, json!({"msgtype": "m.text", "body": "with txn"})).await.expect_ok()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // unsigned.transaction_id: present "if the client being given the event
    // is the same one which sent it" — and only then.
    let txn_in = |synced: &Synced| {
        synced
            .timeline(&room_id)
            .into_iter()
            .find(|e| e["event_id"] == event_id.as_str())
            .unwrap_or_else(|| panic!("the message is missing: {:#}", synced.body))["unsigned"]["transaction_id"]
            .clone()
    };
    assert_eq!(txn_in(&alice.sync_with(Some(&alice_since), "").await), json!("my-txn-1"));
    assert_eq!(txn_in(&other_device.sync_with(Some(&device_since), "").await), Value::Null);
    assert_eq!(txn_in(&bob.sync_with(Some(&bob_since), "").await), Value::Null);
}
both_backends!(can_sync_a_room_with_a_message_with_a_transaction_id);

async fn sync_long_poll_wakes_up_when_a_message_arrives(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    let since = alice.sync_token().await;

    let sender = bob.clone();
    let sending_room = room_id.clone();
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let sent_at = Instant::now();
        (sender.send_message(&sending_room, "wake up").await, sent_at)
    });
    let started = Instant::now();
    let synced = alice.sync_with(Some(&since), "timeout=10000").await;
    let returned_at = Instant::now();
    let (event_id, sent_at) = send.await.expect("the sending task");

    // "The server will then hold open the HTTP connection ... returning
    // early if an event occurs."
    assert!(synced.timeline_has(&room_id, &event_id), "the long poll returned without the message: {:#}", synced.body);
    let after_send = returned_at.saturating_duration_since(sent_at);
    assert!(after_send < Duration::from_secs(2), "the long poll woke {after_send:?} after the send");
    assert!(started.elapsed() < Duration::from_secs(5), "the long poll took {:?} of its 10 s", started.elapsed());
}
both_backends!(sync_long_poll_wakes_up_when_a_message_arrives);

async fn sync_long_poll_without_news_returns_empty_after_the_timeout(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let before = alice.send_message(&room_id, "old news").await;
    let since = alice.sync_token().await;

    let synced = alice.sync_with(Some(&since), "timeout=1500").await;

    // "If no events ... become available before this time elapses, the
    // server will return a response with empty fields."
    assert!(synced.elapsed >= Duration::from_millis(1200), "returned after only {:?}", synced.elapsed);
    assert!(synced.elapsed < Duration::from_millis(6000), "returned after {:?}", synced.elapsed);
    for section in ["join", "invite", "leave", "knock"] {
        for id in synced.room_ids(section) {
            assert!(synced.timeline(&id).is_empty() && synced.state(&id).is_empty(), "{:#}", synced.body);
        }
    }
    // The new token is the same point or a later one: nothing before it
    // comes back, and what follows it does.
    let after = alice.send_message(&room_id, "news").await;
    let next = alice.sync_with(Some(&synced.next_batch), "").await;
    assert_eq!(event_ids(&next.timeline(&room_id)), [after], "{:#}", next.body);
    assert!(!next.timeline_has(&room_id, &before));
}
both_backends!(sync_long_poll_without_news_returns_empty_after_the_timeout);

async fn a_full_state_incremental_update_returns_all_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "name": "Full"})).await;
    bob.join(&room_id).await;
    let since = alice.sync_token().await;
    let message = bob.send_message(&room_id, "new").await;

    let synced = alice.sync_with(Some(&since), "full_state=true").await;

    // "all state events will be returned, even if since is non-empty. The
    // timeline will still be limited by the since parameter."
    assert_covers_current_state(&synced, &room_id, &alice.room_state(&room_id).await);
    assert_eq!(event_ids(&synced.timeline(&room_id)), [message], "{:#}", synced.body);
    let state = state_keys(&synced.state(&room_id));
    assert!(state.contains(&("m.room.create".to_owned(), String::new())), "{state:?}");
    assert!(state.contains(&("m.room.member".to_owned(), bob.user_id.clone())), "{state:?}");
}
both_backends!(a_full_state_incremental_update_returns_all_state);

async fn a_full_state_sync_ignores_the_timeout(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let since = alice.sync_token().await;

    // "In this case, the timeout parameter will be ignored and the query
    // will return immediately, possibly with an empty timeline."
    let synced = alice.sync_with(Some(&since), "full_state=true&timeout=10000").await;

    assert!(synced.elapsed < Duration::from_secs(5), "took {:?}", synced.elapsed);
    assert_covers_current_state(&synced, &room_id, &alice.room_state(&room_id).await);
}
both_backends!(a_full_state_sync_ignores_the_timeout);

async fn newly_joined_room_is_included_in_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "name": "Late join"})).await;
    alice.send_message(&room_id, "before bob").await;
    let since = bob.sync_token().await;

    bob.join(&room_id).await;
    let synced = bob.sync_with(Some(&since), "").await;

    // A room joined since the token arrives with its full state, and its
    // timeline ends with (or after) bob's join.
    assert!(synced.joined(&room_id).is_some(), "{:#}", synced.body);
    assert_covers_current_state(&synced, &room_id, &bob.room_state(&room_id).await);
    let timeline = synced.timeline(&room_id);
    assert!(
        timeline.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == bob.user_id.as_str()
            && e["content"]["membership"] == "join"),
        "bob's join is not in the timeline: {:#}",
        synced.body
    );
}
both_backends!(newly_joined_room_is_included_in_an_incremental_sync);

async fn newly_joined_members_appear_in_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let since = alice.sync_token().await;

    bob.join(&room_id).await;
    let synced = alice.sync_until(&since, "", "bob's join", |s| !s.timeline(&room_id).is_empty()).await;

    let timeline = synced.timeline(&room_id);
    assert!(
        timeline.iter().any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str()),
        "{:#}",
        synced.body
    );
}
both_backends!(newly_joined_members_appear_in_an_incremental_sync);

async fn a_limited_timeline_has_a_prev_batch_that_paginates_the_gap(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let filter = inline_filter(&json!({"room": {"timeline": {"limit": 3}}}));
    let since = alice.sync_with(None, &filter).await.next_batch;
    let mut sent = Vec::new();
    for i in 1..=10 {
        sent.push(alice.send_message(&room_id, &format!("m{i}")).await);
    }

    let synced = alice.sync_with(Some(&since), &filter).await;

    let room = synced.joined(&room_id).unwrap_or_else(|| panic!("{:#}", synced.body));
    assert_eq!(room["timeline"]["limited"], json!(true), "more events than the limit arrived: {room:#}");
    assert_eq!(event_ids(&synced.timeline(&room_id)), sent[7..].to_vec(), "the most recent three: {room:#}");
    let prev_batch = room["timeline"]["prev_batch"]
        .as_str()
        .unwrap_or_else(|| panic!("a limited timeline needs prev_batch: {room:#}"));

    // Backwards from prev_batch: exactly the events before the timeline.
    let back = alice.messages(&room_id, &format!("dir=b&limit=7&from={}", enc(prev_batch))).await;
    let chunk = back.expect_chunk();
    assert_eq!(message_bodies(chunk), ["m7", "m6", "m5", "m4", "m3", "m2", "m1"], "{back:?}");
    assert_eq!(event_ids(chunk).into_iter().rev().collect::<Vec<_>>(), sent[..7].to_vec(), "{back:?}");
}
both_backends!(a_limited_timeline_has_a_prev_batch_that_paginates_the_gap);

async fn a_prev_batch_token_can_be_used_in_the_messages_api(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    for i in 1..=5 {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }
    let filter = inline_filter(&json!({"room": {"timeline": {"limit": 2}}}));

    let synced = alice.sync_with(None, &filter).await;

    let room = synced.joined(&room_id).unwrap_or_else(|| panic!("{:#}", synced.body));
    assert_eq!(message_bodies(&synced.timeline(&room_id)), ["m4", "m5"], "{room:#}");
    assert_eq!(room["timeline"]["limited"], json!(true), "{room:#}");
    let prev_batch = room["timeline"]["prev_batch"].as_str().unwrap_or_else(|| panic!("no prev_batch: {room:#}"));
    let reply = alice.messages(&room_id, &format!("dir=b&limit=3&from={}", enc(prev_batch))).await;
    assert_eq!(message_bodies(reply.expect_chunk()), ["m3", "m2", "m1"], "{reply:?}");
}
both_backends!(a_prev_batch_token_can_be_used_in_the_messages_api);

async fn a_gap_can_be_closed_with_messages_from_since_to_prev_batch(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let filter = inline_filter(&json!({"room": {"timeline": {"limit": 2}}}));
    let since = alice.sync_with(None, &filter).await.next_batch;
    let mut sent = Vec::new();
    for i in 1..=6 {
        sent.push(alice.send_message(&room_id, &format!("m{i}")).await);
    }
    let synced = alice.sync_with(Some(&since), &filter).await;
    let room = synced.joined(&room_id).unwrap_or_else(|| panic!("{:#}", synced.body));
    let prev_batch = room["timeline"]["prev_batch"].as_str().unwrap_or_else(|| panic!("no prev_batch: {room:#}"));

    // "To close the gap, the client should make a request to
    // /rooms/{roomId}/messages with the query parameters from=x-y-z and
    // to=d-e-f" (the previous next_batch and this prev_batch).
    let gap = alice.messages(&room_id, &format!("dir=f&limit=50&from={}&to={}", enc(&since), enc(prev_batch))).await;

    assert_eq!(event_ids(gap.expect_chunk()), sent[..4].to_vec(), "{gap:?}");
}
both_backends!(a_gap_can_be_closed_with_messages_from_since_to_prev_batch);

async fn a_next_batch_token_can_be_used_in_the_messages_api(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    alice.send_message(&room_id, "before").await;
    let next_batch = alice.sync_token().await;
    alice.send_message(&room_id, "after 1").await;
    alice.send_message(&room_id, "after 2").await;

    // /messages `from`: "This token can be obtained from a prev_batch or
    // next_batch token returned by the /sync endpoint".
    let forwards = alice.messages(&room_id, &format!("dir=f&limit=10&from={}", enc(&next_batch))).await;
    let backwards = alice.messages(&room_id, &format!("dir=b&limit=1&from={}", enc(&next_batch))).await;

    assert_eq!(message_bodies(forwards.expect_chunk()), ["after 1", "after 2"], "{forwards:?}");
    assert_eq!(message_bodies(backwards.expect_chunk()), ["before"], "{backwards:?}");
}
both_backends!(a_next_batch_token_can_be_used_in_the_messages_api);

async fn an_unlimited_timeline_is_not_limited(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let filter = inline_filter(&json!({"room": {"timeline": {"limit": 10}}}));
    let since = alice.sync_with(None, &filter).await.next_batch;
    alice.send_message(&room_id, "one").await;
    alice.send_message(&room_id, "two").await;

    let synced = alice.sync_with(Some(&since), &filter).await;

    // `limited`: "True if the number of events returned was limited by the
    // limit on the filter" — two of ten were not.
    let room = synced.joined(&room_id).unwrap_or_else(|| panic!("{:#}", synced.body));
    assert_ne!(room["timeline"]["limited"], json!(true), "{room:#}");
    assert_eq!(message_bodies(&synced.timeline(&room_id)), ["one", "two"]);
}
both_backends!(an_unlimited_timeline_is_not_limited);

async fn a_gapped_sync_returns_the_state_changes_of_the_gap(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let filter = inline_filter(&json!({"room": {"timeline": {"limit": 2}}}));
    let since = alice.sync_with(None, &filter).await.next_batch;

    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "changed in the gap"})).await;
    bob.join(&room_id).await;
    for i in 1..=5 {
        alice.send_message(&room_id, &format!("m{i}")).await;
    }
    let synced = alice.sync_with(Some(&since), &filter).await;

    // "The limited response includes a state delta which describes how the
    // state of the room changes over the gap."
    assert_eq!(synced.joined(&room_id).unwrap()["timeline"]["limited"], json!(true), "{:#}", synced.body);
    let state = synced.state(&room_id);
    let topic = state.iter().find(|e| e["type"] == "m.room.topic").unwrap_or_else(|| panic!("{:#}", synced.body));
    assert_eq!(topic["content"]["topic"], "changed in the gap");
    assert!(
        state.iter().any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str()),
        "bob's join in the gap: {:#}",
        synced.body
    );
}
both_backends!(a_gapped_sync_returns_the_state_changes_of_the_gap);

async fn room_summary_counts_change_when_membership_changes(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    // No name and no alias: m.heroes is required.
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    charlie.join(&room_id).await;
    alice.invite(&room_id, &bob.user_id).await;

    let initial = alice.initial_sync().await;

    let summary = &initial.joined(&room_id).unwrap_or_else(|| panic!("{:#}", initial.body))["summary"];
    assert_eq!(summary["m.joined_member_count"], 2, "{summary:#}");
    assert_eq!(summary["m.invited_member_count"], 1, "{summary:#}");
    let heroes: HashSet<&str> = summary["m.heroes"]
        .as_array()
        .unwrap_or_else(|| panic!("m.heroes is required for an unnamed room: {summary:#}"))
        .iter()
        .map(|h| h.as_str().expect("a hero is a user id"))
        .collect();
    // "the first 5 members ... which are joined or invited", never the
    // syncing user.
    assert_eq!(heroes, HashSet::from([bob.user_id.as_str(), charlie.user_id.as_str()]), "{summary:#}");

    bob.join(&room_id).await;
    let synced = alice.sync_until(&initial.next_batch, "", "bob's join", |s| !s.timeline(&room_id).is_empty()).await;
    // The counts changed, so they are required now.
    let summary = &synced.joined(&room_id).unwrap()["summary"];
    assert_eq!(summary["m.joined_member_count"], 3, "{summary:#}");
    assert_eq!(summary["m.invited_member_count"], 0, "{summary:#}");
}
both_backends!(room_summary_counts_change_when_membership_changes);

async fn invite_appears_in_the_invite_section_with_stripped_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"name": "Invitation"})).await;
    let since = bob.sync_token().await;

    alice.invite(&room_id, &bob.user_id).await;
    let incremental = bob.sync_until(&since, "", "the invite", |s| s.invited(&room_id).is_some()).await;
    let initial = bob.initial_sync().await;

    for synced in [&incremental, &initial] {
        assert!(synced.joined(&room_id).is_none(), "{:#}", synced.body);
        let events = synced.invite_state(&room_id);
        // Stripped state events "can only have the sender, type, state_key
        // and content properties present".
        for event in &events {
            let keys: HashSet<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
            assert!(keys.is_subset(&HashSet::from(["sender", "type", "state_key", "content"])), "{event:#}");
        }
        let invite = events
            .iter()
            .find(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str())
            .unwrap_or_else(|| panic!("no invite member event in invite_state: {:#}", synced.body));
        assert_eq!(invite["content"]["membership"], "invite");
        assert_eq!(invite["sender"], alice.user_id.as_str());
        // m.room.create is required in invite_state (since v1.16).
        assert!(events.iter().any(|e| e["type"] == "m.room.create"), "{:#}", synced.body);
        let name = events.iter().find(|e| e["type"] == "m.room.name");
        if let Some(name) = name {
            assert_eq!(name["content"]["name"], "Invitation");
        }
    }

    // Accepting moves the room from invite to join.
    bob.join(&room_id).await;
    let joined = bob.sync_until(&incremental.next_batch, "", "the join", |s| s.joined(&room_id).is_some()).await;
    assert!(joined.invited(&room_id).is_none(), "{:#}", joined.body);
    assert!(bob.initial_sync().await.invited(&room_id).is_none());
}
both_backends!(invite_appears_in_the_invite_section_with_stripped_state);

async fn rejected_invite_leaves_the_invite_section(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({})).await;
    alice.invite(&room_id, &bob.user_id).await;
    let since = bob.sync_token().await;

    bob.leave(&room_id).await;
    let synced = bob.sync_until(&since, "", "the rejection", |s| s.invited(&room_id).is_none()).await;

    assert!(synced.joined(&room_id).is_none(), "{:#}", synced.body);
    assert!(bob.initial_sync().await.invited(&room_id).is_none());
}
both_backends!(rejected_invite_leaves_the_invite_section);

async fn knock_appears_in_the_knock_section(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"room_version": "10", "name": "Knock knock"})).await;
    alice.set_state(&room_id, "m.room.join_rules", "", json!({"join_rule": "knock"})).await;
    let since = bob.sync_token().await;

    bob.post(&format!("/knock/{}", enc(&room_id)), json!({"reason": "let me in"})).await.expect_ok();
    let synced = bob.sync_until(&since, "", "the knock", |s| s.knocked(&room_id).is_some()).await;

    let events = synced.knock_state(&room_id);
    let knock = events
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str())
        .unwrap_or_else(|| panic!("no knock member event in knock_state: {:#}", synced.body));
    assert_eq!(knock["content"]["membership"], "knock");
    assert!(events.iter().any(|e| e["type"] == "m.room.create"), "{:#}", synced.body);
    assert!(synced.joined(&room_id).is_none() && synced.invited(&room_id).is_none(), "{:#}", synced.body);
}
both_backends!(knock_appears_in_the_knock_section);

async fn newly_left_rooms_appear_in_the_leave_section_of_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    let include_leave = inline_filter(&json!({"room": {"include_leave": true}}));
    let since = bob.sync_with(None, &include_leave).await.next_batch;

    bob.leave(&room_id).await;
    let synced = bob.sync_until(&since, &include_leave, "the leave", |s| s.left(&room_id).is_some()).await;

    assert!(synced.joined(&room_id).is_none(), "{:#}", synced.body);
    let leave = departure(&synced, &room_id, &bob.user_id);
    assert_eq!(leave["content"]["membership"], "leave", "{leave:#}");
    assert_eq!(leave["sender"], bob.user_id.as_str(), "{leave:#}");
    // Without include_leave the room is at least no longer joined.
    let plain = bob.sync_with(Some(&since), "").await;
    assert!(plain.joined(&room_id).is_none(), "{:#}", plain.body);
}
both_backends!(newly_left_rooms_appear_in_the_leave_section_of_incremental_sync);

async fn left_rooms_appear_in_the_leave_section_of_sync_only_with_include_leave(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.send_message(&room_id, "while bob was there").await;
    bob.leave(&room_id).await;
    alice.send_message(&room_id, "after bob left").await;

    let with = bob.sync_with(None, &inline_filter(&json!({"room": {"include_leave": true}}))).await;
    let without = bob.initial_sync().await;

    // include_leave: "Include rooms that the user has left in the sync.
    // Defaults to false."
    assert!(with.left(&room_id).is_some(), "{:#}", with.body);
    let bodies = message_bodies(&with.left_timeline(&room_id));
    assert!(!bodies.contains(&"after bob left".to_owned()), "the leave timeline stops at the leave: {bodies:?}");
    assert!(without.left(&room_id).is_none() && without.joined(&room_id).is_none(), "{:#}", without.body);
}
both_backends!(left_rooms_appear_in_the_leave_section_of_sync_only_with_include_leave);

async fn kicked_and_banned_rooms_appear_in_the_leave_section(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = alice_and_bob(&hs).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    charlie.join(&room_id).await;
    let include_leave = inline_filter(&json!({"room": {"include_leave": true}}));
    let bob_since = bob.sync_with(None, &include_leave).await.next_batch;
    let charlie_since = charlie.sync_with(None, &include_leave).await.next_batch;

    alice.post(&room_path(&room_id, "/kick"), json!({"user_id": bob.user_id})).await.expect_ok();
    alice.post(&room_path(&room_id, "/ban"), json!({"user_id": charlie.user_id})).await.expect_ok();

    // The leave section: "The rooms that the user has left or been banned
    // from".
    for (who, since, membership) in [(&bob, bob_since, "leave"), (&charlie, charlie_since, "ban")] {
        let synced = who.sync_until(&since, &include_leave, membership, |s| s.left(&room_id).is_some()).await;
        assert!(synced.joined(&room_id).is_none(), "{:#}", synced.body);
        let event = departure(&synced, &room_id, &who.user_id);
        assert_eq!(event["content"]["membership"], membership);
        assert_eq!(event["sender"], alice.user_id.as_str());
    }
}
both_backends!(kicked_and_banned_rooms_appear_in_the_leave_section);

async fn sync_requires_an_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    hs.api().get("/sync").await.expect_error(401, "M_MISSING_TOKEN");
    hs.api().get_as("not-a-token", "/sync").await.expect_error(401, "M_UNKNOWN_TOKEN");
}
both_backends!(sync_requires_an_access_token);
