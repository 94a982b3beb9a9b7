//! Account data — mirrors Complement's `account_data` (global and per-room
//! account data can be added); spec: client-server API "Client Config",
//! `GET`/`PUT /user/{userId}/account_data/{type}` and
//! `/user/{userId}/rooms/{roomId}/account_data/{type}`, the `account_data`
//! sections of `/sync`.

use nexus_complement::{Backend, Homeserver, Method, both_backends};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

async fn can_add_global_account_data(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let content = json!({"theme": "dark", "nested": {"list": [1, 2, 3]}});

    let reply = alice.put_account_data("com.example.settings", content.clone()).await;

    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    let got = alice.get_account_data("com.example.settings").await;
    assert_eq!(got.expect_ok(), &content, "{got:?}");
    // "The config will be available to clients through the top-level
    // account_data field in the homeserver response to /sync."
    let synced = alice.initial_sync().await;
    assert_eq!(synced.account_data_content("com.example.settings"), Some(content), "{:#}", synced.body);
    // Other devices of the same user see it too.
    let other_device = alice.login_again().await;
    assert_eq!(other_device.get_account_data("com.example.settings").await.expect_ok()["theme"], "dark");
}
both_backends!(can_add_global_account_data);

async fn can_add_room_account_data(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let content = json!({"pinned": true});

    let reply = alice.put_room_account_data(&room_id, "com.example.room_settings", content.clone()).await;

    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    let got = alice.get_room_account_data(&room_id, "com.example.room_settings").await;
    assert_eq!(got.expect_ok(), &content, "{got:?}");
    // "delivered to clients in the per-room entries via /sync".
    let synced = alice.initial_sync().await;
    assert_eq!(synced.room_account_data_content(&room_id, "com.example.room_settings"), Some(content));
    assert_eq!(synced.account_data_content("com.example.room_settings"), None, "{:#}", synced.body);
}
both_backends!(can_add_room_account_data);

async fn room_account_data_does_not_fall_back_to_global(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let other_room = alice.create_room(json!({})).await;

    alice.put_account_data("com.example.scope", json!({"where": "global"})).await.expect_ok();
    alice.put_room_account_data(&room_id, "com.example.scope", json!({"where": "room"})).await.expect_ok();

    // "There is no inheritance mechanism here".
    assert_eq!(alice.get_account_data("com.example.scope").await.expect_ok()["where"], "global");
    assert_eq!(alice.get_room_account_data(&room_id, "com.example.scope").await.expect_ok()["where"], "room");
    alice.get_room_account_data(&other_room, "com.example.scope").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(room_account_data_does_not_fall_back_to_global);

async fn unset_account_data_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    alice.get_account_data("com.example.never").await.expect_error(404, "M_NOT_FOUND");
    alice.get_room_account_data(&room_id, "com.example.never").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(unset_account_data_is_not_found);

async fn account_data_updates_replace_and_show_in_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    alice.put_account_data("com.example.unchanged", json!({"v": 0})).await.expect_ok();
    alice.put_account_data("com.example.counter", json!({"v": 1})).await.expect_ok();
    let since = alice.sync_token().await;

    alice.put_account_data("com.example.counter", json!({"v": 2})).await.expect_ok();
    alice.put_room_account_data(&room_id, "com.example.room_counter", json!({"v": 3})).await.expect_ok();
    let synced = alice
        .sync_until(&since, "", "the updates", |s| {
            s.account_data_content("com.example.counter").is_some()
                && s.room_account_data_content(&room_id, "com.example.room_counter").is_some()
        })
        .await;

    // The whole new content replaces the old one ...
    assert_eq!(alice.get_account_data("com.example.counter").await.expect_ok(), &json!({"v": 2}));
    assert_eq!(synced.account_data_content("com.example.counter"), Some(json!({"v": 2})));
    assert_eq!(synced.room_account_data_content(&room_id, "com.example.room_counter"), Some(json!({"v": 3})));
    // ... and an incremental sync carries what changed, not what did not.
    assert_eq!(synced.account_data_content("com.example.unchanged"), None, "{:#}", synced.body);
}
both_backends!(account_data_updates_replace_and_show_in_incremental_sync);

async fn account_data_of_another_user_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.put_account_data("com.example.secret", json!({"s": 1})).await.expect_ok();
    alice.put_room_account_data(&room_id, "com.example.secret", json!({"s": 2})).await.expect_ok();

    // "This config is only visible to the user that set the account data":
    // 403 M_FORBIDDEN for another user's token.
    bob.get(&alice.account_data_path("com.example.secret")).await.expect_error(403, "M_FORBIDDEN");
    bob.put(&alice.account_data_path("com.example.secret"), json!({})).await.expect_error(403, "M_FORBIDDEN");
    let room_path = alice.room_account_data_path(&room_id, "com.example.secret");
    bob.get(&room_path).await.expect_error(403, "M_FORBIDDEN");
    bob.put(&room_path, json!({})).await.expect_error(403, "M_FORBIDDEN");
    // Nor does it show in bob's sync.
    let synced = bob.initial_sync().await;
    assert_eq!(synced.account_data_content("com.example.secret"), None, "{:#}", synced.body);
    assert_eq!(synced.room_account_data_content(&room_id, "com.example.secret"), None, "{:#}", synced.body);
    assert_eq!(alice.get_account_data("com.example.secret").await.expect_ok(), &json!({"s": 1}));
}
both_backends!(account_data_of_another_user_is_forbidden);

async fn server_managed_account_data_types_are_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let event_id = alice.send_message(&room_id, "x").await;

    // "Servers MUST reject setting account data for event types that the
    // server manages by using a 405 error response ... m.fully_read and
    // m.push_rules. This applies to both global and room-specific account
    // data."
    for (event_type, content) in [("m.fully_read", json!({"event_id": event_id})), ("m.push_rules", json!({}))] {
        alice.put_account_data(event_type, content.clone()).await.expect_error(405, "M_BAD_JSON");
        alice.put_room_account_data(&room_id, event_type, content).await.expect_error(405, "M_BAD_JSON");
    }
}
both_backends!(server_managed_account_data_types_are_rejected);

async fn account_data_must_be_a_json_object(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    // "400: The request body is not a JSON object. Errcode: M_BAD_JSON or
    // M_NOT_JSON."
    for body in [json!(["a", "list"]), json!("a string"), json!(42)] {
        alice
            .put_account_data("com.example.bad", body.clone())
            .await
            .expect_error_in(400, &["M_BAD_JSON", "M_NOT_JSON"]);
        alice
            .put_room_account_data(&room_id, "com.example.bad", body)
            .await
            .expect_error_in(400, &["M_BAD_JSON", "M_NOT_JSON"]);
    }
    let raw = alice
        .api
        .send(
            alice
                .api
                .raw(Method::PUT, &alice.account_data_path("com.example.bad"))
                .bearer_auth(&alice.access_token)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    raw.expect_error_in(400, &["M_BAD_JSON", "M_NOT_JSON"]);
    alice.get_account_data("com.example.bad").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(account_data_must_be_a_json_object);

async fn room_account_data_with_an_invalid_room_id_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // "400: ... the given roomID is not a valid room ID (errcode
    // M_INVALID_PARAM)."
    let path = alice.room_account_data_path("@notaroomid:example.org", "com.example.x");
    alice.put(&path, json!({})).await.expect_error(400, "M_INVALID_PARAM");
    alice.get(&path).await.expect_error(400, "M_INVALID_PARAM");
}
both_backends!(room_account_data_with_an_invalid_room_id_is_rejected);
