//! Versions and well-known discovery — mirrors Complement's `apidoc_version`;
//! spec: client-server API "API Versions" (`GET /_matrix/client/versions`),
//! "Well-known URIs" (`/.well-known/matrix/client`), and server-server API
//! "Server discovery" (`/.well-known/matrix/server`).

use nexus_complement::{Backend, Homeserver, both_backends};

fn is_spec_version(version: &str) -> bool {
    // "Values will take the form vX.Y or rX.Y.Z in historical cases."
    let numbers = |s: &str, parts: usize| {
        let split: Vec<&str> = s.split('.').collect();
        split.len() == parts && split.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match version.as_bytes().first() {
        Some(b'v') => numbers(&version[1..], 2),
        Some(b'r') => numbers(&version[1..], 3),
        _ => false,
    }
}

async fn versions_lists_spec_versions(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs.api().get("/_matrix/client/versions").await;

    let body = reply.expect_ok();
    let versions = body["versions"].as_array().cloned().unwrap_or_default();
    assert!(!versions.is_empty(), "{reply:?}");
    for version in &versions {
        let version = version.as_str().unwrap_or_default();
        assert!(is_spec_version(version), "{version:?} is not vX.Y: {reply:?}");
    }
    if let Some(features) = body.get("unstable_features") {
        let features = features.as_object().expect("unstable_features is an object");
        assert!(features.values().all(|v| v.is_boolean()), "{reply:?}");
    }
}
both_backends!(versions_lists_spec_versions);

async fn versions_answers_with_an_access_token_too(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", "sUp3r-secret").await;

    // Security: "{}" or an access token.
    let reply = alice.get("/_matrix/client/versions").await;

    assert!(reply.expect_ok()["versions"].is_array(), "{reply:?}");
}
both_backends!(versions_answers_with_an_access_token_too);

async fn well_known_client_names_the_homeserver(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs.api().get("/.well-known/matrix/client").await;

    // `m.homeserver.base_url` is required; this server defaults it to
    // http://<server_name>/.
    let base_url = reply.expect_ok()["m.homeserver"]["base_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no m.homeserver.base_url: {reply:?}"))
        .to_owned();
    assert_eq!(base_url.trim_end_matches('/'), format!("http://{}", hs.server_name()), "{reply:?}");
}
both_backends!(well_known_client_names_the_homeserver);

async fn well_known_client_uses_the_configured_public_baseurl(backend: Backend) {
    let hs =
        Homeserver::builder(backend).env("NEXUS__SERVER__PUBLIC_BASEURL", "https://matrix.example.org/").start().await;

    let reply = hs.api().get("/.well-known/matrix/client").await;

    let base_url = reply.expect_ok()["m.homeserver"]["base_url"].as_str().unwrap_or_default().to_owned();
    assert_eq!(base_url.trim_end_matches('/'), "https://matrix.example.org", "{reply:?}");
}
both_backends!(well_known_client_uses_the_configured_public_baseurl);

async fn well_known_server_is_absent_without_delegation(backend: Backend) {
    let hs = Homeserver::start(backend).await;

    let reply = hs.api().get("/.well-known/matrix/server").await;

    assert_eq!(reply.status, 404, "{reply:?}");
}
both_backends!(well_known_server_is_absent_without_delegation);

async fn well_known_server_names_the_configured_delegation(backend: Backend) {
    let hs =
        Homeserver::builder(backend).env("NEXUS__SERVER__FEDERATION_ENDPOINT", "matrix.example.org:443").start().await;

    let reply = hs.api().get("/.well-known/matrix/server").await;

    assert_eq!(reply.expect_ok()["m.server"], "matrix.example.org:443", "{reply:?}");
}
both_backends!(well_known_server_names_the_configured_delegation);
