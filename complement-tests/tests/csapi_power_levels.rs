//! Power levels — mirrors Complement's `power_levels`; spec: client-server
//! API "Permissions", `m.room.power_levels`, and the authorisation rules
//! for power levels (required levels, no granting above one's own level,
//! v12 creators not listed).

use nexus_complement::{Backend, Homeserver, Session, both_backends};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room (default version) with bob joined, with explicit
/// levels: state events need 50, `m.room.name` 50, messages 0.
async fn room_with_bob(hs: &Homeserver) -> (String, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "power_level_content_override": {
                "state_default": 50,
                "events_default": 0,
                "users_default": 0,
                "events": {"m.room.name": 50, "m.room.power_levels": 100},
            },
        }))
        .await;
    bob.join(&room_id).await;
    (room_id, alice, bob)
}

async fn power_levels(viewer: &Session, room_id: &str) -> Value {
    viewer.state_content(room_id, "m.room.power_levels", "").await
}

async fn power_levels_content_is_well_formed(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    let levels = power_levels(&alice, &room_id).await;

    for key in ["ban", "events_default", "invite", "kick", "redact", "state_default", "users_default"] {
        if let Some(value) = levels.get(key) {
            assert!(value.is_i64(), "{key} is not an integer: {levels:#}");
        }
    }
    for map in ["events", "users", "notifications"] {
        if let Some(value) = levels.get(map) {
            let object = value.as_object().unwrap_or_else(|| panic!("{map} is not an object: {levels:#}"));
            assert!(object.values().all(Value::is_i64), "{map} values are integers: {levels:#}");
        }
    }
}
both_backends!(power_levels_content_is_well_formed);

async fn user_without_state_power_cannot_set_room_name(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;

    // "If the event type's required power level is greater than the sender's
    // power level, reject."
    bob.set_state_reply(&room_id, "m.room.name", "", json!({"name": "Bob's room"}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    bob.set_state_reply(&room_id, "com.example.state", "", json!({"x": 1})).await.expect_error(403, "M_FORBIDDEN");

    alice.get_state(&room_id, "m.room.name", "").await.expect_error(404, "M_NOT_FOUND");
    // Messages only need events_default (0).
    bob.send_message(&room_id, "but I can talk").await;
}
both_backends!(user_without_state_power_cannot_set_room_name);

async fn promoted_user_can_set_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let mut levels = power_levels(&alice, &room_id).await;
    levels["users"][&bob.user_id] = json!(50);

    alice.set_state(&room_id, "m.room.power_levels", "", levels).await;

    assert_eq!(power_levels(&bob, &room_id).await["users"][&bob.user_id], 50);
    bob.set_state(&room_id, "m.room.name", "", json!({"name": "Bob's now"})).await;
    assert_eq!(alice.state_content(&room_id, "m.room.name", "").await["name"], "Bob's now");
}
both_backends!(promoted_user_can_set_state);

async fn user_without_power_cannot_change_power_levels(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let mut levels = power_levels(&bob, &room_id).await;
    levels["users"][&bob.user_id] = json!(100);

    bob.set_state_reply(&room_id, "m.room.power_levels", "", levels).await.expect_error(403, "M_FORBIDDEN");

    assert!(power_levels(&alice, &room_id).await["users"].get(&bob.user_id).is_none());
}
both_backends!(user_without_power_cannot_change_power_levels);

async fn user_cannot_grant_more_power_than_they_have(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "power_level_content_override": {
                "events": {"m.room.power_levels": 50},
                "users": {bob.user_id.clone(): 50},
            },
        }))
        .await;
    bob.join(&room_id).await;
    charlie.join(&room_id).await;
    let levels = power_levels(&bob, &room_id).await;

    // "If the new value is higher than the sender's current power level,
    // reject." — for oneself and for others.
    let mut raise_self = levels.clone();
    raise_self["users"][&bob.user_id] = json!(75);
    bob.set_state_reply(&room_id, "m.room.power_levels", "", raise_self).await.expect_error(403, "M_FORBIDDEN");
    let mut raise_charlie = levels.clone();
    raise_charlie["users"][&charlie.user_id] = json!(51);
    bob.set_state_reply(&room_id, "m.room.power_levels", "", raise_charlie).await.expect_error(403, "M_FORBIDDEN");

    // Up to one's own level is fine.
    let mut equal = levels.clone();
    equal["users"][&charlie.user_id] = json!(50);
    bob.set_state(&room_id, "m.room.power_levels", "", equal).await;
    assert_eq!(power_levels(&alice, &room_id).await["users"][&charlie.user_id], 50);
}
both_backends!(user_cannot_grant_more_power_than_they_have);

