//! End-to-end encryption through a real client library: matrix-sdk with its
//! crypto (vodozemac Olm/Megolm, in-memory stores, one `Client` per device)
//! against Nexus. Spec: the End-to-End Encryption module (device keys,
//! one-time keys, `m.room_key` over to-device, Megolm rooms, cross-signing,
//! server-side key backups, secret storage) and Send-to-Device messaging.
//!
//! The SDK logs failed E2EE requests instead of returning them, so each
//! scenario checks the outcome a user would see — a decrypted message, a
//! verified device — and, where cheap, the server state over raw HTTP.

#![recursion_limit = "256"]

use std::future::Future;
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::EncryptionInfo;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{DeviceId, EventId, OwnedDeviceId, OwnedEventId, OwnedUserId, RoomId, UserId};
use matrix_sdk::{Client, Room, RoomState};
use nexus_complement::{Backend, Homeserver, Method, Session, Synced, both_backends, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// How long keys, messages and device lists may take to travel.
const WAIT: Duration = Duration::from_secs(30);

fn short_sync() -> SyncSettings {
    SyncSettings::default().timeout(Duration::from_millis(300))
}

/// Polls `check` (every 100 ms, after whatever syncing it does) until it
/// yields a value; panics after [`WAIT`] naming `what`.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> F) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A matrix-sdk client (a new device) logged in as `localpart`.
async fn login(hs: &Homeserver, localpart: &str, display_name: &str) -> Client {
    let client = Client::builder().homeserver_url(hs.base_url()).build().await.expect("build a matrix-sdk client");
    client
        .matrix_auth()
        .login_username(localpart, PASSWORD)
        .initial_device_display_name(display_name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{localpart} logs in with matrix-sdk: {e:?}"));
    client
}

fn device_id(client: &Client) -> OwnedDeviceId {
    client.device_id().expect("a logged-in client has a device id").to_owned()
}

fn user_id(client: &Client) -> OwnedUserId {
    client.user_id().expect("a logged-in client has a user id").to_owned()
}

/// The first `sync_once`, which makes the SDK upload its device and
/// one-time keys; then asserts over raw HTTP that the server holds them.
async fn first_sync(hs: &Homeserver, client: &Client) {
    client.sync_once(SyncSettings::default()).await.expect("the first sync_once");
    client.encryption().wait_for_e2ee_initialization_tasks().await;
    let (user, device) = (user_id(client), device_id(client));
    let token = client.access_token().expect("an access token");
    let reply = hs
        .api()
        .request(Method::POST, "/keys/query", Some(&token), Some(&json!({"device_keys": {user.as_str(): []}})))
        .await;
    let keys = &reply.expect_ok()["device_keys"][user.as_str()][device.as_str()];
    assert_eq!(keys["device_id"], device.as_str(), "the SDK's device keys are not on the server: {reply:?}");
}

/// The room as `client` knows it, once it has synced it as joined.
async fn joined_room(client: &Client, room_id: &RoomId) -> Room {
    eventually(&format!("{} seeing {room_id} as joined", device_id(client)), || async {
        client.sync_once(short_sync()).await.expect("sync_once");
        client.get_room(room_id).filter(|room| room.state() == RoomState::Joined)
    })
    .await
}

/// Syncs `client` until its view of the room has `member` joined.
async fn wait_for_member(client: &Client, room: &Room, member: &UserId) {
    eventually(&format!("{} seeing {member} joined", device_id(client)), || async {
        client.sync_once(short_sync()).await.expect("sync_once");
        let joined = room.get_member_no_sync(member).await.expect("read the member store")?;
        (*joined.membership() == MembershipState::Join).then_some(())
    })
    .await
}

/// Syncs `client` until it can decrypt the event (fetched with
/// `GET /rooms/{roomId}/event/{eventId}` and decrypted by the SDK with the
/// room keys it holds), and returns the plaintext body and the decryption
/// info.
async fn decrypted(client: &Client, room_id: &RoomId, event_id: &EventId) -> (String, EncryptionInfo) {
    let what = format!("{} decrypting {event_id}", device_id(client));
    eventually(&what, || async {
        client.sync_once(short_sync()).await.expect("sync_once");
        let room = client.get_room(room_id)?;
        let event = room.event(event_id, None).await.expect("fetch the event");
        let info = event.encryption_info()?.as_ref().clone();
        let plain: Value = event.raw().deserialize_as().expect("a decrypted event is JSON");
        assert_eq!(plain["type"], "m.room.message", "{plain:#}");
        Some((plain["content"]["body"].as_str().unwrap_or_default().to_owned(), info))
    })
    .await
}

/// Asserts the server stored the event as Megolm ciphertext only.
async fn assert_stored_encrypted(session: &Session, room_id: &RoomId, event_id: &EventId, plaintext: &str) {
    let reply = session.get_event(room_id.as_str(), event_id.as_str()).await;
    let event = reply.expect_ok();
    assert_eq!(event["type"], "m.room.encrypted", "{reply:?}");
    assert_eq!(event["content"]["algorithm"], "m.megolm.v1.aes-sha2", "{reply:?}");
    assert!(!reply.text.contains(plaintext), "the server saw the plaintext: {reply:?}");
}

/// Alice's direct chat with bob (`is_direct`, so encrypted by default),
/// joined by bob; returns the room id after checking its encryption.
async fn encrypted_dm(alice: &Session, bob: &Session) -> matrix_sdk::ruma::OwnedRoomId {
    let room_id =
        alice.create_room(json!({"is_direct": true, "preset": "trusted_private_chat", "invite": [bob.user_id]})).await;
    let encryption = alice.state_content(&room_id, "m.room.encryption", "").await;
    assert_eq!(encryption["algorithm"], "m.megolm.v1.aes-sha2", "an is_direct room is encrypted: {encryption}");
    bob.join(&room_id).await;
    RoomId::parse(&room_id).expect("a valid room id")
}

async fn send_text(room: &Room, body: &str) -> OwnedEventId {
    room.send(RoomMessageEventContent::text_plain(body)).await.expect("send through matrix-sdk").response.event_id
}

async fn two_users_two_devices_exchange_encrypted_dm_both_ways(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice_http = hs.api().register("alice", PASSWORD).await;
    let bob_http = hs.api().register("bob", PASSWORD).await;
    let alice1 = login(&hs, "alice", "Alice's phone").await;
    let alice2 = login(&hs, "alice", "Alice's laptop").await;
    let bob1 = login(&hs, "bob", "Bob's phone").await;
    let bob2 = login(&hs, "bob", "Bob's laptop").await;
    for client in [&alice1, &alice2, &bob1, &bob2] {
        first_sync(&hs, client).await;
    }

    let room_id = encrypted_dm(&alice_http, &bob_http).await;
    let alice_room = joined_room(&alice1, &room_id).await;
    wait_for_member(&alice1, &alice_room, &user_id(&bob1)).await;
    let bob_room = joined_room(&bob1, &room_id).await;
    wait_for_member(&bob1, &bob_room, &user_id(&alice1)).await;
    joined_room(&alice2, &room_id).await;
    joined_room(&bob2, &room_id).await;
    assert!(alice_room.latest_encryption_state().await.expect("encryption state").is_encrypted());

    // Alice's phone sends: both of bob's devices and alice's laptop decrypt.
    let hello = send_text(&alice_room, "hello bob, secretly").await;
    assert_stored_encrypted(&alice_http, &room_id, &hello, "secretly").await;
    for reader in [&bob1, &bob2, &alice2] {
        let (body, info) = decrypted(reader, &room_id, &hello).await;
        assert_eq!(body, "hello bob, secretly");
        assert_eq!(info.sender, user_id(&alice1));
        assert_eq!(info.sender_device, Some(device_id(&alice1)));
    }

    // Bob's phone replies: both of alice's devices (and bob's laptop) decrypt.
    let reply = send_text(&bob_room, "hi alice, also secretly").await;
    assert_stored_encrypted(&bob_http, &room_id, &reply, "also secretly").await;
    for reader in [&alice1, &alice2, &bob2] {
        let (body, info) = decrypted(reader, &room_id, &reply).await;
        assert_eq!(body, "hi alice, also secretly");
        assert_eq!(info.sender, user_id(&bob1));
        assert_eq!(info.sender_device, Some(device_id(&bob1)));
    }
}
both_backends!(two_users_two_devices_exchange_encrypted_dm_both_ways);

async fn a_later_device_decrypts_history_via_key_backup(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice_http = hs.api().register("alice", PASSWORD).await;
    let phone = login(&hs, "alice", "Alice's phone").await;
    first_sync(&hs, &phone).await;
    // The first cross-signing upload needs no user-interactive auth.
    phone.encryption().bootstrap_cross_signing(None).await.expect("bootstrap cross-signing");

    let room_id = alice_http
        .create_room(json!({
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await;
    let room_id = RoomId::parse(&room_id).expect("a valid room id");
    let room = joined_room(&phone, &room_id).await;

    // Recovery: a backup version plus secret storage holding its key.
    let recovery_key = phone.encryption().recovery().enable().await.expect("enable recovery and key backup");
    assert!(phone.encryption().backups().are_enabled().await);

    let bodies = ["first secret", "second secret", "third secret"];
    let mut sent = Vec::new();
    for body in bodies {
        sent.push(send_text(&room, body).await);
    }
    tokio::time::timeout(
        WAIT,
        phone.encryption().backups().wait_for_steady_state().with_delay(Duration::from_millis(50)),
    )
    .await
    .expect("the room keys are backed up in time")
    .expect("the room keys are backed up");

    // The server holds the backup and the room's session(s).
    let reply = alice_http.backup_version(None).await;
    let current = reply.expect_ok();
    assert!(current["count"].as_u64().is_some_and(|c| c >= 1), "{reply:?}");
    let version = current["version"].as_str().expect("a version").to_owned();
    let reply = alice_http.room_keys(Method::GET, Some(room_id.as_str()), None, &version, None).await;
    assert!(reply.expect_ok()["sessions"].as_object().is_some_and(|s| !s.is_empty()), "{reply:?}");

    // A new device has no key for the history...
    let laptop = login(&hs, "alice", "Alice's laptop").await;
    first_sync(&hs, &laptop).await;
    let laptop_room = joined_room(&laptop, &room_id).await;
    let before = laptop_room.event(&sent[0], None).await.expect("fetch the event");
    assert!(before.encryption_info().is_none(), "decrypted without any key: {before:?}");

    // ... until it recovers with the recovery key and downloads the backup.
    laptop.encryption().recovery().recover(&recovery_key).await.expect("recover with the recovery key");
    assert!(laptop.encryption().backups().are_enabled().await, "recovery connects the new device to the backup");
    laptop.encryption().backups().download_room_keys_for_room(&room_id).await.expect("download the room's keys");
    for (event_id, body) in sent.iter().zip(bodies) {
        let (plain, info) = decrypted(&laptop, &room_id, event_id).await;
        assert_eq!(plain, body);
        assert_eq!(info.sender, user_id(&phone));
    }
}
both_backends!(a_later_device_decrypts_history_via_key_backup);

async fn cross_signing_bootstrap_and_verification(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    hs.api().register("alice", PASSWORD).await;
    hs.api().register("bob", PASSWORD).await;
    let alice = login(&hs, "alice", "Alice's phone").await;
    let bob1 = login(&hs, "bob", "Bob's phone").await;
    let bob2 = login(&hs, "bob", "Bob's laptop").await;
    for client in [&alice, &bob1, &bob2] {
        first_sync(&hs, client).await;
    }
    let bob_id = user_id(&bob1);

    for client in [&alice, &bob1] {
        client.encryption().bootstrap_cross_signing(None).await.expect("bootstrap cross-signing");
        let status = client.encryption().cross_signing_status().await.expect("a cross-signing status");
        assert!(status.is_complete(), "all three private keys: {status:?}");
        // The device's self-signing signature comes back from the server.
        client.encryption().request_user_identity(&user_id(client)).await.expect("query the own keys");
        let own = client.encryption().get_own_device().await.expect("the store").expect("the own device");
        assert!(own.is_cross_signed_by_owner(), "bootstrapping signs the own device");
    }

    // Bob's phone signs his laptop with his self-signing key.
    bob1.encryption().request_user_identity(&bob_id).await.expect("bob queries his own keys");
    let laptop = bob1
        .encryption()
        .get_device(&bob_id, &device_id(&bob2))
        .await
        .expect("the store")
        .expect("bob's phone knows his laptop");
    laptop.verify().await.expect("bob's phone cross-signs his laptop");

    // Alice sees bob's identity and cross-signed devices, not yet verified.
    let identity = alice
        .encryption()
        .request_user_identity(&bob_id)
        .await
        .expect("alice queries bob's keys")
        .expect("bob has a cross-signing identity");
    assert!(!identity.is_verified());
    for device in [device_id(&bob1), device_id(&bob2)] {
        let device = bob_device(&alice, &bob_id, &device).await;
        assert!(device.is_cross_signed_by_owner(), "{device:?} is signed by bob's self-signing key");
        assert!(!device.is_verified(), "{device:?} is not verified before alice verifies bob");
    }

    // Alice verifies bob: her user-signing key signs his master key.
    identity.verify().await.expect("alice signs bob's master key");

    // The server returns her signature; bob and both his devices are verified.
    let identity = alice.encryption().request_user_identity(&bob_id).await.expect("query").expect("an identity");
    assert!(identity.is_verified(), "bob's identity after alice's signature");
    for device in [device_id(&bob1), device_id(&bob2)] {
        let device = bob_device(&alice, &bob_id, &device).await;
        assert!(device.is_verified(), "{device:?} is verified through cross-signing");
        assert!(device.is_verified_with_cross_signing());
    }
}
both_backends!(cross_signing_bootstrap_and_verification);

async fn bob_device(alice: &Client, bob: &UserId, device: &DeviceId) -> matrix_sdk::encryption::identities::Device {
    alice
        .encryption()
        .get_device(bob, device)
        .await
        .expect("the store")
        .unwrap_or_else(|| panic!("alice does not know {bob}'s device {device}"))
}

async fn a_deleted_device_disappears_from_the_other_users_device_list(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice_http = hs.api().register("alice", PASSWORD).await;
    let bob_http = hs.api().register("bob", PASSWORD).await;
    let alice = login(&hs, "alice", "Alice's phone").await;
    let bob1 = login(&hs, "bob", "Bob's phone").await;
    let bob2 = login(&hs, "bob", "Bob's laptop").await;
    for client in [&alice, &bob1, &bob2] {
        first_sync(&hs, client).await;
    }
    let bob_id = user_id(&bob1);
    let (phone, laptop) = (device_id(&bob1), device_id(&bob2));

    // Sharing an encrypted room makes alice's SDK track bob's devices.
    let room_id = encrypted_dm(&alice_http, &bob_http).await;
    let room = joined_room(&alice, &room_id).await;
    wait_for_member(&alice, &room, &bob_id).await;
    let bob_devices = |alice: Client, bob_id: OwnedUserId| async move {
        alice.sync_once(short_sync()).await.expect("sync_once");
        let devices = alice.encryption().get_user_devices(&bob_id).await.expect("bob's devices");
        devices.keys().map(ToOwned::to_owned).collect::<Vec<_>>()
    };
    eventually("alice's SDK listing both of bob's devices", || async {
        let listed = bob_devices(alice.clone(), bob_id.clone()).await;
        (listed.contains(&phone) && listed.contains(&laptop)).then_some(())
    })
    .await;

    // Bob deletes his laptop (user-interactive auth with his password).
    bob_http
        .with_password_uia(Method::DELETE, &format!("/devices/{}", enc(laptop.as_str())), json!({}))
        .await
        .expect_ok();

    eventually("alice's SDK dropping bob's deleted laptop", || async {
        let listed = bob_devices(alice.clone(), bob_id.clone()).await;
        assert!(listed.contains(&phone), "bob's phone still exists: {listed:?}");
        (!listed.contains(&laptop)).then_some(())
    })
    .await;
}
both_backends!(a_deleted_device_disappears_from_the_other_users_device_list);

async fn to_device_message_sent_while_offline_survives_restart_and_arrives_once(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let since = bob.sync_token().await;

    // Bob is not syncing while alice sends.
    let content = json!({"secret": "kept across a crash"});
    alice
        .send_to_device("org.example.offline", "offline-1", json!({ &bob.user_id: { &bob.device_id: content } }))
        .await
        .expect_ok();

    // The server is killed (no clean shutdown) and started again.
    hs.kill9();
    hs.restart().await;

    // Bob syncs: the message is there, once.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut since = since;
    let mut events = Vec::new();
    while events.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the to-device message never arrived");
        let synced: Synced = bob.sync_with(Some(&since), "timeout=1000").await;
        events = synced.to_device();
        since = synced.next_batch;
    }
    assert_eq!(events.len(), 1, "exactly one message: {events:#?}");
    assert_eq!(events[0]["sender"], alice.user_id.as_str());
    assert_eq!(events[0]["type"], "org.example.offline");
    assert_eq!(events[0]["content"], content);

    // The next sync (from the answer that delivered it) does not repeat it,
    // not even across another crash.
    let next = bob.sync_with(Some(&since), "timeout=500").await;
    assert!(next.to_device().is_empty(), "delivered again: {:?}", next.reply);
    hs.kill9();
    hs.restart().await;
    for synced in bob.sync_for(&next.next_batch, "", Duration::from_secs(1)).await {
        assert!(synced.to_device().is_empty(), "delivered again after a restart: {:?}", synced.reply);
    }
}
both_backends!(to_device_message_sent_while_offline_survives_restart_and_arrives_once);
