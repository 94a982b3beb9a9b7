//! Rate limits on the endpoints that attackers hammer (login, register):
//! a token bucket per client address and endpoint, in memory; other
//! services key [`TokenBuckets`] by what they limit (delayed event
//! management: the user).
//!
//! In memory for one process: limits need no durability. In a cluster the
//! buckets are in Redis ([`TokenBuckets::share`]), so a client spread over
//! several processes gets one allowance, not one per process; if Redis
//! cannot be reached, each process falls back to its own buckets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::settings::RateLimitSettings;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limited {
    Login,
    Register,
}

/// How fast a bucket refills and how many tokens it holds.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub per_second: f64,
    pub burst: f64,
}

impl Rule {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Rule { per_second, burst: f64::from(burst.max(1)) }
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
    /// When the bucket is full again; full buckets are forgotten.
    full_at: Instant,
}

/// Beyond this many tracked keys, full buckets are forgotten.
const SWEEP_THRESHOLD: usize = 10_000;

/// Token buckets keyed by whoever is limited (an address, a user), in
/// memory: the one mechanism behind every rate limit.
pub struct TokenBuckets<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
    /// In a cluster: the buckets every process shares, and the prefix of
    /// their Redis keys.
    shared: std::sync::OnceLock<(nexus_storage::redis_channel::RedisKeys, &'static str)>,
}

impl<K: std::hash::Hash + Eq> Default for TokenBuckets<K> {
    fn default() -> Self {
        TokenBuckets { buckets: Mutex::new(HashMap::new()), shared: std::sync::OnceLock::new() }
    }
}

impl<K: std::hash::Hash + Eq + std::fmt::Debug> TokenBuckets<K> {
    /// Shares the buckets with the other processes of a cluster, under
    /// Redis keys starting `nexus:rate:{name}:`.
    pub fn share(&self, keys: nexus_storage::redis_channel::RedisKeys, name: &'static str) {
        let _ = self.shared.set((keys, name));
    }

    /// [`TokenBuckets::take`], from the shared bucket when there is one.
    pub async fn take_now(&self, key: K, rule: Rule) -> Result<()> {
        if let Some((keys, name)) = self.shared.get() {
            let now_ms = crate::values::now_ms();
            match keys.take_token(&format!("nexus:rate:{name}:{key:?}"), rule.per_second, rule.burst, now_ms).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait_ms)) => return Err(Error::LimitExceeded { retry_after: Duration::from_millis(wait_ms) }),
                Err(e) => tracing::warn!(error = %e, "shared rate limits unreachable; limiting in this process"),
            }
        }
        self.take(key, rule, Instant::now())
    }

    /// Takes one token from `key`'s bucket, or says how long to wait for one
    /// (`M_LIMIT_EXCEEDED` with `retry_after_ms`).
    pub fn take(&self, key: K, rule: Rule, now: Instant) -> Result<()> {
        let mut buckets = self.buckets.lock().expect("rate limit table poisoned");
        if buckets.len() > SWEEP_THRESHOLD {
            buckets.retain(|_, b| b.full_at > now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: rule.burst, updated: now, full_at: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * rule.per_second;
        bucket.tokens = (bucket.tokens + refill).min(rule.burst);
        bucket.updated = now;
        let taken = bucket.tokens >= 1.0;
        if taken {
            bucket.tokens -= 1.0;
        }
        let missing = rule.burst - bucket.tokens;
        bucket.full_at = now + refill_time(missing, rule);
        if taken {
            return Ok(());
        }
        Err(Error::LimitExceeded { retry_after: refill_time(1.0 - bucket.tokens, rule) })
    }
}

fn refill_time(tokens: f64, rule: Rule) -> Duration {
    let secs = if rule.per_second > 0.0 { tokens / rule.per_second } else { 3600.0 };
    Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
}

/// The limits on login and registration, per client address.
pub struct RateLimits {
    login: Rule,
    register: Rule,
    buckets: TokenBuckets<(Limited, IpAddr)>,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        RateLimits {
            login: Rule::new(settings.login_per_second, settings.login_burst),
            register: Rule::new(settings.register_per_second, settings.register_burst),
            buckets: TokenBuckets::default(),
        }
    }

    fn rule(&self, what: Limited) -> Rule {
        match what {
            Limited::Login => self.login,
            Limited::Register => self.register,
        }
    }

    /// Takes one token for `what` from `client`'s bucket, or says how long
    /// to wait for one.
    pub async fn check(&self, what: Limited, client: IpAddr) -> Result<()> {
        self.buckets.take_now((what, client), self.rule(what)).await
    }

    /// In a cluster: one allowance per client across every process.
    pub fn share(&self, keys: nexus_storage::redis_channel::RedisKeys) {
        self.buckets.share(keys, "auth");
    }

    #[cfg(test)]
    fn check_at(&self, what: Limited, client: IpAddr, now: Instant) -> Result<()> {
        self.buckets.take((what, client), self.rule(what), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: f64, burst: u32) -> RateLimits {
        RateLimits::new(&RateLimitSettings {
            login_per_second: per_second,
            login_burst: burst,
            register_per_second: per_second,
            register_burst: burst,
            ..RateLimitSettings::default()
        })
    }

    #[test]
    fn a_burst_is_allowed_then_limited_with_a_retry_time() {
        let limits = limits(0.5, 2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(limits.check_at(Limited::Login, ip, t0).is_ok());
        assert!(limits.check_at(Limited::Login, ip, t0).is_ok());
        match limits.check_at(Limited::Login, ip, t0) {
            Err(Error::LimitExceeded { retry_after }) => assert_eq!(retry_after, Duration::from_secs(2)),
            other => panic!("expected a limit, got {other:?}"),
        }
        assert!(limits.check_at(Limited::Login, ip, t0 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn addresses_and_endpoints_have_separate_buckets() {
        let limits = limits(0.0, 1);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        let t0 = Instant::now();
        assert!(limits.check_at(Limited::Login, a, t0).is_ok());
        assert!(limits.check_at(Limited::Login, a, t0).is_err());
        assert!(limits.check_at(Limited::Login, b, t0).is_ok());
        assert!(limits.check_at(Limited::Register, a, t0).is_ok());
    }
}
