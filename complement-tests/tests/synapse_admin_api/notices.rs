//! Server notices.

use super::*;

/// synapse-admin's "server notice" button: the notice arrives in a room
/// only for the user, from the server's own account, tagged
/// `m.server_notice`; later notices use the same room, and a user who
/// left it is invited back.
async fn server_notices_reach_the_user(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let notice = |body: &str| json!({"user_id": alice.user_id, "content": {"msgtype": "m.text", "body": body}});
    let sent = root.post("/_synapse/admin/v1/send_server_notice", notice("maintenance at noon")).await;
    let first = sent.expect_ok()["event_id"].as_str().unwrap().to_owned();
    let room =
        nexus_complement::eventually("an invite to the notices room", std::time::Duration::from_secs(10), || async {
            let synced = alice.sync_reply("timeout=0").await;
            let invites = synced.expect_ok()["rooms"]["invite"].as_object().cloned().unwrap_or_default();
            invites.keys().next().cloned().ok_or_else(|| "no invite yet".to_owned())
        })
        .await;
    alice.join(&room).await;
    let event = alice.get_event(&room, &first).await;
    let event = event.expect_ok().clone();
    assert_eq!(event["content"]["body"], "maintenance at noon", "{event}");
    assert_eq!(event["sender"], hs.user_id("server-notices"));
    let tags = alice.get(&format!("/user/{}/rooms/{}/tags", enc(&alice.user_id), enc(&room))).await;
    assert!(tags.expect_ok()["tags"].get("m.server_notice").is_some(), "{tags:?}");
    let refused = alice.send_event_reply(&room, "m.room.message", json!({"msgtype": "m.text", "body": "hi"})).await;
    assert_eq!(refused.status, 403, "only the server speaks there: {refused:?}");

    let second = root.post("/_synapse/admin/v1/send_server_notice", notice("done")).await;
    let second = second.expect_ok()["event_id"].as_str().unwrap().to_owned();
    assert_eq!(alice.get_event(&room, &second).await.expect_ok()["content"]["body"], "done");
    alice.leave(&room).await;
    root.post("/_synapse/admin/v1/send_server_notice", notice("come back")).await.expect_ok();
    alice.join(&room).await;

    let unknown = root
        .post(
            "/_synapse/admin/v1/send_server_notice",
            json!({"user_id": hs.user_id("nobody"), "content": {"msgtype": "m.text", "body": "x"}}),
        )
        .await;
    assert_eq!((unknown.status, unknown.json["errcode"].as_str()), (404, Some("M_NOT_FOUND")), "{unknown:?}");
    let missing = root.post("/_synapse/admin/v1/send_server_notice", json!({"user_id": alice.user_id})).await;
    assert_eq!((missing.status, missing.json["errcode"].as_str()), (400, Some("M_MISSING_PARAM")), "{missing:?}");
    let refused = alice.post("/_synapse/admin/v1/send_server_notice", notice("x")).await;
    assert_eq!(refused.status, 403, "{refused:?}");
}
both_backends!(server_notices_reach_the_user);
