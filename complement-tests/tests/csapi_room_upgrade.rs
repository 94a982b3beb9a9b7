//! Room upgrades — the single-server side of Complement's `room_upgrade`;
//! spec: client-server API "Room Upgrades" (`POST /rooms/{roomId}/upgrade`,
//! `m.room.tombstone`, "Server behaviour" steps 1–6) and the `predecessor`
//! of `m.room.create`.

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, find_state, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn upgrade(actor: &Session, room_id: &str, new_version: &str) -> nexus_complement::Reply {
    actor.post(&room_path(room_id, "/upgrade"), json!({"new_version": new_version})).await
}

/// Upgrades and asserts a 200 with a `replacement_room`, which it returns.
async fn upgraded(actor: &Session, room_id: &str, new_version: &str) -> String {
    let reply = upgrade(actor, room_id, new_version).await;
    let replacement = reply.expect_ok()["replacement_room"]
        .as_str()
        .unwrap_or_else(|| panic!("no replacement_room: {reply:?}"))
        .to_owned();
    assert!(replacement.starts_with('!'), "{reply:?}");
    assert_ne!(replacement, room_id, "{reply:?}");
    replacement
}

fn directory_path(alias: &str) -> String {
    format!("/directory/room/{}", enc(alias))
}

/// A v`version` room by alice, with a name, a topic, `invite` join rules,
/// `joined` history, bob joined with power level 50 and a custom power for
/// one event type.
async fn decorated_room(alice: &Session, bob: &Session, version: &str) -> String {
    let room_id = alice
        .create_room(json!({
            "room_version": version,
            "preset": "public_chat",
            "name": "The old place",
            "topic": "Before the move",
            "power_level_content_override": {"events": {"com.example.special": 75}, "users_default": 0},
        }))
        .await;
    bob.join(&room_id).await;
    let mut levels = alice.state_content(&room_id, "m.room.power_levels", "").await;
    levels["users"][&bob.user_id] = json!(50);
    alice.set_state(&room_id, "m.room.power_levels", "", levels).await;
    alice.set_state(&room_id, "m.room.history_visibility", "", json!({"history_visibility": "joined"})).await;
    alice.set_state(&room_id, "m.room.join_rules", "", json!({"join_rule": "invite"})).await;
    room_id
}

async fn upgrade_room_replaces_it_with_a_tombstone_and_a_predecessor(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let old = decorated_room(&alice, &bob, "10").await;

    let new = upgraded(&alice, &old, "11").await;

    // Step 5: "Sends a m.room.tombstone event to the old room".
    let old_state = alice.room_state(&old).await;
    let tombstone = find_state(&old_state, "m.room.tombstone", "").expect("a tombstone in the old room");
    assert_eq!(tombstone["content"]["replacement_room"], new.as_str(), "{tombstone:#}");
    assert!(tombstone["content"]["body"].is_string(), "body is required: {tombstone:#}");
    assert_eq!(tombstone["sender"], alice.user_id.as_str(), "{tombstone:#}");
    // Bob still sees it in the old room.
    assert_eq!(bob.state_content(&old, "m.room.tombstone", "").await["replacement_room"], new.as_str());
    // Step 2: "a m.room.create event containing a predecessor field, the
    // applicable room_version".
    let create = alice.state_content(&new, "m.room.create", "").await;
    assert_eq!(create["room_version"], "11", "{create:#}");
    assert_eq!(create["predecessor"]["room_id"], old.as_str(), "{create:#}");
    if let Some(event_id) = create["predecessor"].get("event_id") {
        assert!(event_id.as_str().is_some_and(|id| id.starts_with('$')), "{create:#}");
    }
    assert!(create.get("type").is_none(), "the old room had no type: {create:#}");
    // The upgrader is in the new room; "Membership events should not be
    // transferred".
    assert!(alice.joined_rooms().await.contains(&new));
    assert_eq!(alice.membership_of(&new, &alice.user_id).await.as_deref(), Some("join"));
    assert_eq!(alice.membership_of(&new, &bob.user_id).await, None);
    assert!(!bob.joined_rooms().await.contains(&new));
}
both_backends!(upgrade_room_replaces_it_with_a_tombstone_and_a_predecessor);

async fn upgrade_room_transfers_the_recommended_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let old = decorated_room(&alice, &bob, "10").await;
    let old_levels = alice.state_content(&old, "m.room.power_levels", "").await;

    let new = upgraded(&alice, &old, "11").await;

    // Step 3: "the recommended state events to transfer are: ...
    // m.room.name, m.room.topic, m.room.history_visibility,
    // m.room.join_rules, m.room.power_levels".
    assert_eq!(alice.state_content(&new, "m.room.name", "").await["name"], "The old place");
    assert_eq!(alice.state_content(&new, "m.room.topic", "").await["topic"], "Before the move");
    assert_eq!(alice.state_content(&new, "m.room.history_visibility", "").await["history_visibility"], "joined");
    assert_eq!(alice.state_content(&new, "m.room.join_rules", "").await["join_rule"], "invite");
    let new_levels = alice.state_content(&new, "m.room.power_levels", "").await;
    assert_eq!(new_levels["users"][&bob.user_id], 50, "{new_levels:#}");
    assert_eq!(new_levels["users"][&alice.user_id], 100, "{new_levels:#}");
    assert_eq!(new_levels["events"]["com.example.special"], 75, "{new_levels:#}");
    for key in ["ban", "kick", "redact", "invite", "events_default", "state_default", "users_default"] {
        assert_eq!(new_levels.get(key), old_levels.get(key), "{key}: {old_levels:#} vs {new_levels:#}");
    }
    // Bob keeps his power there once he joins (join rule invite: alice
    // invites him).
    alice.invite(&new, &bob.user_id).await;
    bob.join(&new).await;
    bob.set_state(&new, "m.room.name", "", json!({"name": "Renamed by bob"})).await;
}
both_backends!(upgrade_room_transfers_the_recommended_state);

