//! Discord's rate limits, per bot token: a bucket per route family
//! (creating messages counts per channel; everything else shares the bot's
//! global bucket), fixed windows, and Discord's headers on every answer —
//! `X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket` — and on a 429
//! also `Retry-After`, `X-RateLimit-Scope`, `X-RateLimit-Global`, a body
//! `{message, retry_after, global}` and a `Via` header (discord.py takes a
//! 429 without one for a Cloudflare ban).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Messages one bot may create in one channel per window.
const MESSAGES_PER_WINDOW: u32 = 10;
const MESSAGES_WINDOW: Duration = Duration::from_secs(2);
/// Requests one bot may make per window over everything else (Discord's
/// global limit is 50 per second).
const GLOBAL_PER_WINDOW: u32 = 50;
const GLOBAL_WINDOW: Duration = Duration::from_secs(1);
/// Buckets idle this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60);

struct Window {
    started: Instant,
    used: u32,
}

#[derive(Default)]
pub struct RateLimits {
    windows: Mutex<HashMap<(Vec<u8>, String), Window>>,
}

/// What one request may do.
struct Verdict {
    limit: u32,
    remaining: u32,
    reset_after: Duration,
    bucket: String,
    allowed: bool,
}

impl RateLimits {
    fn take(&self, token: &[u8], bucket: String, limit: u32, window: Duration) -> Verdict {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap();
        if windows.len() > 10_000 {
            windows.retain(|_, w| now.duration_since(w.started) < FORGET_AFTER);
        }
        let slot = windows.entry((token.to_vec(), bucket.clone())).or_insert(Window { started: now, used: 0 });
        if now.duration_since(slot.started) >= window {
            *slot = Window { started: now, used: 0 };
        }
        let reset_after = window.saturating_sub(now.duration_since(slot.started));
        let allowed = slot.used < limit;
        if allowed {
            slot.used += 1;
        }
        Verdict { limit, remaining: limit - slot.used, reset_after, bucket, allowed }
    }
}

/// The bucket of a request: `POST /channels/{id}/messages` per channel,
/// the rest global.
fn bucket_of(method: &Method, path: &str) -> (String, u32, Duration) {
    let tail = path.trim_start_matches("/api").trim_start_matches("/v10");
    let parts: Vec<&str> = tail.trim_matches('/').split('/').collect();
    if *method == Method::POST && parts.len() == 3 && parts[0] == "channels" && parts[2] == "messages" {
        return (format!("messages:{}", parts[1]), MESSAGES_PER_WINDOW, MESSAGES_WINDOW);
    }
    ("global".to_owned(), GLOBAL_PER_WINDOW, GLOBAL_WINDOW)
}

/// Middleware: counts the request against its bucket and answers with the
/// bucket's headers (or a 429).
pub async fn limit(State(limits): State<Arc<RateLimits>>, request: Request, next: Next) -> Response {
    let Some(token) = request.headers().get("authorization").map(|v| Sha256::digest(v.as_bytes()).to_vec()) else {
        return next.run(request).await;
    };
    let (bucket, per_window, window) = bucket_of(request.method(), request.uri().path());
    // Every request counts against the global limit too, as on Discord.
    let global = limits.take(&token, "global".to_owned(), GLOBAL_PER_WINDOW, GLOBAL_WINDOW);
    let route = (bucket != "global").then(|| limits.take(&token, bucket, per_window, window));
    let verdict = route.as_ref().unwrap_or(&global);
    let refusal = if !global.allowed { Some((&global, true)) } else { (!verdict.allowed).then_some((verdict, false)) };
    let mut response = match refusal {
        None => next.run(request).await,
        Some((limited, is_global)) => {
            let retry_after = limited.reset_after.as_secs_f64();
            let body =
                json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global});
            let mut refused = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            let headers = refused.headers_mut();
            insert(headers, "retry-after", retry_after.ceil().to_string());
            insert(headers, "x-ratelimit-scope", if is_global { "global" } else { "user" }.to_owned());
            insert(headers, "x-ratelimit-global", is_global.to_string());
            insert(headers, "via", "1.1 nexus-bridge".to_owned());
            refused
        }
    };
    let reset_at = std::time::SystemTime::now() + verdict.reset_after;
    let reset_at = reset_at.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let headers = response.headers_mut();
    insert(headers, "x-ratelimit-limit", verdict.limit.to_string());
    insert(headers, "x-ratelimit-remaining", verdict.remaining.to_string());
    insert(headers, "x-ratelimit-reset", format!("{reset_at:.3}"));
    insert(headers, "x-ratelimit-reset-after", format!("{:.3}", verdict.reset_after.as_secs_f64()));
    insert(headers, "x-ratelimit-bucket", hex_of(&Sha256::digest(verdict.bucket.as_bytes())[..8]));
    response
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(name, value);
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_creates_count_per_channel_and_the_rest_globally() {
        assert_eq!(bucket_of(&Method::POST, "/api/v10/channels/7/messages").0, "messages:7");
        assert_eq!(bucket_of(&Method::POST, "/api/channels/8/messages").0, "messages:8");
        assert_eq!(bucket_of(&Method::GET, "/api/v10/channels/7/messages").0, "global");
        let limits = RateLimits::default();
        for n in 0..MESSAGES_PER_WINDOW {
            let verdict = limits.take(b"t", "messages:7".into(), MESSAGES_PER_WINDOW, MESSAGES_WINDOW);
            assert!(verdict.allowed);
            assert_eq!(verdict.remaining, MESSAGES_PER_WINDOW - n - 1);
        }
        assert!(!limits.take(b"t", "messages:7".into(), MESSAGES_PER_WINDOW, MESSAGES_WINDOW).allowed);
        assert!(limits.take(b"t", "messages:8".into(), MESSAGES_PER_WINDOW, MESSAGES_WINDOW).allowed);
        assert!(limits.take(b"u", "messages:7".into(), MESSAGES_PER_WINDOW, MESSAGES_WINDOW).allowed);
    }
}
