//! Push notifications from the outside: a [`PushGateway`] that the server
//! under test delivers to (spec: push gateway API,
//! `POST /_matrix/push/v1/notify`), and [`Session`] helpers for pushers,
//! push rules, `/notifications` and the unread counts of `/sync`.
//!
//! The gateway is a plain tokio listener on `127.0.0.1:0` speaking just
//! enough HTTP/1.1 (keep-alive, `Content-Length` or chunked bodies) for a
//! homeserver's HTTP client. It records every request and answers each with
//! the next planned [`GatewayReply`] (by default `200 {"rejected": []}`), so
//! scenarios can make it fail, refuse or hang up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{Reply, Session, enc};
use crate::sync_client::Synced;

/// The path every push gateway serves (spec: push gateway API).
pub const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

/// Bodies larger than this are refused (nothing a homeserver sends is close).
const MAX_BODY: usize = 1024 * 1024;

/// How the gateway answers one request.
#[derive(Clone, Debug, PartialEq)]
pub enum GatewayReply {
    /// This status; 2xx with `{"rejected": []}`, others with a standard
    /// error body.
    Status(u16),
    /// This status and JSON body (e.g. `200 {"rejected": [pushkey]}`).
    Json(u16, Value),
    /// Close the connection without answering: a connection error for the
    /// homeserver.
    HangUp,
}

impl GatewayReply {
    /// The status the homeserver saw (`None` for a hang-up).
    pub fn status(&self) -> Option<u16> {
        match self {
            GatewayReply::Status(status) | GatewayReply::Json(status, _) => Some(*status),
            GatewayReply::HangUp => None,
        }
    }
}

/// One request the gateway received.
#[derive(Clone, Debug)]
pub struct GatewayRequest {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
    pub raw_body: String,
    /// When the request was complete.
    pub received: Instant,
    /// What the gateway answered.
    pub reply: GatewayReply,
}

impl GatewayRequest {
    /// A header value, if present (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `body.notification`.
    pub fn notification(&self) -> &Value {
        &self.body["notification"]
    }

    /// `notification.event_id`, if it is a string.
    pub fn event_id(&self) -> Option<&str> {
        self.notification()["event_id"].as_str()
    }

