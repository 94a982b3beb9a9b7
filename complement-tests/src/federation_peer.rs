//! A tiny federation peer that owns an ed25519 key, for the forged-event
//! scenarios: it serves its key (`/_matrix/key/v2/server`) over TLS on
//! loopback with a certificate from the scenario's [`TestCa`], accepts
//! whatever the server under test sends it, and makes signed federation
//! requests (`X-Matrix`) — joins (`make_join` / `send_join`) and
//! transactions (`/send/{txnId}`) carrying PDUs it builds and signs itself,
//! correctly or not.
//!
//! The peer speaks just enough HTTP/1.1: one request per connection
//! (`Connection: close`), `Content-Length` or chunked bodies.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::client::{Api, Reply, enc, new_txn_id};
use crate::federation::TestCa;
use crate::signing::{KeyPair, sign_json, sign_pdu, x_matrix_authorization};

/// Requests larger than this are refused.
const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock after 1970").as_millis() as u64
}

/// One request the peer received.
#[derive(Clone, Debug)]
pub struct PeerRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// What a successful `make_join` + `send_join` gave the peer.
#[derive(Clone, Debug)]
pub struct PeerJoin {
    pub room_version: String,
    /// The peer's signed join event, as sent.
    pub event: Value,
    pub event_id: String,
    /// The `send_join` answer (`state`, `auth_chain`, ...).
    pub response: Value,
}

impl PeerJoin {
    pub fn depth(&self) -> u64 {
        self.event["depth"].as_u64().expect("the join has an integer depth")
    }
}

/// A status and JSON body, or `None` to leave the request to the peer.
pub type PeerAnswer = futures_util::future::BoxFuture<'static, Option<(u16, Value)>>;

/// What a scenario adds to the peer's answers (a room it plays the
/// resident of, say): `None` leaves the request to the peer's own.
pub trait PeerRoutes: Send + Sync {
    fn answer(&self, method: &str, target: &str, body: &Value) -> PeerAnswer;
}

/// See the module documentation.
pub struct SigningPeer {
    server_name: String,
    key: KeyPair,
    http: reqwest::Client,
    requests: Arc<Mutex<Vec<PeerRequest>>>,
    task: JoinHandle<()>,
    // Keeps the CA directory (the peer's certificate files) alive.
    _ca: TestCa,
}

impl Drop for SigningPeer {
    fn drop(&mut self) {
        self.task.abort();
        if std::thread::panicking() {
            let requests = self.requests();
            let summary: Vec<String> = requests.iter().map(|r| format!("{} {}", r.method, r.target)).collect();
            eprintln!("----- requests the signing peer {} received -----\n{summary:#?}", self.server_name);
        }
    }
}

impl SigningPeer {
    /// Starts the peer on a free loopback port; its server name is
    /// `127.0.0.1:<port>` and its key `ed25519:peer`.
    pub async fn start(ca: &TestCa) -> SigningPeer {
        Self::start_with(ca, |_| None).await
    }

    /// Starts the peer with routes of the scenario's, built from the
    /// peer's server name and key.
    pub async fn start_with(
        ca: &TestCa,
        routes: impl FnOnce(&PeerIdentity) -> Option<Arc<dyn PeerRoutes>>,
    ) -> SigningPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the signing peer on 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let server_name = format!("127.0.0.1:{port}");
        let (cert_path, key_path) = ca.issue(&format!("peer-{port}"));
        let acceptor = tls_acceptor(&cert_path, &key_path);

