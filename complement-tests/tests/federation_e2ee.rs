//! End-to-end encryption across federation: matrix-sdk clients (vodozemac
//! Olm/Megolm, in-memory stores, one `Client` per device) on two different
//! servers that federate — two Nexus servers, or Nexus and Synapse. Each
//! client talks to its own server's plain-HTTP client API; the servers talk
//! to each other over TLS with the scenario's test CA.
//!
//! What has to cross servers for a message to be readable on the other side
//! (spec: End-to-End Encryption module, "Extensions to /sync", the
//! server-server "End-to-End Encryption" and "Send-to-device messaging"
//! sections):
//!
//! - `POST /keys/query` and `POST /keys/claim` for the other server's user,
//!   which the client's server forwards (`/_matrix/federation/v1/user/keys/
//!   query` and `.../user/keys/claim`);
//! - the Megolm room key, Olm-encrypted in an `m.room.encrypted` to-device
//!   message, which travels as an `m.direct_to_device` EDU;
//! - the `m.room.encrypted` room event itself (a PDU);
//! - for a device added later: the `m.device_list_update` EDU, after which
//!   the other server lists the user in `device_lists.changed`.
//!
//! The SDK logs failed E2EE requests instead of returning them, so the
//! scenarios check each hop over raw HTTP on the way (a key query answered
//! across servers, a one-time key claimed across servers, the user in
//! `device_lists.changed`), and name the hop in their failure messages.
//!
//! RocksDB only. Each scenario starts two servers and several SDK clients;
//! on a small machine run this file with `--test-threads=1`.

#![recursion_limit = "256"]

use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::{EncryptionInfo, TimelineEventKind};
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoomRequest, RoomPreset};
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{
    DeviceId, EventId, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, RoomOrAliasId, ServerName, UserId,
};
use matrix_sdk::{Client, Room, RoomState};
use nexus_complement::e2ee_client::SIGNED_CURVE25519;
use nexus_complement::sdk_log::{capture_sdk_warnings, sdk_warnings};
use nexus_complement::{Api, Backend, Homeserver, Method, Session, Synapse, TestCa, eventually};
use serde_json::{Value, json};

const PASSWORD: &str = "e2ee-Fed-passw0rd!";

/// How long one hop (keys, a to-device message, an event, a device list
/// update) may take to cross servers and be seen by a client.
const WAIT: Duration = Duration::from_secs(60);

const MEGOLM: &str = "m.megolm.v1.aes-sha2";

fn short_sync() -> SyncSettings {
    SyncSettings::default().timeout(Duration::from_millis(300))
}

// ----------------------------------------------------------------------------
// Servers and clients
// ----------------------------------------------------------------------------

/// Where a user lives: the plain-HTTP client API a matrix-sdk client talks
/// to, and the server name in the user's id.
struct Server {
    base_url: String,
    name: String,
}

impl Server {
    fn nexus(hs: &Homeserver) -> Server {
        Server { base_url: hs.base_url(), name: hs.server_name() }
    }

    fn synapse(synapse: &Synapse) -> Server {
        Server { base_url: synapse.base_url(), name: synapse.server_name() }
    }
}

async fn federating_nexus(ca: &TestCa) -> Homeserver {
    Homeserver::builder(Backend::RocksDb).federation(ca).start().await
}

/// Two federating Nexus servers sharing one test CA.
async fn two_nexus_servers() -> (TestCa, Homeserver, Homeserver) {
    let ca = TestCa::new();
    let (a, b) = tokio::join!(federating_nexus(&ca), federating_nexus(&ca));
    (ca, a, b)
}

