//! Account management — mirrors Complement's `account_change_password`,
//! `account_deactivate`, `apidoc_server_capabilities` and the 3PID parts of
//! the spec; spec: client-server API "Using access tokens", "Current account
//! information" (`/account/whoami`), "Password management"
//! (`/account/password`), "Account deactivation" (`/account/deactivate`),
//! "Adding Account Administrative Contact Information" (`/account/3pid*`),
//! "Capabilities negotiation" (`/capabilities`).

use nexus_complement::{Backend, Homeserver, Method, Reply, both_backends, password_login};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";
const NEW_PASSWORD: &str = "n3w-Secret!";

// ----- whoami and access tokens -----

async fn whoami_reports_user_device_and_not_guest(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.whoami().await;

    let body = reply.expect_ok();
    assert_eq!(body["user_id"], hs.user_id("alice"));
    assert_eq!(body["device_id"], alice.device_id.as_str());
    // "When not present or false, the user is presumed to be a non-guest".
    assert!(body.get("is_guest").is_none_or(|g| g == false), "{reply:?}");
}
both_backends!(whoami_reports_user_device_and_not_guest);

async fn request_without_access_token_is_missing_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    hs.api().get("/account/whoami").await.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(request_without_access_token_is_missing_token);

async fn request_with_unknown_access_token_is_unknown_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    hs.api().get_as("syt_not_a_real_token", "/account/whoami").await.expect_error(401, "M_UNKNOWN_TOKEN");
}
both_backends!(request_with_unknown_access_token_is_unknown_token);

/// Whether `/versions` lists a spec version before v1.20, the version that
/// dropped access tokens in the query string.
fn advertises_a_version_before_1_20(versions: &Reply) -> bool {
    versions.json["versions"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).any(|v| {
        if v.starts_with('r') {
            return true;
        }
        let mut parts = v.trim_start_matches('v').split('.');
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(u32::MAX);
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(u32::MAX);
        (major, minor) < (1, 20)
    })
}

async fn access_token_in_query_string_works_for_versions_before_1_20(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let versions = api.get("/_matrix/client/versions").await;
    if !advertises_a_version_before_1_20(&versions) {
        eprintln!("SKIP: the server advertises only v1.20+, where query-string tokens were removed");
        return;
    }

    let reply = api.get(&format!("/account/whoami?access_token={}", alice.access_token)).await;

    assert_eq!(reply.expect_ok()["user_id"], alice.user_id.as_str(), "{reply:?}");
}
both_backends!(access_token_in_query_string_works_for_versions_before_1_20);

// ----- password change -----

async fn changing_password_requires_password_auth(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.post("/account/password", json!({"new_password": NEW_PASSWORD})).await;

    reply.expect_uia_challenge(&["m.login.password"]);
    alice.login_again().await;
}
both_backends!(changing_password_requires_password_auth);

