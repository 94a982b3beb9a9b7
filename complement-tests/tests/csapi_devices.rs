//! Device management — mirrors Complement's `apidoc_device_management`; spec:
//! client-server API "Device management" (`GET /devices`,
//! `GET`/`PUT`/`DELETE /devices/{deviceId}`, `POST /delete_devices`) and the
//! `m.login.password` UIA stage.

use nexus_complement::{Backend, Homeserver, Method, Session, both_backends, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

fn device_ids(devices: &Value) -> Vec<String> {
    devices["devices"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["device_id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn alice(hs: &Homeserver) -> Session {
    let reply = hs
        .api()
        .register_with(json!({
            "username": "alice",
            "password": PASSWORD,
            "device_id": "PHONE",
            "initial_device_display_name": "Alice's phone",
        }))
        .await;
    hs.api().session_from(reply.expect_ok(), PASSWORD, &reply)
}

async fn device_list_contains_the_current_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;

    let reply = alice.get("/devices").await;

    let devices = reply.expect_ok()["devices"].as_array().cloned().unwrap_or_default();
    let phone =
        devices.iter().find(|d| d["device_id"] == "PHONE").unwrap_or_else(|| panic!("PHONE missing: {reply:?}"));
    assert_eq!(phone["display_name"], "Alice's phone");
}
both_backends!(device_list_contains_the_current_device);

async fn get_device_returns_its_metadata(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;

    let reply = alice.get("/devices/PHONE").await;

    let device = reply.expect_ok();
    assert_eq!(device["device_id"], "PHONE");
    assert_eq!(device["display_name"], "Alice's phone");
    if let Some(ts) = device.get("last_seen_ts") {
        assert!(ts.is_u64(), "last_seen_ts must be an integer: {reply:?}");
    }
}
both_backends!(get_device_returns_its_metadata);

async fn unknown_device_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;

    alice.get("/devices/NO_SUCH_DEVICE").await.expect_error(404, "M_NOT_FOUND");
    // Regular clients "may only update existing devices".
    alice.put("/devices/NO_SUCH_DEVICE", json!({"display_name": "ghost"})).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(unknown_device_is_not_found);

async fn another_users_device_is_not_visible(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let bob = hs.api().register("bob", PASSWORD).await;

    // "404: The current user has no device with the given ID."
    bob.get("/devices/PHONE").await.expect_error(404, "M_NOT_FOUND");
    bob.put("/devices/PHONE", json!({"display_name": "stolen"})).await.expect_error(404, "M_NOT_FOUND");
    let mine = alice.get("/devices/PHONE").await;
    assert_eq!(mine.expect_ok()["display_name"], "Alice's phone");
}
both_backends!(another_users_device_is_not_visible);

async fn renaming_a_device_updates_its_display_name(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;

    let reply = alice.put("/devices/PHONE", json!({"display_name": "Old phone"})).await;

    // "It MUST return a 200 HTTP status code if a device was updated."
    reply.expect_ok();
    let device = alice.get("/devices/PHONE").await;
    assert_eq!(device.expect_ok()["display_name"], "Old phone");
    // "If not given, the display name is unchanged."
    alice.put("/devices/PHONE", json!({})).await.expect_ok();
    let device = alice.get("/devices/PHONE").await;
    assert_eq!(device.expect_ok()["display_name"], "Old phone");
}
both_backends!(renaming_a_device_updates_its_display_name);

async fn deleting_a_device_requires_password_auth(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;
    let path = format!("/devices/{}", enc(&laptop.device_id));

    let challenge = alice.delete(&path, json!({})).await;

    challenge.expect_uia_challenge(&["m.login.password"]);
    laptop.expect_token_valid().await;
}
both_backends!(deleting_a_device_requires_password_auth);

async fn deleting_a_device_with_wrong_password_keeps_it(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;
    let path = format!("/devices/{}", enc(&laptop.device_id));

    let reply = alice.with_password_uia_as(Method::DELETE, &path, json!({}), "wrong-password").await;

    // A failed stage: "the same HTTP status 401 response as above, with the
    // addition of the standard errcode and error fields".
    reply.expect_uia_challenge(&["m.login.password"]);
    reply.expect_standard_error();
    laptop.expect_token_valid().await;
}
both_backends!(deleting_a_device_with_wrong_password_keeps_it);

async fn deleting_a_device_invalidates_its_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;
    let path = format!("/devices/{}", enc(&laptop.device_id));

    let reply = alice.with_password_uia(Method::DELETE, &path, json!({})).await;

    reply.expect_ok();
    laptop.expect_token_rejected().await;
    alice.expect_token_valid().await;
    alice.get(&path).await.expect_error(404, "M_NOT_FOUND");
    let devices = alice.get("/devices").await;
    assert!(!device_ids(devices.expect_ok()).contains(&laptop.device_id), "{devices:?}");
}
both_backends!(deleting_a_device_invalidates_its_access_token);

async fn deleting_an_already_deleted_device_succeeds(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;
    let path = format!("/devices/{}", enc(&laptop.device_id));
    alice.with_password_uia(Method::DELETE, &path, json!({})).await.expect_ok();

    let again = alice.with_password_uia(Method::DELETE, &path, json!({})).await;

    // "200: The device was successfully removed, or had been removed
    // previously."
    again.expect_ok();
}
both_backends!(deleting_an_already_deleted_device_succeeds);

async fn password_auth_as_another_user_cannot_delete_a_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let path = format!("/devices/{}", enc(&laptop.device_id));

    // Alice's access token, Bob's (correct) credentials in the auth stage.
    let first = alice.delete(&path, json!({})).await;
    let session = first.expect_uia_challenge(&["m.login.password"]);
    let reply = alice.delete(&path, json!({"auth": bob.password_auth(&session, PASSWORD)})).await;

    assert!(
        reply.status == 401 || reply.status == 403,
        "authenticating as someone else must not delete Alice's device: {reply:?}"
    );
    reply.expect_standard_error();
    laptop.expect_token_valid().await;
}
both_backends!(password_auth_as_another_user_cannot_delete_a_device);

