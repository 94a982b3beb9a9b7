//! End-to-end encryption keys over raw HTTP — mirrors Complement's
//! `upload_keys`, `user_query_keys`, `keychanges`, `device_lists`,
//! `to_device` and `msc3967`; spec: client-server API `keys.yaml`
//! (`/keys/upload`, `/keys/query`, `/keys/claim`, `/keys/changes`),
//! `cross_signing.yaml`, `to_device.yaml`, and the modules "End-to-End
//! Encryption" (one-time and fallback keys, cross-signing, "Extensions to
//! /sync") and "Send-to-Device messaging".
//!
//! Every key is generated and signed here (see `nexus_complement::e2ee_client`),
//! so the server's signature checks see real ed25519 signatures.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nexus_complement::e2ee_client::{
    CrossSigningKeys, DeviceKeys, SIGNED_CURVE25519, SigningKey, curve25519_public_key, signatures_body,
};
use nexus_complement::{Backend, Homeserver, Method, Session, Synced, both_backends, enc, password_login};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Logs `localpart` in as a new device with this display name.
async fn login_device(hs: &Homeserver, localpart: &str, display_name: &str) -> Session {
    let mut body = password_login(localpart, PASSWORD);
    body["initial_device_display_name"] = json!(display_name);
    let reply = hs.api().login_with(body).await;
    hs.api().session_from(reply.expect_ok(), PASSWORD, &reply)
}

/// Uploads fresh, self-signed device keys for the session's device.
async fn upload_device_keys(session: &Session) -> DeviceKeys {
    let keys = DeviceKeys::for_session(session);
    session.upload_keys_ok(json!({"device_keys": keys.signed()})).await;
    keys
}

/// `device_keys[user][device]` of a `/keys/query` answer.
fn queried_device<'a>(body: &'a Value, user_id: &str, device_id: &str) -> Option<&'a Value> {
    body["device_keys"].get(user_id).and_then(|devices| devices.get(device_id))
}

/// Asserts that a queried device is the uploaded one: every uploaded field
/// unchanged (spec: "the information returned will be the same as uploaded
/// via /keys/upload, with the addition of an unsigned property"), and, if
/// the server names the device, the name it was given.
#[track_caller]
fn assert_same_device_keys(queried: &Value, uploaded: &Value, display_name: Option<&str>) {
    for field in ["user_id", "device_id", "algorithms", "keys"] {
        assert_eq!(queried[field], uploaded[field], "{field} differs from the upload: {queried:#}");
    }
    for (signer, signatures) in uploaded["signatures"].as_object().expect("uploaded signatures") {
        for (key_id, signature) in signatures.as_object().expect("uploaded signatures of a user") {
            assert_eq!(&queried["signatures"][signer][key_id], signature, "the device's own signature: {queried:#}");
        }
    }
    if let Some(name) = queried["unsigned"].get("device_display_name") {
        assert_eq!(name.as_str(), display_name, "unsigned.device_display_name: {queried:#}");
    }
}

/// No `failures` entry for this (reachable, local) server.
#[track_caller]
fn assert_no_failures(body: &Value, hs: &Homeserver) {
    if let Some(failures) = body.get("failures") {
        let failures = failures.as_object().unwrap_or_else(|| panic!("failures is not an object: {body:#}"));
        assert!(!failures.contains_key(&hs.server_name()), "the local server is reachable: {body:#}");
    }
}

