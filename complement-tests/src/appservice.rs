//! Application services from the outside: a [`FakeAppservice`] the server
//! under test pushes transactions to and queries (spec: application service
//! API), a [`RegistrationFile`] in the YAML bridges generate, and [`Ghost`],
//! requests made with the `as_token` while masquerading as a user.
//!
//! The fake appservice is a plain tokio listener on `127.0.0.1:0` (the HTTP
//! reading is the push gateway's). It records every request; transactions
//! are answered with the next planned status (200 `{}` by default), other
//! requests by a handler a scenario may set (404 `M_NOT_FOUND` without one),
//! which may itself call the homeserver before answering — as a bridge
//! creating a room on an alias query does.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{Api, Reply, enc};
use crate::push_gateway::{read_request, reason};

/// One request the appservice received.
#[derive(Clone, Debug)]
pub struct AppserviceRequest {
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// The status it was answered with (`None`: the connection was dropped).
    pub status: Option<u16>,
    /// When its body had been read (delivery times in the benchmark).
    pub received_at: Instant,
}

impl AppserviceRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The transaction id of a `PUT /_matrix/app/v1/transactions/{txnId}`.
    pub fn txn_id(&self) -> Option<&str> {
        if self.method != "PUT" {
            return None;
        }
        self.path.split('?').next()?.strip_prefix("/_matrix/app/v1/transactions/")
    }

    pub fn is_transaction(&self) -> bool {
        self.txn_id().is_some()
    }

    /// The `events` of a transaction (empty otherwise).
    pub fn events(&self) -> Vec<Value> {
        self.body["events"].as_array().cloned().unwrap_or_default()
    }
}

pub type Handler = Arc<dyn Fn(AppserviceRequest) -> BoxFuture<'static, (u16, Value)> + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TransactionReply {
    Status(u16),
    /// Close the connection without answering.
    HangUp,
}

struct State {
    requests: Vec<AppserviceRequest>,
    planned: VecDeque<TransactionReply>,
    default: TransactionReply,
    handler: Option<Handler>,
}

struct Shared {
    state: Mutex<State>,
    changed: watch::Sender<usize>,
}

/// An appservice for tests. Dropping it stops it.
pub struct FakeAppservice {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FakeAppservice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAppservice {
    pub async fn start() -> FakeAppservice {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the appservice on 127.0.0.1:0");
        Self::on(listener)
    }

