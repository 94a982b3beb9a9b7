//! Requests without a body. Clients in the wild (matrix-nio's `join()` and
//! `room_leave()`, so nio bots and matrix-commander) send
//! `POST /join/{roomIdOrAlias}` and friends with no body at all; Synapse
//! accepts that on the membership endpoints, logout and device deletion,
//! and so does Nexus. Everywhere else a POST or PUT whose body the spec
//! requires answers `M_NOT_JSON` when it is missing.

use nexus_complement::{Backend, Homeserver, Method, Session, both_backends, enc, room_path};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

/// Sends `method path` with the caller's token and no body at all (no
/// `Content-Type`, `Content-Length: 0`), as matrix-nio does.
async fn bare(session: &Session, method: Method, path: &str) -> nexus_complement::Reply {
    let request = session.api.raw(method, path).bearer_auth(&session.access_token).header("content-length", "0");
    session.api.send(request).await
}

async fn membership_endpoints_accept_an_absent_body(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "room_alias_name": "bare"})).await;
    let alias = format!("#bare:{}", hs.server_name());

    // Join by alias, leave, join by id, leave, forget: all without a body.
    let joined = bare(&bob, Method::POST, &format!("/join/{}", enc(&alias))).await;
    assert_eq!(joined.expect_ok()["room_id"], room_id.as_str(), "{joined:?}");
    bare(&bob, Method::POST, &room_path(&room_id, "/leave")).await.expect_ok();
    let joined = bare(&bob, Method::POST, &format!("/join/{}", enc(&room_id))).await;
    assert_eq!(joined.expect_ok()["room_id"], room_id.as_str(), "{joined:?}");
    bare(&bob, Method::POST, &room_path(&room_id, "/leave")).await.expect_ok();
    bare(&bob, Method::POST, &room_path(&room_id, "/join")).await.expect_ok();
    bare(&bob, Method::POST, &room_path(&room_id, "/leave")).await.expect_ok();
    bare(&bob, Method::POST, &room_path(&room_id, "/forget")).await.expect_ok();
    assert!(!bob.joined_rooms().await.contains(&room_id));

    // Without a body, kick lacks its user_id: a malformed request, not a
    // missing one.
    bare(&alice, Method::POST, &room_path(&room_id, "/kick")).await.expect_error(400, "M_BAD_JSON");
}
both_backends!(membership_endpoints_accept_an_absent_body);

async fn logout_and_device_deletion_accept_an_absent_body(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let second = api.login("alice", PASSWORD).await;

    // Device deletion without a body is the start of user-interactive auth.
    let reply = bare(&alice, Method::DELETE, &format!("/devices/{}", enc(&second.device_id))).await;
    reply.expect_uia_challenge(&["m.login.password"]);
    // Read as `{}`, which lacks the required `devices`: malformed, not absent.
    bare(&alice, Method::POST, "/delete_devices").await.expect_error(400, "M_BAD_JSON");

    bare(&second, Method::POST, "/logout").await.expect_ok();
    second.expect_token_rejected().await;
    bare(&alice, Method::POST, "/logout/all").await.expect_ok();
    alice.expect_token_rejected().await;
}
both_backends!(logout_and_device_deletion_accept_an_absent_body);

async fn endpoints_that_need_a_body_answer_not_json_without_one(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let event_id = alice.send_message(&room_id, "hello").await;

    let needs_a_body = [
        (Method::POST, "/createRoom".to_owned()),
        (Method::POST, "/keys/query".to_owned()),
        (Method::POST, room_path(&room_id, "/read_markers")),
        (Method::POST, room_path(&room_id, &format!("/receipt/m.read/{}", enc(&event_id)))),
        (Method::PUT, room_path(&room_id, "/send/m.room.message/bare-txn")),
        (Method::PUT, room_path(&room_id, "/state/m.room.topic/")),
        (Method::PUT, format!("/profile/{}/displayname", enc(&alice.user_id))),
        (Method::POST, format!("/user/{}/filter", enc(&alice.user_id))),
        (Method::POST, room_path(&room_id, "/upgrade")),
    ];
    for (method, path) in needs_a_body {
        let reply = bare(&alice, method.clone(), &path).await;
        assert_eq!(reply.errcode(), Some("M_NOT_JSON"), "{method} {path}: {reply:?}");
        assert_eq!(reply.status, 400, "{reply:?}");
    }
}
both_backends!(endpoints_that_need_a_body_answer_not_json_without_one);
