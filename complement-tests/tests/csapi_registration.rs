//! Account registration — mirrors Complement's `apidoc_register`; spec:
//! client-server API "Account registration" (`POST /register`,
//! `GET /register/available`), "User-Interactive Authentication API",
//! "Token-authenticated registration", and appendix "User Identifiers".

use nexus_complement::{Backend, Homeserver, both_backends};
use serde_json::{Value, json};

/// The localpart grammar: `a-z 0-9 . _ = - / +`, non-empty.
fn is_valid_localpart(localpart: &str) -> bool {
    !localpart.is_empty()
        && localpart.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/+".contains(&b))
}

/// A user id of this server that follows the grammar and the 255-byte limit.
fn assert_valid_user_id(hs: &Homeserver, user_id: &str) {
    let suffix = format!(":{}", hs.server_name());
    let localpart = user_id
        .strip_prefix('@')
        .and_then(|rest| rest.strip_suffix(&suffix))
        .unwrap_or_else(|| panic!("{user_id} is not a user id of {}", hs.server_name()));
    assert!(is_valid_localpart(localpart), "{user_id}: localpart outside the grammar");
    assert!(user_id.len() <= 255, "{user_id}: longer than 255 bytes");
}

async fn register_without_auth_offers_the_dummy_flow(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    let reply = api.post("/register", json!({"username": "alice", "password": "sUp3r-secret"})).await;

    // "A request to an endpoint that uses User-Interactive Authentication
    // never succeeds without auth."
    reply.expect_uia_challenge(&["m.login.dummy"]);
    assert!(reply.json.get("completed").is_none_or(|c| c == &json!([])), "{reply:?}");
    // Nothing was registered by the challenge.
    api.get("/register/available?username=alice").await.expect_ok();
}
both_backends!(register_without_auth_offers_the_dummy_flow);

async fn completing_the_dummy_stage_registers_and_logs_in(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    let reply = api.register_with(json!({"username": "alice", "password": "sUp3r-secret"})).await;

    let body = reply.expect_ok();
    assert_eq!(body["user_id"], hs.user_id("alice"), "{reply:?}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{reply:?}");
    assert!(body["device_id"].as_str().is_some_and(|d| !d.is_empty()), "{reply:?}");
    let alice = api.session_from(body, "sUp3r-secret", &reply);
    let whoami = alice.whoami().await;
    assert_eq!(whoami.expect_ok()["device_id"], alice.device_id.as_str());
}
both_backends!(completing_the_dummy_stage_registers_and_logs_in);

async fn registration_without_username_generates_a_valid_user_id(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    // "If omitted, the homeserver MUST generate a Matrix ID local part."
    let reply = hs.api().register_with(json!({"password": "sUp3r-secret"})).await;

    let user_id = reply.expect_ok()["user_id"].as_str().unwrap_or_default();
    assert_valid_user_id(&hs, user_id);
}
both_backends!(registration_without_username_generates_a_valid_user_id);

async fn registration_with_device_id_uses_that_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    let reply = api
        .register_with(json!({
            "username": "alice",
            "password": "sUp3r-secret",
            "device_id": "ALICEPHONE",
            "initial_device_display_name": "Alice's phone",
        }))
        .await;

    let body = reply.expect_ok();
    assert_eq!(body["device_id"], "ALICEPHONE", "{reply:?}");
    let alice = api.session_from(body, "sUp3r-secret", &reply);
    let device = alice.get("/devices/ALICEPHONE").await;
    let device = device.expect_ok();
    assert_eq!(device["device_id"], "ALICEPHONE");
    assert_eq!(device["display_name"], "Alice's phone");
}
both_backends!(registration_with_device_id_uses_that_device);

async fn inhibit_login_registers_without_a_session(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    let reply = api
        .register_with(json!({
            "username": "alice",
            "password": "sUp3r-secret",
            "inhibit_login": true,
        }))
        .await;

    let body = reply.expect_ok();
    assert_eq!(body["user_id"], hs.user_id("alice"));
    // "If true, an access_token and device_id should not be returned."
    assert!(body.get("access_token").is_none(), "{reply:?}");
    assert!(body.get("device_id").is_none(), "{reply:?}");
    assert!(body.get("refresh_token").is_none(), "{reply:?}");
    // The account exists: its password logs in.
    api.login("alice", "sUp3r-secret").await;
}
both_backends!(inhibit_login_registers_without_a_session);

