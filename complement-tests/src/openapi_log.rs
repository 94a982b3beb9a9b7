//! A record of every JSON answer the scenarios receive, for
//! `openapi_check.py`, which validates each against the response schema the
//! spec's OpenAPI gives for its endpoint and status. That way a field that
//! drifts from the spec (a `null` where the schema says string, a missing
//! required key) fails the test command, whichever scenario saw it.
//!
//! On when `NEXUS_OPENAPI_LOG` names a file; lines are appended whole
//! (`O_APPEND`), so concurrent tests and test binaries share one file.

use std::io::Write;
use std::sync::OnceLock;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Bodies larger than this are left out (media listings, big syncs): the
/// shapes they share are covered by smaller answers.
const MAX_LOGGED_BYTES: usize = 256 * 1024;

fn log_file() -> Option<&'static std::sync::Mutex<std::fs::File>> {
    static FILE: OnceLock<Option<std::sync::Mutex<std::fs::File>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::var_os("NEXUS_OPENAPI_LOG")?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).ok()?;
        Some(std::sync::Mutex::new(file))
    })
    .as_ref()
}

/// Appends one answer: method, path, query, status, the `Server` header
/// (so Synapse's answers can be told from Nexus's) and the JSON body.
pub fn record(method: &str, path: &str, query: Option<&str>, headers: &HeaderMap, status: u16, body: &Value) {
    let Some(file) = log_file() else { return };
    if body.is_null() {
        return;
    }
    let server = headers.get("server").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut line =
        json!({"method": method, "path": path, "query": query, "status": status, "server": server, "body": body})
            .to_string();
    if line.len() > MAX_LOGGED_BYTES {
        return;
    }
    line.push('\n');
    if let Ok(mut file) = file.lock() {
        let _ = file.write_all(line.as_bytes());
    }
}
