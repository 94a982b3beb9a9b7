//! Room creation — mirrors Complement's `apidoc_room_create` and the
//! createRoom half of `rooms_state`; spec: client-server API "Creation"
//! (`POST /createRoom`: presets, `initial_state`, `name`/`topic`, `invite`,
//! `is_direct`, `room_version`, `creation_content`,
//! `power_level_content_override`), "Permissions", and the room version
//! specifications (creators' power in v1–11 versus v12).

use nexus_complement::{Backend, Homeserver, Session, both_backends, find_state};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// The current state of the room as the creator sees it, asserting that
/// the events every created room has are there.
async fn created_state(alice: &Session, room_id: &str) -> Value {
    let state = alice.room_state(room_id).await;
    for (event_type, state_key) in
        [("m.room.create", ""), ("m.room.member", alice.user_id.as_str()), ("m.room.power_levels", "")]
    {
        assert!(find_state(&state, event_type, state_key).is_some(), "no {event_type} in the new room: {state:#}");
    }
    state
}

fn content<'a>(state: &'a Value, event_type: &str, state_key: &str) -> &'a Value {
    &find_state(state, event_type, state_key).unwrap_or_else(|| panic!("no {event_type} in {state:#}"))["content"]
}

async fn create_room_makes_the_creator_a_member_of_a_version_12_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({})).await;

    let state = created_state(&alice, &room_id).await;
    let create = find_state(&state, "m.room.create", "").unwrap();
    // "The event `sender` is the user ID of the room creator."
    assert_eq!(create["sender"], alice.user_id.as_str(), "{create:#}");
    // The server's configured default room version is 12 (capabilities).
    assert_eq!(create["content"]["room_version"], "12", "{create:#}");
    let member = find_state(&state, "m.room.member", &alice.user_id).unwrap();
    assert_eq!(member["content"]["membership"], "join", "{member:#}");
    assert_eq!(member["sender"], alice.user_id.as_str(), "{member:#}");
    for event in state.as_array().unwrap() {
        assert_eq!(event["room_id"], room_id.as_str(), "every state event names the room: {event:#}");
    }
    assert!(alice.joined_rooms().await.contains(&room_id));
}
both_backends!(create_room_makes_the_creator_a_member_of_a_version_12_room);

async fn create_room_without_preset_or_visibility_is_private_chat(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({})).await;

    // visibility defaults to private, and "private visibility equates to a
    // preset of private_chat".
    let state = created_state(&alice, &room_id).await;
    assert_eq!(content(&state, "m.room.join_rules", "")["join_rule"], "invite");
    assert_eq!(content(&state, "m.room.history_visibility", "")["history_visibility"], "shared");
    assert_eq!(content(&state, "m.room.guest_access", "")["guest_access"], "can_join");
}
both_backends!(create_room_without_preset_or_visibility_is_private_chat);

async fn create_room_private_chat_preset(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;

    let state = created_state(&alice, &room_id).await;
    assert_eq!(content(&state, "m.room.join_rules", "")["join_rule"], "invite");
    assert_eq!(content(&state, "m.room.history_visibility", "")["history_visibility"], "shared");
    assert_eq!(content(&state, "m.room.guest_access", "")["guest_access"], "can_join");
}
both_backends!(create_room_private_chat_preset);

async fn create_room_public_chat_preset(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    let state = created_state(&alice, &room_id).await;
    assert_eq!(content(&state, "m.room.join_rules", "")["join_rule"], "public");
    assert_eq!(content(&state, "m.room.history_visibility", "")["history_visibility"], "shared");
    assert_eq!(content(&state, "m.room.guest_access", "")["guest_access"], "forbidden");
}
both_backends!(create_room_public_chat_preset);

async fn create_room_public_visibility_implies_public_chat(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({"visibility": "public"})).await;

    // "A visibility of public equates to a preset of public_chat".
    let state = created_state(&alice, &room_id).await;
    assert_eq!(content(&state, "m.room.join_rules", "")["join_rule"], "public");
    assert_eq!(content(&state, "m.room.guest_access", "")["guest_access"], "forbidden");
}
both_backends!(create_room_public_visibility_implies_public_chat);

