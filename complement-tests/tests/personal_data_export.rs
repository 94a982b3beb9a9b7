//! Personal data export (issue 22, extensions-spec §23): a user with 1,000
//! messages in 20 rooms and 50 MiB of uploads exports everything; the
//! server's peak memory stays flat while it writes the archive (media is
//! streamed, not buffered); the archive — opened by Python's `zipfile`,
//! not by our code — holds the README, account, profile, devices, account
//! data, every room with the events the user may see (history visibility
//! applied: what was said before they joined a `joined` room is absent),
//! the uploads byte for byte, and the key backup still encrypted. The
//! download resumes with `Range`; exports are rate-limited, private to
//! their owner, deletable.

use std::time::Duration;

use nexus_complement::media_client::MediaClient;
use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, eventually};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const ROOMS: usize = 20;
const MESSAGES_PER_ROOM: usize = 50;
const MEDIA_FILES: usize = 5;
const MEDIA_BYTES: usize = 10 * 1024 * 1024;

/// Lists and reads the archive with Python's zipfile: the JSON files it
/// names, each file's size, and the messages files' line counts.
const INSPECT_PY: &str = r#"
import json, sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
assert archive.testzip() is None, "a corrupt member"
out = {"sizes": {}, "json": {}, "lines": {}, "readme": ""}
for info in archive.infolist():
    out["sizes"][info.filename] = info.file_size
    if info.filename.endswith(".json"):
        out["json"][info.filename] = json.loads(archive.read(info))
    elif info.filename.endswith(".jsonl"):
        out["lines"][info.filename] = [json.loads(l) for l in archive.read(info).splitlines() if l.strip()]
    elif info.filename == "README.md":
        out["readme"] = archive.read(info).decode()
json.dump(out, sys.stdout)
"#;

/// Incompressible bytes (xorshift), so the archive really carries 50 MiB.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's /proc status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of KiB")
}

async fn wait_for_export(session: &Session, export_id: &str) -> Value {
    eventually("the export to complete", Duration::from_secs(120), || async {
        let reply = session.get(&format!("/_nexus/client/v1/export/{export_id}")).await;
        let record = reply.expect_ok().clone();
        match record["status"].as_str() {
            Some("complete") => Ok(record),
            Some("failed") => panic!("the export failed: {record}"),
            _ => Err(format!("not yet: {record}")),
        }
    })
    .await
}

async fn download(session: &Session, export_id: &str, range: Option<&str>) -> reqwest::Response {
    let path = format!("/_nexus/client/v1/export/{export_id}/download");
    let mut request = session.api.raw(reqwest::Method::GET, &path).bearer_auth(&session.access_token);
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    request.send().await.expect("the download")
}