/// A matrix-sdk client (a new device) logged in as `localpart` on `server`.
async fn login(server: &Server, localpart: &str, display_name: &str) -> Client {
    let client = Client::builder().homeserver_url(&server.base_url).build().await.expect("build a matrix-sdk client");
    client
        .matrix_auth()
        .login_username(localpart, PASSWORD)
        .initial_device_display_name(display_name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{localpart} logs in to {} with matrix-sdk: {e:?}", server.name));
    let user = user_id(&client);
    assert_eq!(user.server_name().as_str(), server.name, "{user} is a user of {}", server.name);
    client
}

fn device_id(client: &Client) -> OwnedDeviceId {
    client.device_id().expect("a logged-in client has a device id").to_owned()
}

fn user_id(client: &Client) -> OwnedUserId {
    client.user_id().expect("a logged-in client has a user id").to_owned()
}

/// The first `sync_once`, which makes the SDK upload its device and
/// one-time keys; then asserts over raw HTTP that its own server holds them.
async fn first_sync(server: &Server, client: &Client) {
    client.sync_once(SyncSettings::default()).await.expect("the first sync_once");
    client.encryption().wait_for_e2ee_initialization_tasks().await;
    let (user, device) = (user_id(client), device_id(client));
    let token = client.access_token().expect("an access token");
    let reply = Api::new(server.base_url.clone())
        .request(Method::POST, "/keys/query", Some(&token), Some(&json!({"device_keys": {user.as_str(): []}})))
        .await;
    let keys = &reply.expect_ok()["device_keys"][user.as_str()][device.as_str()];
    assert_eq!(keys["device_id"], device.as_str(), "the SDK's device keys are not on {}: {reply:?}", server.name);
}

/// The last few warnings and errors matrix-sdk logged (in any scenario of
/// this test binary), for failure messages.
fn recent_sdk_warnings() -> String {
    let warnings = sdk_warnings();
    let tail = &warnings[warnings.len().saturating_sub(12)..];
    if tail.is_empty() { "(none)".to_owned() } else { tail.join("\n  ") }
}

// ----------------------------------------------------------------------------
// Hops, checked over raw HTTP
// ----------------------------------------------------------------------------

/// `querier` (a raw session of a user on one server) can see `target`'s
/// SDK device (a user of the other server): `POST /keys/query` lists it with
/// the very identity key the SDK holds, with no `failures`, and
/// `POST /keys/claim` hands out one of its signed one-time keys. Both are
/// answered by the target's server through the querier's server.
async fn remote_device_is_reachable(querier: &Session, target: &Client) {
    let (user, device) = (user_id(target), device_id(target));
    let (user, device) = (user.as_str(), device.as_str());
    let ed25519 = target.encryption().ed25519_key().await.expect("the SDK knows its own ed25519 key");
    let all_devices: &[&str] = &[];

    let what = format!(
        "{}'s server answering POST /keys/query for {user} (forwarded over federation) with the device {device}",
        querier.user_id
    );
    let keys = eventually(&what, WAIT, move || async move {
        let reply = querier.query_keys(&[(user, all_devices)]).await;
        if reply.status != 200 {
            return Err(format!("{reply:?}"));
        }
        if reply.json["failures"].as_object().is_some_and(|f| !f.is_empty()) {
            return Err(format!("the answer reports failures: {reply:?}"));
        }
        let keys = &reply.json["device_keys"][user][device];
        if keys.is_object() { Ok(keys.clone()) } else { Err(format!("{device} is not listed: {reply:?}")) }
    })
    .await;
    assert_eq!(keys["user_id"], user, "{keys:#}");
    assert_eq!(keys["device_id"], device, "{keys:#}");
    assert_eq!(
        keys["keys"][format!("ed25519:{device}")],
        ed25519.as_str(),
        "the forwarded device keys are not the ones the SDK uploaded: {keys:#}"
    );

    let reply = querier.claim_keys(&[(user, device, SIGNED_CURVE25519)]).await;
    let body = reply.expect_ok();
    let claimed = body["one_time_keys"][user][device].as_object().cloned().unwrap_or_default();
    assert_eq!(
        claimed.len(),
        1,
        "{}'s server claimed no one-time key of {user}'s {device} over federation (POST /keys/claim): {reply:?}",
        querier.user_id
    );
    let (key_id, key) = claimed.iter().next().expect("one key");
    assert!(key_id.starts_with(&format!("{SIGNED_CURVE25519}:")), "{reply:?}");
    assert!(
        key["signatures"][user][format!("ed25519:{device}")].is_string(),
        "the claimed key is not signed by the device: {reply:?}"
    );
}

/// Asserts `session`'s server holds the event as Megolm ciphertext only
/// (waiting for it to arrive if it came over federation).
async fn assert_held_encrypted(session: &Session, room_id: &RoomId, event_id: &EventId, plaintext: &str) {
    let event = session.await_event(room_id.as_str(), event_id.as_str()).await;
    assert_eq!(event["type"], "m.room.encrypted", "{event:#}");
    assert_eq!(event["content"]["algorithm"], MEGOLM, "{event:#}");
    let text = serde_json::to_string(&event).expect("serialize the event");
    assert!(!text.contains(plaintext), "{}'s server saw the plaintext: {event:#}", session.user_id);
}

// ----------------------------------------------------------------------------
// The SDK's view
// ----------------------------------------------------------------------------

/// The room as `client` knows it, once it has synced it as joined.
async fn joined_room(client: &Client, room_id: &RoomId) -> Room {
    let what = format!("{} ({}) seeing {room_id} as joined", user_id(client), device_id(client));
    eventually(&what, WAIT, move || async move {
        client.sync_once(short_sync()).await.map_err(|e| format!("sync_once failed: {e:?}"))?;
        match client.get_room(room_id) {
            Some(room) if room.state() == RoomState::Joined => Ok(room),
            other => Err(format!("the room's state: {:?}", other.map(|r| r.state()))),
        }
    })
    .await
}

/// Syncs `client` until its view of the room has `member` joined.
async fn wait_for_member(client: &Client, room: &Room, member: &UserId) {
    let what = format!("{} seeing {member} joined to {}", user_id(client), room.room_id());
    eventually(&what, WAIT, move || async move {
        client.sync_once(short_sync()).await.map_err(|e| format!("sync_once failed: {e:?}"))?;
        let joined = room.get_member_no_sync(member).await.map_err(|e| format!("the member store: {e:?}"))?;
        match joined.map(|m| m.membership().clone()) {
            Some(MembershipState::Join) => Ok(()),
            other => Err(format!("membership {other:?}")),
        }
    })
    .await
}

/// Syncs `client` until it can decrypt the event — fetched with
/// `GET /rooms/{roomId}/event/{eventId}` from its own server (so the event
/// must have crossed servers) and decrypted by the SDK with the room keys
/// it holds (so the room key must have crossed servers as a to-device
/// message) — and returns the plaintext body and the decryption info.
async fn decrypted(client: &Client, room_id: &RoomId, event_id: &EventId) -> (String, EncryptionInfo) {
    let what = format!("{} ({}) decrypting {event_id}", user_id(client), device_id(client));
    eventually(&what, WAIT, move || async move {
        client.sync_once(short_sync()).await.map_err(|e| format!("sync_once failed: {e:?}"))?;
        let room = client.get_room(room_id).ok_or_else(|| format!("the client does not know {room_id} yet"))?;
        let event = room.event(event_id, None).await.map_err(|e| {
            format!(
                "GET /rooms/{room_id}/event/{event_id} from the reader's own server failed (not federated yet?): {e:?}"
            )
        })?;
        match &event.kind {
            TimelineEventKind::Decrypted(_) => {}
            TimelineEventKind::UnableToDecrypt { utd_info, .. } => {
                return Err(format!(
                    "the event is there but cannot be decrypted ({utd_info:?}): the Megolm key has not arrived \
                     (the m.room_key to-device message, an m.direct_to_device EDU between the servers, or the \
                     sender's /keys/query or /keys/claim for this device failed); recent matrix-sdk warnings:\n  {}",
                    recent_sdk_warnings()
                ));
            }
            TimelineEventKind::PlainText { .. } => panic!("{event_id} was sent unencrypted: {:?}", event.raw()),
        }
        let info = event.encryption_info().expect("a decrypted event has encryption info").as_ref().clone();
        let plain: Value = event.raw().deserialize_as().expect("a decrypted event is JSON");
        assert_eq!(plain["type"], "m.room.message", "{plain:#}");
        Ok((plain["content"]["body"].as_str().unwrap_or_default().to_owned(), info))
    })
    .await
}

async fn send_text(room: &Room, body: &str) -> OwnedEventId {
    room.send(RoomMessageEventContent::text_plain(body)).await.expect("send through matrix-sdk").response.event_id
}

/// `sender` sends `body` to the room; `readers` (clients of either server)
/// each decrypt it, attributed to the sender's device. Both servers hold it
/// as ciphertext only.
async fn send_and_decrypt(
    sender: &Client,
    sender_room: &Room,
    body: &str,
    secret_word: &str,
    holders: [&Session; 2],
    readers: &[&Client],
) -> OwnedEventId {
    assert!(body.contains(secret_word));
    let event_id = send_text(sender_room, body).await;
    let room_id = sender_room.room_id();
    for holder in holders {
        assert_held_encrypted(holder, room_id, &event_id, secret_word).await;
    }
    for reader in readers {
        let (plain, info) = decrypted(reader, room_id, &event_id).await;
        assert_eq!(plain, body);
        assert_eq!(info.sender, user_id(sender));
        assert_eq!(
            info.sender_device,
            Some(device_id(sender)),
            "the Megolm session is attributed to the sender's device"
        );
    }
    event_id
}

// ----------------------------------------------------------------------------
// Setting up: two users on two servers in one encrypted room
// ----------------------------------------------------------------------------

/// How alice makes the room.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RoomKind {
    /// `createRoom` with `m.room.encryption` in `initial_state`, then
    /// `POST /rooms/{roomId}/invite` for bob.
    EncryptedRoomThenInvite,
    /// matrix-sdk's `create_dm`: one `createRoom` with `is_direct`,
    /// `trusted_private_chat`, `m.room.encryption` and bob in `invite`.
    DirectMessage,
}