    /// Listens on a given listener (to come back on the same port).
    pub fn on(listener: TcpListener) -> FakeAppservice {
        let addr = listener.local_addr().expect("the appservice's address");
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                planned: VecDeque::new(),
                default: TransactionReply::Status(200),
                handler: None,
            }),
            changed,
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        FakeAppservice { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `n` transactions with `reply`.
    pub fn plan(&self, n: usize, reply: TransactionReply) {
        self.shared.state.lock().unwrap().planned.extend(std::iter::repeat_n(reply, n));
    }

    /// How transactions are answered once the plan is used up.
    pub fn set_default(&self, reply: TransactionReply) {
        self.shared.state.lock().unwrap().default = reply;
    }

    /// Answers every request that is not a transaction.
    pub fn set_handler(
        &self,
        handler: impl Fn(AppserviceRequest) -> BoxFuture<'static, (u16, Value)> + Send + Sync + 'static,
    ) {
        self.shared.state.lock().unwrap().handler = Some(Arc::new(handler));
    }

    pub fn requests(&self) -> Vec<AppserviceRequest> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    pub fn transactions(&self) -> Vec<AppserviceRequest> {
        self.requests().into_iter().filter(AppserviceRequest::is_transaction).collect()
    }

    /// Every event of every acknowledged (200) transaction, in order.
    pub fn delivered_events(&self) -> Vec<Value> {
        self.transactions().into_iter().filter(|t| t.status == Some(200)).flat_map(|t| t.events()).collect()
    }

    /// Waits until `done` holds for the requests so far; panics after
    /// `timeout`, naming `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[AppserviceRequest]) -> bool,
    ) -> Vec<AppserviceRequest> {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                panic!("the appservice did not receive {what} within {timeout:?}; it received: {requests:#?}");
            }
        }
    }

    /// Waits until an acknowledged transaction carried the event `event_id`
    /// and returns that event.
    pub async fn wait_for_event(&self, event_id: &str, timeout: Duration) -> Value {
        let acked =
            |r: &AppserviceRequest| r.status == Some(200) && r.events().iter().any(|e| e["event_id"] == event_id);
        let requests = self.wait_until(&format!("the event {event_id}"), timeout, |rs| rs.iter().any(&acked)).await;
        let transaction = requests.into_iter().find(|r| acked(r)).expect("waited for");
        transaction.events().into_iter().find(|e| e["event_id"] == event_id).expect("waited for")
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_connection(stream, shared.clone()));
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut stream = BufReader::new(stream);
    loop {
        let Some((method, path, headers, raw_body)) = read_request(&mut stream).await else { return };
        let mut request = AppserviceRequest {
            method,
            path,
            headers,
            body: serde_json::from_slice(&raw_body).unwrap_or(Value::Null),
            status: None,
            received_at: Instant::now(),
        };
        let reply = if request.is_transaction() {
            let mut state = shared.state.lock().unwrap();
            match state.planned.pop_front().unwrap_or(state.default) {
                TransactionReply::Status(status) if (200..300).contains(&status) => Some((status, json!({}))),
                TransactionReply::Status(status) => {
                    Some((status, json!({"errcode": "M_UNKNOWN", "error": format!("planned failure {status}")})))
                }
                TransactionReply::HangUp => None,
            }
        } else {
            let handler = shared.state.lock().unwrap().handler.clone();
            match handler {
                Some(handler) => Some(handler(request.clone()).await),
                // A healthy appservice answers pings (MSC2659).
                None if request.path.split('?').next() == Some("/_matrix/app/v1/ping") => Some((200, json!({}))),
                None => Some((404, json!({"errcode": "M_NOT_FOUND", "error": "nothing here"}))),
            }
        };
        request.status = reply.as_ref().map(|(status, _)| *status);
        shared.state.lock().unwrap().requests.push(request);
        shared.changed.send_modify(|n| *n += 1);
        let Some((status, body)) = reply else { return };
        let body = body.to_string();
        let head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reason(status),
            body.len()
        );
        let out = stream.get_mut();
        if out.write_all(head.as_bytes()).await.is_err() || out.write_all(body.as_bytes()).await.is_err() {
            return;
        }
        let _ = out.flush().await;
    }
}

/// A registration file, as a bridge would generate it.
#[derive(Clone, Debug)]
pub struct RegistrationFile {
    pub id: String,
    pub url: Option<String>,
    pub as_token: String,
    pub hs_token: String,
    pub sender_localpart: String,
    /// Regex of the user namespace (exclusive).
    pub users: String,
    /// Regex of the alias namespace (exclusive).
    pub aliases: String,
    pub receive_ephemeral: bool,
    pub msc4190: bool,
    pub msc3202: bool,
    pub protocols: Vec<String>,
}

impl RegistrationFile {
    /// A bridge `id` with ghosts `@{id}_*` and aliases `#{id}_*`.
    pub fn new(id: &str, url: Option<String>) -> RegistrationFile {
        RegistrationFile {
            id: id.to_owned(),
            url,
            as_token: format!("as_token_{id}_{}", crate::client::new_txn_id()),
            hs_token: format!("hs_token_{id}_{}", crate::client::new_txn_id()),
            sender_localpart: format!("{id}bot"),
            users: format!("@{id}_.*"),
            aliases: format!("#{id}_.*"),
            receive_ephemeral: false,
            msc4190: false,
            msc3202: false,
            protocols: Vec::new(),
        }
    }

