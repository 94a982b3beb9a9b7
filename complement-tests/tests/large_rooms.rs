//! Large rooms: once a room has 500 local members, Nexus records its
//! events and receipts once for the room instead of once per member, and
//! its members' syncs read the room's feed and wake on it. What a client
//! sees must not change across that switch: messages, long-poll wake-ups,
//! public and private receipts, unread counts and mentions, leaving and
//! rejoining.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use nexus_complement::appservice::{Ghost, RegistrationFile, registration_files_env};
use nexus_complement::{Backend, Homeserver, both_backends, enc, message_bodies};
use serde_json::json;

const PASSWORD: &str = "large-room-Passw0rd!";
/// Ghosts joined: with alice, bob and carol the room is past the switch.
const GHOSTS: usize = 500;

async fn fill(hs: &Homeserver, registration: &RegistrationFile, room_id: &str) {
    let api = hs.api();
    let name = hs.server_name();
    stream::iter(0..GHOSTS)
        .map(|i| {
            let ghost = Ghost::new(api.clone(), &registration.as_token, &format!("@crowd_{i}:{name}"));
            async move {
                ghost.register(true).await.expect_ok();
                ghost.post(&format!("/join/{}", enc(room_id)), json!({})).await.expect_ok();
            }
        })
        .buffer_unordered(8)
        .count()
        .await;
}

fn unread(synced: &nexus_complement::Synced, room_id: &str) -> (u64, u64) {
    let counts = &synced.joined(room_id).expect("the room")["unread_notifications"];
    (counts["notification_count"].as_u64().unwrap_or(0), counts["highlight_count"].as_u64().unwrap_or(0))
}

async fn a_large_room_syncs_as_a_small_one(backend: Backend) {
    let registration = RegistrationFile::new("crowd", None);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = registration.write_to(dir.path());
    let hs = Homeserver::builder(backend)
        .env("NEXUS__APPSERVICE__REGISTRATION_FILES", registration_files_env(&[file]))
        .start()
        .await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let carol = hs.api().register("carol", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    carol.join(&room_id).await;
    let before = alice.send_message(&room_id, "before the crowd").await;
    // Tokens from before the switch: a sync from them reads both feeds.
    let bob_small = bob.sync_token().await;
    fill(&hs, &registration, &room_id).await;

    alice.send_message(&room_id, "after the crowd").await;
    let synced = bob
        .sync_until(&bob_small, "", "the message after the switch", |s| {
            message_bodies(&s.timeline(&room_id)).contains(&"after the crowd".to_owned())
        })
        .await;
    assert!(synced.joined(&room_id).is_some());

    // A long-poll is woken by the room, not by its timeout.
    let since = bob.sync_token().await;
    let waiting = {
        let bob = bob.clone();
        let since = since.clone();
        tokio::spawn(async move { bob.sync_with(Some(&since), "timeout=20000").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_at = Instant::now();
    alice.send_message(&room_id, "wake up").await;
    let woken = waiting.await.expect("the long-poll");
    assert!(sent_at.elapsed() < Duration::from_secs(5), "the long-poll waited {:?}", sent_at.elapsed());
    assert_eq!(message_bodies(&woken.timeline(&room_id)), vec!["wake up".to_owned()]);

    // Unread counts and mentions, for users with the default rules.
    bob.send_receipt(&room_id, "m.read", &before, json!({})).await.expect_ok();
    let read_to = alice.send_message(&room_id, "counted").await;
    bob.send_receipt(&room_id, "m.read", &read_to, json!({})).await.expect_ok();
    let since = bob.sync_token().await;
    alice.send_message(&room_id, "one").await;
    alice
        .send_event(
            &room_id,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "bob, two", "m.mentions": {"user_ids": [bob.user_id]}}),
        )
        .await;
    let synced = bob
        .sync_until(&since, "", "two unread, one highlighted", |s| {
            s.joined(&room_id).is_some() && unread(s, &room_id) == (2, 1)
        })
        .await;
    assert_eq!(unread(&synced, &room_id), (2, 1));
    let carol_counts = unread(&carol.initial_sync().await, &room_id);
    assert!(carol_counts.0 >= 5 && carol_counts.1 == 0, "carol, not mentioned: {carol_counts:?}");

    // Public receipts reach the others; private ones only their owner.
    let since_alice = alice.sync_token().await;
    let since_bob = bob.sync_token().await;
    let last = alice.send_message(&room_id, "read me").await;
    bob.send_receipt(&room_id, "m.read.private", &last, json!({})).await.expect_ok();
    carol.send_receipt(&room_id, "m.read", &last, json!({})).await.expect_ok();
    bob.sync_until(&since_bob, "", "bob's private receipt", |s| {
        !s.receipts_by(&room_id, "m.read.private", &bob.user_id).is_empty()
    })
    .await;
    let seen = alice
        .sync_until(&since_alice, "", "carol's receipt", |s| !s.receipts_by(&room_id, "m.read", &carol.user_id).is_empty())
        .await;
    assert!(seen.receipts_by(&room_id, "m.read.private", &bob.user_id).is_empty(), "a private receipt leaked");

    // Leaving stops the room's news; rejoining brings it back.
    let since_carol = carol.sync_token().await;
    carol.leave(&room_id).await;
    let left = carol.sync_until(&since_carol, "", "carol's leave", |s| s.left(&room_id).is_some()).await;
    alice.send_message(&room_id, "carol is gone").await;
    let after_leave = carol.sync_with(Some(&left.next_batch), "timeout=500").await;
    assert!(after_leave.joined(&room_id).is_none() && after_leave.left(&room_id).is_none(), "{:#?}", after_leave.body);
    carol.join(&room_id).await;
    let rejoined = carol.sync_token().await;
    alice.send_message(&room_id, "welcome back").await;
    carol
        .sync_until(&rejoined, "", "the message after the rejoin", |s| {
            message_bodies(&s.timeline(&room_id)).contains(&"welcome back".to_owned())
        })
        .await;
}
both_backends!(a_large_room_syncs_as_a_small_one);

