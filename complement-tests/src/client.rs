//! A small client-server API client over reqwest, so scenarios read like prose:
//! `alice.get("/account/whoami")` rather than request building.
//!
//! Paths that start with `/_matrix` or `/.well-known` are used as they are;
//! any other path is relative to `/_matrix/client/v3`.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The prefix of relative paths.
pub const CLIENT_V3: &str = "/_matrix/client/v3";

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

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The absolute URL of `path` (see the module docs for relative paths).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/_matrix") || path.starts_with("/.well-known") {
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
