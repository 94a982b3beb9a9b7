//! Room state — mirrors Complement's `rooms_state`, `apidoc_room_state` and
//! the state half of `room_leave`; spec: client-server API "Room
//! participation" (`PUT`/`GET /rooms/{roomId}/state/{eventType}/{stateKey}`,
//! `GET /rooms/{roomId}/state`), "Size limits", and the authorisation rules
//! (state keys starting with `@`).

use nexus_complement::{Backend, Homeserver, both_backends, expect_event_id, find_state, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn state_event_can_be_set_and_read_back(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Tea"})).await;
    alice.set_state(&room_id, "com.example.widget", "left", json!({"size": 3, "tags": ["a", "b"]})).await;

    assert_eq!(alice.state_content(&room_id, "m.room.topic", "").await["topic"], "Tea");
    assert_eq!(
        alice.state_content(&room_id, "com.example.widget", "left").await,
        json!({"size": 3, "tags": ["a", "b"]})
    );
}
both_backends!(state_event_can_be_set_and_read_back);

async fn state_paths_without_trailing_slash_use_the_empty_state_key(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    // "When an empty string, the trailing slash on this endpoint is optional."
    let put = alice.put(&room_path(&room_id, "/state/m.room.name"), json!({"name": "No slash"})).await;
    expect_event_id(&put);
    assert_eq!(alice.state_content(&room_id, "m.room.name", "").await["name"], "No slash");

    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "With slash"})).await;
    let get = alice.get(&room_path(&room_id, "/state/m.room.topic")).await;
    assert_eq!(get.expect_ok()["topic"], "With slash", "{get:?}");
}
both_backends!(state_paths_without_trailing_slash_use_the_empty_state_key);

async fn get_state_with_format_event_returns_the_whole_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let event_id = alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Whole"})).await;

    let reply = alice.get(&format!("{}?format=event", room_path(&room_id, "/state/m.room.topic/"))).await;

    let event = reply.expect_ok();
    assert_eq!(event["event_id"], event_id.as_str(), "{reply:?}");
    assert_eq!(event["type"], "m.room.topic", "{reply:?}");
    assert_eq!(event["state_key"], "", "{reply:?}");
    assert_eq!(event["sender"], alice.user_id.as_str(), "{reply:?}");
    assert_eq!(event["content"]["topic"], "Whole", "{reply:?}");
    assert!(event["origin_server_ts"].is_u64(), "{reply:?}");
    // `format=content` is the default.
    let content = alice.get(&format!("{}?format=content", room_path(&room_id, "/state/m.room.topic/"))).await;
    assert_eq!(content.expect_ok(), &json!({"topic": "Whole"}));
}
both_backends!(get_state_with_format_event_returns_the_whole_event);

async fn missing_state_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    alice.set_state(&room_id, "com.example.widget", "left", json!({"size": 1})).await;

    // "404: The room has no state with the given type or key."
    alice.get_state(&room_id, "m.room.topic", "").await.expect_error(404, "M_NOT_FOUND");
    alice.get_state(&room_id, "com.example.widget", "right").await.expect_error(404, "M_NOT_FOUND");
    alice.get_state(&room_id, "com.example.widget", "").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(missing_state_is_not_found);

async fn state_with_same_type_and_key_is_overwritten(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    let first = alice.set_state(&room_id, "com.example.widget", "k", json!({"v": 1})).await;
    let second = alice.set_state(&room_id, "com.example.widget", "k", json!({"v": 2})).await;
    alice.set_state(&room_id, "com.example.widget", "other", json!({"v": 3})).await;

    // "These events will be overwritten if <room id>, <event type> and
    // <state key> all match."
    assert_ne!(first, second);
    let state = alice.room_state(&room_id).await;
    let widgets: Vec<&Value> = state.as_array().unwrap().iter().filter(|e| e["type"] == "com.example.widget").collect();
    assert_eq!(widgets.len(), 2, "{state:#}");
    let k = find_state(&state, "com.example.widget", "k").unwrap();
    assert_eq!(k["content"], json!({"v": 2}));
    assert_eq!(k["event_id"], second.as_str());
    assert_eq!(find_state(&state, "com.example.widget", "other").unwrap()["content"], json!({"v": 3}));
}
both_backends!(state_with_same_type_and_key_is_overwritten);

async fn setting_identical_state_twice_succeeds(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    alice.set_state(&room_id, "m.room.name", "", json!({"name": "Same"})).await;
    alice.set_state(&room_id, "m.room.name", "", json!({"name": "Same"})).await;

    assert_eq!(alice.state_content(&room_id, "m.room.name", "").await, json!({"name": "Same"}));
}
both_backends!(setting_identical_state_twice_succeeds);

async fn room_state_events_are_client_events(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"name": "Shaped"})).await;

    let state = alice.room_state(&room_id).await;

    let events = state.as_array().unwrap();
    assert!(events.len() >= 4, "{state:#}");
    for event in events {
        // ClientEvent: event_id, type, sender, origin_server_ts, content,
        // room_id required; state_key present for state events.
        assert!(event["event_id"].as_str().is_some_and(|id| id.starts_with('$')), "{event:#}");
        assert!(event["type"].is_string(), "{event:#}");
        assert!(event["state_key"].is_string(), "{event:#}");
        assert!(event["sender"].as_str().is_some_and(|s| s.starts_with('@')), "{event:#}");
        assert!(event["origin_server_ts"].is_u64(), "{event:#}");
        assert!(event["content"].is_object(), "{event:#}");
        assert_eq!(event["room_id"], room_id.as_str(), "{event:#}");
    }
    let mut keys: Vec<(String, String)> =
        events.iter().map(|e| (e["type"].to_string(), e["state_key"].to_string())).collect();
    let count = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), count, "one event per (type, state_key) in the current state: {state:#}");
}
both_backends!(room_state_events_are_client_events);

