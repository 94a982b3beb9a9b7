//! A small client-server API client over reqwest, so scenarios read like prose:
//! `alice.get("/account/whoami")` rather than request building.
//!
//! Paths that start with `/_matrix`, `/.well-known`, `/_synapse` (the
//! peer Synapse's admin API) or `/_nexus` are used as they are; any other path is
//! relative to `/_matrix/client/v3`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The prefix of relative paths.
pub const CLIENT_V3: &str = "/_matrix/client/v3";

/// The prefix of the endpoints the spec defines under `v1` only (relations,
/// threads, timestamp_to_event, ...); such paths are written out in full.
pub const CLIENT_V1: &str = "/_matrix/client/v1";

/// An answer from the server: status, headers, and the body as JSON
/// (`Value::Null` when the body was empty or not JSON; `text` keeps it raw).
#[derive(Clone)]
pub struct Reply {
    /// What was asked, e.g. `POST /_matrix/client/v3/login`, for messages.
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} {}", self.request, self.status, self.text)
    }
}

impl Reply {
    /// The `errcode`, if the body has one.
    pub fn errcode(&self) -> Option<&str> {
        self.json.get("errcode").and_then(Value::as_str)
    }

    /// A header value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        &self.json
    }

    /// Asserts a 200 whose body is a JSON object, and returns it.
    #[track_caller]
    pub fn expect_ok(&self) -> &Value {
        let body = self.expect_status(200);
        assert!(body.is_object(), "a 200 without a JSON object body: {self:?}");
        body
    }

    /// Asserts a 200 whose body has a `chunk` array, and returns the array.
    #[track_caller]
    pub fn expect_chunk(&self) -> &Vec<Value> {
        self.expect_ok()["chunk"].as_array().unwrap_or_else(|| panic!("no chunk array: {self:?}"))
    }

    /// A string field of a 200 body, if present (asserting it is a string
    /// when it is there): pagination tokens such as `next_batch` or `end`.
    #[track_caller]
    pub fn token(&self, field: &str) -> Option<String> {
        self.expect_ok()
            .get(field)
            .map(|v| v.as_str().unwrap_or_else(|| panic!("{field} is not a string: {self:?}")).to_owned())
    }

    /// Asserts a standard error response (`errcode` and `error`, spec
    /// "Standard error response") with this status and errcode.
    #[track_caller]
    pub fn expect_error(&self, status: u16, errcode: &str) {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        self.expect_standard_error();
        assert_eq!(self.errcode(), Some(errcode), "unexpected errcode: {self:?}");
    }

    /// Asserts this status and one of these errcodes (where the spec leaves
    /// the server a choice), and returns the errcode.
    #[track_caller]
    pub fn expect_error_in(&self, status: u16, errcodes: &[&str]) -> &str {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        self.expect_standard_error();
        let errcode = self.errcode().unwrap_or_default();
        assert!(errcodes.contains(&errcode), "errcode {errcode} is not one of {errcodes:?}: {self:?}");
        errcode
    }

    /// Asserts the body is a standard error response: a JSON object with
    /// string `errcode` and `error` ("the keys error and errcode MUST always
    /// be present").
    #[track_caller]
    pub fn expect_standard_error(&self) {
        assert!(
            self.json.get("errcode").is_some_and(Value::is_string),
            "no string errcode in the error response: {self:?}"
        );
        assert!(
            self.json.get("error").is_some_and(Value::is_string),
            "no string error in the error response: {self:?}"
        );
    }

    /// Asserts that this is a user-interactive authentication challenge
    /// (401 with `flows` and a `session`) offering a flow made of exactly
    /// `stages`, and returns the session id.
    #[track_caller]
    pub fn expect_uia_challenge(&self, stages: &[&str]) -> String {
        assert_eq!(self.status, 401, "expected a UIA challenge: {self:?}");
        let flows =
            self.json["flows"].as_array().unwrap_or_else(|| panic!("a UIA 401 without a flows array: {self:?}"));
        assert!(
            flows.iter().any(|flow| flow["stages"]
                .as_array()
                .is_some_and(|s| s.iter().map(Value::as_str).eq(stages.iter().map(|x| Some(*x))))),
            "no flow with exactly the stages {stages:?}: {self:?}"
        );
        if let Some(params) = self.json.get("params") {
            assert!(params.is_object(), "UIA params is not an object: {self:?}");
        }
        self.json["session"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| panic!("a UIA 401 without a session: {self:?}"))
            .to_owned()
    }
}