async fn registration_with_refresh_token_returns_one_and_its_lifetime(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs
        .api()
        .register_with(json!({
            "username": "alice",
            "password": "sUp3r-secret",
            "refresh_token": true,
        }))
        .await;

    let body = reply.expect_ok();
    assert!(body["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{reply:?}");
    assert!(body["expires_in_ms"].as_u64().is_some_and(|ms| ms > 0), "{reply:?}");
}
both_backends!(registration_with_refresh_token_returns_one_and_its_lifetime);

async fn taken_username_is_refused_with_user_in_use_before_auth(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", "sUp3r-secret").await;

    // "Homeservers MUST perform the relevant checks and return these codes
    // before performing User-Interactive Authentication."
    api.post("/register", json!({"username": "alice", "password": "other-pass"}))
        .await
        .expect_error(400, "M_USER_IN_USE");
    // And the full dance does not get past it either.
    api.register_with(json!({"username": "alice", "password": "other-pass"})).await.expect_error(400, "M_USER_IN_USE");
}
both_backends!(taken_username_is_refused_with_user_in_use_before_auth);

async fn username_outside_the_grammar_is_mapped_or_refused(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    // "the server MUST either map the provided username onto a user_id in a
    // logical manner, or reject any username which does not comply to the
    // grammar with M_INVALID_USERNAME."
    for username in ["Bob", "has space", "bad!name", "caf\u{e9}", "a:b", "@x"] {
        let reply = api.register_with(json!({"username": username, "password": "sUp3r-secret"})).await;
        match reply.status {
            400 => reply.expect_error(400, "M_INVALID_USERNAME"),
            200 => assert_valid_user_id(&hs, reply.json["user_id"].as_str().unwrap_or_default()),
            _ => panic!("{username:?}: neither registered nor M_INVALID_USERNAME: {reply:?}"),
        }
    }
}
both_backends!(username_outside_the_grammar_is_mapped_or_refused);

async fn overlong_username_is_refused_with_invalid_username(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    // A user id "MUST NOT exceed 255 bytes", sigil and domain included.
    let username = "a".repeat(300);

    api.post("/register", json!({"username": username, "password": "sUp3r-secret"}))
        .await
        .expect_error(400, "M_INVALID_USERNAME");
    api.get(&format!("/register/available?username={username}")).await.expect_error(400, "M_INVALID_USERNAME");
}
both_backends!(overlong_username_is_refused_with_invalid_username);

async fn username_availability_reflects_registrations(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    let free = api.get("/register/available?username=alice").await;
    assert_eq!(free.expect_ok()["available"], true, "{free:?}");

    api.register("alice", "sUp3r-secret").await;
    api.get("/register/available?username=alice").await.expect_error(400, "M_USER_IN_USE");
    let other = api.get("/register/available?username=bob").await;
    assert_eq!(other.expect_ok()["available"], true, "{other:?}");
}
both_backends!(username_availability_reflects_registrations);

async fn guest_registration_is_refused_when_guests_are_off(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs.api().post("/register?kind=guest", json!({})).await;

    // 403: "a particular kind of account is not allowed".
    reply.expect_error_in(403, &["M_GUEST_ACCESS_FORBIDDEN", "M_FORBIDDEN"]);
}
both_backends!(guest_registration_is_refused_when_guests_are_off);

async fn disabled_registration_is_forbidden(backend: Backend) {
    let hs = Homeserver::builder(backend).env("NEXUS__REGISTRATION__ENABLED", "false").start().await;
    let api = hs.api();

    api.post("/register", json!({"username": "alice", "password": "sUp3r-secret"}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    // "The homeserver does not permit registration and thus all tokens are
    // considered invalid."
    api.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=abc")
        .await
        .expect_error(403, "M_FORBIDDEN");
}
both_backends!(disabled_registration_is_forbidden);

async fn registration_token_stage_is_required_when_tokens_are_configured(backend: Backend) {
    let hs = Homeserver::builder(backend).env("NEXUS__REGISTRATION__TOKENS", r#"["letmein"]"#).start().await;
    let api = hs.api();
    let request = json!({"username": "alice", "password": "sUp3r-secret"});

    let first = api.post("/register", request.clone()).await;
    let session = first.expect_uia_challenge(&["m.login.registration_token"]);
    let flows = first.json["flows"].as_array().cloned().unwrap_or_default();
    assert!(
        flows
            .iter()
            .all(|flow| flow["stages"].as_array().is_some_and(|s| s.contains(&json!("m.login.registration_token")))),
        "every flow must need the token: {first:?}"
    );

    // The dummy stage alone does not register.
    let mut dummy = request.clone();
    dummy["auth"] = json!({"type": "m.login.dummy", "session": session});
    let reply = api.post("/register", dummy).await;
    assert_eq!(reply.status, 401, "a dummy stage must not register: {reply:?}");

    // A wrong token is refused: 401 with an errcode, as a failed stage.
    let mut wrong = request.clone();
    wrong["auth"] = json!({"type": "m.login.registration_token", "token": "wrong", "session": session});
    let reply = api.post("/register", wrong).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    reply.expect_standard_error();

    let mut right = request.clone();
    right["auth"] = json!({"type": "m.login.registration_token", "token": "letmein", "session": session});
    let reply = api.post("/register", right).await;
    assert_eq!(reply.expect_ok()["user_id"], hs.user_id("alice"), "{reply:?}");
}
both_backends!(registration_token_stage_is_required_when_tokens_are_configured);

async fn registration_token_validity_reports_known_tokens(backend: Backend) {
    let hs = Homeserver::builder(backend).env("NEXUS__REGISTRATION__TOKENS", r#"["letmein"]"#).start().await;
    let api = hs.api();
    let validity = "/_matrix/client/v1/register/m.login.registration_token/validity";

    let known = api.get(&format!("{validity}?token=letmein")).await;
    assert_eq!(known.expect_ok()["valid"], true, "{known:?}");
    // "This should additionally be false if the token is not a recognised
    // token by the server."
    let unknown = api.get(&format!("{validity}?token=nope")).await;
    assert_eq!(unknown.expect_ok()["valid"], false, "{unknown:?}");
}
both_backends!(registration_token_validity_reports_known_tokens);

async fn registration_token_validity_is_false_without_configured_tokens(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs.api().get("/_matrix/client/v1/register/m.login.registration_token/validity?token=letmein").await;

    assert_eq!(reply.expect_ok()["valid"], Value::Bool(false), "{reply:?}");
}
both_backends!(registration_token_validity_is_false_without_configured_tokens);
