//! Room deletion as synapse-admin's delete button does it (`DELETE
//! /v2/rooms/{roomId}`, then polling `delete_status`), with block and
//! purge observed to completion: members moved to a new room with a
//! message, aliases following, the room gone from this server, and the
//! former members' syncs (incremental, initial, sliding) still whole.

use std::time::Duration;

use nexus_complement::eventually;

use super::*;

const SLIDING: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?timeout=0";

async fn deleted_room(root: &Session, delete_id: &str) -> Value {
    eventually("the deletion to complete", Duration::from_secs(20), || async {
        let status = root.get(&format!("/_synapse/admin/v2/rooms/delete_status/{delete_id}")).await;
        let status = status.expect_ok().clone();
        match status["status"].as_str() {
            Some("complete") => Ok(status),
            Some("failed") => panic!("the deletion failed: {status}"),
            _ => Err(format!("not yet: {status}")),
        }
    })
    .await
}

async fn deleted_rooms_are_blocked_purged_and_their_members_moved(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let carol = api.register("carol", PASSWORD).await;
    let room = alice.create_room(json!({"name": "Doomed", "preset": "public_chat", "room_alias_name": "doomed"})).await;
    bob.join(&room).await;
    alice.invite(&room, &carol.user_id).await;
    let message = alice.send_message(&room, "something that must go").await;
    bob.post(&format!("/rooms/{}/receipt/m.read/{}", enc(&room), enc(&message)), json!({})).await.expect_ok();
    let since = bob.sync_reply("timeout=0").await.expect_ok()["next_batch"].as_str().unwrap().to_owned();
    let sliding = bob
        .post(SLIDING, json!({"conn_id": "admin", "lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 5}}}))
        .await;
    let pos = sliding.expect_ok()["pos"].as_str().unwrap().to_owned();

    // synapse-admin's delete button: block, purge (the default), and a
    // new room for the members.
    let body = json!({"block": true, "new_room_user_id": root.user_id, "message": "This room was closed."});
    let started =
        root.request(reqwest::Method::DELETE, &format!("/_synapse/admin/v2/rooms/{}", enc(&room)), Some(&body)).await;
    let delete_id = started.expect_ok()["delete_id"].as_str().unwrap().to_owned();
    let done = deleted_room(&root, &delete_id).await;
    assert_eq!(done["room_id"], room.as_str());
    let shutdown = &done["shutdown_room"];
    let mut kicked: Vec<&str> = shutdown["kicked_users"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    kicked.sort();
    assert_eq!(kicked, [alice.user_id.as_str(), bob.user_id.as_str(), carol.user_id.as_str()], "{done}");
    assert_eq!(shutdown["failed_to_kick_users"], json!([]));
    let alias = format!("#doomed:{}", hs.server_name());
    assert_eq!(shutdown["local_aliases"], json!([alias]));
    let new_room = shutdown["new_room_id"].as_str().expect("a new room").to_owned();
    let by_room = root.get(&format!("/_synapse/admin/v2/rooms/{}/delete_status", enc(&room))).await;
    assert_eq!(by_room.expect_ok()["results"][0]["status"], "complete");

    // Purged: the server no longer knows the room or its events.
    let details = root.get(&format!("/_synapse/admin/v1/rooms/{}", enc(&room))).await;
    details.expect_error(404, "M_NOT_FOUND");
    let listed = root.get("/_synapse/admin/v1/rooms").await;
    assert!(listed.expect_ok()["rooms"].as_array().unwrap().iter().all(|r| r["room_id"] != room.as_str()));
    let event = alice.get_event(&room, &message).await;
    assert!(event.status == 403 || event.status == 404, "{event:?}");
    let history = alice.messages(&room, "dir=b").await;
    assert!(history.status == 403 || history.status == 404, "{history:?}");
    // Blocked: nobody here joins it again.
    assert_eq!(root.get(&format!("/_synapse/admin/v1/rooms/{}/block", enc(&room))).await.expect_ok()["block"], true);
    let rejoin = bob.post(&format!("/join/{}", enc(&room)), json!({})).await;
    assert_eq!(rejoin.status, 403, "{rejoin:?}");

    // The members are in the new room with the message; the alias too.
    let resolved = bob.get(&format!("/directory/room/{}", enc(&alias))).await;
    assert_eq!(resolved.expect_ok()["room_id"], new_room.as_str());
    let notice = bob.messages(&new_room, "dir=b&limit=5").await;
    assert!(notice.expect_chunk().iter().any(|e| e["content"]["body"] == "This room was closed."), "{notice:?}");
    let joined = bob.get("/joined_rooms").await;
    assert_eq!(joined.expect_ok()["joined_rooms"], json!([new_room]));

    // Former members' syncs are whole: incremental, initial, sliding.
    let incremental = bob.sync_reply(&format!("since={}&timeout=0", enc(&since))).await;
    let incremental = incremental.expect_ok().clone();
    assert!(incremental["rooms"]["join"].get(&new_room).is_some(), "{incremental}");
    let initial = bob.sync_reply("timeout=0").await;
    assert!(initial.expect_ok()["rooms"]["join"].get(&room).is_none());
    let again = bob
        .post(
            &format!("{SLIDING}&pos={pos}"),
            json!({"conn_id": "admin", "lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 5}}}),
        )
        .await;
    again.expect_ok();
    let fresh = carol.post(SLIDING, json!({"lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 5}}})).await;
    assert!(fresh.expect_ok()["rooms"].get(&room).is_none(), "{fresh:?}");
}
both_backends!(deleted_rooms_are_blocked_purged_and_their_members_moved);

/// The synchronous v1 delete, Synapse's answers to unknown rooms and bad
/// input, and the status routes' 404s.
async fn room_deletion_edges(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let room = alice.create_room(json!({"name": "Short-lived"})).await;
    alice.send_message(&room, "hello").await;
    let path = format!("/_synapse/admin/v1/rooms/{}", enc(&room));
    let result = root.request(reqwest::Method::DELETE, &path, Some(&json!({}))).await;
    let result = result.expect_ok().clone();
    assert_eq!(result["kicked_users"], json!([alice.user_id]), "{result}");
    assert_eq!(result["new_room_id"], Value::Null);
    root.get(&path).await.expect_error(404, "M_NOT_FOUND");
    assert_eq!(alice.get("/joined_rooms").await.expect_ok()["joined_rooms"], json!([]));

    // An unknown (valid) room: done at once, as Synapse does.
    let unknown = format!("!nothing:{}", hs.server_name());
    let v2 = |room: &str| format!("/_synapse/admin/v2/rooms/{}", enc(room));
    let started = root.request(reqwest::Method::DELETE, &v2(&unknown), Some(&json!({"block": true}))).await;
    let delete_id = started.expect_ok()["delete_id"].as_str().unwrap().to_owned();
    let done = deleted_room(&root, &delete_id).await;
    assert_eq!(done["shutdown_room"]["kicked_users"], json!([]));

    // Bad input and the wrong caller.
    let refused = alice.request(reqwest::Method::DELETE, &v2(&room), Some(&json!({}))).await;
    refused.expect_error(403, "M_FORBIDDEN");
    let illegal = root.request(reqwest::Method::DELETE, "/_synapse/admin/v2/rooms/not-a-room", Some(&json!({}))).await;
    assert_eq!(illegal.status, 400, "{illegal:?}");
    let not_bool = root.request(reqwest::Method::DELETE, &v2(&unknown), Some(&json!({"purge": "yes"}))).await;
    not_bool.expect_error(400, "M_BAD_JSON");
    let remote_creator = root
        .request(reqwest::Method::DELETE, &v2(&unknown), Some(&json!({"new_room_user_id": "@x:elsewhere.example"})))
        .await;
    assert_eq!(remote_creator.status, 400, "{remote_creator:?}");
    let no_body = root.request(reqwest::Method::DELETE, &v2(&unknown), None).await;
    no_body.expect_error(400, "M_NOT_JSON");
    let no_task = root
        .get(&format!("/_synapse/admin/v2/rooms/{}/delete_status", enc(&format!("!none:{}", hs.server_name()))))
        .await;
    no_task.expect_error(404, "M_NOT_FOUND");
    let no_id = root.get("/_synapse/admin/v2/rooms/delete_status/nonsense").await;
    no_id.expect_error(404, "M_NOT_FOUND");
}
both_backends!(room_deletion_edges);