/// Percent-encodes one path segment (user ids, device ids, ...).
pub fn enc(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A transaction id never used before by this test process (spec
/// "Transaction identifiers": clients change it for every new request).
pub fn new_txn_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("txn-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `/rooms/{roomId}` followed by `rest` (which starts with `/`), with the
/// room id percent-encoded.
pub fn room_path(room_id: &str, rest: &str) -> String {
    format!("/rooms/{}{rest}", enc(room_id))
}

/// `/_matrix/client/v1/rooms/{roomId}` followed by `rest` (which starts
/// with `/`), with the room id percent-encoded.
pub fn room_path_v1(room_id: &str, rest: &str) -> String {
    format!("{CLIENT_V1}/rooms/{}{rest}", enc(room_id))
}

/// An `m.relates_to` object with this `rel_type` pointing at `event_id`.
pub fn relates_to(rel_type: &str, event_id: &str) -> Value {
    json!({"rel_type": rel_type, "event_id": event_id})
}

/// The event of this type and state key in a `GET /rooms/{roomId}/state`
/// answer (a JSON array of events), if there is one.
pub fn find_state<'a>(state: &'a Value, event_type: &str, state_key: &str) -> Option<&'a Value> {
    state.as_array()?.iter().find(|e| e["type"] == event_type && e["state_key"] == state_key)
}

/// The `event_id`s of a list of events, in order.
pub fn event_ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["event_id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The body of a password login by `m.id.user` identifier.
pub fn password_login(user: &str, password: &str) -> Value {
    json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    })
}

/// A client-server API client without an access token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base_url: String,
}

impl Api {
    pub fn new(base_url: impl Into<String>) -> Api {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("build an HTTP client");
        Api { http, base_url: base_url.into().trim_end_matches('/').to_owned() }
    }

    /// A client over a prepared HTTP client (e.g. one that trusts the
    /// federation test CA, for `https://` base URLs).
    pub fn with_http(http: reqwest::Client, base_url: impl Into<String>) -> Api {
        Api { http, base_url: base_url.into().trim_end_matches('/').to_owned() }
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The absolute URL of `path` (see the module docs for relative paths).
    pub fn url(&self, path: &str) -> String {
        if ["/_matrix", "/.well-known", "/_synapse", "/_nexus"].iter().any(|p| path.starts_with(p)) {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}{CLIENT_V3}{path}", self.base_url)
        }
    }

    /// A request builder for cases the helpers do not cover (raw bodies,
    /// custom headers, OPTIONS).
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// Sends a built request and reads the answer. Panics on transport errors:
    /// a server that drops a connection instead of answering is a failure.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let request = request.build().expect("build the request");
        let (method, path) = (request.method().to_string(), request.url().path().to_owned());
        let query = request.url().query().map(str::to_owned);
        let what = format!("{} {}", request.method(), request.url().path());
        let what = match request.url().query() {
            Some(q) => format!("{what}?{q}"),
            None => what,
        };
        let response =
            self.http.execute(request).await.unwrap_or_else(|e| panic!("{what}: no answer from the server: {e:?}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_else(|e| panic!("{what}: could not read the body: {e:?}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        crate::openapi_log::record(&method, &path, query.as_deref(), &headers, status, &json);
        let reply = Reply { request: what, status, headers, json, text };
        assert!(reply.status < 500, "the server answered with a 5xx, which no scenario expects: {reply:?}");
        reply
    }

    /// Sends `method path` with an optional access token and JSON body.
    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut request = self.raw(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, None, Some(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, None, Some(&body)).await
    }

    /// `GET path` with `token` as bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    /// `POST path` with `token` as bearer token.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(&body)).await
    }

    /// `POST /register` with `body`, completing the `m.login.dummy` stage if
    /// the server asks for it. Returns the final answer (or the first one, if
    /// it was not a UIA challenge).
    pub async fn register_with(&self, body: Value) -> Reply {
        let first = self.post("/register", body.clone()).await;
        if first.status != 401 {
            return first;
        }
        let session = first.expect_uia_challenge(&["m.login.dummy"]);
        let mut body = body;
        body["auth"] = json!({"type": "m.login.dummy", "session": session});
        self.post("/register", body).await
    }

