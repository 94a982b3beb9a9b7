//! Rooms: synapse-admin's rooms list and room page, blocking.

use super::*;

/// synapse-admin's rooms list (order, search, paging with `total_rooms`,
/// `next_batch`, `prev_batch`) and room page (details, members, state).
async fn rooms_list_and_show_page(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let alpha = alice
        .create_room(json!({"name": "Alpha", "topic": "first", "visibility": "public", "preset": "public_chat", "room_alias_name": "alpha"}))
        .await;
    let beta = alice
        .create_room(json!({"name": "Beta", "initial_state": [
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}))
        .await;
    alice.create_room(json!({"name": "Gamma"})).await;
    bob.join(&alpha).await;

    let page = root.get("/_synapse/admin/v1/rooms?dir=f&from=0&limit=2&order_by=name").await;
    let page = page.expect_ok().clone();
    assert_eq!(
        (page["total_rooms"].as_u64(), page["offset"].as_u64(), page["next_batch"].as_u64()),
        (Some(3), Some(0), Some(2)),
        "{page}"
    );
    assert!(page.get("prev_batch").is_none(), "{page}");
    let names: Vec<&str> = page["rooms"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    let first = &page["rooms"][0];
    assert_eq!((first["joined_members"].as_u64(), first["public"].as_bool()), (Some(2), Some(true)), "{first}");
    assert_eq!(first["canonical_alias"], format!("#alpha:{}", hs.server_name()));
    assert_eq!(first["creator"], alice.user_id.as_str());
    assert_eq!(page["rooms"][1]["encryption"], "m.megolm.v1.aes-sha2");
    let rest = root.get("/_synapse/admin/v1/rooms?from=2&limit=2").await;
    let rest = rest.expect_ok().clone();
    assert_eq!((rest["prev_batch"].as_u64(), rest["rooms"].as_array().map(Vec::len)), (Some(0), Some(1)), "{rest}");
    let biggest = root.get("/_synapse/admin/v1/rooms?order_by=joined_members").await;
    assert_eq!(biggest.expect_ok()["rooms"][0]["room_id"], alpha.as_str(), "largest first");
    let found = root.get("/_synapse/admin/v1/rooms?search_term=alp").await;
    assert_eq!(found.expect_ok()["total_rooms"], 1);
    let by_id = root.get(&format!("/_synapse/admin/v1/rooms?search_term={}", enc(&beta))).await;
    assert_eq!(by_id.expect_ok()["rooms"][0]["room_id"], beta.as_str());
    for bad in ["order_by=bogus", "search_term=", "from=nope"] {
        let reply = root.get(&format!("/_synapse/admin/v1/rooms?{bad}")).await;
        assert_eq!((reply.status, reply.json["errcode"].as_str()), (400, Some("M_INVALID_PARAM")), "{bad}: {reply:?}");
    }

    // The room page (synapse-admin puts the room id in the path unencoded).
    let details = root.get(&format!("/_synapse/admin/v1/rooms/{alpha}")).await;
    let details = details.expect_ok().clone();
    assert_eq!(
        (details["topic"].as_str(), details["joined_local_members"].as_u64()),
        (Some("first"), Some(2)),
        "{details}"
    );
    assert_eq!(details["joined_local_devices"], 2, "{details}");
    assert_eq!(details["tombstoned"], false);
    let members = root.get(&format!("/_synapse/admin/v1/rooms/{alpha}/members")).await;
    let members = members.expect_ok().clone();
    assert_eq!(members["total"], 2, "{members}");
    assert!(members["members"].as_array().unwrap().iter().any(|m| m == bob.user_id.as_str()));
    let room_state = root.get(&format!("/_synapse/admin/v1/rooms/{alpha}/state")).await;
    let events = room_state.expect_ok()["state"].as_array().unwrap().clone();
    assert!(events.iter().any(|e| e["type"] == "m.room.create" && e["sender"] == alice.user_id.as_str()), "{events:?}");
    let unknown = root.get("/_synapse/admin/v1/rooms/!nowhere:localhost").await;
    assert_eq!((unknown.status, unknown.json["errcode"].as_str()), (404, Some("M_NOT_FOUND")), "{unknown:?}");
    let refused = alice.get("/_synapse/admin/v1/rooms").await;
    assert_eq!(refused.status, 403, "{refused:?}");

    // Blocking: this server's users may no longer join or be invited.
    let block = format!("/_synapse/admin/v1/rooms/{beta}/block");
    assert_eq!(root.get(&block).await.expect_ok().clone(), json!({"block": false}));
    assert_eq!(root.put(&block, json!({"block": true})).await.expect_ok().clone(), json!({"block": true}));
    assert_eq!(root.get(&block).await.expect_ok().clone(), json!({"block": true, "user_id": root.user_id}));
    let invite = alice.post(&format!("/rooms/{}/invite", enc(&beta)), json!({"user_id": bob.user_id})).await;
    assert_eq!(invite.status, 403, "{invite:?}");
    root.put(&block, json!({"block": false})).await.expect_ok();
    alice.post(&format!("/rooms/{}/invite", enc(&beta)), json!({"user_id": bob.user_id})).await.expect_ok();
    bob.join(&beta).await;
    let not_bool = root.put(&block, json!({"block": "yes"})).await;
    assert_eq!((not_bool.status, not_bool.json["errcode"].as_str()), (400, Some("M_BAD_JSON")), "{not_bool:?}");
}
both_backends!(rooms_list_and_show_page);
