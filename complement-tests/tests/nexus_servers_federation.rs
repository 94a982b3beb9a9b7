//! Nexus servers across federation (extensions-spec §15, §16): a Synapse
//! user in a Nexus server is bound by the compiled power levels its roles
//! give (Synapse knows nothing of `nexus.*`), and a second Nexus enforces
//! the Nexus-only permissions for its own user in a channel hosted
//! elsewhere. RocksDB only: storage is not what these scenarios are about.

use std::time::Duration;

use nexus_complement::federation::invite_and_join;
use nexus_complement::nexus_servers::{assign_role, create_server, put_role, settled_power_levels};
use nexus_complement::{Backend, Homeserver, Session, Synapse, TestCa, eventually};
use serde_json::{Value, json};

const PASSWORD: &str = "fed-Passw0rd!";
/// Posting at top level and in threads: a member who may still post in
/// threads may still send `m.room.message` as far as Matrix can tell (§9.1).
const ALL_POSTING: u64 = (1 << 11) | (1 << 38);
const ATTACH_FILES: u64 = 1 << 15;
const WAIT: Duration = Duration::from_secs(30);

/// Waits until `viewer`'s server has `want` as the content of a state event.
async fn await_state(viewer: &Session, room: &str, kind: &str, key: &str, want: impl Fn(&Value) -> bool) {
    eventually(&format!("{kind}/{key} in {room} seen by {}", viewer.user_id), WAIT, || async {
        let reply = viewer.get_state(room, kind, key).await;
        if reply.status == 200 && want(&reply.json) { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_member_is_bound_by_the_power_levels_its_roles_compile_to() {
    let ca = TestCa::new();
    let (synapse, nexus) =
        tokio::join!(Synapse::start(&ca), Homeserver::builder(Backend::RocksDb).federation(&ca).start());
    let Some(synapse) = synapse else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let server = create_server(&alice, "Federated garden").await;
    invite_and_join(&alice, &bob, &server.space, &nexus.server_name()).await;
    invite_and_join(&alice, &bob, &server.general, &nexus.server_name()).await;
    bob.send_message(&server.general, "hello from synapse").await;

    put_role(&alice, &server.space, "muted", json!({ "name": "Muted", "position": 1, "permissions": "0" })).await;
    alice
        .set_state(
            &server.general,
            "nexus.channel.overwrites",
            "",
            json!({ "roles": { "muted": { "deny": ALL_POSTING.to_string() } } }),
        )
        .await;
    assign_role(&alice, &server.space, &bob.user_id, "muted").await;
    let levels = settled_power_levels(&alice, &server.general).await;
    let bob_level =
        levels["users"][bob.user_id.as_str()].as_i64().unwrap_or_else(|| panic!("bob is listed: {levels:#}"));
    assert!(bob_level < levels["events_default"].as_i64().unwrap(), "muted: below events_default {levels}");

    // Synapse enforces the compiled power levels for its own user.
    await_state(&bob, &server.general, "m.room.power_levels", "", |pl| pl["users"][bob.user_id.as_str()] == bob_level)
        .await;
    let refused =
        bob.send_event_reply(&server.general, "m.room.message", json!({ "msgtype": "m.text", "body": "muted?" })).await;
    refused.expect_error(403, "M_FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_nexus_enforces_slowmode_and_attach_files_for_its_own_user() {
    let ca = TestCa::new();
    let federating = || Homeserver::builder(Backend::RocksDb).federation(&ca).start();
    let (host, other) = tokio::join!(federating(), federating());
    let alice = host.api().register("alice", PASSWORD).await;
    let carol = other.api().register("carol", PASSWORD).await;
    let server = create_server(&alice, "Two homeservers").await;
    put_role(&alice, &server.space, "quiet", json!({ "name": "Quiet", "position": 1, "permissions": "0" })).await;
    alice
        .set_state(
            &server.general,
            "nexus.channel.overwrites",
            "",
            json!({ "roles": { "quiet": { "deny": ATTACH_FILES.to_string() } } }),
        )
        .await;
    alice
        .set_state(
            &server.general,
            "nexus.channel",
            "",
            json!({ "type": "text", "position": 0, "category": "text", "slowmode_seconds": 60 }),
        )
        .await;
    invite_and_join(&alice, &carol, &server.space, &host.server_name()).await;
    invite_and_join(&alice, &carol, &server.general, &host.server_name()).await;
    assign_role(&alice, &server.space, &carol.user_id, "quiet").await;
    let member_key = format!("_{}", carol.user_id);
    await_state(&carol, &server.space, "nexus.member", &member_key, |m| m["roles"] == json!(["quiet"])).await;

    // Carol's own homeserver refuses what the host's state denies her.
    let image = json!({ "msgtype": "m.image", "body": "cat.png", "url": "mxc://example.org/cat" });
    let refused = carol.send_event_reply(&server.general, "m.room.message", image).await;
    refused.expect_error(403, "M_FORBIDDEN");
    assert!(refused.json["error"].as_str().unwrap_or_default().contains("ATTACH_FILES"), "{refused:?}");
    carol.send_message(&server.general, "text is fine").await;
    let again = carol
        .send_event_reply(&server.general, "m.room.message", json!({ "msgtype": "m.text", "body": "again" }))
        .await;
    again.expect_error(429, "M_LIMIT_EXCEEDED");
    assert!(again.json["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0 && ms <= 60_000), "{again:?}");
}

/// §14: another server's `nexus.*` event that passes the Matrix auth rules
/// but breaks the update rules stays in the room and is ignored by Nexus;
/// a valid one is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_change_that_breaks_the_update_rules_is_ignored() {
    let ca = TestCa::new();
    let (synapse, nexus) =
        tokio::join!(Synapse::start(&ca), Homeserver::builder(Backend::RocksDb).federation(&ca).start());
    let Some(synapse) = synapse else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let dave = nexus.api().register("dave", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let server = create_server(&alice, "Rules travel").await;
    invite_and_join(&alice, &bob, &server.space, &nexus.server_name()).await;
    alice.invite(&server.space, &dave.user_id).await;
    dave.join(&server.space).await;
    const MANAGE_ROLES: u64 = 1 << 28;
    const ADMINISTRATOR: u64 = 1 << 3;
    put_role(
        &alice,
        &server.space,
        "manager",
        json!({ "name": "Manager", "position": 5, "permissions": MANAGE_ROLES.to_string() }),
    )
    .await;
    put_role(&alice, &server.space, "senior", json!({ "name": "Senior", "position": 8, "permissions": "0" })).await;
    put_role(&alice, &server.space, "helper", json!({ "name": "Helper", "position": 2, "permissions": "0" })).await;
    assign_role(&alice, &server.space, &bob.user_id, "manager").await;
    assign_role(&alice, &server.space, &dave.user_id, "senior").await;
    let levels = settled_power_levels(&alice, &server.space).await;
    let bob_level = levels["users"][bob.user_id.as_str()].clone();
    await_state(&bob, &server.space, "m.room.power_levels", "", |pl| pl["users"][bob.user_id.as_str()] == bob_level)
        .await;

    // Synapse lets bob write any nexus.role (he holds its power level).
    let above = json!({ "name": "Senior", "position": 8, "permissions": ADMINISTRATOR.to_string() });
    bob.set_state(&server.space, "nexus.role", "senior", above.clone()).await;
    let below = json!({ "name": "Helper+", "position": 2, "permissions": "0" });
    bob.set_state(&server.space, "nexus.role", "helper", below.clone()).await;
    await_state(&alice, &server.space, "nexus.role", "helper", |r| *r == below).await;
    // Both are in the room's state on Nexus too…
    assert_eq!(alice.state_content(&server.space, "nexus.role", "senior").await, above);
    // …but only the valid one is in force.
    let overview =
        alice.get(&nexus_complement::nexus_servers::server_path(&server.space, "")).await.expect_ok().clone();
    assert_eq!(overview["roles"]["senior"]["permissions"], "0", "the rule-breaking edit is ignored: {overview:#}");
    assert_eq!(overview["roles"]["helper"]["name"], "Helper+", "the valid edit is applied: {overview:#}");
    let dave_perms = nexus_complement::nexus_servers::permissions(&alice, &server.space, &dave.user_id).await;
    assert_eq!(dave_perms & ADMINISTRATOR, 0, "dave did not become an administrator");
}
