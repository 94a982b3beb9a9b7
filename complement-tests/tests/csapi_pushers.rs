//! Pushers — spec: client-server API "Push Notifications", "Client
//! behaviour": `GET /pushers` and `POST /pushers/set` (create, update by
//! `app_id` + `pushkey`, `kind: null` deletes, `append`, validation).
//! Delivery is in `push_gateway_delivery.rs`.

use nexus_complement::push_gateway::{PushGateway, http_pusher};
use nexus_complement::{Backend, Homeserver, both_backends};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const APP_ID: &str = "org.example.nexus.tests";

const BAD_REQUEST: [&str; 5] = ["M_BAD_JSON", "M_MISSING_PARAM", "M_INVALID_PARAM", "M_NOT_JSON", "M_UNKNOWN"];

fn pushkeys(pushers: &[Value]) -> Vec<String> {
    let mut keys: Vec<String> = pushers.iter().map(|p| p["pushkey"].as_str().unwrap_or_default().to_owned()).collect();
    keys.sort();
    keys
}

async fn pushers_can_be_set_listed_and_deleted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let gateway = PushGateway::start().await;
    assert!(alice.pushers().await.is_empty(), "a new user has no pushers");

    let mut body = http_pusher(&gateway.url(), APP_ID, "key-1", json!({"format": "event_id_only", "com.example": 1}));
    body["profile_tag"] = json!("xyz");
    body["lang"] = json!("en-GB");
    let reply = alice.set_pusher(body.clone()).await;
    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");

    let pushers = alice.pushers().await;
    assert_eq!(pushers.len(), 1, "{pushers:#?}");
    let pusher = &pushers[0];
    for field in ["pushkey", "kind", "app_id", "app_display_name", "device_display_name", "profile_tag", "lang", "data"]
    {
        assert_eq!(pusher[field], body[field], "{field}: {pusher:#}");
    }

    // Another pushkey is another pusher; the same app_id and pushkey update
    // the pusher ("the pusher with this app_id and pushkey for this user is
    // updated").
    alice.add_pusher(&gateway.url(), APP_ID, "key-2", json!({})).await;
    let mut update = http_pusher(&gateway.url(), APP_ID, "key-1", json!({}));
    update["device_display_name"] = json!("Renamed");
    alice.set_pusher(update).await.expect_ok();
    let pushers = alice.pushers().await;
    assert_eq!(pushkeys(&pushers), ["key-1", "key-2"], "{pushers:#?}");
    let updated = pushers.iter().find(|p| p["pushkey"] == "key-1").unwrap();
    assert_eq!(updated["device_display_name"], "Renamed", "{updated:#}");
    // The same pushkey under another app is another pusher.
    alice.add_pusher(&gateway.url(), "org.example.other", "key-1", json!({})).await;
    assert_eq!(alice.pushers().await.len(), 3);

    // "If kind is null, the pusher with this app_id and pushkey for this
    // user is deleted."
    alice.delete_pusher(APP_ID, "key-1").await;
    let pushers = alice.pushers().await;
    assert_eq!(pushers.len(), 2, "{pushers:#?}");
    assert!(!pushers.iter().any(|p| p["app_id"] == APP_ID && p["pushkey"] == "key-1"), "{pushers:#?}");
}
both_backends!(pushers_can_be_set_listed_and_deleted);

async fn pushers_belong_to_their_user(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let gateway = PushGateway::start().await;
    alice.add_pusher(&gateway.url(), APP_ID, "alice-key", json!({})).await;

    assert!(bob.pushers().await.is_empty());
    // Deleting is scoped to the user too.
    bob.set_pusher(json!({"kind": null, "app_id": APP_ID, "pushkey": "alice-key"})).await;
    assert_eq!(pushkeys(&alice.pushers().await), ["alice-key"]);
    // Pushers belong to the user, not the access token.
    let other_device = alice.login_again().await;
    assert_eq!(pushkeys(&other_device.pushers().await), ["alice-key"]);
}
both_backends!(pushers_belong_to_their_user);

async fn same_pushkey_for_another_user_replaces_unless_appended(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let gateway = PushGateway::start().await;
    alice.add_pusher(&gateway.url(), APP_ID, "shared-key", json!({})).await;

    // append false (the default): "the homeserver must remove any other
    // pushers with the same App ID and pushkey for different users".
    bob.add_pusher(&gateway.url(), APP_ID, "shared-key", json!({})).await;
    assert!(alice.pushers().await.is_empty(), "alice's pusher for the same device is gone");
    assert_eq!(pushkeys(&bob.pushers().await), ["shared-key"]);

    // append true: "add another pusher with the given pushkey and App ID in
    // addition to any others with different user IDs".
    let mut body = http_pusher(&gateway.url(), APP_ID, "shared-key", json!({}));
    body["append"] = json!(true);
    alice.set_pusher(body).await.expect_ok();
    assert_eq!(pushkeys(&alice.pushers().await), ["shared-key"]);
    assert_eq!(pushkeys(&bob.pushers().await), ["shared-key"]);
}
both_backends!(same_pushkey_for_another_user_replaces_unless_appended);

async fn invalid_pushers_are_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let gateway = PushGateway::start().await;
    let good = http_pusher(&gateway.url(), APP_ID, "key", json!({}));
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };

    let bad = [
        // kind, app_id and pushkey are required; app_display_name,
        // device_display_name, lang and data are "Required if kind is not
        // null"; an http pusher's data "MUST contain url".
        without("kind"),
        without("app_id"),
        without("pushkey"),
        without("app_display_name"),
        without("device_display_name"),
        without("lang"),
        without("data"),
        with("data", json!({})),
        // "MUST be an HTTPS URL with a path of /_matrix/push/v1/notify."
        with("data", json!({"url": format!("{}/somewhere/else", gateway.base_url())})),
        with("data", json!({"url": "not a url"})),
        // "Max length, 512 bytes" / "Max length, 64 chars".
        with("pushkey", json!("k".repeat(513))),
        with("app_id", json!("a".repeat(65))),
        // PusherData's `format` is a string.
        http_pusher(&gateway.url(), APP_ID, "key", json!({"format": {}})),
        http_pusher(&gateway.url(), APP_ID, "key", json!({"format": 7})),
    ];
    let mut accepted = Vec::new();
    for body in bad {
        let reply = alice.set_pusher(body.clone()).await;
        if reply.status == 400 {
            reply.expect_error_in(400, &BAD_REQUEST);
        } else {
            accepted.push(format!("{body} -> {reply:?}"));
        }
    }
    assert!(accepted.is_empty(), "invalid pushers not refused with 400:\n{}", accepted.join("\n"));
    assert!(alice.pushers().await.is_empty(), "nothing was set");

    // The limits themselves are fine.
    let body = with("pushkey", json!("k".repeat(512)));
    let body = {
        let mut b = body;
        b["app_id"] = json!("a".repeat(64));
        b
    };
    alice.set_pusher(body).await.expect_ok();
    assert_eq!(alice.pushers().await.len(), 1);

    // A null `format` is no format: it is not echoed back as null, which
    // the schema of `GET /pushers` forbids.
    alice.set_pusher(http_pusher(&gateway.url(), APP_ID, "null-format", json!({"format": null}))).await.expect_ok();
    let pushers = alice.pushers().await;
    let stored = pushers.iter().find(|p| p["pushkey"] == "null-format").expect("the pusher was set");
    assert!(stored["data"].get("format").is_none(), "{stored:#}");
}
both_backends!(invalid_pushers_are_rejected);