async fn events_default_gates_message_sending(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({"preset": "public_chat", "power_level_content_override": {"events_default": 10}}))
        .await;
    bob.join(&room_id).await;

    bob.send_event_reply(&room_id, "m.room.message", json!({"msgtype": "m.text", "body": "muted"}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    bob.send_event_reply(&room_id, "com.example.custom", json!({})).await.expect_error(403, "M_FORBIDDEN");

    alice.send_message(&room_id, "the creator may speak").await;
}
both_backends!(events_default_gates_message_sending);

async fn v12_creators_cannot_be_listed_in_power_levels(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"room_version": "12"})).await;
    let mut levels = power_levels(&alice, &room_id).await;
    levels["users"][&alice.user_id] = json!(100);

    // v12 auth rule 10.4: "If the users property in content contains the
    // sender of the m.room.create event ... reject."
    let reply = alice.set_state_reply(&room_id, "m.room.power_levels", "", levels).await;

    assert!(reply.status == 403 || reply.status == 400, "{reply:?}");
    reply.expect_standard_error();
    assert!(power_levels(&alice, &room_id).await["users"].get(&alice.user_id).is_none());
}
both_backends!(v12_creators_cannot_be_listed_in_power_levels);

async fn malformed_power_levels_are_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"room_version": "11"})).await;
    let levels = power_levels(&alice, &room_id).await;

    // v10+ auth rules: level properties that are present must be integers,
    // `users` keys must be user ids.
    let mut stringy = levels.clone();
    stringy["kick"] = json!("50");
    let mut bad_user = levels.clone();
    bad_user["users"]["not-a-user-id"] = json!(10);
    for bad in [stringy, bad_user] {
        let reply = alice.set_state_reply(&room_id, "m.room.power_levels", "", bad).await;
        assert!(reply.status == 403 || reply.status == 400, "{reply:?}");
        reply.expect_standard_error();
    }

    assert_eq!(power_levels(&alice, &room_id).await, levels);
}
both_backends!(malformed_power_levels_are_rejected);

/// A state event whose content the room version's auth rules cannot parse
/// is a malformed request (400 `M_BAD_JSON`), not a forbidden one: the
/// sender is the room's creator and may change the power levels.
async fn power_levels_the_auth_rules_cannot_parse_are_bad_json(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    let mut content = power_levels(&alice, &room_id).await;

    for (field, bad) in [("users", json!("not-an-object")), ("ban", json!("fifty")), ("events", json!([1, 2]))] {
        let mut malformed = content.clone();
        malformed[field] = bad;
        let reply = alice.set_state_reply(&room_id, "m.room.power_levels", "", malformed).await;
        reply.expect_error(400, "M_BAD_JSON");
    }
    let reply =
        alice.set_state_reply(&room_id, "m.room.member", &alice.user_id, json!({"displayname": "no membership"})).await;
    reply.expect_error(400, "M_BAD_JSON");

    // Well-formed content is still accepted.
    content["ban"] = json!(60);
    alice.set_state(&room_id, "m.room.power_levels", "", content).await;
}
both_backends!(power_levels_the_auth_rules_cannot_parse_are_bad_json);