    /// The `pushkey`s of `notification.devices`.
    pub fn pushkeys(&self) -> Vec<String> {
        self.notification()["devices"]
            .as_array()
            .map(|devices| devices.iter().filter_map(|d| d["pushkey"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// Whether this is a notification about `event_id` for the device with
    /// `pushkey`.
    pub fn is_for(&self, event_id: &str, pushkey: &str) -> bool {
        self.event_id() == Some(event_id) && self.pushkeys().iter().any(|k| k == pushkey)
    }
}

struct State {
    requests: Vec<GatewayRequest>,
    planned: VecDeque<GatewayReply>,
    default: GatewayReply,
}

struct Shared {
    /// The one path answered with the planned replies (the gateway's
    /// notify path, or what another stand-in serves).
    path: String,
    state: Mutex<State>,
    /// Bumped after every recorded request.
    changed: watch::Sender<usize>,
}

/// A push gateway for tests. Dropping it stops it.
pub struct PushGateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for PushGateway {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts the
        // connection tasks.
        self.task.abort();
    }
}

impl PushGateway {
    /// Starts a gateway on `127.0.0.1:0` that answers `200` to everything.
    pub async fn start() -> PushGateway {
        Self::start_serving(NOTIFY_PATH).await
    }

    /// Starts a recording stand-in that answers POSTs to `path` as the
    /// gateway answers notifications (another service a homeserver calls,
    /// e.g. a LiveKit server's Twirp API).
    pub async fn start_serving(path: &str) -> PushGateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the push gateway on 127.0.0.1:0");
        let addr = listener.local_addr().expect("the push gateway's address");
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            state: Mutex::new(State {
                requests: Vec::new(),
                planned: VecDeque::new(),
                default: GatewayReply::Status(200),
            }),
            changed,
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        PushGateway { addr, shared, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The notify URL, for a pusher's `data.url`.
    pub fn url(&self) -> String {
        format!("{}{NOTIFY_PATH}", self.base_url())
    }

    /// Answers the next `n` requests (after those already planned) with
    /// `reply`.
    pub fn plan(&self, n: usize, reply: GatewayReply) {
        let mut state = self.shared.state.lock().unwrap();
        state.planned.extend(std::iter::repeat_n(reply, n));
    }

    /// Fails the next `n` requests with `500`.
    pub fn fail_next(&self, n: usize) {
        self.plan(n, GatewayReply::Status(500));
    }

    /// How requests are answered once the planned replies are used up.
    pub fn set_default(&self, reply: GatewayReply) {
        self.shared.state.lock().unwrap().default = reply;
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<GatewayRequest> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    /// The requests so far that notify `pushkey` about `event_id`.
    pub fn requests_for(&self, event_id: &str, pushkey: &str) -> Vec<GatewayRequest> {
        self.requests().into_iter().filter(|r| r.is_for(event_id, pushkey)).collect()
    }

    /// The requests so far for the device with `pushkey`.
    pub fn requests_for_pushkey(&self, pushkey: &str) -> Vec<GatewayRequest> {
        self.requests().into_iter().filter(|r| r.pushkeys().iter().any(|k| k == pushkey)).collect()
    }

    /// Waits until at least `n` requests have arrived and returns all of
    /// them; panics after `timeout` with what did arrive.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<GatewayRequest> {
        self.wait_until(&format!("{n} requests"), timeout, |requests| requests.len() >= n).await
    }

    /// Waits until a request notifies `pushkey` about `event_id` and returns
    /// it (the first such).
    pub async fn wait_for_event(&self, event_id: &str, pushkey: &str, timeout: Duration) -> GatewayRequest {
        let what = format!("a notification about {event_id} for pushkey {pushkey}");
        let requests =
            self.wait_until(&what, timeout, |requests| requests.iter().any(|r| r.is_for(event_id, pushkey))).await;
        requests.into_iter().find(|r| r.is_for(event_id, pushkey)).expect("the request waited for")
    }

    /// Waits until `done` holds for the requests so far and returns them;
    /// panics after `timeout`, naming `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[GatewayRequest]) -> bool,
    ) -> Vec<GatewayRequest> {
        // Subscribe before looking, so no request slips between the look and
        // the wait.
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                panic!("the push gateway did not receive {what} within {timeout:?}; it received: {requests:#?}");
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        // Reap finished connection tasks as we go.
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_connection(stream, shared.clone()));
    }
}

/// Serves requests on one connection until the peer closes it, a request
/// cannot be parsed, or the reply is a hang-up.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut stream = BufReader::new(stream);
    loop {
        let Some((method, path, headers, raw_body)) = read_request(&mut stream).await else { return };
        let served = path.split('?').next() == Some(shared.path.as_str());
        let notify = method == "POST" && served;
        let reply = if notify {
            let mut state = shared.state.lock().unwrap();
            state.planned.pop_front().unwrap_or_else(|| state.default.clone())
        } else {
            // Spec (push gateway API, "Unsupported endpoints"): 404 or 405
            // M_UNRECOGNIZED.
            let status = if served { 405 } else { 404 };
            GatewayReply::Json(status, json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}))
        };
        let raw_body = String::from_utf8_lossy(&raw_body).into_owned();
        let request = GatewayRequest {
            method,
            path,
            headers,
            body: serde_json::from_str(&raw_body).unwrap_or(Value::Null),
            raw_body,
            received: Instant::now(),
            reply: reply.clone(),
        };
        shared.state.lock().unwrap().requests.push(request);
        shared.changed.send_modify(|n| *n += 1);

