//! Typing notifications — mirrors Complement's `room_typing` (local
//! members see it, it can be stopped, it does not leak); spec: client-server
//! API "Typing Notifications", `PUT /rooms/{roomId}/typing/{userId}`
//! (`typing`, `timeout`), the `m.typing` ephemeral event in `/sync`.

use std::time::Duration;

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, room_path};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob joined.
async fn room_with_bob(hs: &Homeserver) -> (String, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    (room_id, alice, bob)
}

async fn typing_notification_sent_to_local_room_members(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let bob_since = bob.sync_token().await;
    let alice_since = alice.sync_token().await;

    let reply = alice.set_typing(&room_id, true, Some(30_000)).await;

    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    for (viewer, since) in [(&bob, bob_since), (&alice, alice_since)] {
        let synced = viewer
            .sync_until(&since, "", "alice typing", |s| s.typing(&room_id).is_some_and(|t| t.contains(&alice.user_id)))
            .await;
        let typing = synced.ephemeral(&room_id).into_iter().rev().find(|e| e["type"] == "m.typing").unwrap();
        assert_eq!(typing["content"]["user_ids"], json!([alice.user_id]), "{typing:#}");
    }
}
both_backends!(typing_notification_sent_to_local_room_members);

async fn typing_can_be_explicitly_stopped(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let since = bob.sync_token().await;
    alice.set_typing(&room_id, true, Some(30_000)).await.expect_ok();
    let typing = bob
        .sync_until(&since, "", "alice typing", |s| s.typing(&room_id).is_some_and(|t| t.contains(&alice.user_id)))
        .await;

    // "if typing is false, the timeout key can be omitted."
    alice.set_typing(&room_id, false, None).await.expect_ok();

    // The client "MUST use the user ID list to REPLACE its knowledge": a
    // new m.typing without alice.
    bob.sync_until(&typing.next_batch, "", "alice no longer typing", |s| {
        s.typing(&room_id).is_some_and(|t| !t.contains(&alice.user_id))
    })
    .await;
}
both_backends!(typing_can_be_explicitly_stopped);

async fn typing_lists_every_typing_member(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    charlie.join(&room_id).await;
    let since = charlie.sync_token().await;

    alice.set_typing(&room_id, true, Some(30_000)).await.expect_ok();
    bob.set_typing(&room_id, true, Some(30_000)).await.expect_ok();

    let synced = charlie
        .sync_until(&since, "", "alice and bob typing", |s| {
            s.typing(&room_id).is_some_and(|t| t.contains(&alice.user_id) && t.contains(&bob.user_id))
        })
        .await;
    assert_eq!(synced.typing(&room_id).unwrap().len(), 2, "{:#}", synced.body);
}
both_backends!(typing_lists_every_typing_member);

async fn typing_expires_after_its_timeout(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    let since = bob.sync_token().await;

    // "the user is typing for the next N milliseconds"
    alice.set_typing(&room_id, true, Some(1500)).await.expect_ok();
    let typing = bob
        .sync_until(&since, "", "alice typing", |s| s.typing(&room_id).is_some_and(|t| t.contains(&alice.user_id)))
        .await;

    // Afterwards she is no longer typing, without having said so.
    bob.sync_until(&typing.next_batch, "", "alice's typing expiring", |s| {
        s.typing(&room_id).is_some_and(|t| !t.contains(&alice.user_id))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = bob.initial_sync().await;
    assert!(!later.typing(&room_id).unwrap_or_default().contains(&alice.user_id), "{:#}", later.body);
}
both_backends!(typing_expires_after_its_timeout);

async fn typing_notifications_do_not_leak(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;
    // Charlie shares another room with alice, but not this one.
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let shared = alice.create_room(json!({"preset": "public_chat"})).await;
    charlie.join(&shared).await;
    let charlie_since = charlie.sync_token().await;
    let bob_since = bob.sync_token().await;

    alice.set_typing(&room_id, true, Some(30_000)).await.expect_ok();
    // Once bob has seen it, charlie would have too.
    bob.sync_until(&bob_since, "", "alice typing", |s| s.typing(&room_id).is_some_and(|t| t.contains(&alice.user_id)))
        .await;

    for synced in charlie.sync_for(&charlie_since, "", Duration::from_millis(1500)).await {
        assert!(synced.joined(&room_id).is_none(), "{:#}", synced.body);
        let typing = synced.typing(&shared).unwrap_or_default();
        assert!(!typing.contains(&alice.user_id), "typing in one room shows in another: {:#}", synced.body);
    }
    let initial = charlie.initial_sync().await;
    assert!(
        initial.joined(&room_id).is_none() && !initial.typing(&shared).unwrap_or_default().contains(&alice.user_id)
    );
}
both_backends!(typing_notifications_do_not_leak);

async fn non_member_cannot_set_typing(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, _alice, _bob) = room_with_bob(&hs).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;

    let reply = charlie.set_typing(&room_id, true, Some(30_000)).await;

    // Only members take part in a room; the spec names no code here, so a
    // 403 (not in the room) or 404 (no such room for you) are both fine.
    assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
    reply.expect_error_in(reply.status, &["M_FORBIDDEN", "M_NOT_FOUND"]);
}
both_backends!(non_member_cannot_set_typing);

async fn cannot_set_typing_for_another_user(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_bob(&hs).await;

    // The path names "the user who has started to type"; alice's token
    // cannot speak for bob.
    let path = room_path(&room_id, &format!("/typing/{}", enc(&bob.user_id)));
    let reply = alice.put(&path, json!({"typing": true, "timeout": 30_000})).await;

    reply.expect_error(403, "M_FORBIDDEN");
}
both_backends!(cannot_set_typing_for_another_user);

async fn typing_without_the_typing_key_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob) = room_with_bob(&hs).await;
    let path = room_path(&room_id, &format!("/typing/{}", enc(&alice.user_id)));

    // `typing` is required, and a boolean.
    for body in [json!({"timeout": 30_000}), json!({"typing": "yes", "timeout": 30_000})] {
        let reply = alice.put(&path, body).await;
        reply.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM", "M_INVALID_PARAM", "M_NOT_JSON"]);
    }
}
both_backends!(typing_without_the_typing_key_is_rejected);
