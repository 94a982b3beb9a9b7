//! Finding another server (spec: server-server API, "Resolving server
//! names"), every step of it:
//!
//! 1. an IP literal, with or without a port (8448 by default);
//! 2. a host name with an explicit port: its A/AAAA records;
//! 3. `https://<host>/.well-known/matrix/server` (cached per its
//!    `Cache-Control`/`Expires`, 24 h by default, at most 48 h; failures
//!    for an hour); the delegated name then goes through 1, 2, 4, 5 and 6
//!    (never another well-known);
//! 4. the SRV record `_matrix-fed._tcp.<host>`;
//! 5. the deprecated `_matrix._tcp.<host>`;
//! 6. A/AAAA of the host on port 8448.
//!
//! Whatever the step, the certificate is checked against the server name,
//! or the delegated name — never against an SRV target — and the `Host`
//! header is that name too: the URL carries that name, and an SRV target's
//! addresses are *pinned* for it in [`FederationResolver`], which reqwest
//! asks for every connection. DNS goes through hickory (TTL-respecting
//! caches; the system's configuration or `federation.nameservers`), and
//! every address still passes the outbound policy.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use serde_json::Value;

use crate::outbound::{AddressPolicy, Refused};

const DEFAULT_PORT: u16 = 8448;
const WELL_KNOWN_DEFAULT: Duration = Duration::from_secs(24 * 3600);
const WELL_KNOWN_MAX: Duration = Duration::from_secs(48 * 3600);
const WELL_KNOWN_FAILURE: Duration = Duration::from_secs(3600);
const WELL_KNOWN_MAX_BYTES: usize = 64 * 1024;
/// Delegations followed by a well-known lookup's redirects, at most.
const WELL_KNOWN_REDIRECTS: usize = 5;

/// Where and how to reach a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The host in the URL: the name the certificate must be valid for.
    pub tls_name: String,
    pub port: u16,
    /// The `Host` header: the server name, or the delegated name.
    pub host_header: String,
}

impl Destination {
    pub fn base_url(&self) -> String {
        format!("https://{}:{}", self.tls_name, self.port)
    }
}

/// `host[:port]` → host and port (IPv6 literals keep their brackets).
pub fn split_port(name: &str) -> (&str, Option<u16>) {
    let (host, port) = match name.rfind(':') {
        Some(at) if !name[at..].contains(']') => (&name[..at], name[at + 1..].parse().ok()),
        _ => (name, None),
    };
    if port.is_none() { (name, None) } else { (host, port) }
}

fn is_ip_literal(host: &str) -> bool {
    host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok()
}

/// Resolves host names for reqwest: addresses pinned by discovery (an SRV
/// target's, for the name the certificate is checked against) or else the
/// name's own A/AAAA records; only addresses the policy permits.
#[derive(Clone)]
pub struct FederationResolver(Arc<ResolverState>);

struct ResolverState {
    dns: TokioResolver,
    policy: AddressPolicy,
    pins: Mutex<HashMap<String, Vec<IpAddr>>>,
}