async fn a_users_whole_data_leaves_in_one_archive(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    alice
        .put(&format!("/profile/{}/displayname", enc(&alice.user_id)), json!({"displayname": "Alice L."}))
        .await
        .expect_ok();
    alice
        .put(&format!("/user/{}/account_data/org.example.settings", enc(&alice.user_id)), json!({"theme": "dark"}))
        .await
        .expect_ok();

    // 20 rooms, 1,000 messages; bob speaks in the first room before alice
    // joins (history visibility "joined": she may not see that) and after.
    let early = bob
        .create_room(json!({"preset": "public_chat", "initial_state": [
            {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}]}))
        .await;
    bob.send_message(&early, "before alice came").await;
    alice.join(&early).await;
    bob.send_message(&early, "after alice came").await;
    let mut rooms = vec![early.clone()];
    for i in 1..ROOMS {
        rooms.push(alice.create_room(json!({"name": format!("Room {i}")})).await);
    }
    for room in &rooms {
        for n in 0..MESSAGES_PER_ROOM {
            alice.send_message(room, &format!("message {n} in {room}")).await;
        }
    }
    alice
        .put(&format!("/user/{}/rooms/{}/tags/u.work", enc(&alice.user_id), enc(&rooms[1])), json!({"order": 0.5}))
        .await
        .expect_ok();

    // 50 MiB of uploads, each with its own bytes.
    let media = MediaClient::new(&alice);
    let mut uploads = Vec::new();
    for i in 0..MEDIA_FILES {
        let bytes = noise(MEDIA_BYTES, i as u64 + 1);
        let mxc = media.upload_ok(bytes, "application/octet-stream", Some(&format!("file-{i}.bin"))).await;
        uploads.push(mxc.media_id.clone());
    }

    // A key backup, which must leave still encrypted.
    let version = alice
        .post(
            "/room_keys/version",
            json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
                   "auth_data": {"public_key": "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGtleQ", "signatures": {}}}),
        )
        .await;
    let version = version.expect_ok()["version"].as_str().unwrap().to_owned();
    let sealed = json!({"first_message_index": 0, "forwarded_count": 0, "is_verified": false,
        "session_data": {"ephemeral": "ZXBo", "ciphertext": "c2VhbGVk", "mac": "bWFj"}});
    alice
        .put(&format!("/room_keys/keys/{}/session1?version={version}", enc(&rooms[2])), sealed.clone())
        .await
        .expect_ok();

    // The export, with the server's memory watched.
    let pid = hs.pid().expect("the server's pid");
    let rss_before = vm_kib(pid, "VmRSS:");
    let started = alice.post("/_nexus/client/v1/export", json!({})).await;
    assert_eq!(started.status, 202, "{started:?}");
    let export_id = started.json["export_id"].as_str().unwrap().to_owned();
    let again = alice.post("/_nexus/client/v1/export", json!({})).await;
    again.expect_error(429, "M_LIMIT_EXCEEDED");
    assert!(again.json["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{again:?}");
    let done = wait_for_export(&alice, &export_id).await;
    let peak = vm_kib(pid, "VmHWM:");
    println!(
        "export of {ROOMS} rooms, {} messages, {} MiB of media: archive {} bytes; server RSS before {} MiB, peak {} MiB",
        ROOMS * MESSAGES_PER_ROOM,
        MEDIA_FILES * MEDIA_BYTES / 1024 / 1024,
        done["size"],
        rss_before / 1024,
        peak / 1024
    );
    assert_eq!(done["progress"], json!({"rooms_done": ROOMS, "rooms_total": ROOMS}), "{done}");
    // Flat memory: the 50 MiB of media never sat in memory at once.
    assert!(peak < rss_before + 40 * 1024, "peak RSS {peak} KiB rose from {rss_before} KiB");

    // Someone else's export is not found; nobody's without a token.
    bob.get(&format!("/_nexus/client/v1/export/{export_id}")).await.expect_error(404, "M_NOT_FOUND");
    assert_eq!(download(&bob, &export_id, None).await.status(), 404);

    // Download in full, then resume from the middle with Range.
    let full = download(&alice, &export_id, None).await;
    assert_eq!(full.status(), 200);
    assert!(full.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let full = full.bytes().await.unwrap();
    assert_eq!(full.len() as u64, done["size"].as_u64().unwrap());
    assert!(full.len() > MEDIA_FILES * MEDIA_BYTES, "the media is all there: {} bytes", full.len());
    let half = full.len() / 2;
    let rest = download(&alice, &export_id, Some(&format!("bytes={half}-"))).await;
    assert_eq!(rest.status(), 206);
    assert_eq!(&rest.bytes().await.unwrap()[..], &full[half..], "the resumed part matches");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.zip");
    std::fs::write(&path, &full).unwrap();

    // Opened by Python's zipfile.
    let inspected = tokio::process::Command::new("python3")
        .args(["-c", INSPECT_PY, path.to_str().unwrap()])
        .output()
        .await
        .expect("python3");
    assert!(inspected.status.success(), "{}", String::from_utf8_lossy(&inspected.stderr));
    let archive: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert!(archive["readme"].as_str().unwrap().contains("key_backup.json"));
    let account = &archive["json"]["account.json"];
    assert_eq!(account["user_id"], alice.user_id.as_str());
    assert_eq!(account["profile"]["displayname"], "Alice L.");
    assert_eq!(account["devices"][0]["device_id"], alice.device_id.as_str());
    let data = &archive["json"]["account_data.json"];
    assert_eq!(data["global"]["org.example.settings"], json!({"theme": "dark"}));
    assert_eq!(data["rooms"][rooms[1].as_str()]["m.tag"]["tags"]["u.work"]["order"], 0.5);

    let index = archive["json"]["rooms/index.json"].as_array().unwrap().clone();
    assert_eq!(index.len(), ROOMS, "{index:?}");
    let mut messages_seen = 0;
    for entry in &index {
        let lines = &archive["lines"][format!("{}/messages.jsonl", entry["folder"].as_str().unwrap())];
        let bodies: Vec<&str> =
            lines.as_array().unwrap().iter().filter_map(|e| e["content"]["body"].as_str()).collect();
        messages_seen += bodies.iter().filter(|b| b.starts_with("message ")).count();
        if entry["room_id"] == early.as_str() {
            assert!(bodies.contains(&"after alice came"), "{bodies:?}");
            assert!(!bodies.contains(&"before alice came"), "history visibility applies: {bodies:?}");
        }
        assert_eq!(entry["membership"], "join");
    }
    assert_eq!(messages_seen, ROOMS * MESSAGES_PER_ROOM);

    let media_index = archive["json"]["media/index.json"].as_array().unwrap().clone();
    assert_eq!(media_index.len(), MEDIA_FILES);
    for entry in &media_index {
        let file = entry["file"].as_str().unwrap();
        assert_eq!(archive["sizes"][file], MEDIA_BYTES, "{file}");
    }
    let backup = &archive["json"]["key_backup.json"];
    assert_eq!(backup["version"]["version"], version.as_str());
    assert_eq!(backup["keys"]["rooms"][rooms[2].as_str()]["sessions"]["session1"], sealed, "still sealed");

    // Only her own messages, for bob (who has his own rate limit).
    let own = bob.post("/_nexus/client/v1/export", json!({"messages": "own"})).await;
    assert_eq!(own.status, 202, "{own:?}");
    let own_id = own.json["export_id"].as_str().unwrap().to_owned();
    wait_for_export(&bob, &own_id).await;
    let listed = bob.get("/_nexus/client/v1/export").await;
    assert_eq!(listed.expect_ok()["exports"][0]["messages"], "own");

    // Deleted: the archive is gone.
    alice.request(reqwest::Method::DELETE, &format!("/_nexus/client/v1/export/{export_id}"), None).await.expect_ok();
    assert_eq!(download(&alice, &export_id, None).await.status(), 404);
    let bad = alice.post("/_nexus/client/v1/export", json!({"messages": "everything"})).await;
    bad.expect_error(400, "M_BAD_JSON");
    let anonymous = api.post("/_nexus/client/v1/export", json!({})).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
}
both_backends!(a_users_whole_data_leaves_in_one_archive);
