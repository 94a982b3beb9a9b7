//! A bounded fuzz run in the test command: schemathesis (PyPI) generates
//! requests for every operation of the spec's client-server OpenAPI —
//! positive and negative data, authenticated as a fixture user, with this
//! server's real room, event, user and media ids in path parameters — for
//! `NEXUS_FUZZ_SECONDS` (default 120). It fails on any 5xx other than 502
//! (another server unreachable: the invented server names exist nowhere),
//! any answer that violates its response schema outside the commented
//! allow-list in `fuzz/hooks.py`, any panic in the server log, and a
//! server that does not answer afterwards. Outbound connections go
//! nowhere: the outbound policy's default refuses loopback and private
//! ranges, and the machine has no other network.
//!
//! The fuzzer lives in `NEXUS_FUZZ_VENV` (default
//! `~/.cache/nexus-bench/fuzz-venv`, made by `scripts/test.sh`); without it
//! the run is skipped with a SKIP line, unless `NEXUS_TEST_REQUIRE_FUZZ=1`.

use std::path::PathBuf;
use std::time::Duration;

use nexus_complement::media_client::MediaClient;
use nexus_complement::{Backend, Homeserver};
use serde_json::json;

fn fuzz_python() -> Option<PathBuf> {
    let venv = std::env::var_os("NEXUS_FUZZ_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nexus-bench/fuzz-venv")))?;
    let python = venv.join("bin/python");
    if python.is_file() && venv.join("bin/schemathesis").is_file() {
        return Some(python);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_FUZZ").as_deref() == Ok("1") {
        panic!("schemathesis is not installed in {} (scripts/test.sh installs it)", venv.display());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_panics_or_schema_violations() {
    let Some(python) = fuzz_python() else {
        eprintln!("SKIP fuzz_schemathesis: schemathesis is not installed");
        return;
    };
    let seconds: u64 = std::env::var("NEXUS_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    let hs = Homeserver::builder(Backend::RocksDb).env("NEXUS__OUTBOUND__ALLOWED_IP_RANGES", "[]").start().await;
    let api = hs.api();
    let fuzz = api.register("fuzz", "fuzz-password-1").await;
    let other = api.register("other", "fuzz-password-1").await;
    let room_id =
        fuzz.create_room(json!({"preset": "public_chat", "room_alias_name": "fuzz", "invite": [other.user_id]})).await;
    let event_id = fuzz.send_message(&room_id, "fuzz me").await;
    let mxc = MediaClient::new(&fuzz).upload_ok(b"fuzz".to_vec(), "text/plain", Some("fuzz.txt")).await;
    let report_dir = tempfile::tempdir().expect("a report directory");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/run.py");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(script)
        .arg(hs.base_url())
        .arg(&fuzz.access_token)
        .arg(seconds.to_string())
        .arg(report_dir.path())
        .kill_on_drop(true);
    for (name, value) in [
        ("roomId", room_id.clone()),
        ("roomIdOrAlias", room_id.clone()),
        ("roomAlias", format!("#fuzz:{}", hs.server_name())),
        ("eventId", event_id),
        ("userId", fuzz.user_id.clone()),
        ("deviceId", fuzz.device_id.clone()),
        ("serverName", mxc.server_name.clone()),
        ("mediaId", mxc.media_id.clone()),
    ] {
        command.arg("--set").arg(format!("{name}={value}"));
    }
    let output = tokio::time::timeout(Duration::from_secs(seconds + 300), command.output())
        .await
        .expect("the fuzz run ends within its budget")
        .expect("run the fuzzer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "the fuzz run found problems:\n{stdout}\n{stderr}");

    // The server survived and nothing panicked.
    api.get("/_matrix/client/versions").await.expect_ok();
    let log = hs.log();
    let panics: Vec<&str> = log.lines().filter(|l| l.contains("panic")).take(20).collect();
    assert!(panics.is_empty(), "the server panicked during the fuzz run:\n{}", panics.join("\n"));
}