async fn delete_devices_removes_exactly_the_listed_devices(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;
    let tablet = alice.login_again().await;
    let desktop = alice.login_again().await;

    let reply = alice
        .with_password_uia(Method::POST, "/delete_devices", json!({"devices": [laptop.device_id, tablet.device_id]}))
        .await;

    reply.expect_ok();
    laptop.expect_token_rejected().await;
    tablet.expect_token_rejected().await;
    desktop.expect_token_valid().await;
    alice.expect_token_valid().await;
    let devices = alice.get("/devices").await;
    let mut ids = device_ids(devices.expect_ok());
    ids.sort();
    let mut expected = vec![alice.device_id.clone(), desktop.device_id.clone()];
    expected.sort();
    assert_eq!(ids, expected, "{devices:?}");
}
both_backends!(delete_devices_removes_exactly_the_listed_devices);

async fn delete_devices_requires_password_auth(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;

    let challenge = alice.post("/delete_devices", json!({"devices": [laptop.device_id]})).await;

    challenge.expect_uia_challenge(&["m.login.password"]);
    laptop.expect_token_valid().await;
}
both_backends!(delete_devices_requires_password_auth);

async fn delete_devices_tolerates_already_deleted_devices(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = alice(&hs).await;
    let laptop = alice.login_again().await;
    let tablet = alice.login_again().await;
    alice.with_password_uia(Method::POST, "/delete_devices", json!({"devices": [laptop.device_id]})).await.expect_ok();

    let reply = alice
        .with_password_uia(Method::POST, "/delete_devices", json!({"devices": [laptop.device_id, tablet.device_id]}))
        .await;

    // "The devices were successfully removed, or had been removed previously."
    reply.expect_ok();
    tablet.expect_token_rejected().await;
}
both_backends!(delete_devices_tolerates_already_deleted_devices);

/// A device without a display name has no `display_name` key (the schema
/// says string; `null` is not one), in the list and alone.
async fn devices_without_a_name_leave_the_key_out(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;
    // A login without initial_device_display_name gives an unnamed device.
    let alice = api.login("alice", PASSWORD).await;

    let list = alice.get("/devices").await;
    let devices = list.expect_ok()["devices"].as_array().cloned().unwrap_or_default();
    let mine = devices.iter().find(|d| d["device_id"] == alice.device_id.as_str()).expect("the device is listed");
    for device in [mine.clone(), alice.get(&format!("/devices/{}", enc(&alice.device_id))).await.expect_ok().clone()] {
        for (key, value) in device.as_object().expect("a device is an object") {
            assert!(!value.is_null(), "{key} is null: {device}");
        }
    }
}
both_backends!(devices_without_a_name_leave_the_key_out);
