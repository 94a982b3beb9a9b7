//! Real bridge libraries as judges of the application service API, run
//! unchanged against Nexus:
//! - mautrix-python (`appservice-judges/mautrix_judge.py`): the start-up
//!   handshake, a ghost's room with a real user, a reply in a transaction,
//!   typing and receipts, a failed transaction retried with the same id,
//!   MSC4190 devices and device masquerading, and a Megolm message from the
//!   ghost's device that matrix-sdk (here) decrypts;
//! - matrix-appservice-bridge (`appservice-judges/bridge_judge.cjs`): the
//!   registration file, an intent sending a message, an alias query making
//!   a room on demand, ephemeral events.
//!
//! The libraries live in caches made by `scripts/appservice-judges.sh`
//! (pip and npm registries). Without them the scenarios are skipped with a
//! SKIP line, unless `NEXUS_TEST_REQUIRE_APPSERVICE_JUDGES=1`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::{EventId, RoomId};
use nexus_complement::appservice::{RegistrationFile, registration_files_env};
use nexus_complement::homeserver::free_port;
use nexus_complement::{Backend, Homeserver, both_backends};
use serde_json::Value;

const PASSWORD: &str = "sUp3r-secret";
const JUDGE_TIMEOUT: Duration = Duration::from_secs(120);

fn cache(env: &str, default: &str, ready: &[&str]) -> Option<PathBuf> {
    let dir = std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(default)))?;
    if ready.iter().all(|p| dir.join(p).exists()) {
        return Some(dir);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_APPSERVICE_JUDGES").as_deref() == Ok("1") {
        panic!("the appservice judges are not installed in {} (run scripts/appservice-judges.sh)", dir.display());
    }
    None
}

fn judge_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("appservice-judges").join(name)
}

/// A server with this registration, written in `dir`.
async fn start_with(backend: Backend, r: &RegistrationFile, dir: &Path) -> (Homeserver, PathBuf) {
    let path = r.write_to(dir);
    let hs = Homeserver::builder(backend)
        .env("NEXUS__APPSERVICE__REGISTRATION_FILES", registration_files_env(std::slice::from_ref(&path)))
        .start()
        .await;
    (hs, path)
}

async fn run_judge(mut command: tokio::process::Command, what: &str, hs: &Homeserver) -> (String, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let output = tokio::time::timeout(JUDGE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {JUDGE_TIMEOUT:?}"))
        .expect("wait for the judge");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}\n--- server log tail ---\n{}",
        output.status,
        hs.log_tail()
    );
    (stdout, stderr)
}

async fn mautrix_python_bridge_works_unchanged(backend: Backend) {
    let Some(venv) = cache("NEXUS_APPSERVICE_VENV", ".cache/nexus-appservice-venv", &["bin/python", ".installed"])
    else {
        eprintln!("SKIP appservice_judges::mautrix: mautrix is not installed (scripts/appservice-judges.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut r = RegistrationFile::new("mautrix", Some(format!("http://127.0.0.1:{port}")));
    r.receive_ephemeral = true;
    r.msc4190 = true;
    let (hs, _) = start_with(backend, &r, dir.path()).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // Alice's encrypting device: matrix-sdk, keys uploaded before the
    // bridge shares its room key.
    let sdk = Client::builder().homeserver_url(hs.base_url()).build().await.expect("a matrix-sdk client");
    sdk.matrix_auth().login_username("alice", PASSWORD).send().await.expect("alice logs in with matrix-sdk");
    sdk.sync_once(SyncSettings::default()).await.expect("the first sync");
    sdk.encryption().wait_for_e2ee_initialization_tasks().await;

    let mut command = tokio::process::Command::new(venv.join("bin/python"));
    command
        .arg(judge_file("mautrix_judge.py"))
        .current_dir(dir.path())
        .env("JUDGE_HS_URL", hs.base_url())
        .env("JUDGE_DOMAIN", hs.server_name())
        .env("JUDGE_AS_TOKEN", &r.as_token)
        .env("JUDGE_HS_TOKEN", &r.hs_token)
        .env("JUDGE_AS_ID", &r.id)
        .env("JUDGE_BOT_LOCALPART", &r.sender_localpart)
        .env("JUDGE_AS_PORT", port.to_string())
        .env("JUDGE_ALICE_ID", &alice.user_id)
        .env("JUDGE_ALICE_TOKEN", &alice.access_token);
    let (stdout, judge_log) = run_judge(command, "the mautrix judge", &hs).await;
    let line = stdout.lines().find_map(|l| l.strip_prefix("ENCRYPTED ")).expect("the judge names its encrypted event");
    let (room_id, event_id) = line.split_once(' ').expect("room and event");
    let (room_id, event_id) = (RoomId::parse(room_id).unwrap(), EventId::parse(event_id).unwrap());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        sdk.sync_once(SyncSettings::default().timeout(Duration::from_millis(300))).await.expect("sync_once");
        let mut last = Value::Null;
        if let Some(room) = sdk.get_room(&room_id)
            && let Ok(event) = room.event(&event_id, None).await
        {
            last = event.raw().deserialize_as().expect("an event is JSON");
            if last["type"] == "m.room.message" {
                assert!(event.encryption_info().is_some(), "{last:#}");
                assert_eq!(last["content"]["body"], "a secret from a ghost", "{last:#}");
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "matrix-sdk did not decrypt the ghost's message {event_id}: {last:#}\n--- judge ---\n{judge_log}\n{}",
            hs.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
both_backends!(mautrix_python_bridge_works_unchanged);

async fn matrix_appservice_bridge_works_unchanged(backend: Backend) {
    let Some(js) = cache(
        "NEXUS_APPSERVICE_JS_DIR",
        ".cache/nexus-appservice-js",
        &["node_modules/matrix-appservice-bridge", ".installed"],
    ) else {
        eprintln!("SKIP appservice_judges::matrix_appservice_bridge: not installed (scripts/appservice-judges.sh)");
        return;
    };
    let Some(node_dir) = cache("NEXUS_JS_DIR", ".cache/nexus-js", &["node_modules/.bin/node"]) else {
        eprintln!("SKIP appservice_judges::matrix_appservice_bridge: no Node 22 (scripts/js-judge.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut r = RegistrationFile::new("mab", Some(format!("http://127.0.0.1:{port}")));
    r.receive_ephemeral = true;
    let (hs, registration) = start_with(backend, &r, dir.path()).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    let mut command = tokio::process::Command::new(node_dir.join("node_modules/.bin/node"));
    command
        .arg(judge_file("bridge_judge.cjs"))
        .arg(hs.base_url())
        .arg(hs.server_name())
        .arg(&registration)
        .arg(port.to_string())
        .arg(&alice.access_token)
        .arg(&alice.user_id)
        .current_dir(dir.path())
        .env("NODE_PATH", js.join("node_modules"));
    let (stdout, _) = run_judge(command, "the matrix-appservice-bridge judge", &hs).await;
    assert!(stdout.contains("OK"), "{stdout}");
}
both_backends!(matrix_appservice_bridge_works_unchanged);