        let key = KeyPair::generate("ed25519:peer");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = routes(&PeerIdentity { server_name: server_name.clone(), key: key.clone() });
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            Arc::new(PeerState {
                server_name: server_name.clone(),
                key: key.clone(),
                requests: requests.clone(),
                routes,
            }),
        ));
        SigningPeer { server_name, key, http: ca.https_client(), requests, task, _ca: ca.clone() }
    }

    /// `127.0.0.1:<port>`.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// `@localpart:<server name>`.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// The peer's published signing key.
    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// Every request the peer has received so far.
    pub fn requests(&self) -> Vec<PeerRequest> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends a federation request to `destination` (whose federation
    /// listener is `base_url`) with an `X-Matrix` authorisation signed by
    /// `key` as `origin` (normally the peer's own key and name; scenarios
    /// forge other values). `path_and_query` must already be encoded: it is
    /// signed exactly as sent.
    #[allow(clippy::too_many_arguments)]
    pub async fn request_as(
        &self,
        key: &KeyPair,
        origin: &str,
        destination: &str,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Reply {
        let authorization = x_matrix_authorization(key, origin, destination, method.as_str(), path_and_query, body);
        let api = Api::with_http(self.http.clone(), base_url);
        let mut request = api.raw(method, path_and_query).header("Authorization", authorization);
        if let Some(body) = body {
            request = request.json(body);
        }
        api.send(request).await
    }

    /// A correctly signed request from the peer.
    pub async fn request(
        &self,
        destination: &str,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Reply {
        self.request_as(&self.key, &self.server_name, destination, base_url, method, path_and_query, body).await
    }

    /// Signs a PDU as the peer (content hash, signature) and returns its
    /// event id.
    pub fn sign_pdu(&self, pdu: &mut Value) -> String {
        sign_pdu(pdu, &self.server_name, &self.key)
    }

    /// `PUT /_matrix/federation/v1/send/{txnId}` with these PDUs.
    pub async fn send_transaction(&self, destination: &str, base_url: &str, pdus: Vec<Value>) -> Reply {
        let body = json!({
            "origin": self.server_name,
            "origin_server_ts": now_ms(),
            "pdus": pdus,
            "edus": [],
        });
        let path = format!("/_matrix/federation/v1/send/{}", enc(&new_txn_id()));
        self.request(destination, base_url, Method::PUT, &path, Some(&body)).await
    }

    /// Joins `user_id` (a peer user) to `room_id` through `destination`:
    /// `make_join` (offering room versions 11 and 12), fills in and signs
    /// the template, `send_join` (v2). Asserts both answer 200.
    pub async fn join(&self, destination: &str, base_url: &str, room_id: &str, user_id: &str) -> PeerJoin {
        self.join_with_query(destination, base_url, room_id, user_id, "").await
    }

    /// [`join`](Self::join) with a query on `send_join` (`?omit_members=true`).
    pub async fn join_with_query(
        &self,
        destination: &str,
        base_url: &str,
        room_id: &str,
        user_id: &str,
        send_join_query: &str,
    ) -> PeerJoin {
        let make_join = format!("/_matrix/federation/v1/make_join/{}/{}?ver=11&ver=12", enc(room_id), enc(user_id));
        let reply = self.request(destination, base_url, Method::GET, &make_join, None).await;
        let body = reply.expect_ok();
        let room_version = body["room_version"]
            .as_str()
            .unwrap_or_else(|| panic!("make_join without room_version: {reply:?}"))
            .to_owned();
        let mut event = body["event"].clone();
        assert!(event.is_object(), "make_join without an event template: {reply:?}");
        assert_eq!(event["type"], "m.room.member", "{reply:?}");
        assert_eq!(event["state_key"], user_id, "{reply:?}");
        assert_eq!(event["sender"], user_id, "{reply:?}");
        assert_eq!(event["content"]["membership"], "join", "{reply:?}");
        assert!(event["depth"].is_u64(), "the template needs a depth: {reply:?}");
        assert!(event["prev_events"].is_array() && event["auth_events"].is_array(), "{reply:?}");
        event["origin"] = json!(self.server_name);
        event["origin_server_ts"] = json!(now_ms());
        let event_id = self.sign_pdu(&mut event);

        let send_join =
            format!("/_matrix/federation/v2/send_join/{}/{}{send_join_query}", enc(room_id), enc(&event_id));
        let reply = self.request(destination, base_url, Method::PUT, &send_join, Some(&event)).await;
        let response = reply.expect_ok().clone();
        assert!(response["state"].is_array(), "send_join without a state array: {reply:?}");
        assert!(response["auth_chain"].is_array(), "send_join without an auth_chain array: {reply:?}");
        PeerJoin { room_version, event, event_id, response }
    }
}

/// The peer's name and key, for routes that sign as it.
pub struct PeerIdentity {
    pub server_name: String,
    pub key: KeyPair,
}

struct PeerState {
    server_name: String,
    key: KeyPair,
    requests: Arc<Mutex<Vec<PeerRequest>>>,
    routes: Option<Arc<dyn PeerRoutes>>,
}

impl PeerState {
    /// The signed key document (`/_matrix/key/v2/server`), valid for a day.
    fn key_document(&self) -> Value {
        let mut document = json!({
            "server_name": self.server_name,
            "verify_keys": {self.key.key_id.clone(): {"key": self.key.public_key_base64()}},
            "old_verify_keys": {},
            "valid_until_ts": now_ms() + 24 * 3600 * 1000,
        });
        sign_json(&mut document, &self.server_name, &self.key);
        document
    }

    fn answer(&self, method: &str, target: &str) -> (u16, Value) {
        let path = target.split('?').next().unwrap_or_default();
        match (method, path) {
            ("GET", p) if p == "/_matrix/key/v2/server" || p.starts_with("/_matrix/key/v2/server/") => {
                (200, self.key_document())
            }
            ("GET", "/_matrix/federation/v1/version") => {
                (200, json!({"server": {"name": "nexus-complement-signing-peer", "version": "0"}}))
            }
            // Whatever the server under test sends the peer is accepted.
            ("PUT", p) if p.starts_with("/_matrix/federation/v1/send/") => (200, json!({"pdus": {}})),
            ("GET", p) if p.starts_with("/_matrix/federation/v1/user/devices/") => {
                let user_id = percent_decode(&p["/_matrix/federation/v1/user/devices/".len()..]);
                (200, json!({"user_id": user_id, "stream_id": 0, "devices": []}))
            }
            ("POST", "/_matrix/federation/v1/user/keys/query") => (200, json!({"device_keys": {}})),
            _ => (404, json!({"errcode": "M_UNRECOGNIZED", "error": "the signing peer does not serve this"})),
        }
    }
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A TLS acceptor (HTTP/1.1) serving the certificate chain and key at
/// these paths, as [`TestCa::issue`] writes them: for the test's own HTTPS
/// servers (this peer, well-known hosts).
pub fn tls_acceptor(cert_path: &std::path::Path, key_path: &std::path::Path) -> tokio_rustls::TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&std::fs::read(cert_path).expect("read the certificate"))
            .collect::<Result<_, _>>()
            .expect("parse the certificate chain");
    let private_key =
        PrivateKeyDer::from_pem_slice(&std::fs::read(key_path).expect("read the key")).expect("parse the private key");
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .expect("the certificate and key");
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(tls))
}

