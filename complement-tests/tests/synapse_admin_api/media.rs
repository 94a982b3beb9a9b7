//! Synapse's media admin API as synapse-admin uses it: the user page's
//! media tab (`/v1/users/{id}/media`, paged and sorted, `next_token` an
//! integer), one media's record, the row actions (quarantine and
//! unquarantine, protect and unprotect, delete), the user's quarantine and
//! delete-all buttons, the room page's media tab and quarantine, the media
//! page's delete-by-date (avatars kept) and remote cache purge, and the
//! user media statistics page; 403 for non-admins, Synapse's errors for
//! bad input. Quarantined or deleted media no longer downloads; a deleted
//! upload must not take another user's identical (deduplicated) bytes
//! with it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nexus_complement::Method;
use nexus_complement::media_client::{MediaClient, MediaReply, Mxc};

use super::*;

const ADMIN: &str = "/_synapse/admin/v1";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Uploads as `session`, a little after the previous upload so that
/// `created_ts` orders them.
async fn upload(session: &Session, bytes: &[u8], kind: &str, name: &str) -> Mxc {
    tokio::time::sleep(Duration::from_millis(15)).await;
    MediaClient::new(session).upload_ok(bytes.to_vec(), kind, Some(name)).await
}

async fn download(session: &Session, mxc: &Mxc) -> MediaReply {
    MediaClient::new(session).download(mxc).await
}

fn user_media(user: &str, query: &str) -> String {
    format!("{ADMIN}/users/{}/media{query}", enc(user))
}

fn media_path(mxc: &Mxc) -> String {
    format!("{ADMIN}/media/{}", mxc.path())
}

async fn media_info(root: &Session, mxc: &Mxc) -> Value {
    let reply = root.get(&media_path(mxc)).await;
    reply.expect_ok()["media_info"].clone()
}

/// The media ids of a `users/{id}/media` page, in order.
fn ids(page: &Value) -> Vec<&str> {
    let media = page["media"].as_array().unwrap_or_else(|| panic!("no media array: {page}"));
    media.iter().map(|m| m["media_id"].as_str().unwrap_or_else(|| panic!("no media_id: {m}"))).collect()
}

/// The strings of a JSON array, sorted.
fn sorted(list: &Value) -> Vec<String> {
    let list = list.as_array().unwrap_or_else(|| panic!("not an array: {list}"));
    let mut out: Vec<String> = list.iter().map(|v| v.as_str().expect("a string").to_owned()).collect();
    out.sort();
    out
}

fn sorted_of<S: ToString>(items: &[S]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(ToString::to_string).collect();
    out.sort();
    out
}

/// Asserts `key` is present and null (a missing key is not Synapse's shape).
#[track_caller]
fn null_field(item: &Value, key: &str) {
    assert_eq!(item.get(key), Some(&Value::Null), "{key} must be present and null: {item}");
}