    /// Registers `localpart` with `password` through the dummy stage and
    /// returns the logged-in session (asserting every step).
    pub async fn register(&self, localpart: &str, password: &str) -> Session {
        let reply = self.register_with(json!({"username": localpart, "password": password})).await;
        let body = reply.expect_ok();
        self.session_from(body, password, &reply)
    }

    /// `POST /login` with `body`.
    pub async fn login_with(&self, body: Value) -> Reply {
        self.post("/login", body).await
    }

    /// Logs in by password (`user` is a full user id or a localpart).
    pub async fn login(&self, user: &str, password: &str) -> Session {
        let reply = self.login_with(password_login(user, password)).await;
        let body = reply.expect_ok();
        self.session_from(body, password, &reply)
    }

    /// A session from a 200 `/register` or `/login` body.
    #[track_caller]
    pub fn session_from(&self, body: &Value, password: &str, reply: &Reply) -> Session {
        let field =
            |name: &str| body[name].as_str().unwrap_or_else(|| panic!("no string {name} in {reply:?}")).to_owned();
        Session {
            api: self.clone(),
            user_id: field("user_id"),
            device_id: field("device_id"),
            access_token: field("access_token"),
            password: password.to_owned(),
            refresh_token: body["refresh_token"].as_str().map(str::to_owned),
        }
    }
}

/// A logged-in device: an access token plus what the scenario knows about it.
#[derive(Clone)]
pub struct Session {
    pub api: Api,
    pub user_id: String,
    pub device_id: String,
    pub access_token: String,
    /// The password the scenario believes is current.
    pub password: String,
    pub refresh_token: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Session({} / {})", self.user_id, self.device_id)
    }
}

impl Session {
    /// The localpart of the user id.
    pub fn localpart(&self) -> &str {
        let rest = self.user_id.trim_start_matches('@');
        rest.split_once(':').map_or(rest, |(local, _)| local)
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.api.request(method, path, Some(&self.access_token), body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None).await
    }

    /// `GET path` outside the no-5xx rule of [`Api::send`], for scenarios
    /// that expect the one 5xx the spec's behaviour allows: 502 when another
    /// server cannot be reached. Returns the status and the JSON body.
    pub async fn get_allowing_bad_gateway(&self, path: &str) -> (u16, Value) {
        let response = self
            .api
            .http()
            .get(self.api.url(path))
            .bearer_auth(&self.access_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: no answer from the server: {e:?}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
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

    pub async fn whoami(&self) -> Reply {
        self.get("/account/whoami").await
    }

    /// Asserts that this session's access token is still accepted.
    pub async fn expect_token_valid(&self) {
        let reply = self.whoami().await;
        let body = reply.expect_ok();
        assert_eq!(body["user_id"], self.user_id.as_str(), "{reply:?}");
    }

    /// Asserts that this session's access token is rejected as unknown.
    pub async fn expect_token_rejected(&self) {
        self.whoami().await.expect_error(401, "M_UNKNOWN_TOKEN");
    }

    /// The `m.login.password` auth dict for this user, identified by full
    /// user id, with `password`.
    pub fn password_auth(&self, session: &str, password: &str) -> Value {
        json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self.user_id},
            "password": password,
            "session": session,
        })
    }

    /// Sends `method path body` through user-interactive authentication with
    /// the `m.login.password` stage and this session's password: first
    /// without `auth` (asserting the challenge offers `[m.login.password]`),
    /// then with it. Returns the final answer.
    pub async fn with_password_uia(&self, method: Method, path: &str, body: Value) -> Reply {
        let password = self.password.clone();
        self.with_password_uia_as(method, path, body, &password).await
    }

    /// Like [`with_password_uia`](Self::with_password_uia) with an explicit
    /// password (e.g. a wrong one).
    pub async fn with_password_uia_as(&self, method: Method, path: &str, body: Value, password: &str) -> Reply {
        let first = self.request(method.clone(), path, Some(&body)).await;
        let session = first.expect_uia_challenge(&["m.login.password"]);
        let mut body = body;
        body["auth"] = self.password_auth(&session, password);
        self.request(method, path, Some(&body)).await
    }

    /// Logs in again as this user (a new device), with the current password.
    pub async fn login_again(&self) -> Session {
        self.api.login(&self.user_id, &self.password).await
    }
}

