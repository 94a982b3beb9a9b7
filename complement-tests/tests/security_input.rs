//! No input reaches a panic: a login body without `type` used to panic
//! inside ruma's parser (caught, but with a backtrace in the log for every
//! request — a cheap way to flood it). Such bodies are refused before the
//! parser sees them.

use nexus_complement::{Backend, Homeserver};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_bodies_without_a_type_are_bad_json_and_panic_nothing() {
    let hs = Homeserver::start(Backend::RocksDb).await;
    let api = hs.api();
    for body in [json!({}), json!({"type": 7}), json!({"identifier": {"type": "m.id.user", "user": "a"}})] {
        for _ in 0..20 {
            api.post("/login", body.clone()).await.expect_error(400, "M_BAD_JSON");
        }
    }
    let log = hs.log();
    assert!(!log.contains("panic"), "a login body panicked the server; its log:\n{log}");
}