/// alice (on A) and bob (on B), each with one matrix-sdk device and a raw
/// HTTP session, joined to one encrypted room.
struct Pair {
    room_id: OwnedRoomId,
    alice: Client,
    alice_room: Room,
    alice_http: Session,
    bob: Client,
    bob_room: Room,
    bob_http: Session,
}

/// Logs alice and bob in with matrix-sdk (keys uploaded), checks each can
/// reach the other's device keys across servers, and puts both in an
/// encrypted room alice makes on A (`kind`) and bob joins over federation
/// through his client.
async fn encrypted_room_across_servers(
    a: &Server,
    b: &Server,
    alice_http: Session,
    bob_http: Session,
    kind: RoomKind,
) -> Pair {
    let alice = login(a, "alice", "Alice's phone").await;
    let bob = login(b, "bob", "Bob's phone").await;
    first_sync(a, &alice).await;
    first_sync(b, &bob).await;
    let (alice_id, bob_id) = (user_id(&alice), user_id(&bob));

    // Each server forwards key queries and claims for the other's user.
    remote_device_is_reachable(&alice_http, &bob).await;
    remote_device_is_reachable(&bob_http, &alice).await;

    // Alice makes the room on A and invites bob of B.
    let alice_room = match kind {
        RoomKind::EncryptedRoomThenInvite => {
            let mut request = CreateRoomRequest::new();
            request.preset = Some(RoomPreset::PrivateChat);
            request.initial_state = vec![
                InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                    .to_raw_any(),
            ];
            let room = alice.create_room(request).await.expect("alice creates an encrypted room through matrix-sdk");
            room.invite_user_by_id(&bob_id)
                .await
                .unwrap_or_else(|e| panic!("alice invites {bob_id} (another server's user) through matrix-sdk: {e:?}"));
            room
        }
        RoomKind::DirectMessage => alice.create_dm(&bob_id).await.unwrap_or_else(|e| {
            panic!("alice creates a DM with {bob_id} (another server's user) through matrix-sdk: {e:?}")
        }),
    };
    let room_id = alice_room.room_id().to_owned();
    let encryption = alice_http.state_content(room_id.as_str(), "m.room.encryption", "").await;
    assert_eq!(encryption["algorithm"], MEGOLM, "{encryption}");

    // Bob's client sees the invite (it came to B over federation) and joins
    // through A.
    let what = format!("{bob_id}'s client seeing the invite to {room_id}");
    let invited_room: &RoomId = &room_id;
    let bob_ref = &bob;
    eventually(&what, WAIT, move || async move {
        bob_ref.sync_once(short_sync()).await.map_err(|e| format!("sync_once failed: {e:?}"))?;
        match bob_ref.get_room(invited_room).map(|r| r.state()) {
            Some(RoomState::Invited) => Ok(()),
            other => Err(format!("the room's state: {other:?}")),
        }
    })
    .await;
    let via = ServerName::parse(&a.name).expect("a valid server name");
    let joined = bob
        .join_room_by_id_or_alias(<&RoomOrAliasId>::from(invited_room), &[via])
        .await
        .unwrap_or_else(|e| panic!("{bob_id} joins {room_id} via {} through matrix-sdk: {e:?}", a.name));
    assert_eq!(joined.room_id().as_str(), room_id.as_str());

    let bob_room = joined_room(&bob, &room_id).await;
    wait_for_member(&bob, &bob_room, &alice_id).await;
    wait_for_member(&alice, &alice_room, &bob_id).await;
    for (who, room) in [(&alice_id, &alice_room), (&bob_id, &bob_room)] {
        let state = room.latest_encryption_state().await.expect("the encryption state");
        assert!(state.is_encrypted(), "{who}'s client must see {room_id} as encrypted");
    }
    Pair { room_id, alice, alice_room, alice_http, bob, bob_room, bob_http }
}

