//! Requests from this server to an appservice (spec: application service
//! API): transactions, ping, user and alias queries, third-party lookups.
//! Each carries `Authorization: Bearer <hs_token>`. Appservices usually run
//! beside the homeserver (loopback or a private network), so the outbound
//! address policy that guards user-chosen destinations does not apply: the
//! operator wrote these URLs.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::queue::Transaction;
use super::registration::Registration;

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to an appservice did not succeed.
#[derive(Debug)]
pub enum Failure {
    NoUrl,
    Status { status: u16, body: String },
    Timeout,
    Connection(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoUrl => f.write_str("the appservice has no URL"),
            Failure::Status { status, .. } => write!(f, "the appservice answered {status}"),
            Failure::Timeout => f.write_str("the appservice did not answer in time"),
            Failure::Connection(e) => write!(f, "could not reach the appservice: {e}"),
        }
    }
}

#[derive(Clone)]
pub struct AppserviceClient {
    http: reqwest::Client,
}

impl Default for AppserviceClient {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent("nexus")
            .build()
            .expect("an HTTP client with default TLS settings builds");
        AppserviceClient { http }
    }
}

fn failure(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        // Without the URL: it may carry a query the operator considers private.
        Failure::Connection(e.without_url().to_string())
    }
}

/// `{url}/_matrix/app/v1/{segments…}`, each segment percent-encoded.
fn url(registration: &Registration, segments: &[&str]) -> Result<reqwest::Url, Failure> {
    let base = registration.url.as_deref().ok_or(Failure::NoUrl)?;
    let mut url = reqwest::Url::parse(base).map_err(|e| Failure::Connection(e.to_string()))?;
    url.path_segments_mut()
        .map_err(|()| Failure::Connection("the appservice URL cannot take a path".to_owned()))?
        .pop_if_empty()
        .extend(["_matrix", "app", "v1"])
        .extend(segments);
    Ok(url)
}

impl AppserviceClient {
    /// `PUT /_matrix/app/v1/transactions/{txnId}`.
    pub async fn send_transaction(&self, registration: &Registration, txn: &Transaction) -> Result<(), Failure> {
        let url = url(registration, &["transactions", &txn.txn_id])?;
        let request = self.http.put(url).bearer_auth(&registration.hs_token).json(&txn.body);
        let response = request.timeout(TRANSACTION_TIMEOUT).send().await.map_err(failure)?;
        check(response).await.map(drop)
    }

    /// `POST /_matrix/app/v1/ping`; the round trip's duration.
    pub async fn ping(&self, registration: &Registration, transaction_id: Option<&str>) -> Result<Duration, Failure> {
        let url = url(registration, &["ping"])?;
        let body = match transaction_id {
            Some(id) => serde_json::json!({ "transaction_id": id }),
            None => serde_json::json!({}),
        };
        let started = Instant::now();
        let request = self.http.post(url).bearer_auth(&registration.hs_token).json(&body);
        let response = request.timeout(PING_TIMEOUT).send().await.map_err(failure)?;
        check(response).await?;
        Ok(started.elapsed())
    }

    /// `GET /_matrix/app/v1/users/{userId}` or `/rooms/{roomAlias}`: true
    /// when the appservice says it now exists.
    pub async fn query(&self, registration: &Registration, kind: &str, id: &str) -> bool {
        let Ok(url) = url(registration, &[kind, id]) else { return false };
        let request = self.http.get(url).bearer_auth(&registration.hs_token).timeout(QUERY_TIMEOUT);
        match request.send().await {
            Ok(response) => response.status().is_success(),
            Err(e) => {
                tracing::info!(appservice = %registration.id, error = %failure(e), "appservice query failed");
                false
            }
        }
    }

    /// `GET /_matrix/app/v1/thirdparty/{path}` with the client's query.
    pub async fn third_party(
        &self,
        registration: &Registration,
        path: &[&str],
        query: &[(String, String)],
    ) -> Result<Value, Failure> {
        let url = url(registration, &[&["thirdparty"][..], path].concat())?;
        let request = self.http.get(url).query(query).bearer_auth(&registration.hs_token).timeout(QUERY_TIMEOUT);
        let response = request.send().await.map_err(failure)?;
        let response = check(response).await?;
        response.json().await.map_err(|e| Failure::Connection(e.without_url().to_string()))
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, Failure> {
    if response.status() == StatusCode::OK || response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Err(Failure::Status { status, body: body.chars().take(1000).collect() })
}