async fn user_media_tab_and_statistics(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let start = now_ms();
    let one = upload(&alice, b"fifteen bytes!!", "text/plain", "one.txt").await;
    let two = upload(&alice, b"{\"a\": 2}", "application/json", "two.json").await;
    let three = upload(&alice, &[7u8; 300], "application/octet-stream", "three.bin").await;
    let end = now_ms();

    // The media tab's first page, exactly as synapse-admin asks for it.
    let page = root.get(&user_media(&alice.user_id, "?from=0&limit=2&order_by=created_ts&dir=b")).await;
    let page = page.expect_ok().clone();
    assert_eq!(ids(&page), [three.media_id.as_str(), two.media_id.as_str()], "{page}");
    assert_eq!((page["total"].as_u64(), page["next_token"].as_u64()), (Some(3), Some(2)), "{page}");
    let newest = &page["media"][0];
    assert_eq!(newest["media_type"], "application/octet-stream", "{newest}");
    assert_eq!(newest["media_length"], 300, "{newest}");
    assert_eq!(newest["upload_name"], "three.bin", "{newest}");
    assert_eq!(newest["safe_from_quarantine"], false, "{newest}");
    null_field(newest, "quarantined_by");
    let created = newest["created_ts"].as_u64().unwrap_or_else(|| panic!("created_ts in ms: {newest}"));
    assert!((start..=end).contains(&created), "created_ts {created} outside {start}..={end}");
    assert!(newest.get("last_access_ts").is_some_and(|t| t.is_null() || t.is_u64()), "{newest}");
    let rest = root.get(&user_media(&alice.user_id, "?from=2&limit=2&order_by=created_ts&dir=b")).await;
    let rest = rest.expect_ok().clone();
    assert_eq!((ids(&rest), rest["total"].as_u64()), (vec![one.media_id.as_str()], Some(3)), "{rest}");
    assert!(rest.get("next_token").is_none(), "no next_token on the last page: {rest}");

    // No order at all is newest first; an order alone defaults to ascending.
    for (query, expected) in [
        ("", [&three, &two, &one]),
        ("?order_by=created_ts", [&one, &two, &three]),
        ("?order_by=media_length&dir=f", [&two, &one, &three]),
        ("?order_by=upload_name&dir=b", [&two, &three, &one]),
    ] {
        let listed = root.get(&user_media(&alice.user_id, query)).await;
        let want: Vec<&str> = expected.iter().map(|m| m.media_id.as_str()).collect();
        assert_eq!(ids(listed.expect_ok()), want, "order for {query:?}: {listed:?}");
    }
    root.get(&user_media(&hs.user_id("nobody"), "")).await.expect_error(404, "M_NOT_FOUND");
    let remote = root.get(&user_media("@someone:elsewhere.example", "")).await;
    assert_eq!(remote.status, 400, "{remote:?}");
    root.get(&user_media(&alice.user_id, "?order_by=nonsense")).await.expect_error(400, "M_INVALID_PARAM");
    alice.get(&user_media(&alice.user_id, "")).await.expect_error(403, "M_FORBIDDEN");

    // One media's record.
    let info = media_info(&root, &one).await;
    for (key, want) in [
        ("media_id", json!(one.media_id)),
        ("media_type", json!("text/plain")),
        ("media_length", json!(15)),
        ("upload_name", json!("one.txt")),
        ("user_id", json!(alice.user_id)),
        ("created_ts", rest["media"][0]["created_ts"].clone()),
        ("quarantined_by", Value::Null),
        ("safe_from_quarantine", json!(false)),
    ] {
        assert_eq!(info.get(key), Some(&want), "media_info.{key}: {info}");
    }
    let unknown = root.get(&format!("{ADMIN}/media/{}/nonexistent0", enc(&hs.server_name()))).await;
    unknown.expect_error(404, "M_NOT_FOUND");
    bob.get(&media_path(&one)).await.expect_error(403, "M_FORBIDDEN");

    // The statistics page: users with media, their counts and bytes.
    for (user, name) in [(&alice, "Alice Liddell"), (&bob, "Bob Builder")] {
        let path = format!("/profile/{}/displayname", enc(&user.user_id));
        user.put(&path, json!({"displayname": name})).await.expect_ok();
    }
    upload(&bob, &[1u8; 50], "application/octet-stream", "bob.bin").await;
    let stats = format!("{ADMIN}/statistics/users/media");
    let alice_row =
        json!({"user_id": alice.user_id, "displayname": "Alice Liddell", "media_count": 3, "media_length": 323});
    let bob_row = json!({"user_id": bob.user_id, "displayname": "Bob Builder", "media_count": 1, "media_length": 50});
    for (query, want) in [
        ("?order_by=media_length&dir=b", json!({"users": [alice_row, bob_row], "total": 2})),
        ("?order_by=media_length&dir=f", json!({"users": [bob_row, alice_row], "total": 2})),
        ("?order_by=media_length&dir=b&limit=1", json!({"users": [alice_row], "total": 2, "next_token": 1})),
        ("?search_term=Liddell", json!({"users": [alice_row], "total": 1})),
    ] {
        let got = root.get(&format!("{stats}{query}")).await;
        assert_eq!(got.expect_ok(), &want, "statistics{query}: {got:?}");
    }
    root.get(&format!("{stats}?search_term=")).await.expect_error(400, "M_INVALID_PARAM");
    root.get(&format!("{stats}?order_by=media_type")).await.expect_error(400, "M_INVALID_PARAM");
    alice.get(&stats).await.expect_error(403, "M_FORBIDDEN");

    // The remote cache purge: nothing remote is cached, local media stays.
    let purged = root.post(&format!("{ADMIN}/purge_media_cache?before_ts={}", now_ms()), json!({})).await;
    assert_eq!(purged.expect_ok(), &json!({"deleted": 0}));
    let too_old = root.post(&format!("{ADMIN}/purge_media_cache?before_ts=1000"), json!({})).await;
    too_old.expect_error(400, "M_INVALID_PARAM");
    assert_eq!(download(&bob, &one).await.expect_bytes(), b"fifteen bytes!!");
}
both_backends!(user_media_tab_and_statistics);