async fn upgrade_room_to_version_12_leaves_creators_out_of_power_levels(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let old = decorated_room(&alice, &bob, "11").await;

    let new = upgraded(&alice, &old, "12").await;

    let create = alice.state_content(&new, "m.room.create", "").await;
    assert_eq!(create["room_version"], "12", "{create:#}");
    assert_eq!(create["predecessor"]["room_id"], old.as_str(), "{create:#}");
    // v12: the creator "cannot be specified in the users field"; others keep
    // their levels.
    let levels = alice.state_content(&new, "m.room.power_levels", "").await;
    assert!(levels["users"].get(&alice.user_id).is_none(), "{levels:#}");
    assert_eq!(levels["users"][&bob.user_id], 50, "{levels:#}");
    alice.set_state(&new, "m.room.topic", "", json!({"topic": "the creator may"})).await;
}
both_backends!(upgrade_room_to_version_12_leaves_creators_out_of_power_levels);

async fn upgrade_room_copies_the_room_type(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let space = alice.create_room(json!({"room_version": "11", "creation_content": {"type": "m.space"}})).await;

    let new = upgraded(&alice, &space, "12").await;

    // Step 2: "a type field which is copied from the predecessor room".
    let create = alice.state_content(&new, "m.room.create", "").await;
    assert_eq!(create["type"], "m.space", "{create:#}");
}
both_backends!(upgrade_room_copies_the_room_type);

async fn upgrade_room_moves_local_aliases(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let canonical = format!("#moving:{}", hs.server_name());
    let extra = format!("#moving-too:{}", hs.server_name());
    let old = alice.create_room(json!({"room_version": "11", "room_alias_name": "moving"})).await;
    alice.put(&directory_path(&extra), json!({"room_id": old})).await.expect_ok();

    let new = upgraded(&alice, &old, "12").await;

    // Step 4: "Moves any local aliases to the new room."
    for alias in [&canonical, &extra] {
        let reply = alice.get(&directory_path(alias)).await;
        assert_eq!(reply.expect_ok()["room_id"], new.as_str(), "{alias}: {reply:?}");
    }
    // The canonical alias is not among the recommended state to transfer; a
    // canonical alias in the new room names an alias that resolves to it.
    let reply = alice.get_state(&new, "m.room.canonical_alias", "").await;
    if reply.status == 200 {
        if let Some(alias) = reply.json.get("alias") {
            assert_eq!(alias, canonical.as_str(), "{reply:?}");
        }
    } else {
        reply.expect_error(404, "M_NOT_FOUND");
    }
}
both_backends!(upgrade_room_moves_local_aliases);

async fn upgrade_room_to_unsupported_version_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"room_version": "11"})).await;

    // "400: ... if the room version requested is not supported by the
    // homeserver."
    upgrade(&alice, &room_id, "999").await.expect_error(400, "M_UNSUPPORTED_ROOM_VERSION");
    // `new_version` is required.
    let reply = alice.post(&room_path(&room_id, "/upgrade"), json!({})).await;
    reply.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM", "M_INVALID_PARAM"]);

    let state = alice.room_state(&room_id).await;
    assert!(find_state(&state, "m.room.tombstone", "").is_none(), "a failed upgrade left a tombstone");
    assert_eq!(alice.joined_rooms().await, vec![room_id]);
}
both_backends!(upgrade_room_to_unsupported_version_is_rejected);

async fn upgrade_room_without_power_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"room_version": "11", "preset": "public_chat"})).await;
    bob.join(&room_id).await;

    // Step 1: "Checks that the user has permission to send m.room.tombstone
    // events in the room." — "403: The user is not permitted to upgrade the
    // room."
    upgrade(&bob, &room_id, "12").await.expect_error(403, "M_FORBIDDEN");
    upgrade(&charlie, &room_id, "12").await.expect_error(403, "M_FORBIDDEN");

    let state = alice.room_state(&room_id).await;
    assert!(find_state(&state, "m.room.tombstone", "").is_none(), "{state:#}");
    assert_eq!(bob.joined_rooms().await, vec![room_id.clone()]);
    assert!(charlie.joined_rooms().await.is_empty());
}
both_backends!(upgrade_room_without_power_is_forbidden);

async fn upgrade_room_restricts_the_old_room_if_it_changes_power_levels(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let old = alice.create_room(json!({"room_version": "11", "preset": "public_chat"})).await;
    bob.join(&old).await;
    let before: Value = alice.state_content(&old, "m.room.power_levels", "").await;

    upgraded(&alice, &old, "12").await;

    // Step 6: "If possible, the power levels in the old room should also be
    // modified to prevent sending of events and inviting new users. For
    // example, setting events_default and invite to the greater of 50 and
    // users_default + 1." When the server does so, bob can no longer speak.
    let after = alice.state_content(&old, "m.room.power_levels", "").await;
    if after != before {
        let users_default = after.get("users_default").map_or(Some(0), Value::as_i64).expect("users_default");
        let events_default = after.get("events_default").map_or(Some(0), Value::as_i64).expect("events_default");
        assert!(events_default > users_default, "{after:#}");
        let reply = bob.send_event_reply(&old, "m.room.message", json!({"msgtype": "m.text", "body": "hello?"})).await;
        reply.expect_error(403, "M_FORBIDDEN");
    }
}
both_backends!(upgrade_room_restricts_the_old_room_if_it_changes_power_levels);
