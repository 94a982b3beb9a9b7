//! The panic hook: a panic is a bug, and the catch-panic layer turns one in
//! a request into a 500, but the default hook writes a backtrace per panic
//! — a cheap way for anyone who finds a panicking input to flood the log.
//! Here each panic site is logged through `tracing` with its backtrace the
//! first time, and then at most once a minute with a count of the panics
//! not logged since.

use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::panic::PanicHookInfo;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const QUIET_PERIOD: Duration = Duration::from_secs(60);

struct Site {
    last_logged: Instant,
    suppressed: u64,
}

fn sites() -> &'static Mutex<HashMap<String, Site>> {
    static SITES: OnceLock<Mutex<HashMap<String, Site>>> = OnceLock::new();
    SITES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// What to log for a panic at `site` now: `None` while the site is quiet,
/// else whether this is its first panic and how many were not logged.
fn admit(site: &str, now: Instant) -> Option<(bool, u64)> {
    let mut sites = sites().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match sites.get_mut(site) {
        None => {
            sites.insert(site.to_owned(), Site { last_logged: now, suppressed: 0 });
            Some((true, 0))
        }
        Some(entry) if now.duration_since(entry.last_logged) >= QUIET_PERIOD => {
            let suppressed = std::mem::take(&mut entry.suppressed);
            entry.last_logged = now;
            Some((false, suppressed))
        }
        Some(entry) => {
            entry.suppressed += 1;
            None
        }
    }
}

pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let site = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let Some((first, suppressed)) = admit(&site, Instant::now()) else { return };
        let message = message(info);
        if first {
            let backtrace = Backtrace::force_capture();
            tracing::error!(%site, %message, %backtrace, "panic (a bug; later panics here are logged once a minute)");
        } else {
            tracing::error!(%site, %message, not_logged_since = suppressed, "panic again");
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_is_logged_first_then_at_most_once_per_quiet_period() {
        let start = Instant::now();
        let site = "tests.rs:1";
        assert_eq!(admit(site, start), Some((true, 0)));
        assert_eq!(admit(site, start + Duration::from_secs(1)), None);
        assert_eq!(admit(site, start + Duration::from_secs(2)), None);
        assert_eq!(admit(site, start + QUIET_PERIOD + Duration::from_secs(1)), Some((false, 2)));
        assert_eq!(admit("elsewhere.rs:9", start), Some((true, 0)));
    }
}