async fn accept_loop(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, state: Arc<PeerState>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else {
                return;
            };
            let _ = tokio::time::timeout(Duration::from_secs(30), serve_one(tls, &state)).await;
        });
    }
}

async fn serve_one<S>(stream: S, state: &PeerState) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await? == 0 {
        return Ok(());
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut content_length = 0usize;
    let mut chunked = false;
    let mut head_size = request_line.len();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        head_size += line.len();
        if head_size > MAX_REQUEST {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).await?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut trailer = String::new();
                    if reader.read_line(&mut trailer).await? == 0 || trailer.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_REQUEST {
                return Ok(());
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).await?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).await?;
        }
    } else if content_length > 0 {
        if content_length > MAX_REQUEST {
            return Ok(());
        }
        body = vec![0; content_length];
        reader.read_exact(&mut body).await?;
    }
    let body_json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.requests.lock().unwrap_or_else(|p| p.into_inner()).push(PeerRequest {
        method: method.clone(),
        target: target.clone(),
        body: body_json.clone(),
    });

    let routed = match &state.routes {
        Some(routes) => routes.answer(&method, &target, &body_json).await,
        None => None,
    };
    let (status, answer) = routed.unwrap_or_else(|| state.answer(&method, &target));
    let text = answer.to_string();
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let mut stream = reader.into_inner();
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await?;
    Ok(())
}
