//! Bad input never hurts: every admin route, the account moderation and
//! the export endpoints, given malformed bodies, wrong types, absurd query
//! parameters and identifiers that are not identifiers, answer with a 4xx
//! and a Matrix error body — never a 5xx.

use super::*;

/// Bodies that are wrong in different ways.
fn bad_bodies() -> Vec<Option<&'static str>> {
    vec![
        None,
        Some("{"),
        Some("[]"),
        Some("\"text\""),
        Some(r#"{"block": "yes", "purge": 3, "user_id": 7, "locked": "no", "suspended": [], "suspend": {}}"#),
        Some(r#"{"new_room_user_id": "not a user", "valid_until_ms": -1, "messages": 5, "seconds": -3}"#),
        Some(r#"{"new_password": 12, "admin": "true", "deactivated": 1, "erase": "x", "user_type": 5}"#),
    ]
}

async fn malformed_requests_get_errors_not_failures(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let room = alice.create_room(json!({})).await;
    let user = enc(&alice.user_id);
    let room_enc = enc(&room);
    let space = root.post("/_nexus/client/v1/servers", json!({"name": "Bad input"})).await;
    let space = enc(space.expect_ok()["server_id"].as_str().unwrap());
    let routes: Vec<(reqwest::Method, String)> = {
        use reqwest::Method;
        let a = "/_synapse/admin";
        vec![
            (Method::PUT, format!("{a}/v2/users/{user}")),
            (Method::PUT, format!("{a}/v2/users/not-a-user")),
            (Method::POST, format!("{a}/v1/deactivate/{user}")),
            (Method::POST, format!("{a}/v1/reset_password/{user}")),
            (Method::PUT, format!("{a}/v1/suspend/{user}")),
            (Method::POST, format!("{a}/v1/users/{user}/login")),
            (Method::POST, format!("{a}/v1/users/{user}/shadow_ban")),
            (Method::POST, format!("{a}/v2/users/{user}/delete_devices")),
            (Method::PUT, format!("{a}/v1/rooms/{room_enc}/block")),
            (Method::DELETE, format!("{a}/v2/rooms/{room_enc}")),
            (Method::DELETE, format!("{a}/v1/rooms/%21%21%21")),
            (Method::POST, format!("{a}/v1/join/{room_enc}")),
            (Method::POST, format!("{a}/v1/join/%23%23%23")),
            (Method::POST, format!("{a}/v1/rooms/{room_enc}/make_room_admin")),
            (Method::POST, format!("{a}/v1/send_server_notice")),
            (Method::POST, format!("{a}/v1/registration_tokens/new")),
            (Method::PUT, format!("{a}/v1/registration_tokens/nothing")),
            (Method::POST, format!("{a}/v1/media/quarantine/not%20a%20server/x")),
            (Method::POST, format!("{a}/v1/media/delete?before_ts=abc")),
            (Method::POST, format!("{a}/v1/purge_media_cache?before_ts=-5")),
            (Method::POST, format!("{a}/v1/federation/destinations/%20/reset_connection")),
            (Method::PUT, format!("/_matrix/client/v1/admin/lock/{user}")),
            (Method::PUT, format!("/_matrix/client/v1/admin/suspend/not-a-user")),
            (Method::POST, "/_nexus/client/v1/export".to_owned()),
            (Method::POST, format!("/_nexus/client/v1/servers/{space}/members/{user}/purge")),
            (Method::POST, format!("/_nexus/client/v1/servers/{space}/members/{user}/ban")),
        ]
    };
    for (method, path) in &routes {
        for body in bad_bodies() {
            let mut request = root.api.raw(method.clone(), path).bearer_auth(&root.access_token);
            if let Some(body) = body {
                request = request.header("content-type", "application/json").body(body);
            }
            let response = request.send().await.expect("a response");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            assert!(status < 500, "{method} {path} with {body:?}: {status} {text}");
            if status >= 400 {
                let json: Value =
                    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
                assert!(json["errcode"].is_string(), "{method} {path} with {body:?}: {text}");
            }
        }
    }
    let queries = [
        "/_synapse/admin/v2/users?from=-1&limit=abc&order_by=%00&dir=x&guests=maybe",
        "/_synapse/admin/v1/rooms?from=99999999999999999999&limit=-1&order_by=x",
        "/_synapse/admin/v1/users/%40nobody%3Anowhere/media?order_by=x&from=q",
        "/_synapse/admin/v1/statistics/users/media?from_ts=5&until_ts=1&search_term=",
        "/_synapse/admin/v1/federation/destinations?limit=x&dir=z",
        "/_synapse/admin/v1/event_reports?from=-5&dir=q",
        "/_synapse/admin/v1/rooms/%21x/messages?from=garbage&dir=f&filter=%7B",
        "/_synapse/admin/v1/rooms/%21x/context/%24y?limit=-1",
        "/_synapse/admin/v1/rooms/%21x/timestamp_to_event?ts=-1",
        "/_synapse/admin/v1/fetch_event/not-an-event",
        "/_synapse/admin/v2/rooms/delete_status/%00",
        "/_synapse/admin/v1/username_available?username=%00",
        "/_matrix/client/v1/admin/lock/not-a-user",
        "/_nexus/client/v1/export/nothing/download",
    ];
    for path in queries {
        let reply = root.get(path).await;
        assert!((400..500).contains(&reply.status), "GET {path}: {reply:?}");
        assert!(reply.json["errcode"].is_string(), "GET {path}: {reply:?}");
    }
    let audit = root.get(&format!("/_nexus/client/v1/servers/{space}/audit_log?limit=abc&before=-1")).await;
    assert!((400..500).contains(&audit.status), "{audit:?}");
}
both_backends!(malformed_requests_get_errors_not_failures);
