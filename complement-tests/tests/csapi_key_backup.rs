//! Server-side key backups over raw HTTP — mirrors Complement's
//! `e2e_key_backup`; spec: client-server API `key_backup.yaml`
//! (`/room_keys/version[/{version}]`, `/room_keys/keys[/{roomId}[/{sessionId}]]`)
//! and the "Server-side key backups" part of the End-to-End Encryption
//! module. The server treats `auth_data` and `session_data` as opaque, so
//! the scenarios store made-up (but well-formed) values.

use nexus_complement::e2ee_client::{BACKUP_ALGORITHM, curve25519_public_key};
use nexus_complement::{Backend, Homeserver, Method, Reply, Session, both_backends, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const ROOM_A: &str = "!roomA:example.org";
const ROOM_B: &str = "!roomB:example.org";

fn auth_data() -> Value {
    json!({"public_key": curve25519_public_key(), "signatures": {}})
}

/// A key backup entry (spec `KeyBackupData`).
fn key_data(first_message_index: u64, forwarded_count: u64, is_verified: bool, tag: &str) -> Value {
    json!({
        "first_message_index": first_message_index,
        "forwarded_count": forwarded_count,
        "is_verified": is_verified,
        "session_data": {"ephemeral": "ZXBoZW1lcmFs", "ciphertext": tag, "mac": "bWFj"},
    })
}

/// Asserts a 200 answer to a key write or delete (`RoomKeysUpdateResponse`:
/// `count` and `etag`, both required) and returns `(etag, count)`.
#[track_caller]
fn update(reply: &Reply) -> (String, u64) {
    let body = reply.expect_ok();
    let etag = body["etag"].as_str().unwrap_or_else(|| panic!("a string etag is required: {reply:?}")).to_owned();
    let count = body["count"].as_u64().unwrap_or_else(|| panic!("an integer count is required: {reply:?}"));
    (etag, count)
}

/// The `(etag, count)` of `GET /room_keys/version/{version}`, after
/// checking the required fields.
async fn version_info(session: &Session, version: &str) -> (String, u64) {
    let reply = session.backup_version(Some(version)).await;
    let body = reply.expect_ok();
    assert_eq!(body["version"], version, "{reply:?}");
    assert_eq!(body["algorithm"], BACKUP_ALGORITHM, "{reply:?}");
    assert!(body["auth_data"].is_object(), "{reply:?}");
    update(&reply)
}

async fn put_session(session: &Session, version: &str, room: &str, id: &str, data: Value) -> Reply {
    session.room_keys(Method::PUT, Some(room), Some(id), version, Some(data)).await
}

async fn get_session(session: &Session, version: &str, room: &str, id: &str) -> Reply {
    session.room_keys(Method::GET, Some(room), Some(id), version, None).await
}

async fn key_backup_versions_are_created_read_updated_and_deleted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    alice.backup_version(None).await.expect_error(404, "M_NOT_FOUND");

    let first_auth = auth_data();
    let v1 = alice.create_backup_version(first_auth.clone()).await;
    for reply in [alice.backup_version(None).await, alice.backup_version(Some(&v1)).await] {
        let body = reply.expect_ok();
        assert_eq!(body["version"], v1.as_str(), "{reply:?}");
        assert_eq!(body["algorithm"], BACKUP_ALGORITHM, "{reply:?}");
        assert_eq!(body["auth_data"], first_auth, "{reply:?}");
        assert_eq!(body["count"], 0, "{reply:?}");
        assert!(body["etag"].is_string(), "{reply:?}");
    }

    // "Only auth_data can be modified."
    let new_auth = auth_data();
    let path = format!("/room_keys/version/{}", enc(&v1));
    alice.put(&path, json!({"algorithm": BACKUP_ALGORITHM, "auth_data": new_auth, "version": v1})).await.expect_ok();
    assert_eq!(alice.backup_version(Some(&v1)).await.expect_ok()["auth_data"], new_auth);
    // A different algorithm, or a body version other than the path's: 400.
    alice
        .put(&path, json!({"algorithm": "org.example.other", "auth_data": auth_data()}))
        .await
        .expect_error(400, "M_INVALID_PARAM");
    alice
        .put(&path, json!({"algorithm": BACKUP_ALGORITHM, "auth_data": auth_data(), "version": format!("{v1}0")}))
        .await
        .expect_error(400, "M_INVALID_PARAM");
    assert_eq!(alice.backup_version(Some(&v1)).await.expect_ok()["auth_data"], new_auth, "refused updates changed it");
    alice
        .put("/room_keys/version/987654", json!({"algorithm": BACKUP_ALGORITHM, "auth_data": auth_data()}))
        .await
        .expect_error(404, "M_NOT_FOUND");

    // A new backup becomes the current one.
    let v2 = alice.create_backup_version(auth_data()).await;
    assert_ne!(v2, v1);
    assert_eq!(alice.backup_version(None).await.expect_ok()["version"], v2.as_str());

    // Deleting: gone; deleting again "should succeed rather than returning
    // an error" (a 404 is the other answer the spec describes).
    alice.delete(&path, json!({})).await.expect_ok();
    alice.backup_version(Some(&v1)).await.expect_error(404, "M_NOT_FOUND");
    let again = alice.delete(&path, json!({})).await;
    if again.status != 200 {
        again.expect_error(404, "M_NOT_FOUND");
    }
    alice.delete("/room_keys/version/987654", json!({})).await.expect_error(404, "M_NOT_FOUND");
    alice.backup_version(Some("987654")).await.expect_error(404, "M_NOT_FOUND");

    // Deleting the current backup leaves none (v1 is deleted too).
    alice.delete(&format!("/room_keys/version/{}", enc(&v2)), json!({})).await.expect_ok();
    alice.backup_version(None).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(key_backup_versions_are_created_read_updated_and_deleted);

async fn key_backup_keys_are_stored_read_and_deleted_with_count_and_etag(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let version = alice.create_backup_version(auth_data()).await;
    let (etag0, count0) = version_info(&alice, &version).await;
    assert_eq!(count0, 0);

    // Empty backups answer empty maps.
    let reply = alice.room_keys(Method::GET, None, None, &version, None).await;
    assert_eq!(reply.expect_ok()["rooms"], json!({}), "{reply:?}");
    let reply = alice.room_keys(Method::GET, Some(ROOM_A), None, &version, None).await;
    assert_eq!(reply.expect_ok()["sessions"], json!({}), "{reply:?}");
    get_session(&alice, &version, ROOM_A, "s1").await.expect_error(404, "M_NOT_FOUND");

    // One session.
    let s1 = key_data(0, 0, true, "s1");
    let (etag1, count1) = update(&put_session(&alice, &version, ROOM_A, "s1", s1.clone()).await);
    assert_eq!(count1, 1);
    assert_ne!(etag1, etag0, "the stored keys changed");
    assert_eq!(version_info(&alice, &version).await, (etag1.clone(), 1));
    assert_eq!(get_session(&alice, &version, ROOM_A, "s1").await.expect_ok(), &s1);

    // A room's sessions at once.
    let room_body = json!({"sessions": {"s2": key_data(0, 0, false, "s2"), "s3": key_data(3, 1, false, "s3")}});
    let (etag2, count2) = update(&alice.room_keys(Method::PUT, Some(ROOM_A), None, &version, Some(room_body)).await);
    assert_eq!(count2, 3);
    assert_ne!(etag2, etag1);

    // Several rooms at once.
    let all_body = json!({"rooms": {ROOM_B: {"sessions": {"s4": key_data(0, 0, true, "s4")}}}});
    let (etag3, count3) = update(&alice.room_keys(Method::PUT, None, None, &version, Some(all_body)).await);
    assert_eq!(count3, 4);
    assert_ne!(etag3, etag2);
    assert_eq!(version_info(&alice, &version).await, (etag3.clone(), 4));

    let reply = alice.room_keys(Method::GET, None, None, &version, None).await;
    let rooms = &reply.expect_ok()["rooms"];
    assert_eq!(rooms[ROOM_A]["sessions"].as_object().map(|s| s.len()), Some(3), "{reply:?}");
    assert_eq!(rooms[ROOM_B]["sessions"]["s4"], key_data(0, 0, true, "s4"), "{reply:?}");
    let reply = alice.room_keys(Method::GET, Some(ROOM_A), None, &version, None).await;
    let sessions = reply.expect_ok()["sessions"].as_object().cloned().unwrap_or_default();
    assert_eq!(sessions.keys().collect::<Vec<_>>(), ["s1", "s2", "s3"], "{reply:?}");
    assert_eq!(sessions["s3"], key_data(3, 1, false, "s3"));

    // Deleting one session, one room, then everything.
    let (etag4, count4) = update(&alice.room_keys(Method::DELETE, Some(ROOM_A), Some("s2"), &version, None).await);
    assert_eq!(count4, 3);
    assert_ne!(etag4, etag3);
    get_session(&alice, &version, ROOM_A, "s2").await.expect_error(404, "M_NOT_FOUND");
    let (etag5, count5) = update(&alice.room_keys(Method::DELETE, Some(ROOM_A), None, &version, None).await);
    assert_eq!(count5, 1);
    assert_ne!(etag5, etag4);
    let reply = alice.room_keys(Method::GET, Some(ROOM_A), None, &version, None).await;
    assert_eq!(reply.expect_ok()["sessions"], json!({}), "{reply:?}");
    let (etag6, count6) = update(&alice.room_keys(Method::DELETE, None, None, &version, None).await);
    assert_eq!(count6, 0);
    assert_ne!(etag6, etag5);
    assert_eq!(version_info(&alice, &version).await, (etag6, 0));
    let reply = alice.room_keys(Method::GET, None, None, &version, None).await;
    assert_eq!(reply.expect_ok()["rooms"], json!({}), "{reply:?}");
}
both_backends!(key_backup_keys_are_stored_read_and_deleted_with_count_and_etag);

async fn key_backup_writes_to_an_old_version_are_refused_with_the_current_one(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // No backup at all: "The backup was not found" (or, as there is no
    // current version to match, the wrong-version answer).
    let reply = put_session(&alice, "1", ROOM_A, "s1", key_data(0, 0, false, "s1")).await;
    match reply.status {
        403 => reply.expect_error(403, "M_WRONG_ROOM_KEYS_VERSION"),
        _ => reply.expect_error(404, "M_NOT_FOUND"),
    }

    let old = alice.create_backup_version(auth_data()).await;
    update(&put_session(&alice, &old, ROOM_A, "s1", key_data(0, 0, false, "old")).await);
    let current = alice.create_backup_version(auth_data()).await;

    // "Keys can only be written to the most recently created version":
    // 403 M_WRONG_ROOM_KEYS_VERSION with current_version, on all three PUTs.
    let writes = [
        put_session(&alice, &old, ROOM_A, "s2", key_data(0, 0, false, "s2")).await,
        alice
            .room_keys(
                Method::PUT,
                Some(ROOM_A),
                None,
                &old,
                Some(json!({"sessions": {"s2": key_data(0, 0, false, "s2")}})),
            )
            .await,
        alice
            .room_keys(
                Method::PUT,
                None,
                None,
                &old,
                Some(json!({"rooms": {ROOM_A: {"sessions": {"s2": key_data(0, 0, false, "s2")}}}})),
            )
            .await,
    ];
    for reply in writes {
        reply.expect_error(403, "M_WRONG_ROOM_KEYS_VERSION");
        assert_eq!(reply.json["current_version"], current.as_str(), "{reply:?}");
    }
    get_session(&alice, &old, ROOM_A, "s2").await.expect_error(404, "M_NOT_FOUND");
    // Reading an old version is still allowed.
    assert_eq!(get_session(&alice, &old, ROOM_A, "s1").await.expect_ok(), &key_data(0, 0, false, "old"));

    // The new version is empty and writable.
    assert_eq!(version_info(&alice, &current).await.1, 0);
    assert_eq!(update(&put_session(&alice, &current, ROOM_A, "s2", key_data(0, 0, false, "s2")).await).1, 1);
}
both_backends!(key_backup_writes_to_an_old_version_are_refused_with_the_current_one);

async fn e2e_key_backup_replacement_rules(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let version = alice.create_backup_version(auth_data()).await;
    let stored = |tag: &'static str| {
        let alice = alice.clone();
        let version = version.clone();
        async move {
            let reply = get_session(&alice, &version, ROOM_A, "s").await;
            let kept = reply.expect_ok()["session_data"]["ciphertext"].clone();
            assert_eq!(kept, tag, "{reply:?}");
        }
    };

    update(&put_session(&alice, &version, ROOM_A, "s", key_data(5, 2, false, "start")).await);

    // Same is_verified: the lower first_message_index wins...
    update(&put_session(&alice, &version, ROOM_A, "s", key_data(6, 0, false, "higher index")).await);
    stored("start").await;
    update(&put_session(&alice, &version, ROOM_A, "s", key_data(4, 9, false, "lower index")).await);
    stored("lower index").await;
    // ... then, for the same index, the lower forwarded_count.
    update(&put_session(&alice, &version, ROOM_A, "s", key_data(4, 10, false, "more forwarded")).await);
    stored("lower index").await;
    update(&put_session(&alice, &version, ROOM_A, "s", key_data(4, 3, false, "less forwarded")).await);
    stored("less forwarded").await;

    // A verified key beats an unverified one whatever its index and count,
    // and is not replaced by a better-looking unverified one.
    update(&put_session(&alice, &version, ROOM_A, "s", key_data(50, 50, true, "verified")).await);
    stored("verified").await;
    let (_, count) = update(&put_session(&alice, &version, ROOM_A, "s", key_data(0, 0, false, "unverified")).await);
    stored("verified").await;
    assert_eq!(count, 1, "still one session");
}
both_backends!(e2e_key_backup_replacement_rules);

