//! Redactions — mirrors Complement's `redact`; spec: client-server API
//! "Redactions" (`PUT /rooms/{roomId}/redact/{eventId}/{txnId}`, sending
//! `m.room.redaction` through `/send`, `unsigned.redacted_because`) and the
//! redaction algorithms of the room versions (v1–v10 versus v11+).

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, expect_event_id, room_path};
use serde_json::{Map, Value, json};

const PASSWORD: &str = "sUp3r-secret";

fn redact_path(room_id: &str, event_id: &str, txn_id: &str) -> String {
    room_path(room_id, &format!("/redact/{}/{}", enc(event_id), enc(txn_id)))
}

async fn redact(actor: &Session, room_id: &str, event_id: &str, body: Value) -> Reply {
    actor.put(&redact_path(room_id, event_id, &nexus_complement::new_txn_id()), body).await
}

/// Alice's public room (of `version`, if given) with bob joined; redaction
/// power explicit so the scenarios do not depend on server defaults.
async fn room_with_bob(hs: &Homeserver, version: Option<&str>) -> (String, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let mut body = json!({"preset": "public_chat", "power_level_content_override": {"redact": 50}});
    if let Some(version) = version {
        body["room_version"] = json!(version);
    }
    let room_id = alice.create_room(body).await;
    bob.join(&room_id).await;
    (room_id, alice, bob)
}

fn keys(content: &Value) -> Vec<String> {
    let mut keys: Vec<String> = content.as_object().map(Map::keys).into_iter().flatten().cloned().collect();
    keys.sort();
    keys
}

async fn redacted_message_loses_its_content(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs, None).await;
    let event_id = alice.send_message(&room_id, "regrettable").await;

    let reply = redact(&alice, &room_id, &event_id, json!({"reason": "oops"})).await;

    let redaction_id = expect_event_id(&reply);
    for viewer in [&alice, &bob] {
        let reply = viewer.get_event(&room_id, &event_id).await;
        let event = reply.expect_ok();
        assert_eq!(event["content"], json!({}), "{reply:?}");
        assert_eq!(event["type"], "m.room.message", "{reply:?}");
        assert_eq!(event["sender"], alice.user_id.as_str(), "{reply:?}");
        assert_eq!(event["event_id"], event_id.as_str(), "{reply:?}");
        // "Servers should include a copy of the m.room.redaction event under
        // unsigned as redacted_because".
        if let Some(because) = event["unsigned"].get("redacted_because") {
            assert_eq!(because["event_id"], redaction_id.as_str(), "{reply:?}");
            assert_eq!(because["type"], "m.room.redaction", "{reply:?}");
        }
    }
    let timeline = bob.paginate_all(&room_id, "b", 20, None).await;
    let served = timeline.iter().find(|e| e["event_id"] == event_id.as_str()).expect("the message in /messages");
    assert_eq!(served["content"], json!({}), "/messages serves the redacted form: {served:#}");
}
both_backends!(redacted_message_loses_its_content);

async fn redaction_event_names_its_target_and_reason(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs, None).await;
    let event_id = alice.send_message(&room_id, "to be redacted").await;

    let redaction_id = expect_event_id(&redact(&alice, &room_id, &event_id, json!({"reason": "Indecent"})).await);

    let timeline = bob.paginate_all(&room_id, "b", 20, None).await;
    let redaction =
        timeline.iter().find(|e| e["event_id"] == redaction_id.as_str()).expect("the redaction in /messages");
    assert_eq!(redaction["type"], "m.room.redaction", "{redaction:#}");
    assert_eq!(redaction["sender"], alice.user_id.as_str(), "{redaction:#}");
    // v11+ (the default is v12): "redacts" lives under content.
    assert_eq!(redaction["content"]["redacts"], event_id.as_str(), "{redaction:#}");
    assert_eq!(redaction["content"]["reason"], "Indecent", "{redaction:#}");
    if let Some(top) = redaction.get("redacts") {
        assert_eq!(top, event_id.as_str(), "{redaction:#}");
    }
}
both_backends!(redaction_event_names_its_target_and_reason);

async fn redaction_in_pre_v11_room_has_top_level_redacts(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs, Some("10")).await;
    let event_id = alice.send_message(&room_id, "old style").await;

    let redaction_id = expect_event_id(&redact(&alice, &room_id, &event_id, json!({})).await);

    let reply = bob.get_event(&room_id, &redaction_id).await;
    let redaction = reply.expect_ok();
    assert_eq!(redaction["redacts"], event_id.as_str(), "{reply:?}");
    // "servers should add a redacts property to the content of
    // m.room.redaction events in older room versions".
    if let Some(inner) = redaction["content"].get("redacts") {
        assert_eq!(inner, event_id.as_str(), "{reply:?}");
    }
    assert_eq!(bob.get_event(&room_id, &event_id).await.expect_ok()["content"], json!({}));
}
both_backends!(redaction_in_pre_v11_room_has_top_level_redacts);

async fn redaction_can_be_sent_through_the_send_endpoint(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    for version in ["10", "12"] {
        let room_id = alice.create_room(json!({"room_version": version})).await;
        let event_id = alice.send_message(&room_id, "redact me via send").await;

        // "Homeservers MUST allow clients to send m.room.redaction events with
        // this endpoint for all room versions."
        alice.send_event(&room_id, "m.room.redaction", json!({"redacts": event_id, "reason": "via send"})).await;

        let reply = alice.get_event(&room_id, &event_id).await;
        assert_eq!(reply.expect_ok()["content"], json!({}), "v{version}: {reply:?}");
    }
}
both_backends!(redaction_can_be_sent_through_the_send_endpoint);