impl FederationResolver {
    pub fn new(nameservers: &[SocketAddr], timeout: Duration, policy: AddressPolicy) -> Result<Self, String> {
        let provider = TokioConnectionProvider::default();
        let mut builder = if nameservers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| format!("the system's DNS configuration: {e}"))?
        } else {
            let mut group = NameServerConfigGroup::new();
            for server in nameservers {
                group.merge(NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true));
            }
            TokioResolver::builder_with_config(ResolverConfig::from_parts(None, Vec::new(), group), provider)
        };
        builder.options_mut().timeout = timeout;
        builder.options_mut().attempts = 2;
        Ok(FederationResolver(Arc::new(ResolverState {
            dns: builder.build(),
            policy,
            pins: Mutex::new(HashMap::new()),
        })))
    }

    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let pinned = self.0.pins.lock().expect("pins poisoned").get(host).cloned();
        let found = match pinned {
            Some(addresses) => addresses,
            None => self.0.dns.lookup_ip(host).await.map_err(|e| format!("{host}: {e}"))?.iter().collect(),
        };
        let permitted: Vec<IpAddr> = found.into_iter().filter(|ip| self.0.policy.permits(*ip)).collect();
        if permitted.is_empty() {
            return Err(Refused(host.to_owned()).to_string());
        }
        Ok(permitted)
    }

    fn pin(&self, name: &str, addresses: Vec<IpAddr>) {
        self.0.pins.lock().expect("pins poisoned").insert(name.to_owned(), addresses);
    }

    fn unpin(&self, name: &str) {
        self.0.pins.lock().expect("pins poisoned").remove(name);
    }

    /// The SRV record for `host` (the current one, then the deprecated
    /// one): its target's addresses and its port.
    async fn srv(&self, host: &str) -> Option<(Vec<IpAddr>, u16)> {
        for service in ["_matrix-fed._tcp", "_matrix._tcp"] {
            let Ok(answer) = self.0.dns.srv_lookup(format!("{service}.{host}.")).await else { continue };
            let mut records: Vec<_> = answer.iter().cloned().collect();
            // Lowest priority first; among equals, the heaviest.
            records.sort_by_key(|r| (r.priority(), std::cmp::Reverse(r.weight())));
            for record in records {
                let target = record.target().to_utf8();
                if target == "." {
                    return None; // "the service is decidedly not available"
                }
                if let Ok(lookup) = self.0.dns.lookup_ip(target.as_str()).await {
                    let addresses: Vec<IpAddr> = lookup.iter().collect();
                    if !addresses.is_empty() {
                        return Some((addresses, record.port()));
                    }
                }
            }
        }
        None
    }
}

impl reqwest::dns::Resolve for FederationResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addresses = this
                .addresses(name.as_str())
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0))) as reqwest::dns::Addrs)
        })
    }
}

#[derive(Clone)]
struct Cached {
    delegated: Option<String>,
    until: Instant,
}

/// Server-name resolution with its well-known cache.
pub struct Discovery {
    resolver: FederationResolver,
    /// For well-known lookups: follows a few redirects (the federation
    /// client follows none), through the same resolver.
    http: reqwest::Client,
    well_known: Mutex<HashMap<String, Cached>>,
}

impl Discovery {
    pub fn new(resolver: FederationResolver, http: reqwest::Client) -> Self {
        Discovery { resolver, http, well_known: Mutex::new(HashMap::new()) }
    }

    /// Where `server_name` is reached.
    pub async fn resolve(&self, server_name: &str) -> Result<Destination, String> {
        let (host, port) = split_port(server_name);
        if let Some(found) = self.without_well_known(server_name, host, port, false).await? {
            return Ok(found);
        }
        if let Some(delegated) = self.well_known(host).await {
            let (delegated_host, delegated_port) = split_port(&delegated);
            let found = self.without_well_known(&delegated, delegated_host, delegated_port, true).await?;
            return Ok(found.expect("the last step always answers"));
        }
        Ok(self.without_well_known(server_name, host, port, true).await?.expect("the last step always answers"))
    }

    /// Steps 1, 2, then (when `last_steps`) 4–6 for `name`.
    async fn without_well_known(
        &self,
        name: &str,
        host: &str,
        port: Option<u16>,
        last_steps: bool,
    ) -> Result<Option<Destination>, String> {
        let direct = |port: u16| Destination { tls_name: host.to_owned(), port, host_header: name.to_owned() };
        if is_ip_literal(host) {
            return Ok(Some(direct(port.unwrap_or(DEFAULT_PORT))));
        }
        if let Some(port) = port {
            self.resolver.unpin(host);
            return Ok(Some(direct(port)));
        }
        if !last_steps {
            return Ok(None);
        }
        match self.resolver.srv(host).await {
            Some((addresses, port)) => {
                // Reached at the target's addresses, checked against `host`.
                self.resolver.pin(host, addresses);
                Ok(Some(direct(port)))
            }
            None => {
                self.resolver.unpin(host);
                Ok(Some(direct(DEFAULT_PORT)))
            }
        }
    }