async fn create_room_trusted_private_chat_gives_invitees_creator_power(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;

    // Version 11: the creator's level is an explicit 100 the invitee can share.
    let v11 = alice
        .create_room(json!({"preset": "trusted_private_chat", "room_version": "11", "invite": [bob.user_id]}))
        .await;
    // Version 12: the creator's power is infinite; the invitee SHOULD become
    // an additional creator ("users specified in the invite parameter SHOULD
    // also be appended to additional_creators").
    let v12 = alice.create_room(json!({"preset": "trusted_private_chat", "invite": [bob.user_id]})).await;

    let state = created_state(&alice, &v11).await;
    assert_eq!(content(&state, "m.room.join_rules", "")["join_rule"], "invite");
    assert_eq!(content(&state, "m.room.history_visibility", "")["history_visibility"], "shared");
    assert_eq!(content(&state, "m.room.guest_access", "")["guest_access"], "can_join");
    assert_eq!(content(&state, "m.room.member", &bob.user_id)["membership"], "invite");
    let users = &content(&state, "m.room.power_levels", "")["users"];
    assert_eq!(users[&bob.user_id], users[&alice.user_id], "invitees get the creator's level: {users:#}");
    assert_eq!(users[&alice.user_id], 100, "{users:#}");

    let state = created_state(&alice, &v12).await;
    assert_eq!(content(&state, "m.room.member", &bob.user_id)["membership"], "invite");
    let additional = content(&state, "m.room.create", "")["additional_creators"].as_array().cloned();
    let bob_is_creator = additional.is_some_and(|a| a.iter().any(|u| u == bob.user_id.as_str()));
    let bob_level = content(&state, "m.room.power_levels", "")["users"][&bob.user_id].as_i64();
    assert!(
        bob_is_creator || bob_level.is_some_and(|l| l >= 100),
        "in v12 the invitee is an additional creator (or at least at 100): {state:#}"
    );
    if bob_is_creator {
        // v12 auth rule: creators cannot appear in power_levels.users.
        assert!(bob_level.is_none(), "an additional creator is listed in power_levels.users: {state:#}");
    }
}
both_backends!(create_room_trusted_private_chat_gives_invitees_creator_power);

async fn create_room_with_name_and_topic(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({"name": "The Grand Duke Pub", "topic": "All about happy hour"})).await;

    let state = created_state(&alice, &room_id).await;
    assert_eq!(content(&state, "m.room.name", "")["name"], "The Grand Duke Pub");
    let topic = content(&state, "m.room.topic", "");
    assert_eq!(topic["topic"], "All about happy hour");
    // "with a text/plain mimetype": if the m.topic block is there, it says so.
    if let Some(block) = topic.get("m.topic") {
        // TopicContentBlock: an object whose m.text is a list of
        // {body, mimetype}.
        let texts = block["m.text"].as_array().unwrap_or_else(|| panic!("m.topic is not {{m.text: [...]}}: {topic:#}"));
        assert!(
            texts
                .iter()
                .any(|t| t["body"] == "All about happy hour" && t.get("mimetype").is_none_or(|m| m == "text/plain")),
            "{topic:#}"
        );
    }
    assert_eq!(alice.state_content(&room_id, "m.room.name", "").await["name"], "The Grand Duke Pub");
}
both_backends!(create_room_with_name_and_topic);

async fn create_room_with_initial_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [
                {"type": "com.example.setting", "state_key": "colour", "content": {"value": "blue"}},
                // "state_key ... Defaults to an empty string."
                {"type": "com.example.flag", "content": {"on": true}},
                // "Takes precedence over events set by preset".
                {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}},
            ],
        }))
        .await;

    let state = created_state(&alice, &room_id).await;
    assert_eq!(content(&state, "com.example.setting", "colour")["value"], "blue");
    assert_eq!(content(&state, "com.example.flag", "")["on"], true);
    assert_eq!(content(&state, "m.room.history_visibility", "")["history_visibility"], "joined");
    assert_eq!(content(&state, "m.room.join_rules", "")["join_rule"], "public");
}
both_backends!(create_room_with_initial_state);