async fn redacted_member_event_keeps_only_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs, None).await;
    let member_id = bob
        .set_state(
            &room_id,
            "m.room.member",
            &bob.user_id,
            json!({"membership": "join", "displayname": "Bobby", "com.example.extra": 1}),
        )
        .await;

    expect_event_id(&redact(&alice, &room_id, &member_id, json!({})).await);

    let reply = alice.get_event(&room_id, &member_id).await;
    assert_eq!(reply.expect_ok()["content"], json!({"membership": "join"}), "{reply:?}");
    // "a redacted join event will still result in the user being considered
    // joined."
    assert_eq!(alice.state_content(&room_id, "m.room.member", &bob.user_id).await, json!({"membership": "join"}));
    let joined = alice.get(&room_path(&room_id, "/joined_members")).await;
    assert!(joined.expect_ok()["joined"].get(&bob.user_id).is_some(), "{joined:?}");
    bob.send_message(&room_id, "still here").await;
}
both_backends!(redacted_member_event_keeps_only_membership);

async fn redacted_power_levels_keep_invite_only_from_v11(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let protected_v1_to_v10 =
        ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];

    for version in ["10", "11", "12"] {
        let room_id = alice.create_room(json!({"room_version": version})).await;
        let mut levels = alice.state_content(&room_id, "m.room.power_levels", "").await;
        levels["invite"] = json!(0);
        levels["notifications"] = json!({"room": 50});
        levels["com.example.custom"] = json!("dropped");
        for key in protected_v1_to_v10 {
            if levels.get(key).is_none() {
                levels[key] = if key == "events" || key == "users" { json!({}) } else { json!(50) };
            }
        }
        let levels_id = alice.set_state(&room_id, "m.room.power_levels", "", levels).await;

        expect_event_id(&redact(&alice, &room_id, &levels_id, json!({})).await);

        let reply = alice.get_event(&room_id, &levels_id).await;
        let mut expected: Vec<String> = protected_v1_to_v10.iter().map(|k| k.to_string()).collect();
        // v11: "The m.room.power_levels event keeps the invite property".
        if version != "10" {
            expected.push("invite".to_owned());
        }
        expected.sort();
        assert_eq!(keys(&reply.expect_ok()["content"]), expected, "v{version}: {reply:?}");
    }
}
both_backends!(redacted_power_levels_keep_invite_only_from_v11);

async fn redacted_state_event_empties_the_current_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs, None).await;
    let topic_id = alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Secret plans"})).await;

    expect_event_id(&redact(&alice, &room_id, &topic_id, json!({})).await);

    // "a redacted topic ... causes the topic to be removed from the room":
    // the state event stays, with its content stripped.
    let reply = alice.get_state(&room_id, "m.room.topic", "").await;
    if reply.status != 404 {
        assert!(reply.expect_ok().get("topic").is_none(), "{reply:?}");
    }
}
both_backends!(redacted_state_event_empties_the_current_state);

async fn user_can_redact_own_event_without_redact_power(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs, None).await;
    let event_id = bob.send_message(&room_id, "my own mistake").await;

    // "Any user with a power level greater than or equal to the
    // m.room.redaction event power level may send redactions for their own
    // events in the room."
    expect_event_id(&redact(&bob, &room_id, &event_id, json!({})).await);

    assert_eq!(alice.get_event(&room_id, &event_id).await.expect_ok()["content"], json!({}));
}
both_backends!(user_can_redact_own_event_without_redact_power);

async fn user_without_redact_power_cannot_redact_others_events(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs, None).await;
    let event_id = alice.send_message(&room_id, "alice's words").await;

    let reply = redact(&bob, &room_id, &event_id, json!({})).await;

    // Refused outright, or accepted as an event that is never applied
    // ("The ability to send a redaction event does not mean that the
    // redaction itself should be performed").
    if reply.status != 200 {
        reply.expect_error(403, "M_FORBIDDEN");
    }
    let event = alice.get_event(&room_id, &event_id).await;
    assert_eq!(event.expect_ok()["content"]["body"], "alice's words", "{event:?}");
}
both_backends!(user_without_redact_power_cannot_redact_others_events);

async fn non_member_cannot_redact(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs, None).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let event_id = alice.send_message(&room_id, "safe").await;

    redact(&charlie, &room_id, &event_id, json!({})).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.get_event(&room_id, &event_id).await.expect_ok()["content"]["body"], "safe");
}
both_backends!(non_member_cannot_redact);

async fn redaction_with_the_same_txn_id_is_idempotent(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs, None).await;
    let event_id = alice.send_message(&room_id, "once").await;
    let path = redact_path(&room_id, &event_id, "redact-txn");

    let first = expect_event_id(&alice.put(&path, json!({"reason": "r"})).await);
    let again = expect_event_id(&alice.put(&path, json!({"reason": "r"})).await);

    assert_eq!(first, again);
    let timeline = alice.paginate_all(&room_id, "b", 20, Some(&json!({"types": ["m.room.redaction"]}))).await;
    assert_eq!(timeline.len(), 1, "{timeline:#?}");
}
both_backends!(redaction_with_the_same_txn_id_is_idempotent);