    /// The delegated server name from `host`'s well-known document, cached.
    async fn well_known(&self, host: &str) -> Option<String> {
        if let Some(cached) = self.well_known.lock().expect("well-known poisoned").get(host)
            && cached.until > Instant::now()
        {
            return cached.delegated.clone();
        }
        let (delegated, lifetime) = match self.fetch_well_known(host).await {
            Ok(found) => found,
            Err(reason) => {
                tracing::debug!(%host, %reason, "no usable .well-known/matrix/server");
                (None, WELL_KNOWN_FAILURE)
            }
        };
        let cached = Cached { delegated: delegated.clone(), until: Instant::now() + lifetime };
        self.well_known.lock().expect("well-known poisoned").insert(host.to_owned(), cached);
        delegated
    }

    async fn fetch_well_known(&self, host: &str) -> Result<(Option<String>, Duration), String> {
        let mut response = self
            .http
            .get(format!("https://{host}/.well-known/matrix/server"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let lifetime = cache_lifetime(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > WELL_KNOWN_MAX_BYTES {
                return Err("the document is too large".to_owned());
            }
        }
        let document: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        let delegated = document.get("m.server").and_then(Value::as_str).ok_or("no m.server")?;
        ruma::ServerName::parse(delegated).map_err(|e| format!("m.server: {e}"))?;
        Ok((Some(delegated.to_owned()), lifetime))
    }
}

/// How long a well-known answer may be used: `Cache-Control: max-age`, else
/// `Expires`, else 24 hours; never more than 48 (spec). `no-store`/`no-cache`
/// mean it is used for this request only.
fn cache_lifetime(headers: &reqwest::header::HeaderMap) -> Duration {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(control) = header(reqwest::header::CACHE_CONTROL) {
        for directive in control.split(',').map(str::trim) {
            if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache") {
                return Duration::ZERO;
            }
            if let Some(seconds) = directive.strip_prefix("max-age=").and_then(|s| s.parse::<u64>().ok()) {
                return Duration::from_secs(seconds).min(WELL_KNOWN_MAX);
            }
        }
    }
    if let Some(expires) = header(reqwest::header::EXPIRES)
        && let Ok(at) = httpdate::parse_http_date(expires)
    {
        return at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO).min(WELL_KNOWN_MAX);
    }
    WELL_KNOWN_DEFAULT
}

/// A client for well-known lookups: a few redirects, through `resolver`.
pub fn well_known_client(
    base: reqwest::ClientBuilder,
    resolver: FederationResolver,
) -> reqwest::Result<reqwest::Client> {
    base.dns_resolver(Arc::new(resolver)).redirect(reqwest::redirect::Policy::limited(WELL_KNOWN_REDIRECTS)).build()
}

#[cfg(test)]
mod tests {
    use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn server_names_split_into_host_and_port() {
        assert_eq!(split_port("example.org"), ("example.org", None));
        assert_eq!(split_port("example.org:8448"), ("example.org", Some(8448)));
        assert_eq!(split_port("127.0.0.1:40123"), ("127.0.0.1", Some(40123)));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("[::1]:8448"), ("[::1]", Some(8448)));
    }

    #[test]
    fn well_known_lifetimes_follow_the_headers_within_the_spec_bounds() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
            cache_lifetime(&headers)
        };
        assert_eq!(cache_lifetime(&HeaderMap::new()), WELL_KNOWN_DEFAULT);
        assert_eq!(with("public, max-age=600"), Duration::from_secs(600));
        assert_eq!(with("max-age=999999999"), WELL_KNOWN_MAX);
        assert_eq!(with("no-store"), Duration::ZERO);
    }
}
