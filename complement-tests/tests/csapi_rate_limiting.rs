//! Rate limiting of login and registration — spec: client-server API "Rate
//! limiting" (429 `M_LIMIT_EXCEEDED`, `Retry-After`, `retry_after_ms`).
//!
//! The servers here refill one request per 1000 s with a burst of 2, so the
//! third attempt within a test is over the limit whatever the timing.

use nexus_complement::{Backend, Homeserver, Reply, both_backends, password_login};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

async fn tight_limits(backend: Backend) -> Homeserver {
    Homeserver::builder(backend)
        .env("NEXUS__RATE_LIMITS__LOGIN_PER_SECOND", "0.001")
        .env("NEXUS__RATE_LIMITS__LOGIN_BURST", "2")
        .env("NEXUS__RATE_LIMITS__REGISTER_PER_SECOND", "0.001")
        .env("NEXUS__RATE_LIMITS__REGISTER_BURST", "2")
        .start()
        .await
}

/// Asserts a rate-limit answer: 429 `M_LIMIT_EXCEEDED`; `retry_after_ms`
/// ("MAY be included", deprecated) an integer when present, `Retry-After`
/// (SHOULD) a number of seconds or an HTTP date when present, and at least
/// one of the two so that the client knows when to come back.
fn expect_rate_limited(reply: &Reply) {
    reply.expect_error(429, "M_LIMIT_EXCEEDED");
    let retry_after_ms = reply.json.get("retry_after_ms");
    if let Some(ms) = retry_after_ms {
        assert!(ms.is_u64(), "retry_after_ms must be a non-negative integer: {reply:?}");
    }
    let retry_after = reply.header("retry-after");
    if let Some(value) = retry_after {
        let value = value.trim();
        assert!(
            value.parse::<u64>().is_ok() || value.ends_with("GMT"),
            "Retry-After is neither delay-seconds nor an HTTP date: {reply:?}"
        );
    }
    assert!(retry_after_ms.is_some() || retry_after.is_some(), "neither Retry-After nor retry_after_ms: {reply:?}");
}

async fn third_failed_login_in_a_burst_of_two_is_rate_limited(backend: Backend) {
    let hs = tight_limits(backend).await;
    let api = hs.api();

    for _ in 0..2 {
        api.login_with(password_login("nobody", "wrong")).await.expect_error(403, "M_FORBIDDEN");
    }
    let third = api.login_with(password_login("nobody", "wrong")).await;

    expect_rate_limited(&third);
}
both_backends!(third_failed_login_in_a_burst_of_two_is_rate_limited);

async fn third_successful_login_in_a_burst_of_two_is_rate_limited(backend: Backend) {
    let hs = tight_limits(backend).await;
    let api = hs.api();
    // Registration has its own budget: this uses none of the login budget.
    let alice = api.register("alice", PASSWORD).await;

    alice.login_again().await;
    alice.login_again().await;
    let third = api.login_with(password_login("alice", PASSWORD)).await;

    expect_rate_limited(&third);
}
both_backends!(third_successful_login_in_a_burst_of_two_is_rate_limited);

async fn registration_attempts_beyond_the_burst_are_rate_limited(backend: Backend) {
    let hs = tight_limits(backend).await;
    let api = hs.api();

    // Whether the limiter counts every POST /register or each registration,
    // the third registration cannot get through a burst of two.
    let mut limited = None;
    for n in 0..3 {
        let reply = api.register_with(json!({"username": format!("user{n}"), "password": PASSWORD})).await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
        reply.expect_ok();
    }

    let reply = limited.expect("three quick registrations with a burst of two were all allowed");
    expect_rate_limited(&reply);
}
both_backends!(registration_attempts_beyond_the_burst_are_rate_limited);

async fn login_rate_limit_leaves_other_endpoints_alone(backend: Backend) {
    let hs = tight_limits(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    for _ in 0..3 {
        api.login_with(password_login("alice", "wrong")).await;
    }

    // Logged-in requests are not login attempts.
    alice.expect_token_valid().await;
    api.get("/_matrix/client/versions").await.expect_ok();
}
both_backends!(login_rate_limit_leaves_other_endpoints_alone);