/// Rooms: thin wrappers over the room endpoints. The ones named after an
/// action (`create_room`, `join`, `send_message`, ...) assert success and
/// return what the scenario needs next; scenarios that expect a refusal use
/// `post`/`put`/`get` with [`room_path`] directly.
impl Session {
    /// `POST /createRoom` with `body`; asserts a 200 with a `!`-room id and
    /// returns it.
    pub async fn create_room(&self, body: Value) -> String {
        let reply = self.post("/createRoom", body).await;
        let room_id = reply.expect_ok()["room_id"]
            .as_str()
            .unwrap_or_else(|| panic!("createRoom without a string room_id: {reply:?}"))
            .to_owned();
        assert!(room_id.starts_with('!'), "a room id starts with '!': {reply:?}");
        room_id
    }

    /// `POST /join/{roomIdOrAlias}`; asserts a 200 and returns its `room_id`.
    pub async fn join(&self, room_id_or_alias: &str) -> String {
        let reply = self.post(&format!("/join/{}", enc(room_id_or_alias)), json!({})).await;
        reply.expect_ok()["room_id"]
            .as_str()
            .unwrap_or_else(|| panic!("join without a string room_id: {reply:?}"))
            .to_owned()
    }

    /// `POST /rooms/{roomId}/invite` for `user_id`; asserts a 200.
    pub async fn invite(&self, room_id: &str, user_id: &str) {
        self.post(&room_path(room_id, "/invite"), json!({"user_id": user_id})).await.expect_ok();
    }

    /// `POST /rooms/{roomId}/leave`; asserts a 200.
    pub async fn leave(&self, room_id: &str) {
        self.post(&room_path(room_id, "/leave"), json!({})).await.expect_ok();
    }

    /// `PUT /rooms/{roomId}/send/{eventType}/{txnId}` with a fresh txn id.
    pub async fn send_event_reply(&self, room_id: &str, event_type: &str, content: Value) -> Reply {
        let path = room_path(room_id, &format!("/send/{}/{}", enc(event_type), enc(&new_txn_id())));
        self.put(&path, content).await
    }

    /// Sends a message event; asserts a 200 with a `$`-event id and returns it.
    pub async fn send_event(&self, room_id: &str, event_type: &str, content: Value) -> String {
        let reply = self.send_event_reply(room_id, event_type, content).await;
        expect_event_id(&reply)
    }

    /// Sends an `m.room.message` with `msgtype: m.text` and this body.
    pub async fn send_message(&self, room_id: &str, body: &str) -> String {
        self.send_event(room_id, "m.room.message", json!({"msgtype": "m.text", "body": body})).await
    }

    /// `PUT /rooms/{roomId}/state/{eventType}/{stateKey}`.
    pub async fn set_state_reply(&self, room_id: &str, event_type: &str, state_key: &str, content: Value) -> Reply {
        let path = room_path(room_id, &format!("/state/{}/{}", enc(event_type), enc(state_key)));
        self.put(&path, content).await
    }

    /// Sets a state event; asserts a 200 with a `$`-event id and returns it.
    pub async fn set_state(&self, room_id: &str, event_type: &str, state_key: &str, content: Value) -> String {
        let reply = self.set_state_reply(room_id, event_type, state_key, content).await;
        expect_event_id(&reply)
    }

    /// `GET /rooms/{roomId}/state/{eventType}/{stateKey}` (the content).
    pub async fn get_state(&self, room_id: &str, event_type: &str, state_key: &str) -> Reply {
        self.get(&room_path(room_id, &format!("/state/{}/{}", enc(event_type), enc(state_key)))).await
    }