        let (status, body) = match reply {
            GatewayReply::HangUp => return,
            GatewayReply::Json(status, body) => (status, body),
            GatewayReply::Status(status) if (200..300).contains(&status) => (status, json!({"rejected": []})),
            GatewayReply::Status(status) => {
                (status, json!({"errcode": "M_UNKNOWN", "error": format!("planned failure {status}")}))
            }
        };
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

pub(crate) type RawRequest = (String, String, Vec<(String, String)>, Vec<u8>);

/// Reads one HTTP/1.1 request; `None` at end of stream or on anything
/// unparseable.
pub(crate) async fn read_request(stream: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut line = String::new();
    // Tolerate blank lines between requests (RFC 9112 §2.2).
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();

    let mut headers = Vec::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());

    let chunked = header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(stream).await?
    } else {
        let length: usize = header("content-length").map_or(Some(0), |l| l.parse().ok())?;
        if length > MAX_BODY {
            return None;
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.ok()?;
        body
    };
    Some((method, path, headers, body))
}

async fn read_chunked(stream: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok()?;
        let size = usize::from_str_radix(line.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if stream.read_line(&mut line).await.ok()? == 0 || line.trim().is_empty() {
                    return Some(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return None;
        }
        let start = body.len();
        body.resize(start + size, 0);
        stream.read_exact(&mut body[start..]).await.ok()?;
        let mut crlf = [0; 2];
        stream.read_exact(&mut crlf).await.ok()?;
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A `POST /pushers/set` body for an HTTP pusher delivering to `url`
/// (`data` gets `url` added; pass `json!({})` for none).
pub fn http_pusher(url: &str, app_id: &str, pushkey: &str, data: Value) -> Value {
    let mut data = data;
    data["url"] = json!(url);
    json!({
        "pushkey": pushkey,
        "kind": "http",
        "app_id": app_id,
        "app_display_name": "Nexus Complement",
        "device_display_name": "Test Device",
        "lang": "en",
        "data": data,
    })
}

/// Normalises push rule actions for comparison by meaning (spec
/// "Actions"): the historical `dont_notify` and `coalesce` are dropped ("a
/// rule with `["dont_notify"]` actions MUST be equivalent to a rule with an
/// empty actions array"), a `highlight` tweak without a value becomes
/// `value: true`, and a `highlight` tweak of `false` is dropped (no highlight
/// tweak means false).
pub fn normalize_actions(actions: &Value) -> Vec<Value> {
    actions
        .as_array()
        .unwrap_or_else(|| panic!("actions is not an array: {actions}"))
        .iter()
        .filter(|a| *a != "dont_notify" && *a != "coalesce")
        .filter_map(|a| {
            if a["set_tweak"] == "highlight" {
                match a.get("value") {
                    None | Some(Value::Bool(true)) => Some(json!({"set_tweak": "highlight", "value": true})),
                    Some(Value::Bool(false)) => None,
                    Some(_) => Some(a.clone()),
                }
            } else {
                Some(a.clone())
            }
        })
        .collect()
}

/// Whether these actions notify (contain `notify`).
pub fn notifies(actions: &Value) -> bool {
    actions.as_array().is_some_and(|a| a.iter().any(|a| a == "notify"))
}

/// Whether these actions set the `highlight` tweak to true.
pub fn highlights(actions: &Value) -> bool {
    normalize_actions(actions).iter().any(|a| a["set_tweak"] == "highlight" && a["value"] == true)
}

/// Unread notification counts of one room (or thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    pub notifications: u64,
    pub highlights: u64,
}

impl Unread {
    pub const NONE: Unread = Unread { notifications: 0, highlights: 0 };

    pub fn new(notifications: u64, highlights: u64) -> Unread {
        Unread { notifications, highlights }
    }

    /// Reads `{notification_count, highlight_count}`; an absent object or
    /// field counts as zero, a present one must be a non-negative integer.
    #[track_caller]
    pub fn from_counts(counts: Option<&Value>) -> Unread {
        let Some(counts) = counts else { return Unread::NONE };
        assert!(counts.is_object(), "unread counts must be an object: {counts}");
        let field = |name: &str| {
            counts.get(name).map_or(0, |v| v.as_u64().unwrap_or_else(|| panic!("{name} is not a count: {counts}")))
        };
        let unread = Unread { notifications: field("notification_count"), highlights: field("highlight_count") };
        assert!(unread.highlights <= unread.notifications, "more highlights than notifications: {counts}");
        unread
    }
}

/// `rooms.join[room_id].unread_notifications` of a sync answer (zero when
/// absent). Panics if the room is not in `rooms.join`.
#[track_caller]
pub fn room_unread(synced: &Synced, room_id: &str) -> Unread {
    let room = synced.joined(room_id).unwrap_or_else(|| panic!("{room_id} is not in rooms.join: {:#}", synced.body));
    Unread::from_counts(room.get("unread_notifications"))
}

/// `rooms.join[room_id].unread_thread_notifications[root]` (zero when
/// absent: "If a thread does not have any notifications it can be omitted").
#[track_caller]
pub fn thread_unread(synced: &Synced, room_id: &str, root: &str) -> Unread {
    let room = synced.joined(room_id).unwrap_or_else(|| panic!("{room_id} is not in rooms.join: {:#}", synced.body));
    Unread::from_counts(room.get("unread_thread_notifications").and_then(|threads| threads.get(root)))
}

/// `filter=` for `/sync` with `unread_thread_notifications` on the timeline
/// filter (spec: RoomEventFilter).
pub fn thread_counts_filter() -> String {
    crate::sync_client::inline_filter(&json!({"room": {"timeline": {"unread_thread_notifications": true}}}))
}

/// Pushers, push rules and `/notifications`.
impl Session {
    /// `POST /pushers/set` with `body`.
    pub async fn set_pusher(&self, body: Value) -> Reply {
        self.post("/pushers/set", body).await
    }

    /// Adds an HTTP pusher delivering to `url` (asserting a 200).
    pub async fn add_pusher(&self, url: &str, app_id: &str, pushkey: &str, data: Value) {
        let reply = self.set_pusher(http_pusher(url, app_id, pushkey, data)).await;
        reply.expect_ok();
    }

    /// Deletes the pusher with this app id and pushkey (`kind: null`),
    /// asserting a 200.
    pub async fn delete_pusher(&self, app_id: &str, pushkey: &str) {
        let reply = self.set_pusher(json!({"kind": null, "app_id": app_id, "pushkey": pushkey})).await;
        reply.expect_ok();
    }

    /// `GET /pushers`: asserts a 200 and returns the `pushers` array (an
    /// absent array reads as empty: the field is not required).
    pub async fn pushers(&self) -> Vec<Value> {
        let reply = self.get("/pushers").await;
        match reply.expect_ok().get("pushers") {
            None => Vec::new(),
            Some(pushers) => pushers.as_array().unwrap_or_else(|| panic!("pushers is not an array: {reply:?}")).clone(),
        }
    }

    /// `/pushrules/global/{kind}/{ruleId}` followed by `rest` (`""`,
    /// `/enabled` or `/actions`).
    pub fn push_rule_path(kind: &str, rule_id: &str, rest: &str) -> String {
        format!("/pushrules/global/{}/{}{rest}", enc(kind), enc(rule_id))
    }

    /// `GET /pushrules/`: asserts a 200 and returns the `global` ruleset.
    pub async fn push_rules(&self) -> Value {
        let reply = self.get("/pushrules/").await;
        let global = &reply.expect_ok()["global"];
        assert!(global.is_object(), "GET /pushrules/ must have a global ruleset: {reply:?}");
        global.clone()
    }

    /// `GET /pushrules/global/{kind}/{ruleId}`.
    pub async fn get_push_rule(&self, kind: &str, rule_id: &str) -> Reply {
        self.get(&Session::push_rule_path(kind, rule_id, "")).await
    }

    /// `PUT /pushrules/global/{kind}/{ruleId}?{query}` (`query` may be
    /// empty) with `body`.
    pub async fn put_push_rule(&self, kind: &str, rule_id: &str, query: &str, body: Value) -> Reply {
        let path = Session::push_rule_path(kind, rule_id, "");
        let path = if query.is_empty() { path } else { format!("{path}?{query}") };
        self.put(&path, body).await
    }

    /// `DELETE /pushrules/global/{kind}/{ruleId}` (no body).
    pub async fn delete_push_rule(&self, kind: &str, rule_id: &str) -> Reply {
        self.request(Method::DELETE, &Session::push_rule_path(kind, rule_id, ""), None).await
    }

    /// `PUT .../enabled` with `{"enabled": enabled}`.
    pub async fn set_push_rule_enabled(&self, kind: &str, rule_id: &str, enabled: bool) -> Reply {
        self.put(&Session::push_rule_path(kind, rule_id, "/enabled"), json!({"enabled": enabled})).await
    }

    /// `PUT .../actions` with `{"actions": actions}`.
    pub async fn set_push_rule_actions(&self, kind: &str, rule_id: &str, actions: Value) -> Reply {
        self.put(&Session::push_rule_path(kind, rule_id, "/actions"), json!({"actions": actions})).await
    }

    /// `GET /notifications?{query}` (`query` may be empty).
    pub async fn notifications(&self, query: &str) -> Reply {
        if query.is_empty() {
            self.get("/notifications").await
        } else {
            self.get(&format!("/notifications?{query}")).await
        }
    }

    /// Every notification served with `query` (without `from`), following
    /// `next_token` until it is absent (or a page comes back empty), in the
    /// order served. Asserts each page's shape and `limit`.
    pub async fn all_notifications(&self, query: &str, limit: Option<usize>) -> Vec<Value> {
        let mut all = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..100 {
            let mut parts: Vec<String> = Vec::new();
            if !query.is_empty() {
                parts.push(query.to_owned());
            }
            if let Some(limit) = limit {
                parts.push(format!("limit={limit}"));
            }
            if let Some(from) = &from {
                parts.push(format!("from={}", enc(from)));
            }
            let reply = self.notifications(&parts.join("&")).await;
            let body = reply.expect_ok();
            let page = body["notifications"]
                .as_array()
                .unwrap_or_else(|| panic!("/notifications without a notifications array: {reply:?}"));
            if let Some(limit) = limit {
                assert!(page.len() <= limit, "more notifications than the limit: {reply:?}");
            }
            for notification in page {
                assert_notification_shape(notification);
            }
            all.extend(page.iter().cloned());
            match reply.token("next_token") {
                Some(next) if !page.is_empty() => from = Some(next),
                _ => return all,
            }
        }
        panic!("/notifications still returned a next_token after 100 pages");
    }
}

/// Asserts the required fields of one `/notifications` entry (spec:
/// `actions`, `event`, `read`, `room_id`, `ts`).
#[track_caller]
pub fn assert_notification_shape(notification: &Value) {
    assert!(notification["actions"].is_array(), "actions must be an array: {notification:#}");
    assert!(notification["read"].is_boolean(), "read must be a boolean: {notification:#}");
    assert!(notification["room_id"].as_str().is_some_and(|r| r.starts_with('!')), "room_id: {notification:#}");
    assert!(notification["ts"].is_u64(), "ts must be an integer timestamp: {notification:#}");
    let event = &notification["event"];
    for field in ["event_id", "type", "sender"] {
        assert!(event[field].is_string(), "the event must have a string {field}: {notification:#}");
    }
    assert!(event["content"].is_object(), "the event must have a content object: {notification:#}");
    assert!(event["origin_server_ts"].is_u64(), "the event must have an origin_server_ts: {notification:#}");
    if let Some(tag) = notification.get("profile_tag") {
        assert!(tag.is_string(), "profile_tag must be a string: {notification:#}");
    }
}

/// The event ids of `/notifications` entries, in order.
pub fn notified_event_ids(notifications: &[Value]) -> Vec<String> {
    notifications.iter().map(|n| n["event"]["event_id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// How long scenarios wait for a push to arrive.
pub const PUSH_WAIT: Duration = Duration::from_secs(20);