async fn key_backups_are_per_user(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let version = alice.create_backup_version(auth_data()).await;
    update(&put_session(&alice, &version, ROOM_A, "s1", key_data(0, 0, true, "alice's")).await);

    bob.backup_version(None).await.expect_error(404, "M_NOT_FOUND");
    bob.backup_version(Some(&version)).await.expect_error(404, "M_NOT_FOUND");
    let reply = get_session(&bob, &version, ROOM_A, "s1").await;
    reply.expect_error(404, "M_NOT_FOUND");
    let reply = bob.delete(&format!("/room_keys/version/{}", enc(&version)), json!({})).await;
    reply.expect_error(404, "M_NOT_FOUND");

    // Bob's own backup does not touch alice's.
    let bobs = bob.create_backup_version(auth_data()).await;
    update(&put_session(&bob, &bobs, ROOM_A, "s1", key_data(0, 0, true, "bob's")).await);
    let reply = get_session(&alice, &version, ROOM_A, "s1").await;
    assert_eq!(reply.expect_ok()["session_data"]["ciphertext"], "alice's");
    assert_eq!(version_info(&alice, &version).await.1, 1);
}
both_backends!(key_backups_are_per_user);

/// Only the spec's backup algorithm, with an object for `auth_data`: a
/// backup nobody could read, or one whose description breaks the spec's
/// answer, is refused when it is made (found by the fuzz run).
async fn backups_in_unknown_algorithms_are_refused(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice
        .post("/room_keys/version", json!({"algorithm": "org.example.unknown", "auth_data": auth_data()}))
        .await
        .expect_error(400, "M_INVALID_PARAM");
    alice
        .post("/room_keys/version", json!({"algorithm": BACKUP_ALGORITHM, "auth_data": [null, null]}))
        .await
        .expect_error(400, "M_BAD_JSON");
}
both_backends!(backups_in_unknown_algorithms_are_refused);
