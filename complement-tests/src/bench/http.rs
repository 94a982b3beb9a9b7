//! The driver's own client-server API client: plain reqwest, bearer tokens,
//! and a 429 handler that sleeps `retry_after_ms` and counts the retry.
//! Nothing here is Nexus-specific.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::enc;

/// The time bound of one request, long polls included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Gives up on a request that was rate-limited this many times in a row.
const MAX_RETRIES: u32 = 100;
/// The wait when a 429 carries no `retry_after_ms`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_millis(500);

/// How the underlying connections are pooled.
#[derive(Clone, Copy, Debug)]
pub enum Pool {
    /// HTTP/1.1 with at most one kept-alive connection: requests made one
    /// after another all go over the same connection.
    Single,
    /// HTTP/1.1 with up to this many kept-alive connections.
    Many(usize),
}

/// A client for one homeserver base URL. Clones share connections and the
/// retry counter.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: Arc<str>,
    retries: Arc<AtomicU64>,
}

impl Http {
    pub fn new(base: &str, pool: Pool) -> Result<Http> {
        let idle = match pool {
            Pool::Single => 1,
            Pool::Many(n) => n.max(1),
        };
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(idle)
            .tcp_nodelay(true)
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("build the HTTP client")?;
        Ok(Http { client, base: base.trim_end_matches('/').into(), retries: Arc::new(AtomicU64::new(0)) })
    }

    /// 429 answers retried so far by this client and its clones.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Sends a request (retrying on 429) and returns the status and the
    /// body as JSON (`Null` when empty or not JSON).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut attempts = 0;
        loop {
            let mut request = self.client.request(method.clone(), &url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.with_context(|| format!("{method} {path}"))?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.with_context(|| format!("{method} {path}: read the body"))?;
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status == 429 && attempts < MAX_RETRIES {
                attempts += 1;
                self.retries.fetch_add(1, Ordering::Relaxed);
                let wait = json["retry_after_ms"].as_u64().map(Duration::from_millis).unwrap_or(DEFAULT_RETRY_AFTER);
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok((status, json));
        }
    }

    /// One request (no 429 retry), its status, its body as JSON, and the
    /// time until the body's last byte was read.
    pub async fn call_timed(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value, Duration)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method.clone(), &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(serde_json::to_vec(body)?).header("content-type", "application/json");
        }
        let started = std::time::Instant::now();
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.with_context(|| format!("{method} {path}: read the body"))?;
        let elapsed = started.elapsed();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), elapsed))
    }

    /// Like [`call_raw`](Self::call_raw), but anything other than 200 is an error.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Result<Value> {
        let (status, json) = self.call_raw(method.clone(), path, token, body).await?;
        if status != 200 {
            bail!("{method} {path} -> {status}: {json}");
        }
        Ok(json)
    }

    /// `GET /_matrix/client/versions`, the driver-ceiling endpoint.
    pub async fn versions(&self) -> Result<()> {
        self.call(Method::GET, "/_matrix/client/versions", None, None).await.map(drop)
    }
}

/// A registered user and its access token.
#[derive(Clone, Debug)]
pub struct Account {
    pub user_id: String,
    pub token: String,
}

/// `POST /register` through the `m.login.dummy` stage.
pub async fn register(http: &Http, localpart: &str, password: &str) -> Result<Account> {
    let path = "/_matrix/client/v3/register";
    let mut body = json!({
        "username": localpart,
        "password": password,
        "initial_device_display_name": "nexus-bench",
    });
    let (status, challenge) = http.call_raw(Method::POST, path, None, Some(&body)).await?;
    let answer = match status {
        200 => challenge,
        401 => {
            let session =
                challenge["session"].as_str().with_context(|| format!("a UIA 401 without a session: {challenge}"))?;
            body["auth"] = json!({"type": "m.login.dummy", "session": session});
            http.call(Method::POST, path, None, Some(&body)).await?
        }
        _ => bail!("POST {path} -> {status}: {challenge}"),
    };
    let user_id = answer["user_id"].as_str().context("register: no user_id")?.to_owned();
    let token = answer["access_token"].as_str().context("register: no access_token")?.to_owned();
    Ok(Account { user_id, token })
}

/// `POST /createRoom` with `body`; the new room's id.
pub async fn create_room(http: &Http, who: &Account, body: Value) -> Result<String> {
    let answer = http.call(Method::POST, "/_matrix/client/v3/createRoom", Some(&who.token), Some(&body)).await?;
    Ok(answer["room_id"].as_str().context("createRoom: no room_id")?.to_owned())
}

/// A public room (anyone may join by id) with history visible to members.
pub async fn create_public_room(http: &Http, who: &Account, name: &str) -> Result<String> {
    create_room(http, who, json!({"preset": "public_chat", "name": name})).await
}

/// `POST /join/{roomId}`.
pub async fn join(http: &Http, who: &Account, room_id: &str) -> Result<()> {
    let path = format!("/_matrix/client/v3/join/{}", enc(room_id));
    http.call(Method::POST, &path, Some(&who.token), Some(&json!({}))).await.map(drop)
}

/// `PUT /rooms/{roomId}/send/m.room.message/{txnId}` with a text body; the event id.
pub async fn send_text(http: &Http, who: &Account, room_id: &str, txn_id: &str, text: &str) -> Result<String> {
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{}", enc(room_id), enc(txn_id));
    let body = json!({"msgtype": "m.text", "body": text});
    let answer = http.call(Method::PUT, &path, Some(&who.token), Some(&body)).await?;
    Ok(answer["event_id"].as_str().context("send: no event_id")?.to_owned())
}

/// `GET /sync` with an inline JSON filter; the whole answer.
pub async fn sync(http: &Http, who: &Account, since: Option<&str>, timeout_ms: u64, filter: &Value) -> Result<Value> {
    let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}&filter={}", enc(&filter.to_string()));
    if let Some(since) = since {
        path.push_str(&format!("&since={}", enc(since)));
    }
    let answer = http.call(Method::GET, &path, Some(&who.token), None).await?;
    if !answer["next_batch"].is_string() {
        bail!("a /sync answer without next_batch: {answer}");
    }
    Ok(answer)
}

/// `next_batch` of a `/sync` answer checked by [`sync`].
pub fn next_batch(answer: &Value) -> String {
    answer["next_batch"].as_str().unwrap_or_default().to_owned()
}

/// Runs `jobs` with at most `width` at a time; their results in order.
pub async fn bounded<T, F>(width: usize, jobs: Vec<F>) -> Result<Vec<T>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(width.max(1)));
    let mut set = JoinSet::new();
    let total = jobs.len();
    for (index, job) in jobs.into_iter().enumerate() {
        let permits = permits.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| anyhow!("semaphore closed: {e}"))?;
            job.await.map(|value| (index, value))
        });
    }
    let mut results: Vec<Option<T>> = (0..total).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (index, value) = joined.context("a setup task panicked")??;
        results[index] = Some(value);
    }
    Ok(results.into_iter().map(|v| v.expect("every job reported")).collect())
}