/// Alice sends an encrypted message, bob decrypts it; bob replies
/// encrypted, alice decrypts that.
async fn exchange_both_ways(pair: &Pair) {
    let holders = [&pair.alice_http, &pair.bob_http];
    send_and_decrypt(
        &pair.alice,
        &pair.alice_room,
        "hello bob, this is confidential across servers",
        "confidential",
        holders,
        &[&pair.bob],
    )
    .await;
    send_and_decrypt(
        &pair.bob,
        &pair.bob_room,
        "hi alice, the reply is classified too",
        "classified",
        holders,
        &[&pair.alice],
    )
    .await;
}

// ----------------------------------------------------------------------------
// Two Nexus servers
// ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_messages_cross_between_two_nexus_servers() {
    capture_sdk_warnings();
    let (_ca, a, b) = two_nexus_servers().await;
    let alice_http = a.api().register("alice", PASSWORD).await;
    let bob_http = b.api().register("bob", PASSWORD).await;

    let pair = encrypted_room_across_servers(
        &Server::nexus(&a),
        &Server::nexus(&b),
        alice_http,
        bob_http,
        RoomKind::EncryptedRoomThenInvite,
    )
    .await;
    exchange_both_ways(&pair).await;
}

/// matrix-sdk's `create_dm` puts the remote user in `createRoom`'s `invite`
/// list, which the spec allows for any user ("A list of user IDs to invite
/// to the room").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_dm_with_a_user_of_another_nexus_server() {
    capture_sdk_warnings();
    let (_ca, a, b) = two_nexus_servers().await;
    let alice_http = a.api().register("alice", PASSWORD).await;
    let bob_http = b.api().register("bob", PASSWORD).await;

    let pair = encrypted_room_across_servers(
        &Server::nexus(&a),
        &Server::nexus(&b),
        alice_http,
        bob_http,
        RoomKind::DirectMessage,
    )
    .await;
    exchange_both_ways(&pair).await;
}

