//! Rate limits on the endpoints that attackers hammer (login, register):
//! a token bucket per client address and endpoint, in memory.
//!
//! In memory is deliberate: limits protect this process's CPU (Argon2 is
//! expensive) and need no durability. Several workers each limit their own
//! traffic.

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

#[derive(Clone, Copy)]
struct Rule {
    per_second: f64,
    burst: f64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Beyond this many tracked addresses, full buckets are forgotten.
const SWEEP_THRESHOLD: usize = 10_000;

pub struct RateLimits {
    login: Rule,
    register: Rule,
    buckets: Mutex<HashMap<(Limited, IpAddr), Bucket>>,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        RateLimits {
            login: Rule { per_second: settings.login_per_second, burst: f64::from(settings.login_burst.max(1)) },
            register: Rule {
                per_second: settings.register_per_second,
                burst: f64::from(settings.register_burst.max(1)),
            },
            buckets: Mutex::new(HashMap::new()),
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
    pub fn check(&self, what: Limited, client: IpAddr) -> Result<()> {
        self.check_at(what, client, Instant::now())
    }

    fn check_at(&self, what: Limited, client: IpAddr, now: Instant) -> Result<()> {
        let rule = self.rule(what);
        let mut buckets = self.buckets.lock().expect("rate limit table poisoned");
        if buckets.len() > SWEEP_THRESHOLD {
            buckets.retain(|(w, _), b| {
                let r = self.rule(*w);
                b.tokens + now.duration_since(b.updated).as_secs_f64() * r.per_second < r.burst
            });
        }
        let bucket = buckets.entry((what, client)).or_insert(Bucket { tokens: rule.burst, updated: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * rule.per_second;
        bucket.tokens = (bucket.tokens + refill).min(rule.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait_secs = if rule.per_second > 0.0 { (1.0 - bucket.tokens) / rule.per_second } else { 3600.0 };
        Err(Error::LimitExceeded { retry_after: Duration::from_secs_f64(wait_secs.min(86_400.0)) })
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
