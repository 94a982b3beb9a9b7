//! Bad input never hurts the embedded SFU's signalling: no token, a forged
//! or expired one, one without `roomJoin`, a request that is not a
//! WebSocket, frames that are not protobuf, text frames, oversized
//! messages, a flood of joins past the room's limit, and a few hundred
//! randomly mutated messages — each ends in an HTTP refusal or a WebSocket
//! close with a reason, never a crash or a hang, and the server keeps
//! serving. Signalling only (no media), so no network namespace is needed.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nexus_complement::{Backend, Homeserver};
use nexus_sfu_load::sign_token;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const ROOM_LIMIT: usize = 5;
/// How long any answer may take.
const ANSWER: Duration = Duration::from_secs(5);

async fn server() -> Homeserver {
    Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__SFU__MAX_PARTICIPANTS_PER_ROOM", ROOM_LIMIT.to_string())
        .start()
        .await
}

/// A token signed with the server's own SFU secret (so any claims can be
/// tried), or with `secret` when given.
fn token(hs: &Homeserver, claims: Value, secret: Option<&str>) -> String {
    let own = std::fs::read_to_string(hs.data_path().join("sfu/api-secret")).expect("the SFU's API secret");
    sign_token(secret.unwrap_or(own.trim()), &claims)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn join_claims(identity: &str, room: &str) -> Value {
    json!({"iss": "nexus", "sub": identity, "nbf": now() - 10, "exp": now() + 600,
           "video": {"roomJoin": true, "room": room}})
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rtc_url(hs: &Homeserver, token: &str) -> String {
    format!("{}/_nexus/sfu/rtc?access_token={token}", hs.base_url().replacen("http://", "ws://", 1))
}

/// Connects; the HTTP status when the upgrade is refused.
async fn connect(hs: &Homeserver, token: &str) -> Result<Socket, u16> {
    match tokio_tungstenite::connect_async(rtc_url(hs, token)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("connecting: {e}"),
    }
}

/// The next frame, within [`ANSWER`].
async fn next(socket: &mut Socket) -> Option<Message> {
    match tokio::time::timeout(ANSWER, socket.next()).await {
        Ok(Some(Ok(message))) => Some(message),
        Ok(_) => None,
        Err(_) => panic!("no answer within {ANSWER:?}"),
    }
}

/// Connects and reads the join response (a binary `SignalResponse` whose
/// field 1, `join`, comes first).
async fn joined(hs: &Homeserver, identity: &str) -> Socket {
    let mut socket = connect(hs, &token(hs, join_claims(identity, "bad-input"), None)).await.expect("joins");
    match next(&mut socket).await {
        Some(Message::Binary(bytes)) => assert_eq!(bytes.first(), Some(&0x0a), "the first message is `join`"),
        other => panic!("expected the join response, got {other:?}"),
    }
    socket
}

/// Reads until the server closes; the close code and reason. Other
/// frames (a pong, the subscriber offer) may come first.
async fn closed(socket: &mut Socket) -> Option<(CloseCode, String)> {
    loop {
        match next(socket).await {
            Some(Message::Close(frame)) => return frame.map(|f| (f.code, f.reason.to_string())),
            Some(_) => continue,
            None => return None,
        }
    }
}

async fn still_serving(hs: &Homeserver) {
    let versions = hs.api().get("/_matrix/client/versions").await;
    assert_eq!(versions.status, 200, "the server stopped serving");
    assert!(hs.pid().is_some(), "the server is gone");
    assert!(!hs.log().contains("panicked"), "a panic: {}", hs.log_tail());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_do_not_grant_joining_are_refused() {
    let hs = server().await;
    let good = token(&hs, join_claims("alice", "r"), None);
    let forged = token(&hs, join_claims("alice", "r"), Some("not the secret"));
    let expired = token(
        &hs,
        json!({"iss": "nexus", "sub": "a", "exp": now() - 3600, "video": {"roomJoin": true, "room": "r"}}),
        None,
    );
    let no_join = token(&hs, json!({"iss": "nexus", "sub": "a", "exp": now() + 600, "video": {"room": "r"}}), None);
    let other_key = token(
        &hs,
        json!({"iss": "someone-else", "sub": "a", "exp": now() + 600, "video": {"roomJoin": true, "room": "r"}}),
        None,
    );
    for (what, bad) in
        [("forged", &forged), ("expired", &expired), ("without roomJoin", &no_join), ("another key", &other_key)]
    {
        assert_eq!(connect(&hs, bad).await.err(), Some(401), "a token {what}");
        let validate = hs.api().get(&format!("/_nexus/sfu/rtc/validate?access_token={bad}")).await;
        assert_eq!(validate.status, 401, "validate, a token {what}: {validate:?}");
    }
    for garbage in ["", "x", "a.b.c", "%FF%FE"] {
        assert_eq!(connect(&hs, garbage).await.err(), Some(401), "{garbage:?}");
    }
    let no_room =
        token(&hs, json!({"iss": "nexus", "sub": "a", "exp": now() + 600, "video": {"roomJoin": true}}), None);
    assert_eq!(connect(&hs, &no_room).await.err(), Some(400), "no room name");
    // Not a WebSocket: 404, as LiveKit answers.
    let plain = hs.api().get(&format!("/_nexus/sfu/rtc?access_token={good}")).await;
    assert_eq!(plain.status, 404, "{plain:?}");
    // The server API needs its own grants.
    let twirp = hs.api().post("/_nexus/sfu/twirp/livekit.RoomService/ListParticipants", json!({"room": "r"})).await;
    assert_eq!(twirp.status, 401, "{twirp:?}");
    still_serving(&hs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_close_the_connection_with_a_reason() {
    let hs = server().await;
    let mut socket = joined(&hs, "garbage").await;
    socket.send(Message::Binary(vec![0xff, 0xff, 0xff, 0xff].into())).await.unwrap();
    let (code, reason) = closed(&mut socket).await.expect("a close frame");
    assert_eq!((code, reason.as_str()), (CloseCode::Invalid, "a message was not a SignalRequest"));

    let mut socket = joined(&hs, "texter").await;
    socket.send(Message::Text("{\"ping\": 1}".into())).await.unwrap();
    let (code, _) = closed(&mut socket).await.expect("a close frame");
    assert_eq!(code, CloseCode::Unsupported);

    // Far past the 256 KiB limit: the connection ends; the server lives.
    let mut socket = joined(&hs, "huge").await;
    let _ = socket.send(Message::Binary(vec![0x0a; 2 * 1024 * 1024].into())).await;
    let _ = closed(&mut socket).await;

    // A well-formed ping still gets its pong on a fresh connection:
    // SignalRequest{ping_req (16): Ping{timestamp (1): 42}}.
    let mut socket = joined(&hs, "pinger").await;
    socket.send(Message::Binary(vec![0x82, 0x01, 0x02, 0x08, 42].into())).await.unwrap();
    let pong = loop {
        match next(&mut socket).await {
            // SignalResponse field 20, pong_resp: tag (20 << 3 | 2) = 0xa2 0x01.
            Some(Message::Binary(bytes)) if bytes.starts_with(&[0xa2, 0x01]) => break bytes,
            Some(Message::Binary(_)) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    };
    // Pong{last_ping_timestamp (1): 42, …}
    assert_eq!(&pong[3..5], &[0x08, 42], "{pong:?}");
    still_serving(&hs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_joins_past_the_room_limit_is_refused_cleanly() {
    let hs = server().await;
    let attempts = (0..ROOM_LIMIT * 4).map(|i| {
        let token = token(&hs, join_claims(&format!("flood-{i}"), "flooded"), None);
        let url = rtc_url(&hs, &token);
        async move { tokio_tungstenite::connect_async(url).await.expect("the upgrade").0 }
    });
    let mut sockets = futures_util::future::join_all(attempts).await;
    let mut admitted = 0;
    let mut refused = 0;
    for socket in &mut sockets {
        match next(socket).await {
            Some(Message::Binary(bytes)) if bytes.first() == Some(&0x0a) => admitted += 1,
            Some(Message::Close(Some(frame))) => {
                assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::Policy, "the room is full"));
                refused += 1;
            }
            other => panic!("neither a join nor a refusal: {other:?}"),
        }
    }
    assert_eq!((admitted, refused), (ROOM_LIMIT, ROOM_LIMIT * 3));
    // Those admitted leave; the room takes new participants again.
    drop(sockets);
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(joined(&hs, "after-the-flood").await);
    still_serving(&hs).await;
}

/// A valid message to mutate: SignalRequest{ping_req: Ping{timestamp}},
/// an offer with a short SDP, a trickle, an add_track, a subscription.
fn seeds() -> Vec<Vec<u8>> {
    fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut tag = (number << 3) | 2;
        while tag >= 0x80 {
            out.push((tag as u8) | 0x80);
            tag >>= 7;
        }
        out.push(tag as u8);
        let mut len = bytes.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(bytes);
        out
    }
    let sdp = field(2, b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");
    let offer = [field(1, b"offer"), sdp].concat();
    let trickle = field(1, br#"{"candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host","sdpMid":"0"}"#);
    let add_track = [field(1, b"cid-1"), field(2, b"mic")].concat();
    let subscription = field(1, b"TR_AMxxxxxxxxxx");
    vec![field(16, &[0x08, 42]), field(1, &offer), field(3, &trickle), field(4, &add_track), field(6, &subscription)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomly_mutated_messages_never_hurt_the_server() {
    let hs = server().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5f0);
    let seeds = seeds();
    for round in 0..150 {
        let mut socket = joined(&hs, &format!("fuzz-{round}")).await;
        for _ in 0..4 {
            let mut message = seeds[rng.gen_range(0..seeds.len())].clone();
            match rng.gen_range(0..4) {
                0 => {
                    for _ in 0..rng.gen_range(1..4) {
                        let at = rng.gen_range(0..message.len());
                        message[at] = rng.r#gen();
                    }
                }
                1 => message.truncate(rng.gen_range(0..message.len())),
                2 => message.extend((0..rng.gen_range(1..64)).map(|_| rng.r#gen::<u8>())),
                _ => message = (0..rng.gen_range(0..256)).map(|_| rng.r#gen::<u8>()).collect(),
            }
            if socket.send(Message::Binary(message.into())).await.is_err() {
                break;
            }
        }
        // Whatever the messages did, the connection answers or closes in
        // time (a leave ends it for good).
        let _ = socket.send(Message::Binary(vec![0x82, 0x01, 0x02, 0x08, 1].into())).await;
        let _ = tokio::time::timeout(ANSWER, socket.next()).await.expect("an answer or a close in time");
    }
    still_serving(&hs).await;
}