async fn upload_keys_can_upload_and_query_device_keys(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let phone = login_device(&hs, "alice", "Alice's phone").await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let keys = DeviceKeys::for_session(&phone);

    let counts = phone
        .upload_keys_ok(json!({
            "device_keys": keys.signed(),
            "one_time_keys": keys.one_time_keys(&["AAAAAQ", "AAAAAg"]),
        }))
        .await;
    assert_eq!(counts[SIGNED_CURVE25519], 2, "{counts}");

    // Another user and the owner both see the device as uploaded.
    for querier in [&bob, &alice] {
        let body = querier.query_user_keys(&alice.user_id).await;
        assert_no_failures(&body, &hs);
        let device = queried_device(&body, &alice.user_id, &phone.device_id)
            .unwrap_or_else(|| panic!("the phone is missing from {body:#}"));
        assert_same_device_keys(device, &keys.signed(), Some("Alice's phone"));
        // A device that never uploaded keys has no DeviceKeys to return.
        assert!(queried_device(&body, &alice.user_id, &alice.device_id).is_none(), "a keyless device: {body:#}");
    }

    // Asking for one device returns that device only.
    let reply = bob.query_keys(&[(&alice.user_id, &[&phone.device_id])]).await;
    let devices = reply.expect_ok()["device_keys"][&alice.user_id].as_object().cloned().unwrap_or_default();
    assert_eq!(devices.keys().collect::<Vec<_>>(), [&phone.device_id], "{reply:?}");

    // Unknown devices and users are left out, not reported as failures.
    let reply = bob.query_keys(&[(&alice.user_id, &["NO_SUCH_DEVICE"])]).await;
    assert!(queried_device(reply.expect_ok(), &alice.user_id, "NO_SUCH_DEVICE").is_none(), "{reply:?}");
    let nobody = hs.user_id("nobody");
    let reply = bob.query_keys(&[(&nobody, &[])]).await;
    let body = reply.expect_ok();
    assert_no_failures(body, &hs);
    let entry = body["device_keys"].get(&nobody);
    assert!(entry.is_none() || entry == Some(&json!({})), "an unknown user has no devices: {reply:?}");
    // A user without any keys: no devices either.
    let reply = alice.query_keys(&[(&bob.user_id, &[])]).await;
    let entry = reply.expect_ok()["device_keys"].get(&bob.user_id);
    assert!(entry.is_none() || entry == Some(&json!({})), "bob uploaded no keys: {reply:?}");
}
both_backends!(upload_keys_can_upload_and_query_device_keys);

async fn upload_keys_rejects_device_keys_of_another_user_or_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;

    // device_keys.user_id and device_id "Must match the user ID / device ID
    // used when logging in" — correctly self-signed, but not alice's device.
    for keys in [DeviceKeys::generate(&bob.user_id, &alice.device_id), DeviceKeys::generate(&alice.user_id, "OTHER")] {
        let reply = alice.upload_keys(json!({"device_keys": keys.signed()})).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        reply.expect_standard_error();
    }

    for user in [&alice.user_id, &bob.user_id] {
        let body = alice.query_user_keys(user).await;
        let devices = body["device_keys"].get(user.as_str());
        assert!(devices.is_none() || devices == Some(&json!({})), "nothing was stored: {body:#}");
    }
}
both_backends!(upload_keys_rejects_device_keys_of_another_user_or_device);

async fn upload_keys_rejects_device_keys_with_a_bad_self_signature(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let keys = DeviceKeys::for_session(&alice);

    // The signature must be the device's ed25519 key's signature of the
    // object ("Signing JSON"): a key changed after signing, or a signature
    // made by another key, is not.
    let mut tampered = keys.signed();
    tampered["keys"][format!("curve25519:{}", alice.device_id)] = json!(curve25519_public_key());
    let mut foreign = keys.signed();
    foreign.as_object_mut().unwrap().remove("signatures");
    SigningKey::generate().sign_into(&mut foreign, &alice.user_id, &keys.key_id());
    let mut unsigned = keys.signed();
    unsigned["signatures"] = json!({});
    let mut unsigned_by_alice = keys.signed();
    unsigned_by_alice["signatures"] = json!({ &alice.user_id: {} });
    let mut without_signatures = keys.signed();
    without_signatures.as_object_mut().expect("an object").remove("signatures");

    for (what, bad) in [
        ("a key changed after signing", tampered),
        ("another key's signature", foreign),
        ("no signature", unsigned),
        ("no signature of alice", unsigned_by_alice),
        ("no signatures property", without_signatures),
    ] {
        let reply = alice.upload_keys(json!({"device_keys": bad})).await;
        assert_eq!(reply.status, 400, "device keys with {what} must be refused: {reply:?}");
        reply.expect_error_in(400, &["M_INVALID_SIGNATURE", "M_INVALID_PARAM", "M_BAD_JSON", "M_MISSING_PARAM"]);
    }
    let body = alice.query_user_keys(&alice.user_id).await;
    assert!(queried_device(&body, &alice.user_id, &alice.device_id).is_none(), "nothing was stored: {body:#}");

    // The genuine object is accepted.
    alice.upload_keys_ok(json!({"device_keys": keys.signed()})).await;
    let body = alice.query_user_keys(&alice.user_id).await;
    assert!(queried_device(&body, &alice.user_id, &alice.device_id).is_some(), "{body:#}");
}
both_backends!(upload_keys_rejects_device_keys_with_a_bad_self_signature);

