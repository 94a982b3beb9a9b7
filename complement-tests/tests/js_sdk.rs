//! matrix-js-sdk as a judge: the engine inside Element Web (with its Rust
//! crypto in WASM) drives a real Nexus through `js/scenarios.mjs`, one
//! process per scenario: login, invite/join/message, edits and reactions,
//! encrypted messages both ways, pagination from a new device, typing and
//! receipts, a profile change seen by others, logout.
//!
//! The judge lives in `NEXUS_JS_DIR` (default `~/.cache/nexus-js`, made by
//! `scripts/js-judge.sh`: matrix-js-sdk and Node 22 from the npm registry).
//! Without it the scenarios are skipped with a SKIP line, unless
//! `NEXUS_TEST_REQUIRE_JS=1` (the test command sets it), when that fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nexus_complement::{Backend, Homeserver};

/// A scenario's whole run, clients and all.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

fn judge_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NEXUS_JS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/nexus-js")))?;
    let ready = dir.join("node_modules/.bin/node").is_file() && dir.join("node_modules/matrix-js-sdk").is_dir();
    if ready {
        return Some(dir);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_JS").as_deref() == Ok("1") {
        panic!("the matrix-js-sdk judge is not installed in {} (run scripts/js-judge.sh)", dir.display());
    }
    None
}

/// The scenario file beside the judge's `node_modules`, where Node's module
/// resolution finds matrix-js-sdk. Installed once per test process (the
/// scenarios run in parallel threads), under a staging name of the
/// process's own and then renamed, so other processes never read half a
/// file.
fn install_scenarios(dir: &std::path::Path) -> PathBuf {
    static INSTALLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/scenarios.mjs");
            let target = dir.join("scenarios.mjs");
            let staging = dir.join(format!(".scenarios-{}.mjs", std::process::id()));
            std::fs::copy(&source, &staging).expect("copy the js-sdk scenarios");
            std::fs::rename(&staging, &target).expect("move the js-sdk scenarios into place");
            target
        })
        .clone()
}

async fn js_scenario(name: &str) {
    let Some(dir) = judge_dir() else {
        eprintln!("SKIP js_sdk::{name}: the matrix-js-sdk judge is not installed (scripts/js-judge.sh)");
        return;
    };
    let hs = Homeserver::start(Backend::RocksDb).await;
    let script = install_scenarios(&dir);
    let child = tokio::process::Command::new(dir.join("node_modules/.bin/node"))
        .arg(&script)
        .arg(hs.base_url())
        .arg(name)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let output = tokio::time::timeout(SCENARIO_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("js-sdk scenario {name} did not finish within {SCENARIO_TIMEOUT:?}"))
        .expect("wait for node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "js-sdk scenario {name} failed ({}):\n{stdout}\n{stderr}\n--- server log tail ---\n{}",
        output.status,
        hs.log_tail()
    );
}

macro_rules! js_scenarios {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                js_scenario(stringify!($name)).await;
            }
        )+
    };
}

js_scenarios!(
    login,
    invite_join_message,
    edits_and_reactions,
    encrypted_messages_both_ways,
    pagination_from_a_new_device,
    typing_and_receipts,
    profile_change_visible_to_others,
    logout,
);