    /// `GET /rooms/{roomId}/state`; asserts a 200 with a JSON array and
    /// returns it.
    pub async fn room_state(&self, room_id: &str) -> Value {
        let reply = self.get(&room_path(room_id, "/state")).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.json.is_array(), "GET /state must answer a JSON array: {reply:?}");
        reply.json.clone()
    }

    /// The content of a state event that must exist.
    pub async fn state_content(&self, room_id: &str, event_type: &str, state_key: &str) -> Value {
        self.get_state(room_id, event_type, state_key).await.expect_ok().clone()
    }

    /// `GET /rooms/{roomId}/event/{eventId}`.
    pub async fn get_event(&self, room_id: &str, event_id: &str) -> Reply {
        self.get(&room_path(room_id, &format!("/event/{}", enc(event_id)))).await
    }

    /// `PUT /rooms/{roomId}/redact/{eventId}/{txnId}` with a fresh txn id.
    pub async fn redact(&self, room_id: &str, event_id: &str, body: Value) -> Reply {
        let path = room_path(room_id, &format!("/redact/{}/{}", enc(event_id), enc(&new_txn_id())));
        self.put(&path, body).await
    }

    /// Sends an event of `event_type` whose content is `content` plus an
    /// `m.relates_to` of `rel_type` to `parent`; asserts a 200 and returns
    /// the event id.
    pub async fn send_relation(
        &self,
        room_id: &str,
        event_type: &str,
        rel_type: &str,
        parent: &str,
        content: Value,
    ) -> String {
        let mut content = content;
        content["m.relates_to"] = relates_to(rel_type, parent);
        self.send_event(room_id, event_type, content).await
    }

    /// `GET /rooms/{roomId}/context/{eventId}?{query}` (`query` without the
    /// `?`, may be empty).
    pub async fn context(&self, room_id: &str, event_id: &str, query: &str) -> Reply {
        let path = room_path(room_id, &format!("/context/{}", enc(event_id)));
        if query.is_empty() { self.get(&path).await } else { self.get(&format!("{path}?{query}")).await }
    }

    /// `GET /rooms/{roomId}/messages?{query}` (`query` without the `?`).
    pub async fn messages(&self, room_id: &str, query: &str) -> Reply {
        self.get(&format!("{}?{query}", room_path(room_id, "/messages"))).await
    }

    /// Pages through `/messages` in direction `dir` (`b` or `f`) from the
    /// latest (`b`) or earliest (`f`) visible event, `limit` events at a
    /// time, following `end` until the server leaves it out ("Clients should
    /// continue to paginate until no `end` property is returned"), and
    /// returns every event in the order served. `filter` is a
    /// RoomEventFilter, if any.
    pub async fn paginate_all(&self, room_id: &str, dir: &str, limit: u32, filter: Option<&Value>) -> Vec<Value> {
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..200 {
            let mut query = format!("dir={dir}&limit={limit}");
            if let Some(filter) = filter {
                query.push_str(&format!("&filter={}", enc(&filter.to_string())));
            }
            if let Some(from) = &from {
                query.push_str(&format!("&from={}", enc(from)));
            }
            let reply = self.messages(room_id, &query).await;
            let body = reply.expect_ok();
            assert!(body["start"].is_string(), "/messages must have a string start: {reply:?}");
            let chunk = body["chunk"].as_array().unwrap_or_else(|| panic!("/messages without a chunk: {reply:?}"));
            assert!(chunk.len() <= limit as usize, "more events than the limit: {reply:?}");
            events.extend(chunk.iter().cloned());
            match body.get("end").and_then(Value::as_str) {
                Some(end) => from = Some(end.to_owned()),
                None => return events,
            }
        }
        panic!("/messages in {room_id} (dir={dir}) still returned an end token after 200 pages");
    }

    /// `GET /joined_rooms`; asserts a 200 and returns the room ids.
    pub async fn joined_rooms(&self) -> Vec<String> {
        let reply = self.get("/joined_rooms").await;
        let rooms = reply.expect_ok()["joined_rooms"]
            .as_array()
            .unwrap_or_else(|| panic!("joined_rooms without a joined_rooms array: {reply:?}"));
        rooms
            .iter()
            .map(|r| r.as_str().unwrap_or_else(|| panic!("a non-string room id: {reply:?}")).to_owned())
            .collect()
    }

    /// This user's `membership` in the room per the requester's view of the
    /// `m.room.member` state (`None` when there is no such event).
    pub async fn membership_of(&self, room_id: &str, user_id: &str) -> Option<String> {
        let reply = self.get_state(room_id, "m.room.member", user_id).await;
        match reply.status {
            404 => None,
            _ => Some(
                reply.expect_ok()["membership"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a member event without membership: {reply:?}"))
                    .to_owned(),
            ),
        }
    }
}

/// Asserts a 200 whose body has a `$`-prefixed `event_id`, and returns it.
#[track_caller]
pub fn expect_event_id(reply: &Reply) -> String {
    let event_id =
        reply.expect_ok()["event_id"].as_str().unwrap_or_else(|| panic!("no string event_id in {reply:?}")).to_owned();
    assert!(event_id.starts_with('$'), "an event id starts with '$': {reply:?}");
    event_id
}
