//! Two Nexus servers federating with each other over TLS on loopback —
//! spec: server-server API ("Retrieving server keys", "Authentication",
//! "Joining Rooms", "Inviting to a room", "Transactions", "Backfilling",
//! "Querying for information", room versions 11 and 12 and state
//! resolution v2). Mirrors Complement's `federation_*` tests in spirit.
//!
//! Each server's name is `127.0.0.1:<federation port>`; both trust the
//! scenario's test CA. RocksDB only: the storage backend is not what these
//! scenarios are about.

use std::time::{SystemTime, UNIX_EPOCH};

use nexus_complement::federation::{
    anyone_may_set_topic, await_backfilled, concurrent_topics_converge, exchange_messages, invite_and_join,
    leave_is_seen_remotely, room_version_seen_by, send_history,
};
use nexus_complement::signing::{decode_base64, verify_json};
use nexus_complement::{Backend, Homeserver, TestCa, enc};
use serde_json::json;

const PASSWORD: &str = "fed-Passw0rd!";

async fn federating(ca: &TestCa) -> Homeserver {
    Homeserver::builder(Backend::RocksDb).federation(ca).start().await
}

/// Two federating servers sharing one test CA.
async fn two_servers() -> (TestCa, Homeserver, Homeserver) {
    let ca = TestCa::new();
    let (a, b) = tokio::join!(federating(&ca), federating(&ca));
    (ca, a, b)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

// ----- keys, version, authentication -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_server_publishes_a_self_signed_key() {
    let ca = TestCa::new();
    let hs = federating(&ca).await;
    assert_eq!(hs.server_name(), format!("127.0.0.1:{}", hs.federation_port()));

    let reply = hs.federation_api().get("/_matrix/key/v2/server").await;
    let body = reply.expect_ok();

    // "server_name: DNS name of the homeserver."
    assert_eq!(body["server_name"], hs.server_name().as_str(), "{reply:?}");
    // "valid_until_ts: POSIX timestamp in milliseconds when the list of
    // valid keys should be refreshed" — in the future.
    let valid_until = body["valid_until_ts"].as_u64().unwrap_or_else(|| panic!("no integer valid_until_ts: {reply:?}"));
    assert!(valid_until > now_ms(), "valid_until_ts {valid_until} is in the past: {reply:?}");
    // "verify_keys: Public keys of the homeserver for verifying digital
    // signatures", keyed "algorithm:version", each with an unpadded base64
    // ed25519 key.
    let keys = body["verify_keys"].as_object().unwrap_or_else(|| panic!("no verify_keys object: {reply:?}"));
    assert!(!keys.is_empty(), "no verify key: {reply:?}");
    for (key_id, key) in keys {
        assert!(key_id.starts_with("ed25519:") && key_id.len() > "ed25519:".len(), "key id {key_id}: {reply:?}");
        let public = key["key"].as_str().unwrap_or_else(|| panic!("no string key for {key_id}: {reply:?}"));
        assert!(!public.ends_with('='), "keys are unpadded base64: {public}");
        assert_eq!(decode_base64(public).map(|b| b.len()), Some(32), "an ed25519 key has 32 bytes: {public}");
    }
    // "signatures: Digital signatures for this object signed using the
    // verify_keys." Every signature by the server with a published key must
    // verify; at least one must exist.
    let signatures = body["signatures"][hs.server_name()]
        .as_object()
        .unwrap_or_else(|| panic!("no signatures by {}: {reply:?}", hs.server_name()));
    let mut verified = 0;
    for (key_id, _) in signatures {
        if let Some(key) = keys.get(key_id) {
            verify_json(body, &hs.server_name(), key_id, key["key"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("the key document's signature with {key_id}: {e}; {reply:?}"));
            verified += 1;
        }
    }
    assert!(verified > 0, "no signature made with one of the published verify_keys: {reply:?}");

    // The key is stable: a second request publishes the same keys.
    let again = hs.federation_api().get("/_matrix/key/v2/server").await;
    assert_eq!(again.expect_ok()["verify_keys"], body["verify_keys"], "the key must be stable: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_version_answers_and_unauthenticated_requests_are_refused() {
    let ca = TestCa::new();
    let hs = federating(&ca).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let fed = hs.federation_api();

    // GET /_matrix/federation/v1/version needs no authentication.
    let reply = fed.get("/_matrix/federation/v1/version").await;
    let name = reply.expect_ok()["server"]["name"].as_str().unwrap_or_else(|| panic!("no server.name: {reply:?}"));
    assert!(!name.is_empty(), "{reply:?}");

    // Everything else under /_matrix/federation needs X-Matrix.
    let path = format!("/_matrix/federation/v1/query/profile?user_id={}", enc(&alice.user_id));
    fed.get(&path).await.expect_error(401, "M_UNAUTHORIZED");

    // A made-up X-Matrix header whose origin has no key server: refused,
    // never served.
    let forged = fed.raw(reqwest::Method::GET, &path).header(
        "Authorization",
        format!("X-Matrix origin=\"127.0.0.1:1\",destination=\"{}\",key=\"ed25519:x\",sig=\"AAAA\"", hs.server_name()),
    );
    let reply = fed.send(forged).await;
    assert_eq!(reply.status, 401, "a request signed by nobody must be refused: {reply:?}");
    reply.expect_standard_error();
    assert!(reply.json.get("displayname").is_none(), "{reply:?}");
}

// ----- invites and joins -----

async fn invite_join_and_talk(room_version: &str) {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    assert_eq!(bob.user_id, b.user_id("bob"));
    let room_id = alice.create_room(json!({"preset": "private_chat", "room_version": room_version})).await;

    invite_and_join(&alice, &bob, &room_id, &a.server_name()).await;

    // B holds the room at the version A created it with.
    assert_eq!(room_version_seen_by(&bob, &room_id).await, room_version);
    exchange_messages(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_user_is_invited_and_joins_room_v11() {
    invite_join_and_talk("11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_user_is_invited_and_joins_room_v12() {
    invite_join_and_talk("12").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_user_joins_a_public_room_without_invite() {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "room_version": "11", "name": "Lobby"})).await;

    assert_eq!(bob.join_via(&room_id, &[&a.server_name()]).await, room_id);

    bob.await_joined_room(&room_id).await;
    alice.await_membership(&room_id, &bob.user_id, "join").await;
    // B got the room's state with the join: its name and creator.
    assert_eq!(bob.state_content(&room_id, "m.room.name", "").await["name"], "Lobby");
    assert_eq!(bob.membership_of(&room_id, &alice.user_id).await.as_deref(), Some("join"));
    exchange_messages(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_an_unknown_remote_room_fails_cleanly() {
    let (_ca, a, b) = two_servers().await;
    let _alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let unknown = format!("!nosuchroom:{}", a.server_name());

    let reply = bob.join_via_reply(&unknown, &[&a.server_name()]).await;
    assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
    reply.expect_standard_error();
    assert!(!bob.joined_rooms().await.contains(&unknown));
}

// ----- history -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_from_before_the_join_is_backfilled() {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "room_version": "11"})).await;
    // More than a typical join response carries in its timeline.
    let history = send_history(&alice, &room_id, "before bob", 25).await;

    bob.join_via(&room_id, &[&a.server_name()]).await;

    await_backfilled(&bob, &room_id, &history).await;
}

// ----- profiles -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_profile_is_looked_up_over_federation() {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    alice.set_displayname("Alice of A").await;

    let reply = bob.profile_of(&alice.user_id).await;
    assert_eq!(reply.expect_ok()["displayname"], "Alice of A", "{reply:?}");
    let reply = bob.get(&format!("/profile/{}/displayname", enc(&alice.user_id))).await;
    assert_eq!(reply.expect_ok()["displayname"], "Alice of A", "{reply:?}");

    // "404: There is no profile information for this user or this user does
    // not exist."
    let nobody = a.user_id("nobody");
    bob.profile_of(&nobody).await.expect_error(404, "M_NOT_FOUND");
}

// ----- forks and state resolution -----

async fn concurrent_topics(room_version: &str) {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "room_version": room_version,
            "power_level_content_override": anyone_may_set_topic(),
        }))
        .await;
    bob.join_via(&room_id, &[&a.server_name()]).await;
    alice.await_membership(&room_id, &bob.user_id, "join").await;

    concurrent_topics_converge(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_topic_changes_converge_room_v11() {
    concurrent_topics("11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_topic_changes_converge_room_v12() {
    concurrent_topics("12").await;
}

/// A state change that arrives over federation is served with what it
/// replaced (`unsigned.prev_content`), as a local one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_state_changes_carry_prev_content() {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "topic": "Tea"})).await;
    bob.join_via(&room_id, &[&a.server_name()]).await;
    alice.await_membership(&room_id, &bob.user_id, "join").await;
    let coffee = alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Coffee"})).await;
    nexus_complement::eventually("the topic change reached B", std::time::Duration::from_secs(20), || async {
        let reply = bob.get_event(&room_id, &coffee).await;
        match reply.json["unsigned"]["prev_content"]["topic"].as_str() {
            Some("Tea") => Ok(()),
            _ => Err(format!("{reply:?}")),
        }
    })
    .await;
}

// ----- leaving -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_leave_is_seen_by_the_room() {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "room_version": "11"})).await;
    bob.join_via(&room_id, &[&a.server_name()]).await;
    alice.await_membership(&room_id, &bob.user_id, "join").await;

    leave_is_seen_remotely(&bob, &alice, &room_id).await;

    // Messages sent after the leave are no longer delivered to B: bob may
    // not read them, and alice's room goes on without him.
    let after = alice.send_message(&room_id, "bob has gone").await;
    let reply = bob.get_event(&room_id, &after).await;
    assert!(reply.status == 403 || reply.status == 404, "a left member must not read later events: {reply:?}");
}

// ----- media across servers -----

/// Issue 7's "remote media fetched from a second Nexus over federation":
/// a file uploaded on A is downloaded by a user of B through B
/// (`/_matrix/client/v1/media/download/{A}/{id}` → B fetches it with
/// `/_matrix/federation/v1/media/download`), byte for byte, with its type;
/// a second download is served from B's cache; an unknown id is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_media_is_fetched_over_federation_and_cached() {
    use nexus_complement::media_client::MediaClient;
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let on_a = MediaClient::new(&alice);
    let on_b = MediaClient::new(&bob);

    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mxc = on_a.upload_ok(body.clone(), "application/octet-stream", Some("data.bin")).await;
    assert_eq!(mxc.server_name, a.server_name());

    let reply = on_b.download(&mxc).await;
    assert_eq!(reply.expect_bytes().len(), body.len(), "{reply:?}");
    assert!(reply.expect_bytes() == &body[..], "the bytes B serves differ from the upload on A");
    assert_eq!(reply.content_type().as_deref(), Some("application/octet-stream"), "{reply:?}");

    let mut missing = mxc.clone();
    missing.media_id = "doesnotexist".to_owned();
    on_b.download(&missing).await.expect_error(404, "M_NOT_FOUND");

    // Served again from B's cache, even with A gone.
    drop(a);
    let again = on_b.download(&mxc).await;
    assert!(again.expect_bytes() == &body[..], "the cached copy differs: {again:?}");
}

