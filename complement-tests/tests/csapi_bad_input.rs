//! Malformed requests, unknown endpoints and CORS — mirrors Complement's
//! `unknown_endpoints`, `apidoc_request_encoding` and `invalid`; spec:
//! client-server API "API Standards", "Standard error response", "Common
//! error codes", "Web Browser Clients".
//!
//! Every request here goes through the harness client, which fails the test
//! on any 5xx: malformed input is the client's fault, never a server error.

use nexus_complement::{Backend, Homeserver, Method, Reply, both_backends, password_login};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

fn comma_list_contains(list: &str, item: &str) -> bool {
    list.trim() == "*" || list.split(',').any(|entry| entry.trim().eq_ignore_ascii_case(item))
}

async fn unknown_endpoints_are_unrecognized_404(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    for path in [
        "/_matrix/client/v3/no_such_endpoint",
        "/_matrix/client/v3/account/no_such_thing",
        "/_matrix/client/v1/no_such_endpoint",
        "/_matrix/client/unstable/org.example.nothing",
        "/_matrix/media/v3/no_such_endpoint",
        "/_matrix/federation/v1/no_such_endpoint",
        "/_matrix/key/v2/no_such_endpoint",
    ] {
        // "expected to be returned with a 404 HTTP status code if the endpoint
        // is not implemented".
        api.get(path).await.expect_error(404, "M_UNRECOGNIZED");
        api.post(path, json!({})).await.expect_error(404, "M_UNRECOGNIZED");
    }
}
both_backends!(unknown_endpoints_are_unrecognized_404);

async fn known_endpoint_with_wrong_method_is_unrecognized_405(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    // "or a 405 HTTP status code if the endpoint is implemented, but the
    // incorrect HTTP method is used."
    for (method, path) in [
        (Method::DELETE, "/login"),
        (Method::PUT, "/register"),
        (Method::GET, "/logout"),
        (Method::POST, "/account/whoami"),
        (Method::PATCH, "/devices"),
        (Method::POST, "/_matrix/client/versions"),
    ] {
        api.request(method, path, None, Some(&json!({}))).await.expect_error(405, "M_UNRECOGNIZED");
    }
}
both_backends!(known_endpoint_with_wrong_method_is_unrecognized_405);

async fn body_that_is_not_json_is_not_json(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;

    let bodies: [&[u8]; 4] = [
        b"this is not json",
        b"{\"type\": \"m.login.password\",",
        // "All JSON data, in requests or responses, must be encoded using UTF-8."
        b"{\"type\": \"m.login.password\", \"password\": \"\xff\xfe\"}",
        b"",
    ];
    for body in bodies {
        let login = api
            .send(api.raw(Method::POST, "/login").header("Content-Type", "application/json").body(body.to_vec()))
            .await;
        login.expect_error(400, "M_NOT_JSON");

        let displayname = api
            .send(
                api.raw(Method::PUT, &format!("/profile/{}/displayname", nexus_complement::enc(&alice.user_id)))
                    .bearer_auth(&alice.access_token)
                    .header("Content-Type", "application/json")
                    .body(body.to_vec()),
            )
            .await;
        displayname.expect_error(400, "M_NOT_JSON");
    }
}
both_backends!(body_that_is_not_json_is_not_json);

async fn json_of_the_wrong_shape_is_bad_json(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    // "Request contained valid JSON, but it was malformed in some way, e.g.
    // missing required keys, invalid values for keys."
    for body in [
        json!([]),
        json!("a string"),
        json!(42),
        json!({"type": 42, "password": PASSWORD}),
        json!({"type": "m.login.password", "identifier": "alice", "password": PASSWORD}),
    ] {
        api.login_with(body).await.expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM"]);
    }
    // A missing required key may also be reported as M_MISSING_PARAM.
    api.login_with(json!({"password": PASSWORD})).await.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM"]);
    api.post("/refresh", json!({})).await.expect_error_in(400, &["M_BAD_JSON", "M_MISSING_PARAM"]);
    api.post("/register", json!({"username": ["alice"]}))
        .await
        .expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM"]);
}
both_backends!(json_of_the_wrong_shape_is_bad_json);

async fn authenticated_endpoints_reject_bad_json_too(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    alice
        .put(&format!("/devices/{}", alice.device_id), json!({"display_name": ["not", "a", "string"]}))
        .await
        .expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM"]);
    alice
        .post("/account/password", json!({"new_password": 12345}))
        .await
        .expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM"]);
    alice
        .post("/delete_devices", json!({"devices": "PHONE"}))
        .await
        .expect_error_in(400, &["M_BAD_JSON", "M_INVALID_PARAM"]);
}
both_backends!(authenticated_endpoints_reject_bad_json_too);