async fn create_room_name_and_topic_override_initial_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice
        .create_room(json!({
            "name": "From the name key",
            "topic": "From the topic key",
            "initial_state": [
                {"type": "m.room.name", "state_key": "", "content": {"name": "From initial_state"}},
                {"type": "m.room.topic", "state_key": "", "content": {"topic": "From initial_state"}},
            ],
        }))
        .await;

    let state = created_state(&alice, &room_id).await;
    assert_eq!(content(&state, "m.room.name", "")["name"], "From the name key");
    assert_eq!(content(&state, "m.room.topic", "")["topic"], "From the topic key");
}
both_backends!(create_room_name_and_topic_override_initial_state);

async fn create_room_power_level_content_override_is_applied(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;

    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "power_level_content_override": {
                "events_default": 20,
                "state_default": 60,
                "events": {"com.example.custom": 70},
                "users": {bob.user_id.clone(): 30},
            },
        }))
        .await;

    let state = created_state(&alice, &room_id).await;
    let levels = content(&state, "m.room.power_levels", "");
    assert_eq!(levels["events_default"], 20, "{levels:#}");
    assert_eq!(levels["state_default"], 60, "{levels:#}");
    assert_eq!(levels["events"]["com.example.custom"], 70, "{levels:#}");
    assert_eq!(levels["users"][&bob.user_id], 30, "{levels:#}");
    // The override is enforced: bob (30) may send messages, charlie (0) not.
    bob.join(&room_id).await;
    charlie.join(&room_id).await;
    bob.send_message(&room_id, "at 30").await;
    charlie
        .send_event_reply(&room_id, "m.room.message", json!({"msgtype": "m.text", "body": "at 0"}))
        .await
        .expect_error(403, "M_FORBIDDEN");
}
both_backends!(create_room_power_level_content_override_is_applied);

async fn create_room_override_leaving_creator_too_weak_is_invalid_room_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // "the user's power_level is set below that necessary to set the room
    // name (errcode set to M_INVALID_ROOM_STATE)". Version 11, where the
    // creator's level is whatever power_levels says.
    let reply = alice
        .post(
            "/createRoom",
            json!({
                "room_version": "11",
                "name": "Unreachable",
                "power_level_content_override": {"users": {alice.user_id.clone(): 10}, "state_default": 50},
            }),
        )
        .await;

    reply.expect_error(400, "M_INVALID_ROOM_STATE");
}
both_backends!(create_room_override_leaving_creator_too_weak_is_invalid_room_state);

async fn create_room_with_invite_and_is_direct(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;

    let room_id = alice.create_room(json!({"invite": [bob.user_id, charlie.user_id], "is_direct": true})).await;

    let state = created_state(&alice, &room_id).await;
    for invitee in [&bob, &charlie] {
        let member = find_state(&state, "m.room.member", &invitee.user_id)
            .unwrap_or_else(|| panic!("no invite for {invitee:?}: {state:#}"));
        assert_eq!(member["content"]["membership"], "invite", "{member:#}");
        assert_eq!(member["sender"], alice.user_id.as_str(), "{member:#}");
        // "This flag makes the server set the is_direct flag on the
        // m.room.member events sent to the users in invite".
        assert_eq!(member["content"]["is_direct"], true, "{member:#}");
    }
    // The room is invite-only (private_chat) and the invitees may join.
    assert_eq!(bob.join(&room_id).await, room_id);
}
both_backends!(create_room_with_invite_and_is_direct);

async fn create_room_in_every_supported_room_version(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    for version in 1..=12 {
        let version = version.to_string();
        let room_id = alice.create_room(json!({"room_version": version, "name": format!("v{version}")})).await;

        let state = created_state(&alice, &room_id).await;
        assert_eq!(content(&state, "m.room.create", "")["room_version"], version.as_str(), "{state:#}");
        assert_eq!(content(&state, "m.room.name", "")["name"], format!("v{version}"));
    }
}
both_backends!(create_room_in_every_supported_room_version);

async fn create_room_with_unknown_room_version_is_unsupported(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    for version in ["999", "org.example.no-such-version", "0"] {
        alice
            .post("/createRoom", json!({"room_version": version}))
            .await
            .expect_error(400, "M_UNSUPPORTED_ROOM_VERSION");
    }
    assert!(alice.joined_rooms().await.is_empty(), "a refused createRoom left a room behind");
}
both_backends!(create_room_with_unknown_room_version_is_unsupported);

