//! An HTTPS server for `/.well-known/matrix/server`, as a delegating
//! server's web host would run: on port 443 of a loopback address of its
//! own (127.0.0.0/8 is all loopback, so scenarios running in parallel do
//! not collide), with a certificate for its name, answering every request
//! with a configured status, headers and body, and counting requests (so
//! scenarios can see what was cached).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::federation::TestCa;
use crate::federation_peer::tls_acceptor;

/// What every request gets.
#[derive(Clone)]
pub struct WellKnownAnswer {
    pub status: u16,
    /// Extra header lines, e.g. `Cache-Control: max-age=1`.
    pub headers: Vec<String>,
    pub body: String,
}

impl WellKnownAnswer {
    /// A 200 delegating to `server` (`{"m.server": server}`).
    pub fn delegating_to(server: &str) -> Self {
        WellKnownAnswer { status: 200, headers: Vec::new(), body: serde_json::json!({"m.server": server}).to_string() }
    }
}

pub struct WellKnownServer {
    ip: Ipv4Addr,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl WellKnownServer {
    /// Serves `answer` on `<a free 127.x.y.z>:443` with a certificate for `name`.
    pub async fn start(ca: &TestCa, name: &str, answer: WellKnownAnswer) -> WellKnownServer {
        let (listener, ip) = loop {
            let ip = Ipv4Addr::new(127, rand::random::<u8>() | 1, rand::random(), rand::random::<u8>().max(2));
            if let Ok(listener) = TcpListener::bind((ip, 443)).await {
                break (listener, ip);
            }
        };
        let (cert_path, key_path) = ca.issue_for(&format!("well-known-{name}"), &[name]);
        let acceptor = tls_acceptor(&cert_path, &key_path);
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                let answer = answer.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else {
                        return;
                    };
                    let mut reader = BufReader::new(tls);
                    // The request head, up to the empty line; no body is read.
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line.trim_end().is_empty() => break,
                            Ok(_) => {}
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut head = format!("HTTP/1.1 {} X\r\nContent-Type: application/json\r\n", answer.status);
                    for header in &answer.headers {
                        head.push_str(header);
                        head.push_str("\r\n");
                    }
                    let response = format!(
                        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                        answer.body.len(),
                        answer.body
                    );
                    let mut stream = reader.into_inner();
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        WellKnownServer { ip, requests, task }
    }

    /// The address the server's name must resolve to.
    pub fn ip(&self) -> String {
        self.ip.to_string()
    }

    /// How many requests it answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for WellKnownServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