async fn upload_keys_is_idempotent_for_the_same_one_time_key(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let keys = upload_device_keys(&alice).await;
    let otks = keys.one_time_keys(&["AAAAAQ"]);

    let first = alice.upload_keys_ok(json!({"one_time_keys": otks})).await;
    let again = alice.upload_keys_ok(json!({"one_time_keys": otks})).await;
    assert_eq!(first[SIGNED_CURVE25519], 1);
    assert_eq!(again[SIGNED_CURVE25519], 1, "the same key again is still one key");

    // Another value under the same key id: refused, or it still counts once.
    let reply = alice.upload_keys(json!({"one_time_keys": keys.one_time_keys(&["AAAAAQ"])})).await;
    if reply.status == 200 {
        assert_eq!(reply.json["one_time_key_counts"][SIGNED_CURVE25519], 1, "{reply:?}");
    } else {
        reply.expect_error_in(400, &["M_INVALID_PARAM", "M_BAD_JSON", "M_UNKNOWN"]);
    }

    // One key, handed out once.
    let (id, _) = bob.claim_one(&alice.user_id, &alice.device_id).await.expect("the one-time key");
    assert_eq!(id, format!("{SIGNED_CURVE25519}:AAAAAQ"));
    assert_eq!(bob.claim_one(&alice.user_id, &alice.device_id).await, None, "no keys (and no fallback) left");
}
both_backends!(upload_keys_is_idempotent_for_the_same_one_time_key);

async fn key_claim_hands_out_one_time_keys_in_upload_order(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let keys = upload_device_keys(&alice).await;

    // Two uploads: "One-time keys are given out in the order that they were
    // uploaded via /keys/upload" (the second id sorts first on purpose).
    let first = keys.one_time_keys(&["ZZZZZZ"]);
    let second = keys.one_time_keys(&["AAAAAA"]);
    alice.upload_keys_ok(json!({"one_time_keys": first})).await;
    let counts = alice.upload_keys_ok(json!({"one_time_keys": second})).await;
    assert_eq!(counts[SIGNED_CURVE25519], 2);
    assert_eq!(alice.initial_sync().await.one_time_keys_count(SIGNED_CURVE25519), 2);

    let (id, key) = bob.claim_one(&alice.user_id, &alice.device_id).await.expect("a first key");
    assert_eq!(id, format!("{SIGNED_CURVE25519}:ZZZZZZ"));
    assert_eq!(key, first[&id], "the key object as uploaded");
    assert_eq!(alice.initial_sync().await.one_time_keys_count(SIGNED_CURVE25519), 1);

    let (id, key) = bob.claim_one(&alice.user_id, &alice.device_id).await.expect("a second key");
    assert_eq!(id, format!("{SIGNED_CURVE25519}:AAAAAA"));
    assert_eq!(key, second[&id]);

    assert_eq!(bob.claim_one(&alice.user_id, &alice.device_id).await, None);
    let synced = alice.initial_sync().await;
    assert_eq!(synced.one_time_keys_count(SIGNED_CURVE25519), 0, "{:?}", synced.reply);
    let reply = alice.upload_keys(json!({})).await;
    let count = reply.expect_ok()["one_time_key_counts"].get(SIGNED_CURVE25519).cloned().unwrap_or(json!(0));
    assert_eq!(count, 0, "an algorithm not listed counts zero: {reply:?}");
}
both_backends!(key_claim_hands_out_one_time_keys_in_upload_order);

async fn concurrent_claims_never_hand_out_a_key_twice(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let keys = upload_device_keys(&alice).await;
    alice.upload_keys_ok(json!({"one_time_keys": keys.one_time_keys(&["K1", "K2", "K3", "K4", "K5"])})).await;

    // "Servers must ensure that each one-time key is returned at most once".
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let bob = bob.clone();
            let (user, device) = (alice.user_id.clone(), alice.device_id.clone());
            tokio::spawn(async move { bob.claim_one(&user, &device).await })
        })
        .collect();
    let mut handed_out = Vec::new();
    for claim in claims {
        if let Some((id, _)) = claim.await.expect("a claim task") {
            handed_out.push(id);
        }
    }
    let distinct: BTreeSet<_> = handed_out.iter().cloned().collect();
    assert_eq!(distinct.len(), handed_out.len(), "a key was handed out twice: {handed_out:?}");
    assert_eq!(handed_out.len(), 5, "all five keys, and only those: {handed_out:?}");
}
both_backends!(concurrent_claims_never_hand_out_a_key_twice);

