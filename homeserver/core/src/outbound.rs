//! Where this server may connect when a user can choose the destination:
//! a server name in a user id, room alias or `mxc://` URI (federation), a
//! pusher's URL, a URL to preview. Without a policy any registered user
//! could make the server open connections into the operator's own network
//! and tell the answers apart (server-side request forgery).
//!
//! One [`AddressPolicy`] decides: loopback, private, link-local, CGNAT,
//! multicast, unspecified, documentation and IPv6 unique-local ranges are
//! refused unless the operator allows them (`[outbound]` in the config;
//! tests and private federations list their ranges there). The
//! [`PolicyResolver`] applies it to every address a host name resolves to,
//! and reqwest connects only to the addresses it returned, so a second DNS
//! answer cannot slip past the check; IP literals never reach a resolver
//! and are checked with [`AddressPolicy::check_host`] before a request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::settings::OutboundSettings;

/// An address range in CIDR notation.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    network: IpAddr,
    prefix: u8,
}

impl Range {
    pub fn parse(text: &str) -> Option<Range> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, p.parse().ok()?),
            None => (text, if text.contains(':') { 128 } else { 32 }),
        };
        let network: IpAddr = address.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Range { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            // An IPv4 address written as IPv6 is that IPv4 address.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The ranges no user-chosen destination may reach unless the operator
/// says so.
pub fn default_denied_ranges() -> Vec<String> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "0.0.0.0/8",
        "::1/128",
        "::/128",
        "fe80::/10",
        "fc00::/7",
        "ff00::/8",
        "2001:db8::/32",
    ]
    .iter()
    .map(|r| (*r).to_owned())
    .collect()
}

/// Which addresses may be connected to: anything outside `denied`, and
/// anything inside `allowed` (which wins).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    denied: Vec<Range>,
    allowed: Vec<Range>,
}

/// A destination the policy refuses (the detail is for the log only).
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a permitted destination")]
pub struct Refused(pub String);

impl AddressPolicy {
    pub fn new(denied: &[String], allowed: &[String]) -> AddressPolicy {
        let parse = |list: &[String]| list.iter().filter_map(|r| Range::parse(r)).collect();
        AddressPolicy { denied: parse(denied), allowed: parse(allowed) }
    }

    pub fn from_settings(settings: &OutboundSettings) -> AddressPolicy {
        AddressPolicy::new(&settings.denied_ip_ranges, &settings.allowed_ip_ranges)
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|r| r.contains(ip)) || !self.denied.iter().any(|r| r.contains(ip))
    }

    /// Checks a URL's host when it is an IP literal (host names are checked
    /// by the resolver when they resolve).
    pub fn check_host(&self, host: &str) -> Result<(), Refused> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) if !self.permits(ip) => Err(Refused(ip.to_string())),
            _ => Ok(()),
        }
    }

    /// A resolver for reqwest that leaves out refused addresses.
    pub fn resolver(&self) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver { policy: self.clone() })
    }
}

/// Resolves host names with the system's resolver and keeps only the
/// addresses the policy permits; none left is an error.
#[derive(Debug)]
pub struct PolicyResolver {
    policy: AddressPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let permitted: Vec<SocketAddr> = resolved.filter(|a| policy.permits(a.ip())).collect();
            if permitted.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_refused_by_default() {
        let policy = AddressPolicy::new(&default_denied_ranges(), &[]);
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!policy.permits(ip(refused)), "{refused} must be refused");
        }
        for permitted in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert!(policy.permits(ip(permitted)), "{permitted} must be permitted");
        }
        assert!(policy.check_host("[::1]").is_err());
        assert!(policy.check_host("127.0.0.1").is_err());
        assert!(policy.check_host("matrix.org").is_ok(), "names are the resolver's to check");
    }

    #[test]
    fn the_allow_list_wins() {
        let policy = AddressPolicy::new(&default_denied_ranges(), &["127.0.0.0/8".to_owned()]);
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(!policy.permits(ip("10.0.0.1")));
    }

    #[test]
    fn ranges_contain_what_they_should() {
        let loopback = Range::parse("127.0.0.0/8").unwrap();
        assert!(loopback.contains("127.0.0.1".parse().unwrap()));
        assert!(loopback.contains("::ffff:127.0.0.1".parse().unwrap()), "IPv4-mapped IPv6");
        assert!(!loopback.contains("128.0.0.1".parse().unwrap()));
        let ula = Range::parse("fc00::/7").unwrap();
        assert!(ula.contains("fd12::1".parse().unwrap()));
        assert!(!ula.contains("2001:db8::1".parse().unwrap()));
        assert!(Range::parse("10.0.0.0/33").is_none());
    }
}
