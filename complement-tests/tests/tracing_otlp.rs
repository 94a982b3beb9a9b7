//! Spans to an OpenTelemetry collector (`[logging] otlp_traces_endpoint`,
//! issue 25): the server sends OTLP over HTTP (protobuf) to a collector
//! this test runs, under the service name `nexus`, with a span per request
//! named by its path — and never the access token a client put in the
//! query string.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexus_complement::{Backend, Homeserver};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the collector received: (request target, content type, body).
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP collector: answers every POST with 200 and keeps it.
async fn collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let keep = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut header = String::new();
                        stream.read_line(&mut header).await.unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap_or((header, ""));
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap(),
                            "content-type" => content_type = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    keep.lock().unwrap().push((target, content_type, body));
                    let answer =
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if stream.get_mut().write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{address}/v1/traces"), received)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_an_otlp_collector_without_tokens() {
    let (endpoint, received) = collector().await;
    let hs = Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__LOGGING__OTLP_TRACES_ENDPOINT", &endpoint)
        // Batches leave every 200 ms instead of every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .start()
        .await;
    let alice = hs.api().register("alice", "sUp3r-secret").await;
    let whoami = format!("/_matrix/client/v3/account/whoami?access_token={}", alice.access_token);
    hs.api().get(&whoami).await.expect_ok();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all: Vec<u8> = received.lock().unwrap().iter().flat_map(|(_, _, body)| body.clone()).collect();
        if contains(&all, b"/_matrix/client/v3/account/whoami") {
            assert!(contains(&all, b"nexus"), "the spans are not under the service name nexus");
            assert!(!contains(&all, alice.access_token.as_bytes()), "an access token left the server in a span");
            break;
        }
        assert!(Instant::now() < deadline, "no span for the request reached the collector");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (target, content_type, _) in received.lock().unwrap().iter() {
        assert_eq!(target, "/v1/traces");
        assert_eq!(content_type, "application/x-protobuf", "OTLP/HTTP with protobuf");
    }
}