async fn fallback_key_is_claimed_once_one_time_keys_run_out(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let keys = upload_device_keys(&alice).await;

    // "Required": the list is there, empty, before any fallback key.
    assert!(alice.initial_sync().await.unused_fallback_key_types().is_empty());

    let otk = keys.one_time_keys(&["OTK1"]);
    let fallback = keys.fallback_keys("FB1");
    alice.upload_keys_ok(json!({"one_time_keys": otk, "fallback_keys": fallback})).await;
    let synced = alice.initial_sync().await;
    assert_eq!(synced.one_time_keys_count(SIGNED_CURVE25519), 1, "the fallback key is not a one-time key");
    assert_eq!(synced.unused_fallback_key_types(), [SIGNED_CURVE25519]);

    // The one-time key first; then the fallback key, again and again.
    let (id, _) = bob.claim_one(&alice.user_id, &alice.device_id).await.expect("the one-time key");
    assert_eq!(id, format!("{SIGNED_CURVE25519}:OTK1"));
    assert_eq!(alice.initial_sync().await.unused_fallback_key_types(), [SIGNED_CURVE25519], "not used yet");
    for _ in 0..2 {
        let (id, key) = bob.claim_one(&alice.user_id, &alice.device_id).await.expect("the fallback key");
        assert_eq!(id, format!("{SIGNED_CURVE25519}:FB1"));
        assert_eq!(key, fallback[&id], "the fallback key as uploaded (with fallback: true)");
    }
    let synced = alice.initial_sync().await;
    assert_eq!(synced.one_time_keys_count(SIGNED_CURVE25519), 0);
    assert!(
        !synced.unused_fallback_key_types().contains(&SIGNED_CURVE25519.to_owned()),
        "the fallback key was used: {:?}",
        synced.reply
    );

    // A replacement fallback key is unused again, and is the one handed out.
    let replacement = keys.fallback_keys("FB2");
    alice.upload_keys_ok(json!({"fallback_keys": replacement})).await;
    assert_eq!(alice.initial_sync().await.unused_fallback_key_types(), [SIGNED_CURVE25519]);
    let (id, key) = bob.claim_one(&alice.user_id, &alice.device_id).await.expect("the new fallback key");
    assert_eq!(id, format!("{SIGNED_CURVE25519}:FB2"));
    assert_eq!(key, replacement[&id]);
}
both_backends!(fallback_key_is_claimed_once_one_time_keys_run_out);

async fn user_query_keys_with_malformed_device_ids_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // device_keys maps a user to a *list* of device ids.
    for device_keys in [json!({ &alice.user_id: {"DEVICE": "x"} }), json!({ &alice.user_id: "DEVICE" })] {
        let reply = alice.post("/keys/query", json!({ "device_keys": device_keys })).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        reply.expect_standard_error();
    }
}
both_backends!(user_query_keys_with_malformed_device_ids_is_rejected);