async fn quarantine_protection_and_room_media(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let first = upload(&alice, b"quarantine me", "text/plain", "first.txt").await;
    let kept = upload(&alice, b"protect me", "text/plain", "kept.txt").await;
    let third = upload(&alice, b"and me", "text/plain", "third.txt").await;

    // A row's quarantine switch, and back.
    let quarantine = format!("{ADMIN}/media/quarantine/{}", first.path());
    alice.post(&quarantine, json!({})).await.expect_error(403, "M_FORBIDDEN");
    assert_eq!(root.post(&quarantine, json!({})).await.expect_ok(), &json!({}));
    for who in [&alice, &bob] {
        download(who, &first).await.expect_error(404, "M_NOT_FOUND");
    }
    assert_eq!(media_info(&root, &first).await["quarantined_by"], root.user_id.as_str());
    let listed = root.get(&user_media(&alice.user_id, "?order_by=created_ts&dir=f")).await;
    assert_eq!(listed.expect_ok()["media"][0]["quarantined_by"], root.user_id.as_str(), "{listed:?}");
    let lifted = root.post(&format!("{ADMIN}/media/unquarantine/{}", first.path()), json!({})).await;
    assert_eq!(lifted.expect_ok(), &json!({}));
    assert_eq!(download(&bob, &first).await.expect_bytes(), b"quarantine me");
    null_field(&media_info(&root, &first).await, "quarantined_by");

    // Protected media is skipped by the user's quarantine button.
    let protected = root.post(&format!("{ADMIN}/media/protect/{}", enc(&kept.media_id)), json!({})).await;
    assert_eq!(protected.expect_ok(), &json!({}));
    assert_eq!(media_info(&root, &kept).await["safe_from_quarantine"], true);
    let by_user = root.post(&format!("{ADMIN}/user/{}/media/quarantine", enc(&alice.user_id)), json!({})).await;
    assert_eq!(by_user.expect_ok(), &json!({"num_quarantined": 2}));
    for mxc in [&first, &third] {
        download(&bob, mxc).await.expect_error(404, "M_NOT_FOUND");
    }
    assert_eq!(download(&bob, &kept).await.expect_bytes(), b"protect me");
    null_field(&media_info(&root, &kept).await, "quarantined_by");
    let unprotected = root.post(&format!("{ADMIN}/media/unprotect/{}", enc(&kept.media_id)), json!({})).await;
    assert_eq!(unprotected.expect_ok(), &json!({}));
    assert_eq!(media_info(&root, &kept).await["safe_from_quarantine"], false);

    // The room page's media tab: attachments (`url`) only, not mentions.
    let image = upload(&alice, b"a picture", "application/octet-stream", "cat.png").await;
    let file = upload(&alice, b"a document", "application/octet-stream", "doc.pdf").await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let content = json!({"msgtype": "m.image", "body": "cat.png", "url": image.to_string()});
    alice.send_event(&room, "m.room.message", content).await;
    let content = json!({"msgtype": "m.file", "body": "doc.pdf", "url": file.to_string()});
    bob.send_event(&room, "m.room.message", content).await;
    alice.send_message(&room, &format!("not an attachment: {kept}")).await;
    let in_room = root.get(&format!("{ADMIN}/room/{}/media", enc(&room))).await;
    let in_room = in_room.expect_ok().clone();
    assert_eq!(in_room.as_object().map(|o| o.len()), Some(2), "only local and remote: {in_room}");
    assert_eq!(in_room["remote"], json!([]), "{in_room}");
    assert_eq!(sorted(&in_room["local"]), sorted_of(&[&image, &file]), "{in_room}");
    bob.get(&format!("{ADMIN}/room/{}/media", enc(&room))).await.expect_error(403, "M_FORBIDDEN");

    let by_room = root.post(&format!("{ADMIN}/room/{}/media/quarantine", enc(&room)), json!({})).await;
    assert_eq!(by_room.expect_ok(), &json!({"num_quarantined": 2}));
    for mxc in [&image, &file] {
        download(&alice, mxc).await.expect_error(404, "M_NOT_FOUND");
    }
    assert_eq!(media_info(&root, &file).await["quarantined_by"], root.user_id.as_str());
    assert_eq!(download(&bob, &kept).await.expect_bytes(), b"protect me");
}
both_backends!(quarantine_protection_and_room_media);

async fn sweep(root: &Session, query: &str) -> Value {
    let reply = root.post(&format!("{ADMIN}/media/delete?{query}"), json!({})).await;
    reply.expect_ok().clone()
}

