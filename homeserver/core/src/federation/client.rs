//! Outbound federation requests: finding a server (spec: "Resolving server
//! names"), TLS with the configured trust, X-Matrix signing, and a backoff
//! per destination so an unreachable server costs one failed attempt per
//! interval, not one per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ruma::api::federation::authentication::{XMatrix, XMatrixSigningInput};
use ruma::{OwnedServerName, ServerName};
use serde_json::Value;

use super::discovery::{Destination, Discovery, FederationResolver, split_port};
use crate::outbound::AddressPolicy;
use crate::server_keys::ServerKeys;
use crate::settings::FederationSettings;
use crate::{Error, Result};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
struct Backoff {
    failures: u32,
    retry_at: Instant,
}

pub struct FederationClient {
    http: reqwest::Client,
    /// Server names are user input (user ids, aliases, `mxc://` URIs):
    /// where they may lead (see `crate::outbound`).
    policy: AddressPolicy,
    server_name: OwnedServerName,
    keys: Arc<ServerKeys>,
    enabled: bool,
    max_retry_interval: Duration,
    discovery: Discovery,
    /// The longest a server-name resolution may hold up a request.
    resolve_timeout: Duration,
    backoff: Mutex<HashMap<OwnedServerName, Backoff>>,
}

/// A failed request: the remote's HTTP status and body when it answered.
#[derive(Debug)]
pub struct RemoteError {
    pub status: Option<u16>,
    pub body: Value,
    pub detail: String,
}

impl RemoteError {
    /// Whether retrying the same request later can succeed.
    pub fn is_transient(&self) -> bool {
        match self.status {
            None => true,
            Some(status) => status == 429 || status >= 500,
        }
    }

