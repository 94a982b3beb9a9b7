//! Media scenarios in a network namespace of their own. WebRTC stacks
//! (LiveKit's native SDK, Chromium) offer no loopback ICE candidates, so a
//! test re-executes its own binary for itself alone under `unshare -n`,
//! with loopback up and a veth interface holding [`NAMESPACE_ADDRESS`] for
//! the SFU's UDP socket. `unshare -n` must be permitted (root, as in CI).

use std::process::Stdio;
use std::sync::OnceLock;

/// Set in the re-executed test binary: the namespace's address for the SFU.
pub const NAMESPACE_ENV: &str = "NEXUS_SFU_NETNS";
pub const NAMESPACE_ADDRESS: &str = "10.203.0.1";

/// In the re-executed binary: the namespace's address, and the scenario
/// runs. Outside: runs `test_name` in a namespace of its own, asserts that
/// it passed, and `None`.
pub async fn in_own_namespace(test_name: &str) -> Option<String> {
    match std::env::var(NAMESPACE_ENV) {
        Ok(address) => Some(address),
        Err(_) => {
            run_in_own_namespace(test_name).await;
            None
        }
    }
}

/// Re-executes this test binary for `test_name` alone in a new network
/// namespace (loopback up, plus a veth interface holding
/// [`NAMESPACE_ADDRESS`]), prints its output and asserts it passed.
async fn run_in_own_namespace(test_name: &str) {
    static PERMITTED: OnceLock<bool> = OnceLock::new();
    // One scenario at a time: each runs a server and two WebRTC clients
    // encoding and decoding in real time, and the timing they are judged
    // on would not survive four of them sharing two cores.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    let permitted = *PERMITTED.get_or_init(|| {
        std::process::Command::new("unshare")
            .args(["-n", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    assert!(
        permitted,
        "{test_name} must run in a network namespace of its own (LiveKit's WebRTC offers no \
         loopback ICE candidates), but `unshare -n true` failed: run the tests as root, as CI does"
    );

    let _turn = ONE_AT_A_TIME.lock().await;
    let setup = format!(
        "ip link set lo up && ip link add sfu0 type veth peer name sfu1 \
         && ip addr add {NAMESPACE_ADDRESS}/24 dev sfu0 && ip link set sfu1 up && ip link set sfu0 up && exec \"$@\""
    );
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let output = tokio::process::Command::new("unshare")
        .args(["-n", "--", "sh", "-c", &setup, "sh"])
        .arg(test_binary)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(NAMESPACE_ENV, NAMESPACE_ADDRESS)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "{test_name} failed in its network namespace ({}); its output is above",
        output.status
    );
    // A name that matched no test would pass having run nothing.
    assert!(stdout.contains("test result: ok. 1 passed"), "{test_name} did not run in its network namespace");
}
