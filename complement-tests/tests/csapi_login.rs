//! Login and token refresh — mirrors Complement's `apidoc_login`; spec:
//! client-server API "Login" (`GET`/`POST /login`), "Identifier types",
//! "Refreshing access tokens" (`POST /refresh`).

use nexus_complement::{Backend, Homeserver, both_backends, password_login};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn login_flows_offer_password_login(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs.api().get("/login").await;

    let flows = reply.expect_ok()["flows"].as_array().cloned().unwrap_or_default();
    assert!(flows.iter().any(|flow| flow["type"] == "m.login.password"), "{reply:?}");
}
both_backends!(login_flows_offer_password_login);

async fn registered_user_logs_in_with_full_user_id(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;

    let reply = api.login_with(password_login(&hs.user_id("alice"), PASSWORD)).await;

    let body = reply.expect_ok();
    assert_eq!(body["user_id"], hs.user_id("alice"));
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{reply:?}");
    assert!(body["device_id"].as_str().is_some_and(|d| !d.is_empty()), "{reply:?}");
    api.session_from(body, PASSWORD, &reply).expect_token_valid().await;
}
both_backends!(registered_user_logs_in_with_full_user_id);

async fn registered_user_logs_in_with_localpart(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;

    let alice = api.login("alice", PASSWORD).await;

    assert_eq!(alice.user_id, hs.user_id("alice"));
    alice.expect_token_valid().await;
}
both_backends!(registered_user_logs_in_with_localpart);

async fn registered_user_logs_in_with_deprecated_user_field(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;

    // `user` at the top level: "Deprecated in favour of identifier", still
    // part of the request schema.
    let reply = api.login_with(json!({"type": "m.login.password", "user": "alice", "password": PASSWORD})).await;

    assert_eq!(reply.expect_ok()["user_id"], hs.user_id("alice"), "{reply:?}");
}
both_backends!(registered_user_logs_in_with_deprecated_user_field);

async fn wrong_password_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;

    api.login_with(password_login("alice", "not-the-password")).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(wrong_password_is_forbidden);

async fn unknown_user_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    hs.api().login_with(password_login("nobody", PASSWORD)).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(unknown_user_is_forbidden);

async fn unknown_login_type_is_a_bad_request(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs.api().login_with(json!({"type": "org.example.no_such_login", "user": "alice"})).await;

    // "Part of the request was invalid. For example, the login type may not
    // be recognised."
    assert_eq!(reply.status, 400, "{reply:?}");
    reply.expect_standard_error();
}
both_backends!(unknown_login_type_is_a_bad_request);

async fn each_login_gets_its_own_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let registered = api.register("alice", PASSWORD).await;

    let first = api.login("alice", PASSWORD).await;
    let second = api.login("alice", PASSWORD).await;

    assert_ne!(first.device_id, second.device_id);
    assert_ne!(first.access_token, second.access_token);
    first.expect_token_valid().await;
    second.expect_token_valid().await;
    let devices = registered.get("/devices").await;
    let ids: Vec<&str> = devices.expect_ok()["devices"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["device_id"].as_str()).collect())
        .unwrap_or_default();
    for id in [&registered.device_id, &first.device_id, &second.device_id] {
        assert!(ids.contains(&id.as_str()), "{id} missing from {devices:?}");
    }
}
both_backends!(each_login_gets_its_own_device);

async fn login_with_device_id_reuses_that_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;
    let mut body = password_login("alice", PASSWORD);
    body["device_id"] = json!("ALICELAPTOP");
    body["initial_device_display_name"] = json!("Alice's laptop");

    let first = api.login_with(body.clone()).await;
    assert_eq!(first.expect_ok()["device_id"], "ALICELAPTOP", "{first:?}");
    // "Ignored if device_id corresponds to a known device."
    body["initial_device_display_name"] = json!("renamed?");
    let second = api.login_with(body).await;
    let second_body = second.expect_ok();
    assert_eq!(second_body["device_id"], "ALICELAPTOP", "{second:?}");

    let alice = api.session_from(second_body, PASSWORD, &second);
    let devices = alice.get("/devices").await;
    let laptops: Vec<&Value> = devices.expect_ok()["devices"]
        .as_array()
        .map(|d| d.iter().filter(|d| d["device_id"] == "ALICELAPTOP").collect())
        .unwrap_or_default();
    assert_eq!(laptops.len(), 1, "one device, not two: {devices:?}");
    assert_eq!(laptops[0]["display_name"], "Alice's laptop", "{devices:?}");
}
both_backends!(login_with_device_id_reuses_that_device);

async fn login_stores_initial_device_display_name(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;
    let mut body = password_login("alice", PASSWORD);
    body["initial_device_display_name"] = json!("Jungle Phone");

    let reply = api.login_with(body).await;

    let alice = api.session_from(reply.expect_ok(), PASSWORD, &reply);
    let device = alice.get(&format!("/devices/{}", alice.device_id)).await;
    assert_eq!(device.expect_ok()["display_name"], "Jungle Phone", "{device:?}");
}
both_backends!(login_stores_initial_device_display_name);

async fn login_with_refresh_token_returns_one_and_its_lifetime(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;
    let mut body = password_login("alice", PASSWORD);
    body["refresh_token"] = json!(true);

    let reply = api.login_with(body).await;

    let body = reply.expect_ok();
    assert!(body["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{reply:?}");
    assert!(body["expires_in_ms"].as_u64().is_some_and(|ms| ms > 0), "{reply:?}");
}
both_backends!(login_with_refresh_token_returns_one_and_its_lifetime);

async fn refresh_rotates_tokens_and_revokes_the_old_refresh_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;
    let mut body = password_login("alice", PASSWORD);
    body["refresh_token"] = json!(true);
    let reply = api.login_with(body).await;
    let alice = api.session_from(reply.expect_ok(), PASSWORD, &reply);
    let old_refresh = alice.refresh_token.clone().expect("a refresh token");

    let refreshed = api.post("/refresh", json!({"refresh_token": old_refresh})).await;

    let body = refreshed.expect_ok();
    let new_access = body["access_token"].as_str().expect("access_token").to_owned();
    assert_ne!(new_access, alice.access_token);
    if let Some(new_refresh) = body["refresh_token"].as_str() {
        assert_ne!(new_refresh, old_refresh);
    }
    // "the new access and refresh tokens are now bound to the device
    // associated with the initial refresh token."
    let whoami = api.get_as(&new_access, "/account/whoami").await;
    let whoami = whoami.expect_ok();
    assert_eq!(whoami["user_id"], alice.user_id.as_str());
    assert_eq!(whoami["device_id"], alice.device_id.as_str());
    // "The old refresh token remains valid until the new access token or
    // refresh token is used, at which point the old refresh token is revoked."
    // The new access token has been used above.
    if body.get("refresh_token").is_some() {
        api.post("/refresh", json!({"refresh_token": old_refresh})).await.expect_error(401, "M_UNKNOWN_TOKEN");
    }
}
both_backends!(refresh_rotates_tokens_and_revokes_the_old_refresh_token);

async fn refresh_with_unknown_token_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    hs.api()
        .post("/refresh", json!({"refresh_token": "not-a-refresh-token"}))
        .await
        .expect_error(401, "M_UNKNOWN_TOKEN");
}
both_backends!(refresh_with_unknown_token_is_rejected);
