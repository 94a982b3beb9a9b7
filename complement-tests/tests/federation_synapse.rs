//! Nexus federating with a real Synapse (from PyPI, run from a virtualenv:
//! `$NEXUS_SYNAPSE_VENV`, default `~/.cache/nexus-bench/synapse-venv`,
//! created with pip when missing) on loopback over TLS. Both trust the
//! scenario's test CA; both server names are `127.0.0.1:<federation port>`.
//!
//! Each scenario is skipped (with a `*** SKIP` line) only when no Python
//! virtualenv with Synapse can be had; `NEXUS_TEST_REQUIRE_SYNAPSE=1` makes
//! that a failure.

use nexus_complement::federation::{
    anyone_may_set_topic, await_backfilled, concurrent_topics_converge, exchange_messages, invite_and_join,
    leave_is_seen_remotely, room_version_seen_by, send_history,
};
use nexus_complement::{Backend, Homeserver, Synapse, TestCa, enc};
use serde_json::json;

const PASSWORD: &str = "fed-Passw0rd!";

/// A federating Nexus and a Synapse sharing one test CA, or `None` when
/// Synapse is unavailable (already reported as a skip).
async fn nexus_and_synapse() -> Option<(TestCa, Homeserver, Synapse)> {
    let ca = TestCa::new();
    let (synapse, nexus) =
        tokio::join!(Synapse::start(&ca), Homeserver::builder(Backend::RocksDb).federation(&ca).start());
    Some((ca, nexus, synapse?))
}

// ----- invites in both directions -----

async fn nexus_invites_synapse_user(room_version: &str) {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat", "room_version": room_version})).await;

    invite_and_join(&alice, &bob, &room_id, &nexus.server_name()).await;

    assert_eq!(room_version_seen_by(&bob, &room_id).await, room_version);
    exchange_messages(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_user_invites_synapse_user_room_v11() {
    nexus_invites_synapse_user("11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_user_invites_synapse_user_room_v12() {
    nexus_invites_synapse_user("12").await;
}

async fn synapse_invites_nexus_user(room_version: &str) {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let room_id = bob.create_room(json!({"preset": "private_chat", "room_version": room_version})).await;

    invite_and_join(&bob, &alice, &room_id, &synapse.server_name()).await;

    assert_eq!(room_version_seen_by(&alice, &room_id).await, room_version);
    exchange_messages(&bob, &alice, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synapse_user_invites_nexus_user_room_v11() {
    synapse_invites_nexus_user("11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synapse_user_invites_nexus_user_room_v12() {
    synapse_invites_nexus_user("12").await;
}

// ----- public rooms, history -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_user_joins_a_public_synapse_room_and_backfills_history() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let room_id =
        bob.create_room(json!({"preset": "public_chat", "room_version": "11", "name": "Synapse lobby"})).await;
    let history = send_history(&bob, &room_id, "before alice", 25).await;

    assert_eq!(alice.join_via(&room_id, &[&synapse.server_name()]).await, room_id);
    alice.await_joined_room(&room_id).await;
    bob.await_membership(&room_id, &alice.user_id, "join").await;
    assert_eq!(alice.state_content(&room_id, "m.room.name", "").await["name"], "Synapse lobby");

    await_backfilled(&alice, &room_id, &history).await;
    exchange_messages(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synapse_user_joins_a_public_nexus_room_and_backfills_history() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let room_id =
        alice.create_room(json!({"preset": "public_chat", "room_version": "11", "name": "Nexus lobby"})).await;
    let history = send_history(&alice, &room_id, "before bob", 25).await;

    assert_eq!(bob.join_via(&room_id, &[&nexus.server_name()]).await, room_id);
    bob.await_joined_room(&room_id).await;
    alice.await_membership(&room_id, &bob.user_id, "join").await;
    assert_eq!(bob.state_content(&room_id, "m.room.name", "").await["name"], "Nexus lobby");

    // Synapse asks Nexus's /backfill for what came before its join.
    await_backfilled(&bob, &room_id, &history).await;
    exchange_messages(&bob, &alice, &room_id).await;
}

// ----- profiles -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_looked_up_across_implementations() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    alice.set_displayname("Alice on Nexus").await;
    bob.set_displayname("Bob on Synapse").await;

    let reply = alice.profile_of(&bob.user_id).await;
    assert_eq!(reply.expect_ok()["displayname"], "Bob on Synapse", "{reply:?}");
    let reply = bob.profile_of(&alice.user_id).await;
    assert_eq!(reply.expect_ok()["displayname"], "Alice on Nexus", "{reply:?}");
    let reply = bob.get(&format!("/profile/{}/displayname", enc(&alice.user_id))).await;
    assert_eq!(reply.expect_ok()["displayname"], "Alice on Nexus", "{reply:?}");
}

// ----- forks and state resolution -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_topic_changes_converge_in_a_nexus_room_v11() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "room_version": "11",
            "power_level_content_override": anyone_may_set_topic(),
        }))
        .await;
    bob.join_via(&room_id, &[&nexus.server_name()]).await;
    alice.await_membership(&room_id, &bob.user_id, "join").await;

    concurrent_topics_converge(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_topic_changes_converge_in_a_synapse_room_v12() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let room_id = bob
        .create_room(json!({
            "preset": "public_chat",
            "room_version": "12",
            "power_level_content_override": anyone_may_set_topic(),
        }))
        .await;
    alice.join_via(&room_id, &[&synapse.server_name()]).await;
    bob.await_membership(&room_id, &alice.user_id, "join").await;

    concurrent_topics_converge(&bob, &alice, &room_id).await;
}

// ----- leaving -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_are_seen_across_implementations() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;

    // A Synapse user leaves a Nexus room ...
    let nexus_room = alice.create_room(json!({"preset": "public_chat", "room_version": "11"})).await;
    bob.join_via(&nexus_room, &[&nexus.server_name()]).await;
    alice.await_membership(&nexus_room, &bob.user_id, "join").await;
    leave_is_seen_remotely(&bob, &alice, &nexus_room).await;

    // ... and a Nexus user leaves a Synapse room.
    let synapse_room = bob.create_room(json!({"preset": "public_chat", "room_version": "11"})).await;
    alice.join_via(&synapse_room, &[&synapse.server_name()]).await;
    bob.await_membership(&synapse_room, &alice.user_id, "join").await;
    leave_is_seen_remotely(&alice, &bob, &synapse_room).await;
}
