//! Profile changes reach rooms — spec: client-server API, "Events on change
//! of profile information": after `PUT /profile/{userId}/displayname` (or
//! `avatar_url`) the server updates the user's `m.room.member` event in
//! every room they are joined to. Nexus keeps a room-specific name a user
//! set on purpose (a member event whose name is not an earlier global
//! one), and finishes the work after a restart when it was cut short.

use std::time::{Duration, Instant};

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, eventually};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

fn profile_path(session: &Session, field: &str) -> String {
    format!("/profile/{}/{field}", enc(&session.user_id))
}

async fn member_content(viewer: &Session, room_id: &str, user_id: &str) -> Value {
    viewer.state_content(room_id, "m.room.member", user_id).await
}

async fn a_new_display_name_reaches_every_joined_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let mut rooms = Vec::new();
    for _ in 0..3 {
        let room_id = bob.create_room(json!({"preset": "public_chat"})).await;
        alice.join(&room_id).await;
        rooms.push(room_id);
    }

    alice.put(&profile_path(&alice, "displayname"), json!({"displayname": "Alice Liddell"})).await.expect_ok();

    // Another member sees the new name in the room's state (and so in every
    // client's member list).
    for room_id in &rooms {
        let content = member_content(&bob, room_id, &alice.user_id).await;
        assert_eq!(content["displayname"], "Alice Liddell", "{room_id}: {content}");
        assert_eq!(content["membership"], "join", "{room_id}: {content}");
        let joined = bob.get(&format!("/rooms/{}/joined_members", enc(room_id))).await;
        assert_eq!(joined.expect_ok()["joined"][&alice.user_id]["display_name"], "Alice Liddell", "{joined:?}");
    }
}
both_backends!(a_new_display_name_reaches_every_joined_room);

async fn a_new_avatar_reaches_rooms_and_clearing_it_removes_it(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let avatar = format!("mxc://{}/avatar1", hs.server_name());

    alice.put(&profile_path(&alice, "avatar_url"), json!({"avatar_url": avatar})).await.expect_ok();
    let content = member_content(&alice, &room_id, &alice.user_id).await;
    assert_eq!(content["avatar_url"], avatar.as_str(), "{content}");
    assert_eq!(content["displayname"], "alice", "the unchanged name stays: {content}");

    alice.delete(&profile_path(&alice, "avatar_url"), json!({})).await.expect_ok();
    let content = member_content(&alice, &room_id, &alice.user_id).await;
    assert!(content.get("avatar_url").is_none(), "a cleared avatar leaves the member event: {content}");
}
both_backends!(a_new_avatar_reaches_rooms_and_clearing_it_removes_it);

async fn a_room_specific_name_survives_a_global_rename(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let plain = alice.create_room(json!({})).await;
    let nicknamed = alice.create_room(json!({})).await;
    // `/myroomnick`: a member event with a name for this room only.
    alice
        .set_state(&nicknamed, "m.room.member", &alice.user_id, json!({"membership": "join", "displayname": "Captain"}))
        .await;

    alice.put(&profile_path(&alice, "displayname"), json!({"displayname": "Alice Liddell"})).await.expect_ok();

    assert_eq!(member_content(&alice, &plain, &alice.user_id).await["displayname"], "Alice Liddell");
    assert_eq!(member_content(&alice, &nicknamed, &alice.user_id).await["displayname"], "Captain");
}
both_backends!(a_room_specific_name_survives_a_global_rename);

/// Many rooms: the request answers within its budget whatever the count,
/// and every room is updated in the background.
async fn a_rename_in_many_rooms_answers_quickly_and_finishes_in_the_background(backend: Backend) {
    const ROOMS: usize = 40;
    let hs = Homeserver::builder(backend).env("NEXUS__PROFILES__MEMBER_UPDATE_INLINE_MS", "200").start().await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let mut rooms = Vec::new();
    for _ in 0..ROOMS {
        rooms.push(alice.create_room(json!({})).await);
    }

    let started = Instant::now();
    alice.put(&profile_path(&alice, "displayname"), json!({"displayname": "Alice Liddell"})).await.expect_ok();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "the rename took {took:?}");

    for room_id in &rooms {
        eventually("the member event carries the new name", Duration::from_secs(30), || async {
            let content = member_content(&alice, room_id, &alice.user_id).await;
            if content["displayname"] == "Alice Liddell" { Ok(()) } else { Err(content.to_string()) }
        })
        .await;
    }
}
both_backends!(a_rename_in_many_rooms_answers_quickly_and_finishes_in_the_background);

/// The work left when the server is killed is done after it restarts.
async fn member_updates_cut_short_by_kill_9_resume_after_restart(backend: Backend) {
    const ROOMS: usize = 30;
    // No inline budget: everything is left to the background, which the
    // kill interrupts.
    let mut hs = Homeserver::builder(backend).env("NEXUS__PROFILES__MEMBER_UPDATE_INLINE_MS", "0").start().await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let mut rooms = Vec::new();
    for _ in 0..ROOMS {
        rooms.push(alice.create_room(json!({})).await);
    }
    alice.put(&profile_path(&alice, "displayname"), json!({"displayname": "Alice Liddell"})).await.expect_ok();
    hs.kill9();
    hs.restart().await;

    for room_id in &rooms {
        eventually("the member event carries the new name after the restart", Duration::from_secs(30), || async {
            let content = member_content(&alice, room_id, &alice.user_id).await;
            if content["displayname"] == "Alice Liddell" { Ok(()) } else { Err(content.to_string()) }
        })
        .await;
    }
}
both_backends!(member_updates_cut_short_by_kill_9_resume_after_restart);