/// Bob logs in on a second device after the room is in use. B tells A
/// (`m.device_list_update`), A lists bob in alice's `device_lists.changed`,
/// alice's client queries bob's keys again (through A, answered by B) and
/// shares the room key with the new device too: both of bob's devices read
/// alice's next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_device_on_the_other_server_receives_new_messages() {
    capture_sdk_warnings();
    let (_ca, a, b) = two_nexus_servers().await;
    let (server_a, server_b) = (Server::nexus(&a), Server::nexus(&b));
    let alice_http = a.api().register("alice", PASSWORD).await;
    let bob_http = b.api().register("bob", PASSWORD).await;
    let pair =
        encrypted_room_across_servers(&server_a, &server_b, alice_http, bob_http, RoomKind::EncryptedRoomThenInvite)
            .await;
    let holders = [&pair.alice_http, &pair.bob_http];
    let bob_id = user_id(&pair.bob);

    // The room is in use: bob's phone reads alice's first message.
    send_and_decrypt(
        &pair.alice,
        &pair.alice_room,
        "before the laptop: a private note",
        "private",
        holders,
        &[&pair.bob],
    )
    .await;

    // Bob's laptop logs in on B and uploads its keys.
    let since = pair.alice_http.sync_token().await;
    let laptop = login(&server_b, "bob", "Bob's laptop").await;
    first_sync(&server_b, &laptop).await;
    let laptop_id = device_id(&laptop);

    // A answers a key query for bob with the new device (asking B).
    remote_device_is_reachable(&pair.alice_http, &laptop).await;

    // B sent m.device_list_update; A tells alice bob's devices changed.
    let what = format!("{bob_id} in device_lists.changed (an m.device_list_update EDU from B, after a new device)");
    pair.alice_http
        .sync_until_within(WAIT, &since, "", &what, |s| s.device_lists_changed().contains(&bob_id.to_string()))
        .await;

    // Alice's client learns of the laptop.
    let what = format!("alice's client listing {bob_id}'s new device {laptop_id}");
    let (alice, bob_ref, laptop_ref): (&Client, &UserId, &DeviceId) = (&pair.alice, &bob_id, &laptop_id);
    eventually(&what, WAIT, move || async move {
        alice.sync_once(short_sync()).await.map_err(|e| format!("sync_once failed: {e:?}"))?;
        let devices = alice.encryption().get_user_devices(bob_ref).await.map_err(|e| format!("{e:?}"))?;
        let listed: Vec<OwnedDeviceId> = devices.keys().map(ToOwned::to_owned).collect();
        if listed.iter().any(|d| d.as_str() == laptop_ref.as_str()) {
            Ok(())
        } else {
            Err(format!("alice's client lists {listed:?}; recent matrix-sdk warnings:\n  {}", recent_sdk_warnings()))
        }
    })
    .await;

    // The laptop knows the room; alice's next message reaches both devices.
    joined_room(&laptop, &pair.room_id).await;
    send_and_decrypt(
        &pair.alice,
        &pair.alice_room,
        "after the laptop: another private note",
        "another private",
        holders,
        &[&pair.bob, &laptop],
    )
    .await;
}

// ----------------------------------------------------------------------------
// Nexus and Synapse
// ----------------------------------------------------------------------------

/// Scenario 1 with bob on Synapse: Synapse answers Nexus's key queries and
/// claims and receives its to-device messages, and the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_messages_cross_between_nexus_and_synapse() {
    capture_sdk_warnings();
    let ca = TestCa::new();
    let (synapse, nexus) = tokio::join!(Synapse::start(&ca), federating_nexus(&ca));
    let Some(synapse) = synapse else { return };
    let alice_http = nexus.api().register("alice", PASSWORD).await;
    let bob_http = synapse.register("bob", PASSWORD).await;

    let pair = encrypted_room_across_servers(
        &Server::nexus(&nexus),
        &Server::synapse(&synapse),
        alice_http,
        bob_http,
        RoomKind::EncryptedRoomThenInvite,
    )
    .await;
    exchange_both_ways(&pair).await;
}
