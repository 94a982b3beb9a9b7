//! Event reports: synapse-admin's reports screen.

use super::*;

/// Event reports as synapse-admin's reports screen reads them: listed
/// newest first with the room's name and the event's sender, one with the
/// event itself, and deleted.
async fn event_reports_are_listed_read_and_deleted(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let room = alice.create_room(json!({"name": "Reported", "preset": "public_chat"})).await;
    bob.join(&room).await;
    let first = alice.send_message(&room, "rude").await;
    let second = alice.send_message(&room, "ruder").await;
    for (event, reason) in [(&first, "rude"), (&second, "ruder")] {
        let path = format!("/rooms/{}/report/{}", enc(&room), enc(event));
        bob.post(&path, json!({"reason": reason, "score": -100})).await.expect_ok();
    }

    let list = root.get("/_synapse/admin/v1/event_reports?from=0&limit=1").await;
    let list = list.expect_ok().clone();
    assert_eq!((list["total"].as_u64(), list["next_token"].as_u64()), (Some(2), Some(1)), "{list}");
    let newest = &list["event_reports"][0];
    assert_eq!(
        (newest["event_id"].as_str(), newest["reason"].as_str()),
        (Some(second.as_str()), Some("ruder")),
        "{newest}"
    );
    assert_eq!(
        (newest["user_id"].as_str(), newest["sender"].as_str()),
        (Some(bob.user_id.as_str()), Some(alice.user_id.as_str()))
    );
    assert_eq!((newest["name"].as_str(), newest["score"].as_i64()), (Some("Reported"), Some(-100)));
    let oldest = root.get("/_synapse/admin/v1/event_reports?dir=f").await;
    assert_eq!(oldest.expect_ok()["event_reports"][0]["event_id"], first.as_str());
    let by_sender =
        root.get(&format!("/_synapse/admin/v1/event_reports?event_sender_user_id={}", enc(&bob.user_id))).await;
    assert_eq!(by_sender.expect_ok()["total"], 0);

    let id = newest["id"].as_u64().unwrap();
    let one = root.get(&format!("/_synapse/admin/v1/event_reports/{id}")).await;
    let one = one.expect_ok().clone();
    assert_eq!(one["event_json"]["content"]["body"], "ruder", "{one}");
    root.request(reqwest::Method::DELETE, &format!("/_synapse/admin/v1/event_reports/{id}"), None).await.expect_ok();
    let gone = root.get(&format!("/_synapse/admin/v1/event_reports/{id}")).await;
    assert_eq!((gone.status, gone.json["errcode"].as_str()), (404, Some("M_NOT_FOUND")), "{gone:?}");
    let bad = root.get("/_synapse/admin/v1/event_reports/x").await;
    assert_eq!((bad.status, bad.json["errcode"].as_str()), (400, Some("M_INVALID_PARAM")), "{bad:?}");
    assert_eq!(root.get("/_synapse/admin/v1/event_reports").await.expect_ok()["total"], 1);
    let refused = bob.get("/_synapse/admin/v1/event_reports").await;
    assert_eq!(refused.status, 403, "{refused:?}");
}
both_backends!(event_reports_are_listed_read_and_deleted);