async fn non_member_cannot_read_or_set_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "name": "Members only"})).await;

    // "403: You aren't a member of the room and weren't previously a member".
    bob.get(&room_path(&room_id, "/state")).await.expect_error(403, "M_FORBIDDEN");
    bob.get_state(&room_id, "m.room.name", "").await.expect_error(403, "M_FORBIDDEN");
    bob.set_state_reply(&room_id, "m.room.topic", "", json!({"topic": "Intruder"}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    alice.get_state(&room_id, "m.room.topic", "").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(non_member_cannot_read_or_set_state);

async fn left_member_sees_state_as_of_leaving(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Before"})).await;
    bob.leave(&room_id).await;

    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "After"})).await;
    alice.set_state(&room_id, "m.room.name", "", json!({"name": "Named after"})).await;

    // "If the user has left the room then the state is taken from the state
    // of the room when they left."
    assert_eq!(bob.state_content(&room_id, "m.room.topic", "").await["topic"], "Before");
    bob.get_state(&room_id, "m.room.name", "").await.expect_error(404, "M_NOT_FOUND");
    let state = bob.room_state(&room_id).await;
    assert_eq!(find_state(&state, "m.room.topic", "").unwrap()["content"]["topic"], "Before");
    assert!(find_state(&state, "m.room.name", "").is_none(), "{state:#}");
    assert_eq!(find_state(&state, "m.room.member", &bob.user_id).unwrap()["content"]["membership"], "leave");
}
both_backends!(left_member_sees_state_as_of_leaving);

async fn state_key_of_another_user_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "power_level_content_override": {"events": {"com.example.owned": 0}},
        }))
        .await;
    bob.join(&room_id).await;

    // Authorisation rules: "If the event has a state_key that starts with an
    // @ and does not match the sender, reject." — even for the creator.
    alice
        .set_state_reply(&room_id, "com.example.owned", &bob.user_id, json!({"mine": true}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    // Bob may set it for himself.
    bob.set_state(&room_id, "com.example.owned", &bob.user_id, json!({"mine": true})).await;
}
both_backends!(state_key_of_another_user_is_forbidden);

async fn oversized_state_event_is_too_large(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    // "The complete event MUST NOT be larger than 65536 bytes".
    let reply = alice.set_state_reply(&room_id, "com.example.big", "", json!({"data": "x".repeat(70_000)})).await;

    assert!(reply.status == 413 || reply.status == 400, "{reply:?}");
    reply.expect_error(reply.status, "M_TOO_LARGE");
    alice.get_state(&room_id, "com.example.big", "").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(oversized_state_event_is_too_large);

async fn state_key_over_255_bytes_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    // "state_key MUST NOT exceed 255 bytes."
    let long_key = "k".repeat(256);
    let reply = alice.set_state_reply(&room_id, "com.example.keyed", &long_key, json!({})).await;

    assert!(reply.status == 400 || reply.status == 413, "{reply:?}");
    reply.expect_standard_error();
    // 255 bytes is fine.
    alice.set_state(&room_id, "com.example.keyed", &"k".repeat(255), json!({})).await;
}
both_backends!(state_key_over_255_bytes_is_rejected);

/// A state event that replaces another carries the old one in `unsigned`
/// (`prev_content`, `replaces_state`, `prev_sender`) wherever it is served —
/// clients tell "changed the topic" or "changed their name" from "joined" by
/// it — and a redaction of the old event shows there too.
async fn replaced_state_is_served_with_prev_content(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let first = alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Tea"})).await;
    let second = alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Coffee"})).await;

    let event = alice.get_event(&room_id, &second).await;
    let unsigned = &event.expect_ok()["unsigned"];
    assert_eq!(unsigned["prev_content"], json!({"topic": "Tea"}), "{event:?}");
    assert_eq!(unsigned["replaces_state"], first.as_str(), "{event:?}");
    assert_eq!(unsigned["prev_sender"], alice.user_id.as_str(), "{event:?}");
    // The first topic replaced nothing.
    let event = alice.get_event(&room_id, &first).await;
    assert!(event.expect_ok()["unsigned"].get("prev_content").is_none(), "{event:?}");

    // A profile change is told apart from a join by it, in /messages too.
    let member_path = room_path(&room_id, &format!("/state/m.room.member/{}", nexus_complement::enc(&alice.user_id)));
    alice.put(&member_path, json!({"membership": "join", "displayname": "Alice A."})).await.expect_ok();
    let messages = alice.messages(&room_id, "dir=b&limit=1").await;
    let rename = &messages.expect_ok()["chunk"][0];
    assert_eq!(rename["content"]["displayname"], "Alice A.", "{rename}");
    assert_eq!(rename["unsigned"]["prev_content"]["membership"], "join", "{rename}");

    // Redacting the old topic redacts what is served as its content.
    alice.redact(&room_id, &first, json!({})).await.expect_ok();
    let event = alice.get_event(&room_id, &second).await;
    assert_eq!(event.expect_ok()["unsigned"]["prev_content"], json!({}), "{event:?}");
}
both_backends!(replaced_state_is_served_with_prev_content);