async fn malformed_parameters_are_client_errors(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;

    // Each is the client's mistake: a 4xx standard error, never a 5xx.
    let replies: Vec<Reply> = vec![
        api.get("/register/available").await,
        api.get("/_matrix/client/v1/register/m.login.registration_token/validity").await,
        alice.get("/profile/not-a-user-id").await,
        alice.get("/profile/not-a-user-id/displayname").await,
        alice.put("/profile/not-a-user-id/displayname", json!({"displayname": "x"})).await,
        api.login_with(json!({
            "type": "m.login.password",
            "identifier": {"type": "org.example.unknown_identifier"},
            "password": PASSWORD,
        }))
        .await,
        api.post("/register?kind=overlord", json!({})).await,
    ];
    for reply in replies {
        assert!((400..500).contains(&reply.status), "expected a 4xx: {reply:?}");
        reply.expect_standard_error();
    }
}
both_backends!(malformed_parameters_are_client_errors);

async fn body_over_the_configured_limit_is_too_large(backend: Backend) {
    let hs = Homeserver::builder(backend).env("NEXUS__LISTENERS__MAX_REQUEST_BYTES", "4096").start().await;
    let api = hs.api();
    let padding = "x".repeat(16 * 1024);

    api.login_with(json!({"type": "m.login.password", "user": "alice", "password": padding}))
        .await
        .expect_error(413, "M_TOO_LARGE");
    // Below the limit the same endpoint answers normally.
    api.login_with(password_login("alice", PASSWORD)).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(body_over_the_configured_limit_is_too_large);

async fn body_over_the_default_limit_is_too_large(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    // The default limit is 1 MiB.
    let padding = "x".repeat(1024 * 1024 + 1024);

    alice
        .put(&format!("/devices/{}", alice.device_id), json!({"display_name": padding}))
        .await
        .expect_error(413, "M_TOO_LARGE");
}
both_backends!(body_over_the_default_limit_is_too_large);

async fn cors_preflight_allows_any_origin(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    for path in ["/login", "/account/whoami", "/devices/SOMEDEVICE"] {
        let reply = api
            .send(
                api.raw(Method::OPTIONS, path)
                    .header("Origin", "https://app.example.org")
                    .header("Access-Control-Request-Method", "POST")
                    .header("Access-Control-Request-Headers", "authorization,content-type"),
            )
            .await;

        // The server "MUST NOT perform any logic defined for the endpoints
        // when approached with an OPTIONS request" — so no 401 for whoami.
        assert!(reply.status == 200 || reply.status == 204, "OPTIONS {path}: {reply:?}");
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "{reply:?}");
        let methods = reply.header("access-control-allow-methods").unwrap_or_default();
        for method in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
            assert!(comma_list_contains(methods, method), "{method} not allowed: {reply:?}");
        }
        let headers = reply.header("access-control-allow-headers").unwrap_or_default();
        for header in ["Authorization", "Content-Type"] {
            assert!(comma_list_contains(headers, header), "{header} not allowed: {reply:?}");
        }
    }
}
both_backends!(cors_preflight_allows_any_origin);

async fn responses_carry_cors_and_json_headers(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();

    let replies = [
        api.get("/_matrix/client/versions").await,
        api.get("/login").await,
        api.get("/account/whoami").await,
        api.get("/_matrix/client/v3/no_such_endpoint").await,
        api.login_with(password_login("nobody", PASSWORD)).await,
    ];
    for reply in replies {
        // CORS headers "on all requests".
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "{reply:?}");
        // "Servers must include a Content-Type header of application/json for
        // all JSON responses."
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "content-type {content_type:?}: {reply:?}");
        assert!(reply.json.is_object(), "not a JSON object: {reply:?}");
    }
}
both_backends!(responses_carry_cors_and_json_headers);

/// `createRoom`, the joins and the membership actions answer a 4xx to any
/// body shape (the harness fails any 5xx): wrong types in every field the
/// spec defines, nested garbage, and bodies that are not objects.
async fn room_creation_and_membership_never_fail_on_body_shapes(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let room = nexus_complement::enc(&room_id);
    let garbage =
        [json!(null), json!(true), json!(-1), json!(1.5), json!("x"), json!([]), json!({}), json!([{"a": 1}])];
    let create_fields = [
        "visibility",
        "room_alias_name",
        "name",
        "topic",
        "invite",
        "invite_3pid",
        "room_version",
        "creation_content",
        "initial_state",
        "preset",
        "is_direct",
        "power_level_content_override",
    ];
    for field in create_fields {
        for value in &garbage {
            let reply = alice.post("/createRoom", json!({ field: value })).await;
            assert!(reply.status == 200 || (400..500).contains(&reply.status), "{field}={value}: {reply:?}");
        }
    }
    for value in &garbage {
        for body in [value.clone(), json!({"reason": value}), json!({"user_id": value, "reason": value})] {
            for path in [
                format!("/join/{room}"),
                format!("/rooms/{room}/join"),
                format!("/rooms/{room}/invite"),
                format!("/rooms/{room}/kick"),
                format!("/rooms/{room}/ban"),
                format!("/rooms/{room}/unban"),
                format!("/knock/{room}"),
            ] {
                let reply = alice.post(&path, body.clone()).await;
                assert!(reply.status < 500, "{path} {body}: {reply:?}");
            }
        }
    }
}
both_backends!(room_creation_and_membership_never_fail_on_body_shapes);
