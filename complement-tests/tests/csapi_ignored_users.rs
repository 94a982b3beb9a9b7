//! Ignoring users — mirrors Complement's `TestIgnoredUsers`-style checks;
//! spec: client-server API "Ignoring Users" (`m.ignored_user_list`: the
//! server must not send the ignored user's events — other than state — nor
//! their invites).

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, room_path};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

async fn ignore(alice: &Session, other: &str) {
    let path = format!("/user/{}/account_data/m.ignored_user_list", enc(&alice.user_id));
    alice.put(&path, json!({"ignored_users": {other: {}}})).await.expect_ok();
}

async fn ignored_users_messages_are_hidden_from_sync_and_messages(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let carol = hs.api().register("carol", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    carol.join(&room_id).await;
    ignore(&alice, &bob.user_id).await;
    let since = alice.sync_token().await;

    let from_bob = bob.send_message(&room_id, "you cannot see me").await;
    let from_carol = carol.send_message(&room_id, "hello alice").await;

    let synced = alice.sync_until(&since, "", "carol's message", |s| s.timeline_has(&room_id, &from_carol)).await;
    assert!(!synced.timeline_has(&room_id, &from_bob), "an ignored user's message reached sync");
    let reply = alice.get(&room_path(&room_id, "/messages?dir=b&limit=50")).await;
    let chunk = reply.expect_ok()["chunk"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = chunk.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert!(ids.contains(&from_carol.as_str()), "{reply:?}");
    assert!(!ids.contains(&from_bob.as_str()), "an ignored user's message reached /messages");
    // State events of ignored users are still delivered.
    let members: Vec<&serde_json::Value> =
        chunk.iter().filter(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str()).collect();
    assert!(!members.is_empty(), "the ignored user's join (state) is still visible");
}
both_backends!(ignored_users_messages_are_hidden_from_sync_and_messages);

async fn invites_from_ignored_users_are_not_shown(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    ignore(&alice, &bob.user_id).await;
    let room_id = bob.create_room(json!({"preset": "private_chat"})).await;

    bob.invite(&room_id, &alice.user_id).await;

    let synced = alice.initial_sync().await;
    assert!(synced.invited(&room_id).is_none(), "an invite from an ignored user was shown: {:#}", synced.body);
}
both_backends!(invites_from_ignored_users_are_not_shown);