// ----- directory and OpenID across servers -----

/// `GET /publicRooms?server=A` on B: B asks A's directory over federation
/// (`/_matrix/federation/v1/publicRooms`) and returns A's published room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_servers_public_rooms_are_listed_through_federation() {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id =
        alice.create_room(json!({ "visibility": "public", "preset": "public_chat", "name": "Federated lobby" })).await;

    let reply = bob.get(&format!("/_matrix/client/v3/publicRooms?server={}", enc(&a.server_name()))).await;
    let chunk = reply.expect_ok()["chunk"].as_array().cloned().unwrap_or_default();
    let listed = chunk.iter().find(|r| r["room_id"] == room_id.as_str());
    let listed = listed.unwrap_or_else(|| panic!("{room_id} is not in A's directory as B lists it: {reply:?}"));
    assert_eq!(listed["name"], "Federated lobby", "{reply:?}");

    // Searching goes to A too.
    let reply = bob
        .post(
            &format!("/_matrix/client/v3/publicRooms?server={}", enc(&a.server_name())),
            json!({ "filter": { "generic_search_term": "nothing like it" } }),
        )
        .await;
    assert_eq!(reply.expect_ok()["chunk"].as_array().map(Vec::len), Some(0), "{reply:?}");
}

/// OpenID: a token from `/user/{userId}/openid/request_token` names its
/// user at `/_matrix/federation/v1/openid/userinfo`; an unknown one is
/// `M_UNKNOWN_TOKEN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_tokens_are_checked_by_userinfo() {
    let ca = TestCa::new();
    let hs = federating(&ca).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let reply =
        alice.post(&format!("/_matrix/client/v3/user/{}/openid/request_token", enc(&alice.user_id)), json!({})).await;
    let body = reply.expect_ok().clone();
    assert_eq!(body["token_type"], "Bearer", "{reply:?}");
    assert_eq!(body["matrix_server_name"], hs.server_name().as_str(), "{reply:?}");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0), "{reply:?}");
    let token = body["access_token"].as_str().expect("an access token").to_owned();

    let reply =
        hs.federation_api().get(&format!("/_matrix/federation/v1/openid/userinfo?access_token={}", enc(&token))).await;
    assert_eq!(reply.expect_ok()["sub"], alice.user_id.as_str(), "{reply:?}");
    let reply = hs.federation_api().get("/_matrix/federation/v1/openid/userinfo?access_token=not-a-token").await;
    reply.expect_error(401, "M_UNKNOWN_TOKEN");
}

