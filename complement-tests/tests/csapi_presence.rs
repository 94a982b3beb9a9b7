//! Presence — mirrors Complement's `TestPresence` scenarios; spec:
//! client-server API "Presence" (`PUT`/`GET /presence/{userId}/status`,
//! `m.presence` in `/sync`, `set_presence`).

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

fn status_path(user_id: &str) -> String {
    format!("/presence/{}/status", enc(user_id))
}

async fn two_users_in_a_room(hs: &Homeserver) -> (Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    (alice, bob)
}

async fn presence_set_by_put_is_returned_by_get(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users_in_a_room(&hs).await;

    let body = json!({"presence": "unavailable", "status_msg": "at lunch"});
    alice.put(&status_path(&alice.user_id), body).await.expect_ok();

    for viewer in [&alice, &bob] {
        let reply = viewer.get(&status_path(&alice.user_id)).await;
        let status = reply.expect_ok();
        assert_eq!(status["presence"], "unavailable", "{reply:?}");
        assert_eq!(status["status_msg"], "at lunch", "{reply:?}");
        assert!(status["last_active_ago"].is_u64(), "{reply:?}");
    }
}
both_backends!(presence_set_by_put_is_returned_by_get);

async fn presence_of_another_user_cannot_be_set(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users_in_a_room(&hs).await;

    let reply = bob.put(&status_path(&alice.user_id), json!({"presence": "offline"})).await;

    reply.expect_error(403, "M_FORBIDDEN");
}
both_backends!(presence_of_another_user_cannot_be_set);

async fn invalid_presence_state_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.put(&status_path(&alice.user_id), json!({"presence": "sleeping"})).await;

    assert_eq!(reply.status, 400, "{reply:?}");
    reply.expect_standard_error();
}
both_backends!(invalid_presence_state_is_rejected);

async fn presence_is_private_to_users_who_share_a_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let stranger = hs.api().register("stranger", PASSWORD).await;
    alice.put(&status_path(&alice.user_id), json!({"presence": "online"})).await.expect_ok();

    let reply = stranger.get(&status_path(&alice.user_id)).await;

    assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
    reply.expect_standard_error();
}
both_backends!(presence_is_private_to_users_who_share_a_room);

async fn presence_changes_reach_room_members_through_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users_in_a_room(&hs).await;
    let since = bob.sync_token().await;

    alice.put(&status_path(&alice.user_id), json!({"presence": "unavailable", "status_msg": "away"})).await.expect_ok();

    let synced = bob
        .sync_until(&since, "", "alice's presence", |s| {
            s.body["presence"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["sender"] == alice.user_id.as_str()))
        })
        .await;
    let events = synced.body["presence"]["events"].as_array().unwrap();
    let event = events.iter().find(|e| e["sender"] == alice.user_id.as_str()).unwrap();
    assert_eq!(event["type"], "m.presence", "{event:#}");
    assert_eq!(event["content"]["presence"], "unavailable", "{event:#}");
    assert_eq!(event["content"]["status_msg"], "away", "{event:#}");
}
both_backends!(presence_changes_reach_room_members_through_sync);

async fn sync_with_set_presence_offline_does_not_mark_the_user_online(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob) = two_users_in_a_room(&hs).await;

    alice.sync_reply("set_presence=offline").await.expect_ok();

    let reply = bob.get(&status_path(&alice.user_id)).await;
    assert_eq!(reply.expect_ok()["presence"], "offline", "{reply:?}");

    alice.sync_reply("").await.expect_ok();
    let reply = bob.get(&status_path(&alice.user_id)).await;
    assert_eq!(reply.expect_ok()["presence"], "online", "a plain sync means online (spec: set_presence default)");
}
both_backends!(sync_with_set_presence_offline_does_not_mark_the_user_online);

async fn presence_can_be_switched_off_by_the_operator(backend: Backend) {
    let hs = Homeserver::builder(backend).env("NEXUS__PRESENCE__ENABLED", "false").start().await;
    let (alice, bob) = two_users_in_a_room(&hs).await;

    let reply = alice.put(&status_path(&alice.user_id), json!({"presence": "online"})).await;
    reply.expect_error(403, "M_FORBIDDEN");
    let synced = bob.initial_sync().await;
    let events = synced.body["presence"]["events"].as_array().cloned().unwrap_or_default();
    assert!(events.is_empty(), "no presence is shared when it is off: {events:?}");
}
both_backends!(presence_can_be_switched_off_by_the_operator);
