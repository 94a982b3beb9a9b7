//! synapse-admin's room messages tab (`timestamp_to_event`, `context`
//! with `limit=0`, then `messages` backwards from its `end`) reading a
//! private room the admin is not in, event lookup, forward extremities,
//! and the room page's "make room admin" and "join user" actions.

use super::*;

async fn admins_read_and_manage_rooms_they_are_not_in(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let room = alice
        .create_room(json!({"preset": "private_chat", "room_alias_name": "secret", "initial_state": [
            {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}]}))
        .await;
    let sent: Vec<String> = {
        let mut sent = Vec::new();
        for body in ["one", "two", "three"] {
            sent.push(alice.send_message(&room, body).await);
        }
        sent
    };
    let base = format!("/_synapse/admin/v1/rooms/{}", enc(&room));

    // The messages tab, request for request.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 1000;
    let at = root.get(&format!("{base}/timestamp_to_event?ts={now}&dir=b")).await;
    assert_eq!(at.expect_ok()["event_id"], sent[2].as_str(), "{at:?}");
    let context = root.get(&format!("{base}/context/{}?limit=0", enc(&sent[2]))).await;
    let context = context.expect_ok().clone();
    assert_eq!(context["event"]["content"]["body"], "three", "{context}");
    let end = context["end"].as_str().unwrap().to_owned();
    let page = root.get(&format!("{base}/messages?from={}&dir=b&limit=20", enc(&end))).await;
    let page = page.expect_ok().clone();
    let bodies: Vec<&str> =
        page["chunk"].as_array().unwrap().iter().filter_map(|e| e["content"]["body"].as_str()).collect();
    assert_eq!(bodies, ["three", "two", "one"], "{page}");
    assert!(page["start"].is_string());
    let filtered = root
        .get(&format!(
            "{base}/messages?dir=f&limit=50&filter={}",
            enc(&json!({"types": ["m.room.create"]}).to_string())
        ))
        .await;
    let filtered = filtered.expect_ok()["chunk"].as_array().unwrap().clone();
    assert_eq!((filtered.len(), filtered[0]["type"].as_str()), (1, Some("m.room.create")), "{filtered:?}");
    // A member who was never in the room sees none of it.
    bob.messages(&room, "dir=b").await.expect_error(403, "M_FORBIDDEN");

    // Any event by id, in the stored format.
    let fetched = root.get(&format!("/_synapse/admin/v1/fetch_event/{}", enc(&sent[0]))).await;
    let fetched = fetched.expect_ok()["event"].clone();
    assert_eq!((fetched["content"]["body"].as_str(), fetched["room_id"].as_str()), (Some("one"), Some(room.as_str())));
    assert!(fetched["prev_events"].is_array() && fetched["hashes"].is_object(), "{fetched}");
    let unknown = root.get("/_synapse/admin/v1/fetch_event/%24nothing").await;
    unknown.expect_error(404, "M_NOT_FOUND");

    // Forward extremities: the newest event.
    let extremities = root.get(&format!("{base}/forward_extremities")).await;
    let extremities = extremities.expect_ok().clone();
    assert_eq!(extremities["count"], 1, "{extremities}");
    assert_eq!(extremities["results"][0]["event_id"], sent[2].as_str());
    assert!(extremities["results"][0]["depth"].as_u64().unwrap() > 3);

    // Make room admin: alice (the most powerful local member) gives root
    // her power and invites root, who can then join.
    let made = root.post(&format!("{base}/make_room_admin"), json!({"user_id": root.user_id})).await;
    assert_eq!(made.expect_ok().clone(), json!({}));
    root.join(&room).await;
    let levels = root.get_state(&room, "m.room.power_levels", "").await.expect_ok().clone();
    assert_eq!(levels["users"][root.user_id.as_str()], 100, "{levels}");

    // Join user: the admin (now able to invite) invites bob, who joins.
    let alias = format!("#secret:{}", hs.server_name());
    let joined = root.post(&format!("/_synapse/admin/v1/join/{}", enc(&alias)), json!({"user_id": bob.user_id})).await;
    assert_eq!(joined.expect_ok()["room_id"], room.as_str());
    assert!(
        bob.get("/joined_rooms").await.expect_ok()["joined_rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == room.as_str())
    );

    // Bad input and the wrong caller.
    let join = |room: &str| format!("/_synapse/admin/v1/join/{}", enc(room));
    root.post(&join(&room), json!({})).await.expect_error(400, "M_MISSING_PARAM");
    let nobody = root.post(&join(&room), json!({"user_id": hs.user_id("nobody")})).await;
    nobody.expect_error(404, "M_NOT_FOUND");
    let not_room = root.post(&join("nonsense"), json!({"user_id": bob.user_id})).await;
    assert_eq!(not_room.status, 400, "{not_room:?}");
    alice.get(&format!("{base}/messages")).await.expect_error(403, "M_FORBIDDEN");
    let unknown_room =
        root.get(&format!("/_synapse/admin/v1/rooms/{}/messages", enc(&format!("!none:{}", hs.server_name())))).await;
    unknown_room.expect_error(404, "M_NOT_FOUND");
    root.get(&format!("{base}/messages?dir=sideways")).await.expect_error(400, "M_INVALID_PARAM");
    root.get(&format!("{base}/timestamp_to_event")).await.expect_error(400, "M_MISSING_PARAM");
    root.get(&format!("{base}/messages?limit=lots")).await.expect_error(400, "M_INVALID_PARAM");
}
both_backends!(admins_read_and_manage_rooms_they_are_not_in);