// ----- presence across servers -----

/// A presence change of alice (server A) reaches bob (server B), who shares
/// a room with her, as an `m.presence` event in his `/sync` (sent as an
/// `m.presence` EDU).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_reaches_users_of_other_servers_who_share_a_room() {
    let (_ca, a, b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({ "preset": "public_chat" })).await;
    bob.join_via(&room_id, &[&a.server_name()]).await;
    let since = bob.sync_token().await;

    let path = format!("/_matrix/client/v3/presence/{}/status", enc(&alice.user_id));
    alice.put(&path, json!({ "presence": "unavailable", "status_msg": "across the wire" })).await.expect_ok();

    let synced = bob
        .await_sync(&since, "alice's presence", |s| {
            s.body["presence"]["events"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["sender"] == alice.user_id.as_str() && e["content"]["status_msg"] == "across the wire")
        })
        .await;
    let event = synced.body["presence"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["sender"] == alice.user_id.as_str())
        .cloned()
        .expect("alice's presence");
    assert_eq!(event["content"]["presence"], "unavailable", "{event}");
    let reply = bob.get(&path).await;
    assert_eq!(reply.expect_ok()["status_msg"], "across the wire", "{reply:?}");
}

// ----- durability of the federation outbox -----

/// Issue 6's "durable queue that resumes after a restart": a message sent
/// while the other server is down, followed by kill -9 of the sending
/// server, still reaches the other server once both are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_survive_kill_9_and_are_delivered_after_restart() {
    let (_ca, mut a, mut b) = two_servers().await;
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({ "preset": "public_chat" })).await;
    bob.join_via(&room_id, &[&a.server_name()]).await;
    let since = bob.sync_token().await;

    b.kill9();
    let event_id = alice.send_message(&room_id, "sent while you were down").await;
    // The write was acknowledged; now the sender dies before B is back.
    a.kill9();
    b.restart().await;
    a.restart().await;

    let message = bob.await_message(&since, &room_id, "sent while you were down").await;
    assert_eq!(message["event_id"], event_id.as_str(), "{message}");
}
