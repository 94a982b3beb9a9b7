//! The `nexus` command line: help text, and configuration errors that must
//! stop the server before it serves anything, naming the offending key.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nexus_complement::homeserver::free_port;
use nexus_complement::{Backend, Homeserver, both_backends, nexus_binary};
use serde_json::json;

/// How long a misconfigured server may take to give up.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `nexus` with `args` and `env` in `dir` (storage inside it, on a free
/// port) until it exits; kills it (by PID, it is our child) and fails the
/// test if it is still running after [`EXIT_TIMEOUT`].
fn run_to_exit(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let port = free_port();
    let mut child = Command::new(nexus_binary())
        .args(args)
        .current_dir(dir)
        .env("NEXUS__SERVER__SERVER_NAME", format!("localhost:{port}"))
        .env("NEXUS__LISTENERS__CLIENT", format!("127.0.0.1:{port}"))
        .env("NEXUS__STORAGE__PATH", dir.join("data"))
        .env("NEXUS__STORAGE__BACKEND", "rocksdb")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nexus");
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        if child.try_wait().expect("poll nexus").is_some() {
            return child.wait_with_output().expect("collect nexus output");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect nexus output");
            panic!(
                "nexus {args:?} was still running after {EXIT_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn assert_fails_naming(output: &Output, key: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected a non-zero exit, got {}\nstderr:\n{stderr}", output.status);
    assert!(stderr.to_lowercase().contains(&key.to_lowercase()), "stderr does not name {key:?}:\n{stderr}");
}

#[test]
fn help_lists_the_serve_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");

    let output = run_to_exit(dir.path(), &["--help"], &[]);

    assert!(output.status.success(), "nexus --help exited with {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("serve"), "no serve subcommand in:\n{stdout}");
}

#[test]
fn invalid_value_in_environment_fails_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");

    let output = run_to_exit(dir.path(), &["serve"], &[("NEXUS__LISTENERS__MAX_REQUEST_BYTES", "lots")]);

    assert_fails_naming(&output, "max_request_bytes");
}

#[test]
fn invalid_backend_in_environment_fails_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");

    let output = run_to_exit(dir.path(), &["serve"], &[("NEXUS__STORAGE__BACKEND", "floppy-disk")]);

    assert_fails_naming(&output, "backend");
}

#[test]
fn unknown_key_in_config_file_fails_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("nexus.toml");
    std::fs::write(&config, "[server]\nserver_nmae = \"example.org\"\n").expect("write config");

    let output = run_to_exit(dir.path(), &["serve", "--config", config.to_str().expect("utf-8 path")], &[]);

    assert_fails_naming(&output, "server_nmae");
}

#[test]
fn unknown_section_in_config_file_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("nexus.toml");
    std::fs::write(&config, "[no_such_section]\nkey = 1\n").expect("write config");

    let output = run_to_exit(dir.path(), &["serve", "--config", config.to_str().expect("utf-8 path")], &[]);

    assert_fails_naming(&output, "no_such_section");
}

#[test]
fn missing_config_file_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("does-not-exist.toml");

    let output = run_to_exit(dir.path(), &["serve", "--config", missing.to_str().expect("utf-8 path")], &[]);

    assert_fails_naming(&output, "does-not-exist.toml");
}

async fn settings_from_the_config_file_apply(backend: Backend) {
    let hs = Homeserver::builder(backend).config_file("[registration]\nenabled = false\n").start().await;

    hs.api()
        .post("/register", json!({"username": "alice", "password": "sUp3r-secret"}))
        .await
        .expect_error(403, "M_FORBIDDEN");
}
both_backends!(settings_from_the_config_file_apply);

async fn environment_overrides_the_config_file(backend: Backend) {
    let hs = Homeserver::builder(backend)
        .config_file("[registration]\nenabled = false\n")
        .env("NEXUS__REGISTRATION__ENABLED", "true")
        .start()
        .await;

    hs.api().register("alice", "sUp3r-secret").await;
}
both_backends!(environment_overrides_the_config_file);