async fn create_room_creation_content_is_merged_into_the_create_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    for version in ["10", "12"] {
        let room_id = alice
            .create_room(json!({
                "room_version": version,
                "creation_content": {
                    "m.federate": false,
                    "com.example.key": "kept",
                    // "The server will overwrite the following keys: creator,
                    // room_version."
                    "creator": "@mallory:example.org",
                    "room_version": "1",
                },
            }))
            .await;

        let state = created_state(&alice, &room_id).await;
        let create = content(&state, "m.room.create", "");
        assert_eq!(create["m.federate"], false, "{create:#}");
        assert_eq!(create["com.example.key"], "kept", "{create:#}");
        assert_eq!(create["room_version"], version, "{create:#}");
        if version == "10" {
            assert_eq!(create["creator"], alice.user_id.as_str(), "{create:#}");
        } else if let Some(creator) = create.get("creator") {
            // Version 11+ create events have no creator; if one is kept it
            // must not be the client's forgery.
            assert_eq!(creator, alice.user_id.as_str(), "{create:#}");
        }
    }
}
both_backends!(create_room_creation_content_is_merged_into_the_create_event);

async fn create_room_v12_creator_is_not_listed_in_power_levels(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({"room_version": "12"})).await;

    // "In room versions 12 and later, the room creator is given infinite
    // power level and cannot be specified in the users field".
    let state = created_state(&alice, &room_id).await;
    let levels = content(&state, "m.room.power_levels", "");
    if let Some(users) = levels.get("users") {
        assert!(users.get(&alice.user_id).is_none(), "the v12 creator is listed: {levels:#}");
    }
    // ...and yet may do everything: set the name, change power levels.
    alice.set_state(&room_id, "m.room.name", "", json!({"name": "Mine"})).await;
    let mut new_levels = levels.clone();
    new_levels["state_default"] = json!(75);
    alice.set_state(&room_id, "m.room.power_levels", "", new_levels).await;
}
both_backends!(create_room_v12_creator_is_not_listed_in_power_levels);

async fn create_room_v12_tombstone_needs_more_than_state_default(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let room_id = alice.create_room(json!({"room_version": "12"})).await;

    // "If the room's version is 12 or higher, the power level for sending
    // m.room.tombstone events MUST explicitly be higher than state_default."
    let state = created_state(&alice, &room_id).await;
    let levels = content(&state, "m.room.power_levels", "");
    let state_default = levels.get("state_default").map_or(Some(50), Value::as_i64).expect("integer state_default");
    let tombstone = levels["events"]["m.room.tombstone"]
        .as_i64()
        .unwrap_or_else(|| panic!("m.room.tombstone is not explicitly in events: {levels:#}"));
    assert!(tombstone > state_default, "{levels:#}");
}
both_backends!(create_room_v12_tombstone_needs_more_than_state_default);

async fn create_room_v10_and_v11_creator_has_power_level_100(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    for version in ["10", "11"] {
        let room_id = alice.create_room(json!({"room_version": version})).await;

        // "In room versions 1 through 11, the room creator (and not other
        // members) will be given permission to send state events."
        let state = created_state(&alice, &room_id).await;
        let levels = content(&state, "m.room.power_levels", "");
        assert_eq!(levels["users"][&alice.user_id], 100, "v{version}: {levels:#}");
    }
}
both_backends!(create_room_v10_and_v11_creator_has_power_level_100);

async fn create_room_rejects_malformed_parameters(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    for body in [
        json!({"preset": "no_such_preset"}),
        json!({"initial_state": [{"state_key": "", "content": {}}]}),
        json!({"invite": "@bob:example.org"}),
        json!({"name": 42}),
    ] {
        let reply = alice.post("/createRoom", body.clone()).await;
        assert_eq!(reply.status, 400, "{body} was accepted: {reply:?}");
        reply.expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM"]);
    }
    assert!(alice.joined_rooms().await.is_empty(), "a refused createRoom left a room behind");
}
both_backends!(create_room_rejects_malformed_parameters);

async fn create_room_requires_an_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    hs.api().post("/createRoom", json!({})).await.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(create_room_requires_an_access_token);