async fn deleting_media(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let start = now_ms();
    let doomed = upload(&alice, b"delete me", "text/plain", "doomed.txt").await;
    let later = upload(&alice, b"delete me later", "text/plain", "later.txt").await;
    let shared = upload(&alice, b"the same bytes twice", "text/plain", "shared.txt").await;
    let bobs_copy = upload(&bob, b"the same bytes twice", "text/plain", "copy.txt").await;
    let avatar = upload(&bob, b"bob's face", "application/octet-stream", "avatar.png").await;
    let old = upload(&bob, b"an old file", "text/plain", "old.txt").await;

    // A row's delete button.
    let path = media_path(&doomed);
    alice.request(Method::DELETE, &path, None).await.expect_error(403, "M_FORBIDDEN");
    let deleted = root.request(Method::DELETE, &path, None).await;
    assert_eq!(deleted.expect_ok(), &json!({"deleted_media": [doomed.media_id], "total": 1}));
    download(&alice, &doomed).await.expect_error(404, "M_NOT_FOUND");
    root.get(&path).await.expect_error(404, "M_NOT_FOUND");
    root.request(Method::DELETE, &path, None).await.expect_error(404, "M_NOT_FOUND");
    let listed = root.get(&user_media(&alice.user_id, "")).await;
    let listed = listed.expect_ok().clone();
    let want = vec![shared.media_id.as_str(), later.media_id.as_str()];
    assert_eq!((ids(&listed), listed["total"].as_u64()), (want, Some(2)), "{listed}");
    let remote_path = format!("{ADMIN}/media/elsewhere.example/{}", enc(&later.media_id));
    let remote = root.request(Method::DELETE, &remote_path, None).await;
    assert_eq!(remote.status, 400, "{remote:?}");

    // The user's delete-all button; bob's identical bytes survive.
    let all = root.request(Method::DELETE, &user_media(&alice.user_id, ""), None).await;
    let all = all.expect_ok().clone();
    assert_eq!(sorted(&all["deleted_media"]), sorted_of(&[&later.media_id, &shared.media_id]), "{all}");
    assert_eq!(all["total"].as_u64(), Some(2), "{all}");
    let empty = root.get(&user_media(&alice.user_id, "")).await;
    assert_eq!(empty.expect_ok(), &json!({"media": [], "total": 0}));
    download(&alice, &shared).await.expect_error(404, "M_NOT_FOUND");
    assert_eq!(download(&alice, &bobs_copy).await.expect_bytes(), b"the same bytes twice");

    // The media page's delete by date and size, keeping avatars.
    let avatar_path = format!("/profile/{}/avatar_url", enc(&bob.user_id));
    bob.put(&avatar_path, json!({"avatar_url": avatar.to_string()})).await.expect_ok();
    let by_date = format!("{ADMIN}/media/delete");
    root.post(&format!("{by_date}?before_ts=1000"), json!({})).await.expect_error(400, "M_INVALID_PARAM");
    root.post(&format!("{by_date}?size_gt=0"), json!({})).await.expect_error(400, "M_MISSING_PARAM");
    let refused = bob.post(&format!("{by_date}?before_ts={}", now_ms() + 1000), json!({})).await;
    refused.expect_error(403, "M_FORBIDDEN");
    assert_eq!(sweep(&root, &format!("before_ts={start}")).await, json!({"deleted_media": [], "total": 0}));
    // Only bob's copy (20 bytes) is larger than 12 bytes.
    let larger = sweep(&root, &format!("before_ts={}&size_gt=12&keep_profiles=true", now_ms() + 1000)).await;
    assert_eq!(larger, json!({"deleted_media": [bobs_copy.media_id], "total": 1}));
    let rest = sweep(&root, &format!("before_ts={}&size_gt=0&keep_profiles=true", now_ms() + 1000)).await;
    assert_eq!(rest, json!({"deleted_media": [old.media_id], "total": 1}));
    for mxc in [&bobs_copy, &old] {
        download(&bob, mxc).await.expect_error(404, "M_NOT_FOUND");
    }
    assert_eq!(download(&alice, &avatar).await.expect_bytes(), b"bob's face");
    let avatars_too = sweep(&root, &format!("before_ts={}&keep_profiles=false", now_ms() + 1000)).await;
    assert_eq!(avatars_too, json!({"deleted_media": [avatar.media_id], "total": 1}));
    download(&alice, &avatar).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(deleting_media);
