//! Registration tokens: synapse-admin's tokens screen, and registration.

use super::*;

/// Registration tokens as synapse-admin's tokens screen manages them, and
/// as registration then uses them (`requires_token`): a token with one use
/// registers one account, then is no longer valid.
async fn registration_tokens_gate_registration(backend: Backend) {
    let hs = Homeserver::builder(backend)
        .env("NEXUS__REGISTRATION__SHARED_SECRET", SECRET)
        .env("NEXUS__REGISTRATION__REQUIRES_TOKEN", "true")
        .env("NEXUS__BOT_API__ENABLED", "false")
        .start()
        .await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let tokens = "/_synapse/admin/v1/registration_tokens";
    let made = root.post(&format!("{tokens}/new"), json!({"token": "once", "uses_allowed": 1})).await;
    assert_eq!(
        made.expect_ok().clone(),
        json!({"token": "once", "uses_allowed": 1, "pending": 0, "completed": 0, "expiry_time": null})
    );
    let random = root.post(&format!("{tokens}/new"), json!({"length": 24})).await;
    let random = random.expect_ok()["token"].as_str().unwrap().to_owned();
    assert_eq!(random.len(), 24);
    let again = root.post(&format!("{tokens}/new"), json!({"token": "once"})).await;
    assert_eq!((again.status, again.json["errcode"].as_str()), (400, Some("M_INVALID_PARAM")), "{again:?}");
    let bad = root.post(&format!("{tokens}/new"), json!({"token": "no spaces"})).await;
    assert_eq!(bad.status, 400, "{bad:?}");
    let past = root.post(&format!("{tokens}/new"), json!({"expiry_time": 1})).await;
    assert_eq!(past.status, 400, "{past:?}");

    // Registration asks for a token, takes a valid one, and counts its use.
    let validity =
        |token: &str| format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={token}");
    assert_eq!(api.get(&validity("once")).await.expect_ok()["valid"], true);
    assert_eq!(api.get(&validity("nope")).await.expect_ok()["valid"], false);
    let asked = api.post("/register", json!({"username": "erin", "password": PASSWORD})).await;
    assert_eq!(asked.status, 401, "{asked:?}");
    assert!(asked.json["flows"].to_string().contains("m.login.registration_token"), "{asked:?}");
    let session = asked.json["session"].as_str().unwrap().to_owned();
    let auth = json!({"type": "m.login.registration_token", "token": "once", "session": session});
    let registered = api.post("/register", json!({"username": "erin", "password": PASSWORD, "auth": auth})).await;
    assert_eq!(registered.status, 200, "{registered:?}");
    let used = root.get(&format!("{tokens}/once")).await;
    assert_eq!(used.expect_ok()["completed"], 1);
    assert_eq!(api.get(&validity("once")).await.expect_ok()["valid"], false);
    let spent = api.post("/register", json!({"username": "frank", "password": PASSWORD})).await;
    let session = spent.json["session"].as_str().unwrap().to_owned();
    let auth = json!({"type": "m.login.registration_token", "token": "once", "session": session});
    let refused = api.post("/register", json!({"username": "frank", "password": PASSWORD, "auth": auth})).await;
    assert_eq!(refused.status, 401, "a spent token fails the stage: {refused:?}");

    // Lists by validity, changes, deletes.
    let valid = root.get(&format!("{tokens}?valid=true")).await;
    let valid: Vec<String> = valid.expect_ok()["registration_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(valid, [random]);
    let changed = root.put(&format!("{tokens}/once"), json!({"uses_allowed": 2})).await;
    assert_eq!(changed.expect_ok()["uses_allowed"], 2);
    assert_eq!(api.get(&validity("once")).await.expect_ok()["valid"], true);
    root.request(reqwest::Method::DELETE, &format!("{tokens}/once"), None).await.expect_ok();
    let gone = root.get(&format!("{tokens}/once")).await;
    assert_eq!((gone.status, gone.json["errcode"].as_str()), (404, Some("M_NOT_FOUND")), "{gone:?}");
    let erin = api.login("erin", PASSWORD).await;
    let refused = erin.get(tokens).await;
    assert_eq!(refused.status, 403, "{refused:?}");
}
both_backends!(registration_tokens_gate_registration);