async fn changed_password_logs_in_and_old_password_does_not(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;

    alice.with_password_uia(Method::POST, "/account/password", json!({"new_password": NEW_PASSWORD})).await.expect_ok();

    api.login("alice", NEW_PASSWORD).await;
    api.login_with(password_login("alice", PASSWORD)).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(changed_password_logs_in_and_old_password_does_not);

async fn changing_password_logs_out_other_devices_but_not_this_one(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let laptop = alice.login_again().await;

    alice.with_password_uia(Method::POST, "/account/password", json!({"new_password": NEW_PASSWORD})).await.expect_ok();

    // "The homeserver SHOULD NOT revoke the access token provided in the
    // request"; `logout_devices` "Defaults to true".
    alice.expect_token_valid().await;
    laptop.expect_token_rejected().await;
}
both_backends!(changing_password_logs_out_other_devices_but_not_this_one);

async fn changing_password_without_logout_devices_keeps_other_devices(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let laptop = alice.login_again().await;

    alice
        .with_password_uia(
            Method::POST,
            "/account/password",
            json!({"new_password": NEW_PASSWORD, "logout_devices": false}),
        )
        .await
        .expect_ok();

    alice.expect_token_valid().await;
    laptop.expect_token_valid().await;
}
both_backends!(changing_password_without_logout_devices_keeps_other_devices);

async fn changing_password_with_wrong_password_changes_nothing(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;

    let reply = alice
        .with_password_uia_as(
            Method::POST,
            "/account/password",
            json!({"new_password": NEW_PASSWORD}),
            "wrong-password",
        )
        .await;

    reply.expect_uia_challenge(&["m.login.password"]);
    reply.expect_standard_error();
    api.login("alice", PASSWORD).await;
    api.login_with(password_login("alice", NEW_PASSWORD)).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(changing_password_with_wrong_password_changes_nothing);

// ----- deactivation -----

async fn deactivation_requires_password_auth(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.post("/account/deactivate", json!({})).await;

    reply.expect_uia_challenge(&["m.login.password"]);
    alice.login_again().await;
}
both_backends!(deactivation_requires_password_auth);

async fn deactivation_with_wrong_password_keeps_the_account(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.with_password_uia_as(Method::POST, "/account/deactivate", json!({}), "wrong").await;

    reply.expect_uia_challenge(&["m.login.password"]);
    reply.expect_standard_error();
    alice.login_again().await;
}
both_backends!(deactivation_with_wrong_password_keeps_the_account);

async fn deactivated_account_cannot_log_in(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;

    let reply = alice.with_password_uia(Method::POST, "/account/deactivate", json!({})).await;

    // "This must be success if the homeserver has no identifiers to unbind".
    assert_eq!(reply.expect_ok()["id_server_unbind_result"], "success", "{reply:?}");
    // "Servers MAY instead use M_FORBIDDEN when they can no longer
    // authenticate the deactivated user".
    api.login_with(password_login("alice", PASSWORD))
        .await
        .expect_error_in(403, &["M_USER_DEACTIVATED", "M_FORBIDDEN"]);
}
both_backends!(deactivated_account_cannot_log_in);

async fn deactivated_user_id_cannot_be_registered_again(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    alice.with_password_uia(Method::POST, "/account/deactivate", json!({})).await.expect_ok();

    api.get("/register/available?username=alice").await.expect_error(400, "M_USER_IN_USE");
    api.register_with(json!({"username": "alice", "password": "fresh-start"})).await.expect_error(400, "M_USER_IN_USE");
}
both_backends!(deactivated_user_id_cannot_be_registered_again);

async fn deactivation_with_erase_succeeds(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    alice
        .put(
            &format!("/profile/{}/displayname", nexus_complement::enc(&alice.user_id)),
            json!({"displayname": "Alice Liddell"}),
        )
        .await
        .expect_ok();

    let reply = alice.with_password_uia(Method::POST, "/account/deactivate", json!({"erase": true})).await;

    assert_eq!(reply.expect_ok()["id_server_unbind_result"], "success", "{reply:?}");
    api.login_with(password_login("alice", PASSWORD))
        .await
        .expect_error_in(403, &["M_USER_DEACTIVATED", "M_FORBIDDEN"]);
}
both_backends!(deactivation_with_erase_succeeds);

// ----- third-party identifiers -----

async fn account_has_no_third_party_identifiers(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.get("/account/3pid").await;

    assert_eq!(reply.expect_ok()["threepids"], json!([]), "{reply:?}");
}
both_backends!(account_has_no_third_party_identifiers);

async fn third_party_token_requests_are_refused_cleanly(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let email = json!({"client_secret": "monkeys_are_GREAT", "email": "alice@example.org", "send_attempt": 1});
    let msisdn = json!({
        "client_secret": "monkeys_are_GREAT",
        "country": "GB",
        "phone_number": "07700900001",
        "send_attempt": 1,
    });
    let endpoints = [
        ("/register/email/requestToken", &email),
        ("/register/msisdn/requestToken", &msisdn),
        ("/account/password/email/requestToken", &email),
        ("/account/password/msisdn/requestToken", &msisdn),
        ("/account/3pid/email/requestToken", &email),
        ("/account/3pid/msisdn/requestToken", &msisdn),
    ];

    for (path, body) in endpoints {
        let reply = alice.post(path, body.clone()).await;
        // A server that sends no email or SMS refuses with a 4xx standard
        // error: the spec names M_THREEPID_DENIED (403) and
        // M_THREEPID_MEDIUM_NOT_SUPPORTED (400) among others.
        assert!((400..500).contains(&reply.status) && reply.status != 429, "{path}: expected a 4xx refusal: {reply:?}");
        reply.expect_standard_error();
    }
}
both_backends!(third_party_token_requests_are_refused_cleanly);

// ----- capabilities -----

async fn capabilities_allow_password_change(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let reply = alice.get("/capabilities").await;

    let capabilities = &reply.expect_ok()["capabilities"];
    assert!(capabilities.is_object(), "{reply:?}");
    assert_eq!(capabilities["m.change_password"]["enabled"], true, "{reply:?}");
    if let Some(versions) = capabilities.get("m.room_versions") {
        assert!(versions["default"].is_string(), "{reply:?}");
        assert!(versions["available"].is_object(), "{reply:?}");
    }
}
both_backends!(capabilities_allow_password_change);

async fn capabilities_need_an_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    hs.api().get("/capabilities").await.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(capabilities_need_an_access_token);
