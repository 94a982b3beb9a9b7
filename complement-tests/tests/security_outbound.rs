//! Server-side request forgery: a user chooses where the server connects
//! whenever a server name appears in a user id, alias or `mxc://` URI, and
//! with a pusher's URL. By default (the harness's loopback allowance put
//! back) those may not lead into the operator's network, and every failure
//! reads the same, so no user can scan internal ports through the server.

use std::net::TcpListener;

use nexus_complement::{Backend, Homeserver, enc};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

/// A loopback port that accepts connections (and one that refuses them),
/// to tell whether the server tried to connect.
fn listening_and_closed_ports() -> (TcpListener, u16, u16) {
    let listening = TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let open = listening.local_addr().unwrap().port();
    let closed = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    listening.set_nonblocking(true).unwrap();
    (listening, open, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_chosen_server_names_cannot_reach_internal_addresses() {
    let hs = Homeserver::builder(Backend::RocksDb).env("NEXUS__OUTBOUND__ALLOWED_IP_RANGES", "[]").start().await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let (listener, open, closed) = listening_and_closed_ports();

    let mut answers = Vec::new();
    for port in [open, closed] {
        for path in [
            format!("/profile/{}", enc(&format!("@a:127.0.0.1:{port}"))),
            format!("/_matrix/client/v1/media/download/127.0.0.1:{port}/x"),
            format!("/directory/room/{}", enc(&format!("#a:127.0.0.1:{port}"))),
        ] {
            let (status, body) = alice.get_allowing_bad_gateway(&path).await;
            assert!((400..500).contains(&status) || status == 502, "{path}: {status} {body}");
            answers.push((status, body["errcode"].clone(), body["error"].clone()));
        }
    }
    for path in ["/profile/@a:0", "/profile/@a:%5B::1%5D"] {
        let (status, body) = alice.get_allowing_bad_gateway(path).await;
        assert!((400..500).contains(&status) || status == 502, "{path}: {status} {body}");
    }

    // Nothing connected to the listening port.
    assert!(listener.accept().is_err(), "the server connected to an internal address");
    // An open port and a closed one read the same.
    assert_eq!(answers[..3], answers[3..], "open and closed internal ports are told apart: {answers:?}");
    for (_, _, error) in &answers {
        let text = error.as_str().unwrap_or_default();
        assert!(!text.contains("refused") && !text.contains("127.0.0.1"), "network detail reaches the client: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pusher_cannot_point_at_an_internal_address() {
    let hs = Homeserver::builder(Backend::RocksDb).env("NEXUS__OUTBOUND__ALLOWED_IP_RANGES", "[]").start().await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let (listener, open, _) = listening_and_closed_ports();
    alice
        .post(
            "/pushers/set",
            json!({
                "kind": "http", "app_id": "x", "pushkey": "k", "app_display_name": "x",
                "device_display_name": "x", "lang": "en",
                "data": {"url": format!("http://127.0.0.1:{open}/_matrix/push/v1/notify")},
            }),
        )
        .await
        .expect_ok();
    let room_id = bob.create_room(json!({"invite": [alice.user_id]})).await;
    alice.join(&room_id).await;
    bob.send_message(&room_id, "this would be pushed").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(listener.accept().is_err(), "the server pushed to an internal address");
}
