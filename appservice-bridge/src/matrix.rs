//! The homeserver, as the bridge reaches it: the client-server API with the
//! appservice's `as_token`, masquerading as its bot users (`?user_id=`), or
//! with a Nexus user's own token when the bridge acts for them.

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Homeserver {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:8008`.
    base: String,
    as_token: String,
}

/// A failed call: the homeserver's status and Matrix error code.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path} -> {status} {errcode}: {message}")]
pub struct MatrixError {
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub errcode: String,
    pub message: String,
}

pub fn enc(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Who a call acts as.
#[derive(Clone, Copy)]
pub enum As<'a> {
    /// The appservice masquerading as one of its users.
    Bot(&'a str),
    /// A user's own access token.
    Token(&'a str),
}

impl Homeserver {
    pub fn new(base: &str, as_token: &str) -> Result<Homeserver> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("the homeserver client")?;
        Ok(Homeserver { http, base: base.trim_end_matches('/').to_owned(), as_token: as_token.to_owned() })
    }

    pub async fn call(&self, who: As<'_>, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let (token, full) = match who {
            As::Bot(user_id) => {
                let separator = if path.contains('?') { '&' } else { '?' };
                (self.as_token.as_str(), format!("{path}{separator}user_id={}", enc(user_id)))
            }
            As::Token(token) => (token, path.to_owned()),
        };
        let mut request = self.http.request(method.clone(), format!("{}{full}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(MatrixError {
                method,
                path: path.to_owned(),
                status,
                errcode: answer["errcode"].as_str().unwrap_or("M_UNKNOWN").to_owned(),
                message: answer["error"].as_str().unwrap_or_default().to_owned(),
            }
            .into());
        }
        Ok(answer)
    }

    /// Registers one of the appservice's users (already registered is fine).
    pub async fn register(&self, localpart: &str) -> Result<()> {
        let body = json!({"type": "m.login.application_service", "username": localpart, "inhibit_login": true});
        let path = "/_matrix/client/v3/register";
        let request = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.as_token).json(&body);
        let response = request.send().await.context("register a bot user")?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 || answer["errcode"] == "M_USER_IN_USE" {
            return Ok(());
        }
        bail!("registering {localpart}: {status} {answer}")
    }

    /// The user a Nexus access token belongs to.
    pub async fn whoami(&self, token: &str) -> Result<String> {
        let answer = self.call(As::Token(token), Method::GET, "/_matrix/client/v3/account/whoami", None).await?;
        Ok(answer["user_id"].as_str().context("whoami without user_id")?.to_owned())
    }

    pub async fn joined_rooms(&self, user_id: &str) -> Result<Vec<String>> {
        let answer = self.call(As::Bot(user_id), Method::GET, "/_matrix/client/v3/joined_rooms", None).await?;
        Ok(answer["joined_rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect())
    }

    /// The room's whole current state, as events.
    pub async fn state(&self, who: As<'_>, room_id: &str) -> Result<Vec<Value>> {
        let path = format!("/_matrix/client/v3/rooms/{}/state", enc(room_id));
        match self.call(who, Method::GET, &path, None).await? {
            Value::Array(events) => Ok(events),
            other => bail!("state of {room_id} is not a list: {other}"),
        }
    }

    pub async fn join(&self, who: As<'_>, room_id: &str) -> Result<()> {
        let path = format!("/_matrix/client/v3/join/{}", enc(room_id));
        self.call(who, Method::POST, &path, Some(&json!({}))).await.map(drop)
    }

    pub async fn invite(&self, who: As<'_>, room_id: &str, user_id: &str) -> Result<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/invite", enc(room_id));
        match self.call(who, Method::POST, &path, Some(&json!({"user_id": user_id}))).await {
            Ok(_) => Ok(()),
            // Already a member or invited.
            Err(e)
                if e.downcast_ref::<MatrixError>()
                    .is_some_and(|m| m.status == 403 && m.message.contains("already")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sends a message event; its event id.
    pub async fn send(&self, who: As<'_>, room_id: &str, txn_id: &str, kind: &str, content: &Value) -> Result<String> {
        let path = format!("/_matrix/client/v3/rooms/{}/send/{}/{}", enc(room_id), enc(kind), enc(txn_id));
        let answer = self.call(who, Method::PUT, &path, Some(content)).await?;
        Ok(answer["event_id"].as_str().context("send without event_id")?.to_owned())
    }

    /// Sets one state event; its event id.
    pub async fn set_state(
        &self,
        who: As<'_>,
        room_id: &str,
        kind: &str,
        key: &str,
        content: &Value,
    ) -> Result<String> {
        let path = format!("/_matrix/client/v3/rooms/{}/state/{}/{}", enc(room_id), enc(kind), enc(key));
        let answer = self.call(who, Method::PUT, &path, Some(content)).await?;
        Ok(answer["event_id"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn event(&self, who: As<'_>, room_id: &str, event_id: &str) -> Result<Value> {
        let path = format!("/_matrix/client/v3/rooms/{}/event/{}", enc(room_id), enc(event_id));
        self.call(who, Method::GET, &path, None).await
    }

    /// Uploads a file as `who`; its `mxc://` URI.
    pub async fn upload(&self, who: As<'_>, filename: &str, content_type: &str, bytes: Vec<u8>) -> Result<String> {
        let As::Bot(user_id) = who else { bail!("uploads are made as a bot") };
        let url = format!("{}/_matrix/media/v3/upload?filename={}&user_id={}", self.base, enc(filename), enc(user_id));
        let request = self.http.post(url).bearer_auth(&self.as_token).header("content-type", content_type).body(bytes);
        let response = request.send().await.context("upload")?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(MatrixError {
                method: Method::POST,
                path: "/_matrix/media/v3/upload".to_owned(),
                status,
                errcode: answer["errcode"].as_str().unwrap_or("M_UNKNOWN").to_owned(),
                message: answer["error"].as_str().unwrap_or_default().to_owned(),
            }
            .into());
        }
        Ok(answer["content_uri"].as_str().context("upload without content_uri")?.to_owned())
    }

    /// The bytes of an `mxc://` URI (authenticated media, as the bridge's
    /// own user), with their content type.
    pub async fn download(&self, mxc: &str) -> Result<(String, bytes::Bytes)> {
        let Some((server, media)) = mxc.strip_prefix("mxc://").and_then(|rest| rest.split_once('/')) else {
            bail!("not an mxc URI: {mxc}")
        };
        let url = format!("{}/_matrix/client/v1/media/download/{}/{}", self.base, enc(server), enc(media));
        let response = self.http.get(url).bearer_auth(&self.as_token).send().await.context("download")?;
        if !response.status().is_success() {
            return Err(MatrixError {
                method: Method::GET,
                path: "/_matrix/client/v1/media/download".to_owned(),
                status: response.status().as_u16(),
                errcode: "M_NOT_FOUND".to_owned(),
                message: String::new(),
            }
            .into());
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        Ok((content_type, response.bytes().await.context("download")?))
    }

    pub async fn set_displayname(&self, user_id: &str, name: &str) -> Result<()> {
        let path = format!("/_matrix/client/v3/profile/{}/displayname", enc(user_id));
        self.call(As::Bot(user_id), Method::PUT, &path, Some(&json!({"displayname": name}))).await.map(drop)
    }
}
