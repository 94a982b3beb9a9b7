//! Logout — mirrors Complement's `apidoc_logout`; spec: client-server API
//! `POST /logout`, `POST /logout/all`, "Using access tokens".

use nexus_complement::{Backend, Homeserver, Method, both_backends};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

fn device_ids(devices: &serde_json::Value) -> Vec<String> {
    devices["devices"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["device_id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn logout_invalidates_only_that_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let phone = hs.api().register("alice", PASSWORD).await;
    let laptop = phone.login_again().await;

    // Logout takes "an empty request body": send none at all.
    let reply = phone.request(Method::POST, "/logout", None).await;

    reply.expect_ok();
    phone.expect_token_rejected().await;
    laptop.expect_token_valid().await;
}
both_backends!(logout_invalidates_only_that_access_token);

async fn logout_deletes_the_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let phone = hs.api().register("alice", PASSWORD).await;
    let laptop = phone.login_again().await;

    phone.post("/logout", json!({})).await.expect_ok();

    // "The device associated with the access token is also deleted."
    let devices = laptop.get("/devices").await;
    let ids = device_ids(devices.expect_ok());
    assert!(!ids.contains(&phone.device_id), "{devices:?}");
    assert!(ids.contains(&laptop.device_id), "{devices:?}");
    laptop.get(&format!("/devices/{}", phone.device_id)).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(logout_deletes_the_device);

async fn logout_all_invalidates_every_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let phone = hs.api().register("alice", PASSWORD).await;
    let laptop = phone.login_again().await;
    let tablet = phone.login_again().await;

    laptop.post("/logout/all", json!({})).await.expect_ok();

    // "This includes the access token that made this request."
    for session in [&phone, &laptop, &tablet] {
        session.expect_token_rejected().await;
    }
    // "All devices for the user are also deleted."
    let fresh = phone.login_again().await;
    let devices = fresh.get("/devices").await;
    assert_eq!(device_ids(devices.expect_ok()), vec![fresh.device_id.clone()], "{devices:?}");
}
both_backends!(logout_all_invalidates_every_access_token);

async fn logout_does_not_affect_other_users(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;

    alice.post("/logout/all", json!({})).await.expect_ok();

    bob.expect_token_valid().await;
}
both_backends!(logout_does_not_affect_other_users);

async fn logout_with_unknown_token_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    api.post_as("not-a-token", "/logout", json!({})).await.expect_error(401, "M_UNKNOWN_TOKEN");
    api.post_as("not-a-token", "/logout/all", json!({})).await.expect_error(401, "M_UNKNOWN_TOKEN");
}
both_backends!(logout_with_unknown_token_is_rejected);

async fn logout_without_token_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    api.post("/logout", json!({})).await.expect_error(401, "M_MISSING_TOKEN");
    api.post("/logout/all", json!({})).await.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(logout_without_token_is_rejected);

async fn logged_out_token_cannot_log_out_again(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    alice.post("/logout", json!({})).await.expect_ok();

    alice.post("/logout", json!({})).await.expect_error(401, "M_UNKNOWN_TOKEN");
}
both_backends!(logged_out_token_cannot_log_out_again);