    pub fn errcode(&self) -> Option<&str> {
        self.body.get("errcode").and_then(Value::as_str)
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

impl From<RemoteError> for Error {
    fn from(e: RemoteError) -> Self {
        match e.status {
            Some(403) => Error::Forbidden(format!("the remote server refused: {}", e.detail)),
            Some(404) => Error::NotFound(format!("the remote server does not have it: {}", e.detail)),
            _ => {
                // The network reason (refused, reset, timed out, a refused
                // address) stays in the log: telling them apart would let a
                // user scan the operator's network through this server.
                tracing::info!(detail = %e, "a federation request failed");
                Error::Remote("could not reach the other server".to_owned())
            }
        }
    }
}

impl FederationClient {
    pub fn new(
        server_name: OwnedServerName,
        keys: Arc<ServerKeys>,
        settings: &FederationSettings,
        policy: AddressPolicy,
    ) -> Result<Self> {
        let dns_timeout = Duration::from_secs(settings.dns_timeout_secs.max(1));
        let resolver = FederationResolver::new(&settings.nameservers, dns_timeout, policy.clone())
            .map_err(|e| Error::Internal(format!("federation DNS: {e}")))?;
        let http = Self::builder(settings)?
            .dns_resolver(Arc::new(resolver.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(format!("federation HTTP client: {e}")))?;
        let well_known = super::discovery::well_known_client(Self::builder(settings)?, resolver.clone())
            .map_err(|e| Error::Internal(format!("well-known HTTP client: {e}")))?;
        Ok(FederationClient {
            http,
            policy,
            server_name,
            keys,
            enabled: settings.enabled,
            max_retry_interval: Duration::from_secs(settings.max_retry_interval_secs.max(1)),
            discovery: Discovery::new(resolver, well_known),
            // A well-known lookup and two DNS rounds (SRV, then the target).
            resolve_timeout: dns_timeout * 3 + Duration::from_secs(10),
            backoff: Mutex::new(HashMap::new()),
        })
    }

    /// TLS trust and timeouts shared by the federation and well-known clients.
    fn builder(settings: &FederationSettings) -> Result<reqwest::ClientBuilder> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("Nexus/", env!("CARGO_PKG_VERSION")));
        for path in &settings.trusted_ca_files {
            let pem = std::fs::read(path)
                .map_err(|e| Error::Internal(format!("federation.trusted_ca_files: {}: {e}", path.display())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Internal(format!("federation.trusted_ca_files: {}: {e}", path.display())))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if settings.dangerously_skip_tls_verification {
            tracing::warn!(
                "federation.dangerously_skip_tls_verification is on: any server's identity can be forged \
                 on the network path. Never use this outside a test setup."
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }

    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }

    /// A signed GET; `path` includes the query string.
    pub async fn get(&self, destination: &ServerName, path: &str) -> Result<Value, RemoteError> {
        self.request(reqwest::Method::GET, destination, path, None).await
    }

    pub async fn put(&self, destination: &ServerName, path: &str, body: &Value) -> Result<Value, RemoteError> {
        self.request(reqwest::Method::PUT, destination, path, Some(body)).await
    }

    pub async fn post(&self, destination: &ServerName, path: &str, body: &Value) -> Result<Value, RemoteError> {
        self.request(reqwest::Method::POST, destination, path, Some(body)).await
    }

    /// A signed GET whose answer is not JSON (media): the response as it
    /// came, after a successful status.
    pub async fn get_raw(&self, destination: &ServerName, path: &str) -> Result<reqwest::Response, RemoteError> {
        if !self.enabled || destination == self.server_name {
            return Err(local_failure("no federation request for this destination".to_owned()));
        }
        let authorization = self.sign(&reqwest::Method::GET, destination, path, &[])?;
        let found = self.endpoint(destination).await?;
        let response = self
            .http
            .get(format!("{}{path}", found.base_url()))
            .header(reqwest::header::HOST, &found.host_header)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|e| RemoteError {
                status: None,
                body: Value::Null,
                detail: format!("{destination} is unreachable: {}", error_chain(&e)),
            })?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let detail = body.get("error").and_then(Value::as_str).unwrap_or("no detail").to_owned();
            return Err(RemoteError { status: Some(status.as_u16()), body, detail });
        }
        Ok(response)
    }

    /// An unsigned GET (`/_matrix/key/v2/server` needs no authentication:
    /// it is how the caller's keys are learnt in the first place).
    pub async fn get_unsigned(&self, destination: &ServerName, path: &str) -> Result<Value, RemoteError> {
        let found = self.endpoint(destination).await?;
        let response = self
            .http
            .get(format!("{}{path}", found.base_url()))
            .header(reqwest::header::HOST, &found.host_header)
            .send()
            .await;
        Self::read(destination, response).await
    }

    /// Whether a request to `destination` should wait (it failed lately).
    pub fn backing_off(&self, destination: &ServerName) -> Option<Instant> {
        let backoff = self.backoff.lock().expect("backoff poisoned");
        backoff.get(destination).map(|b| b.retry_at).filter(|at| *at > Instant::now())
    }

    async fn request(
        &self,
        method: reqwest::Method,
        destination: &ServerName,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        if !self.enabled {
            return Err(RemoteError { status: None, body: Value::Null, detail: "federation is disabled".to_owned() });
        }
        if destination == self.server_name {
            return Err(RemoteError {
                status: None,
                body: Value::Null,
                detail: "a federation request to this server itself".to_owned(),
            });
        }
        let bytes = match body {
            Some(body) => serde_json::to_vec(body).map_err(|e| local_failure(e.to_string()))?,
            None => Vec::new(),
        };
        let authorization = self.sign(&method, destination, path, &bytes)?;
        let found = self.endpoint(destination).await?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", found.base_url()))
            .header(reqwest::header::HOST, &found.host_header)
            .header(reqwest::header::AUTHORIZATION, authorization);
        if body.is_some() {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes);
        }
        let result = Self::read(destination, request.send().await).await;
        self.record_outcome(destination, &result);
        result
    }

    fn sign(
        &self,
        method: &reqwest::Method,
        destination: &ServerName,
        path: &str,
        body: &[u8],
    ) -> Result<String, RemoteError> {
        let request = http::Request::builder()
            .method(method.as_str())
            .uri(path)
            .body(body.to_vec())
            .map_err(|e| local_failure(format!("request for {path}: {e}")))?;
        let input = XMatrixSigningInput::new(self.server_name.clone(), destination.to_owned(), self.keys.key_pair());
        let header = XMatrix::sign_http_request(&request, input).map_err(|e| local_failure(e.to_string()))?;
        Ok(header.to_string())
    }

    async fn read(
        destination: &ServerName,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<Value, RemoteError> {
        let response = response.map_err(|e| RemoteError {
            status: None,
            body: Value::Null,
            detail: format!("{destination} is unreachable: {}", error_chain(&e)),
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| RemoteError {
            status: Some(status.as_u16()),
            body: Value::Null,
            detail: format!("reading the answer of {destination}: {e}"),
        })?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let detail = body
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned());
        Err(RemoteError { status: Some(status.as_u16()), body, detail })
    }

    fn record_outcome(&self, destination: &ServerName, result: &Result<Value, RemoteError>) {
        let mut backoff = self.backoff.lock().expect("backoff poisoned");
        match result {
            Err(e) if e.status.is_none() => {
                let failures = backoff.get(destination).map_or(0, |b| b.failures) + 1;
                let wait =
                    Duration::from_millis(500u64.saturating_mul(1 << failures.min(16))).min(self.max_retry_interval);
                backoff.insert(destination.to_owned(), Backoff { failures, retry_at: Instant::now() + wait });
            }
            _ => {
                backoff.remove(destination);
            }
        }
    }

    /// Where `destination`'s federation API is (see `discovery`), within
    /// the resolution timeout; refused addresses never get this far.
    async fn endpoint(&self, destination: &ServerName) -> Result<Destination, RemoteError> {
        let (host, _) = split_port(destination.as_str());
        self.policy.check_host(host).map_err(|e| local_failure(e.to_string()))?;
        let found = tokio::time::timeout(self.resolve_timeout, self.discovery.resolve(destination.as_str()))
            .await
            .map_err(|_| local_failure(format!("resolving {destination} took too long")))?
            .map_err(local_failure)?;
        self.policy.check_host(&found.tls_name).map_err(|e| local_failure(e.to_string()))?;
        Ok(found)
    }
}

fn local_failure(detail: String) -> RemoteError {
    RemoteError { status: None, body: Value::Null, detail }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