/// Alice's encrypted room with bob joined.
async fn shared_encrypted_room(alice: &Session, bob: &Session) -> String {
    let room_id = alice
        .create_room(json!({
            "preset": "private_chat",
            "invite": [bob.user_id],
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await;
    bob.join(&room_id).await;
    room_id
}

async fn keychanges_new_device_keys_show_in_sync_and_keys_changes(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    shared_encrypted_room(&alice, &bob).await;
    let from = bob.sync_token().await;

    let laptop = login_device(&hs, "alice", "Alice's laptop").await;
    let keys = upload_device_keys(&laptop).await;

    let synced = bob
        .sync_until(&from, "", "alice in device_lists.changed", |s| s.device_lists_changed().contains(&alice.user_id))
        .await;
    let reply = bob.keys_changes(&from, &synced.next_batch).await;
    let changed = reply.expect_ok()["changed"].as_array().cloned().unwrap_or_default();
    assert!(changed.contains(&json!(alice.user_id)), "/keys/changes: {reply:?}");

    let body = bob.query_user_keys(&alice.user_id).await;
    let device = queried_device(&body, &alice.user_id, &laptop.device_id).expect("the new device");
    assert_same_device_keys(device, &keys.signed(), Some("Alice's laptop"));
}
both_backends!(keychanges_new_device_keys_show_in_sync_and_keys_changes);

async fn device_lists_follow_encrypted_room_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    upload_device_keys(&alice).await;
    upload_device_keys(&bob).await;
    let alice_from = alice.sync_token().await;

    // "changed: ... users who ... now share an encrypted room with the
    // client since the previous sync response".
    let room_id = shared_encrypted_room(&alice, &bob).await;
    let synced = alice
        .sync_until(&alice_from, "", "bob in device_lists.changed", |s| s.device_lists_changed().contains(&bob.user_id))
        .await;
    let alice_from = synced.next_batch;
    let bob_from = bob.sync_token().await;

    // "left: users with whom we do not share any encrypted rooms anymore".
    bob.leave(&room_id).await;
    alice
        .sync_until(&alice_from, "", "bob in device_lists.left", |s| s.device_lists_left().contains(&bob.user_id))
        .await;
    bob.sync_until(&bob_from, "", "alice in device_lists.left", |s| s.device_lists_left().contains(&alice.user_id))
        .await;
}
both_backends!(device_lists_follow_encrypted_room_membership);

async fn deleted_device_leaves_keys_query_and_shows_as_changed(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let tablet = login_device(&hs, "bob", "Bob's tablet").await;
    upload_device_keys(&tablet).await;
    shared_encrypted_room(&alice, &bob).await;
    let from = alice.sync_token().await;
    let body = alice.query_user_keys(&bob.user_id).await;
    assert!(queried_device(&body, &bob.user_id, &tablet.device_id).is_some(), "{body:#}");

    bob.with_password_uia(Method::DELETE, &format!("/devices/{}", enc(&tablet.device_id)), json!({})).await.expect_ok();

    // Removing "an existing device with identity keys" is a device list change.
    let synced = alice
        .sync_until(&from, "", "bob in device_lists.changed", |s| s.device_lists_changed().contains(&bob.user_id))
        .await;
    let reply = alice.keys_changes(&from, &synced.next_batch).await;
    assert!(reply.expect_ok()["changed"].as_array().is_some_and(|c| c.contains(&json!(bob.user_id))), "{reply:?}");
    let body = alice.query_user_keys(&bob.user_id).await;
    assert!(queried_device(&body, &bob.user_id, &tablet.device_id).is_none(), "a deleted device: {body:#}");
}
both_backends!(deleted_device_leaves_keys_query_and_shows_as_changed);

/// Asserts the cross-signing key returned by `/keys/query` is the uploaded
/// one (`user_id`, `usage`, `keys`, and every uploaded signature).
#[track_caller]
fn assert_same_cross_signing_key(queried: Option<&Value>, uploaded: &Value) {
    let queried = queried.unwrap_or_else(|| panic!("missing cross-signing key {uploaded:#}"));
    for field in ["user_id", "usage", "keys"] {
        assert_eq!(queried[field], uploaded[field], "{field}: {queried:#}");
    }
    if let Some(signatures) = uploaded.get("signatures").and_then(Value::as_object) {
        for (signer, by_key) in signatures {
            for (key_id, signature) in by_key.as_object().expect("signatures of a user") {
                assert_eq!(&queried["signatures"][signer][key_id], signature, "{queried:#}");
            }
        }
    }
}

async fn cross_signing_keys_are_uploaded_and_queried(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let keys = CrossSigningKeys::generate(&alice.user_id);

    // The first upload needs no user-interactive authentication.
    alice.upload_cross_signing(keys.upload_body()).await.expect_ok();

    let own = alice.query_user_keys(&alice.user_id).await;
    assert_same_cross_signing_key(own["master_keys"].get(&alice.user_id), &keys.master_key());
    assert_same_cross_signing_key(own["self_signing_keys"].get(&alice.user_id), &keys.self_signing_key());
    assert_same_cross_signing_key(own["user_signing_keys"].get(&alice.user_id), &keys.user_signing_key());

    // Others see the master and self-signing keys; the user-signing key is
    // only returned to its owner.
    let theirs = bob.query_user_keys(&alice.user_id).await;
    assert_same_cross_signing_key(theirs["master_keys"].get(&alice.user_id), &keys.master_key());
    assert_same_cross_signing_key(theirs["self_signing_keys"].get(&alice.user_id), &keys.self_signing_key());
    assert!(theirs["user_signing_keys"].get(&alice.user_id).is_none(), "another user's user-signing key: {theirs:#}");
}
both_backends!(cross_signing_keys_are_uploaded_and_queried);

async fn msc3967_replacing_cross_signing_keys_requires_password_auth(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let first = CrossSigningKeys::generate(&alice.user_id);
    let path = "/keys/device_signing/upload";

    alice.upload_cross_signing(first.upload_body()).await.expect_ok();
    // Uploading exactly the stored keys again is one of the two cases in
    // which UIA is not performed: "makes this endpoint idempotent".
    alice.upload_cross_signing(first.upload_body()).await.expect_ok();

    // New keys: UIA with m.login.password, a wrong password refused.
    let second = CrossSigningKeys::generate(&alice.user_id);
    let reply = alice.with_password_uia_as(Method::POST, path, second.upload_body(), "wrong-password").await;
    // A failed stage: 401 again, "with the addition of the standard errcode
    // and error fields".
    reply.expect_uia_challenge(&["m.login.password"]);
    reply.expect_standard_error();
    let body = alice.query_user_keys(&alice.user_id).await;
    assert_same_cross_signing_key(body["master_keys"].get(&alice.user_id), &first.master_key());

    alice.with_password_uia(Method::POST, path, second.upload_body()).await.expect_ok();
    let body = alice.query_user_keys(&alice.user_id).await;
    assert_same_cross_signing_key(body["master_keys"].get(&alice.user_id), &second.master_key());
    assert_same_cross_signing_key(body["self_signing_keys"].get(&alice.user_id), &second.self_signing_key());
}
both_backends!(msc3967_replacing_cross_signing_keys_requires_password_auth);

async fn cross_signing_upload_rejects_bad_signatures_and_a_missing_master_key(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let keys = CrossSigningKeys::generate(&alice.user_id);

    // A self-signing key not signed by the master key: M_INVALID_SIGNATURE.
    let mut body = keys.upload_body();
    let mut forged = json!({
        "user_id": alice.user_id,
        "usage": ["self_signing"],
        "keys": { keys.self_signing.public_key_id(): keys.self_signing.public() },
    });
    SigningKey::generate().sign_into(&mut forged, &alice.user_id, &keys.master.public_key_id());
    body["self_signing_key"] = forged;
    alice.upload_cross_signing(body).await.expect_error(400, "M_INVALID_SIGNATURE");
    let stored = alice.query_user_keys(&alice.user_id).await;
    assert!(stored["master_keys"].get(&alice.user_id).is_none(), "the refused upload stored nothing: {stored:#}");

    // A self-signing key without any signature ("Other keys must be signed
    // by the user's master signing key").
    for signatures in [None, Some(json!({})), Some(json!({ &alice.user_id: {} }))] {
        let mut body = keys.upload_body();
        let ssk = body["self_signing_key"].as_object_mut().expect("an object");
        match &signatures {
            None => ssk.remove("signatures"),
            Some(empty) => ssk.insert("signatures".to_owned(), empty.clone()),
        };
        let reply = alice.upload_cross_signing(body).await;
        assert_eq!(reply.status, 400, "a self-signing key with signatures {signatures:?} must be refused: {reply:?}");
        reply.expect_error_in(400, &["M_INVALID_SIGNATURE", "M_MISSING_PARAM"]);
    }

    // A self-signing key with no master key anywhere: M_MISSING_PARAM ("No
    // master signing key is available").
    let reply = alice.upload_cross_signing(json!({"self_signing_key": keys.self_signing_key()})).await;
    reply.expect_error(400, "M_MISSING_PARAM");
}
both_backends!(cross_signing_upload_rejects_bad_signatures_and_a_missing_master_key);

async fn cross_signing_key_equal_to_a_device_id_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let keys = CrossSigningKeys::generate(&hs.user_id("alice"));
    // A device whose id is the master key's public key.
    let reply = hs
        .api()
        .register_with(json!({"username": "alice", "password": PASSWORD, "device_id": keys.master.public()}))
        .await;
    let alice = hs.api().session_from(reply.expect_ok(), PASSWORD, &reply);
    assert_eq!(alice.device_id, keys.master.public());

    // "The public key of one of the keys is the same as one of the user's
    // device IDs": 403.
    alice.upload_cross_signing(keys.upload_body()).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(cross_signing_key_equal_to_a_device_id_is_forbidden);

async fn signatures_upload_verifies_each_signature(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let device = upload_device_keys(&alice).await;
    let alice_keys = CrossSigningKeys::generate(&alice.user_id);
    let bob_keys = CrossSigningKeys::generate(&bob.user_id);
    alice.upload_cross_signing(alice_keys.upload_body()).await.expect_ok();
    bob.upload_cross_signing(bob_keys.upload_body()).await.expect_ok();
    let ssk_id = alice_keys.self_signing.public_key_id();
    let usk_id = alice_keys.user_signing.public_key_id();
    let bob_master_id = bob_keys.master.public();

    // Invalid signatures: made by other keys than the ones they claim.
    let forged_device = SigningKey::generate().signed_alone(&device.signed(), &alice.user_id, &ssk_id);
    let forged_master = SigningKey::generate().signed_alone(&bob_keys.master_key(), &alice.user_id, &usk_id);
    let mut body = signatures_body(&alice.user_id, &alice.device_id, forged_device);
    body[&bob.user_id] = json!({ &bob_master_id: forged_master });
    let reply = alice.upload_signatures(body).await;
    let failures = &reply.expect_ok()["failures"];
    assert_eq!(failures[&alice.user_id][&alice.device_id]["errcode"], "M_INVALID_SIGNATURE", "{reply:?}");
    assert_eq!(failures[&bob.user_id][&bob_master_id]["errcode"], "M_INVALID_SIGNATURE", "{reply:?}");
    let own = alice.query_user_keys(&alice.user_id).await;
    let queried = queried_device(&own, &alice.user_id, &alice.device_id).expect("alice's device");
    assert!(queried["signatures"][&alice.user_id].get(&ssk_id).is_none(), "a refused signature: {queried:#}");

    // Valid ones: the device by alice's self-signing key, bob's master key
    // by alice's user-signing key.
    let mut body = signatures_body(&alice.user_id, &alice.device_id, alice_keys.sign_own_device(&device.signed()));
    body[&bob.user_id] = json!({ &bob_master_id: alice_keys.sign_other_master(&bob_keys.master_key()) });
    let reply = alice.upload_signatures(body).await;
    let failures = reply.expect_ok().get("failures").cloned().unwrap_or(json!({}));
    assert!(failures.as_object().is_some_and(|f| f.values().all(|v| v == &json!({}))), "{reply:?}");

    for querier in [&alice, &bob] {
        let body = querier.query_user_keys(&alice.user_id).await;
        let queried = queried_device(&body, &alice.user_id, &alice.device_id).expect("alice's device");
        let expected = alice_keys.sign_own_device(&device.signed());
        assert_eq!(queried["signatures"][&alice.user_id][&ssk_id], expected["signatures"][&alice.user_id][&ssk_id]);
        assert_same_device_keys(queried, &device.signed(), None);
    }
    // The signer sees her signature of bob's master key.
    let body = alice.query_user_keys(&bob.user_id).await;
    let expected = alice_keys.sign_other_master(&bob_keys.master_key());
    assert_eq!(
        body["master_keys"][&bob.user_id]["signatures"][&alice.user_id][&usk_id],
        expected["signatures"][&alice.user_id][&usk_id],
        "{body:#}"
    );
}
both_backends!(signatures_upload_verifies_each_signature);

/// Syncs `session` from `since` until `count` to-device events arrived,
/// and returns them with the last `next_batch`. Panics after 15 s.
async fn collect_to_device(session: &Session, since: &str, count: usize) -> (Vec<Value>, String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut since = since.to_owned();
    let mut events = Vec::new();
    while events.len() < count {
        assert!(Instant::now() < deadline, "{:?} got only {events:#?} of {count} to-device events", session);
        let synced: Synced = session.sync_with(Some(&since), "timeout=500").await;
        events.extend(synced.to_device());
        since = synced.next_batch;
    }
    assert_eq!(events.len(), count, "more to-device events than sent: {events:#?}");
    (events, since)
}

/// Asserts no to-device event arrives from `since` for a second.
async fn assert_no_more_to_device(session: &Session, since: &str) {
    for synced in session.sync_for(since, "", Duration::from_secs(1)).await {
        assert!(synced.to_device().is_empty(), "delivered again: {:?}", synced.reply);
    }
}

async fn to_device_messages_arrive_in_order_exactly_once(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let from = bob.sync_token().await;

    for n in 1..=3 {
        let messages = json!({ &bob.user_id: { &bob.device_id: {"n": n} } });
        alice.send_to_device("org.example.ping", &format!("ping-{n}"), messages).await.expect_ok();
    }

    let (events, next) = collect_to_device(&bob, &from, 3).await;
    for (n, event) in (1..=3).zip(&events) {
        assert_eq!(event["sender"], alice.user_id.as_str(), "{event:#}");
        assert_eq!(event["type"], "org.example.ping", "{event:#}");
        assert_eq!(event["content"], json!({"n": n}), "in order of arrival: {events:#?}");
    }
    assert_no_more_to_device(&bob, &next).await;
}
both_backends!(to_device_messages_arrive_in_order_exactly_once);

async fn to_device_transaction_ids_are_idempotent_per_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let alice_laptop = alice.login_again().await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let from = bob.sync_token().await;
    let messages = |from: &str| json!({ &bob.user_id: { &bob.device_id: {"from": from} } });

    // The same transaction twice from one device is one message; the same
    // transaction id from another device is another transaction.
    alice.send_to_device("org.example.ping", "same-txn", messages("phone")).await.expect_ok();
    alice.send_to_device("org.example.ping", "same-txn", messages("phone")).await.expect_ok();
    alice_laptop.send_to_device("org.example.ping", "same-txn", messages("laptop")).await.expect_ok();

    let (events, next) = collect_to_device(&bob, &from, 2).await;
    let senders: BTreeSet<_> = events.iter().map(|e| e["content"]["from"].as_str().unwrap_or_default()).collect();
    assert_eq!(senders, BTreeSet::from(["laptop", "phone"]), "{events:#?}");
    assert_no_more_to_device(&bob, &next).await;
}
both_backends!(to_device_transaction_ids_are_idempotent_per_device);

async fn to_device_star_reaches_every_device_of_the_user(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob_phone = hs.api().register("bob", PASSWORD).await;
    let bob_laptop = bob_phone.login_again().await;
    let mut tokens = Vec::new();
    for session in [&bob_phone, &bob_laptop, &alice] {
        tokens.push(session.sync_token().await);
    }

    let messages = json!({ &bob_phone.user_id: { "*": {"to": "everyone"} } });
    alice.send_to_device("org.example.ping", "star", messages).await.expect_ok();

    for (session, from) in [&bob_phone, &bob_laptop].into_iter().zip(&tokens) {
        let (events, next) = collect_to_device(session, from, 1).await;
        assert_eq!(events[0]["content"], json!({"to": "everyone"}), "{events:#?}");
        assert_eq!(events[0]["sender"], alice.user_id.as_str());
        assert_no_more_to_device(session, &next).await;
    }
    assert_no_more_to_device(&alice, &tokens[2]).await;
}
both_backends!(to_device_star_reaches_every_device_of_the_user);

async fn to_device_long_queue_is_delivered_in_order_across_syncs(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let from = bob.sync_token().await;
    const COUNT: usize = 130;

    for n in 0..COUNT {
        let messages = json!({ &bob.user_id: { &bob.device_id: {"n": n} } });
        alice.send_to_device("org.example.ping", &format!("q-{n}"), messages).await.expect_ok();
    }

    // The server may split a long queue over several answers ("100 messages
    // is recommended as a reasonable limit"); together they hold every
    // message once, in order.
    let (events, next) = collect_to_device(&bob, &from, COUNT).await;
    let ns: Vec<u64> = events.iter().map(|e| e["content"]["n"].as_u64().unwrap_or(u64::MAX)).collect();
    assert_eq!(ns, (0..COUNT as u64).collect::<Vec<_>>());
    assert_no_more_to_device(&bob, &next).await;
}
both_backends!(to_device_long_queue_is_delivered_in_order_across_syncs);