    pub fn yaml(&self) -> String {
        let url = self.url.as_ref().map_or("null".to_owned(), |u| format!("'{u}'"));
        let protocols: Vec<String> = self.protocols.iter().map(|p| format!("'{p}'")).collect();
        format!(
            "id: '{id}'\nurl: {url}\nas_token: '{as_token}'\nhs_token: '{hs_token}'\nsender_localpart: '{sender}'\n\
             rate_limited: false\nnamespaces:\n  users:\n    - exclusive: true\n      regex: '{users}'\n  aliases:\n    - exclusive: true\n      regex: '{aliases}'\n  rooms: []\n\
             protocols: [{protocols}]\nreceive_ephemeral: {eph}\nde.sorunome.msc2409.push_ephemeral: {eph}\n\
             io.element.msc4190: {msc4190}\norg.matrix.msc3202: {msc3202}\nsome_bridge_key: {{nested: [1, 2]}}\n",
            id = self.id,
            as_token = self.as_token,
            hs_token = self.hs_token,
            sender = self.sender_localpart,
            users = self.users,
            aliases = self.aliases,
            protocols = protocols.join(", "),
            eph = self.receive_ephemeral,
            msc4190 = self.msc4190,
            msc3202 = self.msc3202,
        )
    }

    /// Writes the YAML to `dir/{id}.yaml` and returns the path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.yaml", self.id));
        std::fs::write(&path, self.yaml()).expect("write the registration file");
        path
    }
}

/// The value of `NEXUS__APPSERVICE__REGISTRATION_FILES` for these files.
pub fn registration_files_env(paths: &[PathBuf]) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| format!("\"{}\"", p.display())).collect();
    format!("[{}]", quoted.join(", "))
}

/// Requests with an appservice's `as_token`, as one of its users (and
/// optionally one of their devices).
#[derive(Clone)]
pub struct Ghost {
    pub api: Api,
    pub as_token: String,
    pub user_id: String,
    pub device_id: Option<String>,
}

impl Ghost {
    pub fn new(api: Api, as_token: &str, user_id: &str) -> Ghost {
        Ghost { api, as_token: as_token.to_owned(), user_id: user_id.to_owned(), device_id: None }
    }

    /// The same user acting through `device_id` (MSC3202's query name when
    /// `unstable`, MSC4326's otherwise).
    pub fn on_device(&self, device_id: &str) -> Ghost {
        Ghost { device_id: Some(device_id.to_owned()), ..self.clone() }
    }

    fn path(&self, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut path = format!("{path}{separator}user_id={}", enc(&self.user_id));
        if let Some(device) = &self.device_id {
            path.push_str(&format!("&org.matrix.msc3202.device_id={}", enc(device)));
        }
        path
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.api.request(method, &self.path(path), Some(&self.as_token), body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(&body)).await
    }

    pub async fn delete(&self, path: &str, body: Value) -> Reply {
        self.request(Method::DELETE, path, Some(&body)).await
    }

    /// `POST /register` with `m.login.application_service` for this user.
    pub async fn register(&self, inhibit_login: bool) -> Reply {
        let localpart = self.user_id.trim_start_matches('@').split(':').next().unwrap_or_default().to_owned();
        let body =
            json!({"type": "m.login.application_service", "username": localpart, "inhibit_login": inhibit_login});
        self.api.request(Method::POST, "/register", Some(&self.as_token), Some(&body)).await
    }

    pub async fn create_room(&self, body: Value) -> String {
        let reply = self.post("/createRoom", body).await;
        reply.expect_ok()["room_id"].as_str().expect("room_id").to_owned()
    }

    pub async fn send_message(&self, room_id: &str, body: &str) -> String {
        let path = crate::client::room_path(room_id, &format!("/send/m.room.message/{}", crate::client::new_txn_id()));
        let reply = self.put(&path, json!({"msgtype": "m.text", "body": body})).await;
        reply.expect_ok()["event_id"].as_str().expect("event_id").to_owned()
    }
}
