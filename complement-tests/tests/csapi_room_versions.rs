//! Room versions — mirrors Complement's `apidoc_server_capabilities` (the
//! `m.room_versions` capability) and `redact` across versions; spec:
//! client-server API "Capabilities negotiation" (`m.room_versions`), the
//! room version specifications (event id and room id formats, redaction
//! algorithms, creators' power), appendices "Room IDs" and "Event IDs".
//!
//! The same create / send / read / redact scenario runs for room versions
//! 1, 6, 10, 11 and 12.

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, find_state, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn capabilities_list_room_versions_1_to_12_with_default_12(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.get("/capabilities").await;

    let versions = &reply.expect_ok()["capabilities"]["m.room_versions"];
    assert_eq!(versions["default"], "12", "{reply:?}");
    let available = versions["available"].as_object().unwrap_or_else(|| panic!("no available map: {reply:?}"));
    for version in 1..=12 {
        assert_eq!(available.get(&version.to_string()), Some(&json!("stable")), "v{version}: {reply:?}");
    }
    for (version, stability) in available {
        assert!(stability == "stable" || stability == "unstable", "{version}: {stability} {reply:?}");
    }
    // The default is one of the available versions.
    assert!(available.contains_key("12"), "{reply:?}");
}
both_backends!(capabilities_list_room_versions_1_to_12_with_default_12);

/// Whether `s` is unpadded URL-safe base64 of a SHA-256 hash (43 chars).
fn is_url_safe_sha256(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Asserts the event id format of `version` (appendices "Event IDs" and the
/// room version specifications).
fn assert_event_id_format(version: u32, event_id: &str, server_name: &str) {
    let opaque = event_id.strip_prefix('$').unwrap_or_else(|| panic!("event id without '$': {event_id}"));
    match version {
        // v1, v2: `$opaque_id:domain`.
        1 | 2 => assert!(opaque.ends_with(&format!(":{server_name}")), "v{version} event id {event_id}"),
        // v3: standard base64 of the reference hash; v4+: URL-safe base64.
        3 => assert!(opaque.len() == 43 && !opaque.contains(':'), "v3 event id {event_id}"),
        _ => assert!(is_url_safe_sha256(opaque), "v{version} event id {event_id}"),
    }
}

/// Create, send, read and redact in a room of this version, checking what
/// the version prescribes along the way.
async fn create_send_read_redact(backend: Backend, version: u32) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let v = version.to_string();

    let room_id = alice.create_room(json!({"room_version": v, "preset": "public_chat", "name": "Versioned"})).await;

    let state = alice.room_state(&room_id).await;
    let create = find_state(&state, "m.room.create", "").unwrap_or_else(|| panic!("no create event: {state:#}"));
    assert_eq!(create["content"]["room_version"], v.as_str(), "{create:#}");
    assert_eq!(create["sender"], alice.user_id.as_str(), "{create:#}");
    let create_id = create["event_id"].as_str().expect("create event_id");
    assert_event_id_format(version, create_id, &hs.server_name());
    if version <= 10 {
        assert_eq!(create["content"]["creator"], alice.user_id.as_str(), "{create:#}");
    }
    // Room id: `!opaque:domain` with this server's name before v12; from v12
    // "the event ID of the m.room.create event using ! as the sigil".
    if version >= 12 {
        assert_eq!(room_id.strip_prefix('!'), create_id.strip_prefix('$'), "v12 room id vs create event id");
    } else {
        assert!(room_id.ends_with(&format!(":{}", hs.server_name())), "v{version} room id {room_id}");
    }
    let levels = &find_state(&state, "m.room.power_levels", "").expect("power levels")["content"];
    let creator_level = levels["users"].get(&alice.user_id);
    if version >= 12 {
        assert!(creator_level.is_none(), "the v12 creator is in power_levels.users: {levels:#}");
    } else {
        assert_eq!(creator_level, Some(&json!(100)), "{levels:#}");
    }

    assert_eq!(bob.join(&room_id).await, room_id);
    let message = json!({"msgtype": "m.text", "body": format!("hello in v{v}"), "com.example.extra": [1, 2]});
    let event_id = alice.send_event(&room_id, "m.room.message", message.clone()).await;
    assert_event_id_format(version, &event_id, &hs.server_name());

    let fetched = bob.get_event(&room_id, &event_id).await;
    let fetched = fetched.expect_ok();
    assert_eq!(fetched["content"], message, "{fetched:#}");
    assert_eq!(fetched["sender"], alice.user_id.as_str());
    assert_eq!(fetched["room_id"], room_id.as_str());
    let timeline = bob.paginate_all(&room_id, "b", 10, None).await;
    assert!(timeline.iter().any(|e| e["event_id"] == event_id.as_str() && e["content"] == message));

    let redaction_path = room_path(&room_id, &format!("/redact/{}/{}", enc(&event_id), "redact-1"));
    let redaction = alice.put(&redaction_path, json!({"reason": "test"})).await;
    let redaction_id = redaction.expect_ok()["event_id"].as_str().expect("redaction event_id").to_owned();
    assert_event_id_format(version, &redaction_id, &hs.server_name());

    let redacted = bob.get_event(&room_id, &event_id).await;
    let redacted = redacted.expect_ok();
    assert_eq!(redacted["content"], json!({}), "a redacted message keeps no content: {redacted:#}");
    assert_eq!(redacted["type"], "m.room.message");
    assert_eq!(redacted["sender"], alice.user_id.as_str());
    assert_redaction_event(&bob, &room_id, version, &redaction_id, &event_id).await;
}

/// The redaction event as another member sees it: `redacts` at the top
/// level before v11, under `content` from v11.
async fn assert_redaction_event(viewer: &Session, room_id: &str, version: u32, redaction_id: &str, target: &str) {
    let reply = viewer.get_event(room_id, redaction_id).await;
    let event: &Value = reply.expect_ok();
    assert_eq!(event["type"], "m.room.redaction", "{event:#}");
    if version >= 11 {
        assert_eq!(event["content"]["redacts"], target, "v{version}: {event:#}");
    } else {
        assert_eq!(event["redacts"], target, "v{version}: {event:#}");
    }
    assert_eq!(event["content"]["reason"], "test", "{event:#}");
}

async fn room_version_1_create_send_read_redact(backend: Backend) {
    create_send_read_redact(backend, 1).await;
}
both_backends!(room_version_1_create_send_read_redact);

async fn room_version_6_create_send_read_redact(backend: Backend) {
    create_send_read_redact(backend, 6).await;
}
both_backends!(room_version_6_create_send_read_redact);

async fn room_version_10_create_send_read_redact(backend: Backend) {
    create_send_read_redact(backend, 10).await;
}
both_backends!(room_version_10_create_send_read_redact);

async fn room_version_11_create_send_read_redact(backend: Backend) {
    create_send_read_redact(backend, 11).await;
}
both_backends!(room_version_11_create_send_read_redact);

async fn room_version_12_create_send_read_redact(backend: Backend) {
    create_send_read_redact(backend, 12).await;
}
both_backends!(room_version_12_create_send_read_redact);

async fn room_version_12_room_ids_have_no_domain(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let first = alice.create_room(json!({})).await;
    let second = alice.create_room(json!({})).await;

    for room_id in [&first, &second] {
        let opaque = room_id.strip_prefix('!').expect("room id sigil");
        assert!(is_url_safe_sha256(opaque), "a v12 room id is ! + the create event's hash: {room_id}");
    }
    assert_ne!(first, second, "two rooms, two create events, two ids");
}
both_backends!(room_version_12_room_ids_have_no_domain);
