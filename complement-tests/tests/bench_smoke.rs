//! The benchmark driver's smoke run (issue 10): every workload, tiny scale, a
//! few seconds, against a real Nexus — in process, through the library — so
//! the driver cannot rot. It measures nothing worth reading; it checks that
//! every figure comes out and is a finite number.

use std::time::Duration;

use nexus_complement::bench::{ALL_FIGURES, Bench, Config, Workload};
use nexus_complement::{Backend, Homeserver};

/// The whole smoke run, setup included, must finish within this.
const SMOKE_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smoke_run_reports_every_figure() {
    let hs = Homeserver::start(Backend::RocksDb).await;
    let mut config = Config::new(hs.base_url()).expect("a loopback URL");
    config.server_name = Some(hs.server_name());
    config.pid = hs.pid();
    let bench = Bench::new(config).expect("a driver");

    let report = tokio::time::timeout(SMOKE_TIMEOUT, bench.run(Workload::Smoke))
        .await
        .unwrap_or_else(|_| panic!("the smoke run took longer than {SMOKE_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("the smoke run failed: {e:#}"));
    eprintln!("{}", report.to_text());

    for name in ALL_FIGURES {
        let figure = report.get(name).unwrap_or_else(|| panic!("no {name} figure in:\n{}", report.to_text()));
        assert!(!figure.fields.is_empty(), "{name} is empty");
        for (key, value) in &figure.fields {
            assert!(value.is_finite(), "{name}.{key} = {value} is not finite");
        }
        if name.starts_with("memory") {
            assert!(figure.get("rss_kib").unwrap() > 0.0, "{name}: no resident memory");
            continue;
        }
        for key in ["count", "duration_ms", "throughput_per_s", "p50_ms", "p90_ms", "p99_ms", "retries_429", "errors"] {
            assert!(figure.get(key).is_some(), "{name} has no {key}");
        }
        assert!(figure.get("count").unwrap() >= 1.0, "{name} measured nothing");
        assert_eq!(figure.get("errors"), Some(0.0), "{name} had failed requests");
        assert!(figure.get("p50_ms") <= figure.get("p99_ms"), "{name}: p50 above p99");
    }
    assert_eq!(report.figures.len(), ALL_FIGURES.len(), "unexpected figures:\n{}", report.to_text());

    // The JSON document has the same figures.
    let json = report.to_json();
    for name in ALL_FIGURES {
        assert!(json[name].is_object(), "{name} missing from the JSON document");
    }
}

/// The `discord` workload (the bot API; not part of `smoke`, since Synapse
/// has no bot API) at a tiny size: every figure, no failed request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_discord_workload_reports_its_figures() {
    let hs = Homeserver::start(Backend::RocksDb).await;
    let mut config = Config::new(hs.base_url()).expect("a loopback URL");
    config.server_name = Some(hs.server_name());
    config.pid = hs.pid();
    config.duration = Duration::from_secs(2);
    config.count = Some(20);
    config.concurrency = 4;
    config.rooms = Some(2);
    config.bots = 2;
    config.gateway_sessions = 6;
    let bench = Bench::new(config).expect("a driver");

    let report = tokio::time::timeout(SMOKE_TIMEOUT, bench.run(Workload::Discord))
        .await
        .unwrap_or_else(|_| panic!("the discord run took longer than {SMOKE_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("the discord run failed: {e:#}"));
    eprintln!("{}", report.to_text());
    let names =
        ["discord_rest_creates", "discord_dispatch_latency", "discord_gateway_sessions", "discord_gateway_fanout"];
    assert_eq!(report.figures.len(), names.len(), "unexpected figures:\n{}", report.to_text());
    for name in names {
        let figure = report.get(name).unwrap_or_else(|| panic!("no {name} figure in:\n{}", report.to_text()));
        for (key, value) in &figure.fields {
            assert!(value.is_finite(), "{name}.{key} = {value} is not finite");
        }
        assert!(figure.get("count").unwrap() >= 1.0, "{name} measured nothing");
        assert_eq!(figure.get("errors"), Some(0.0), "{name} had failed requests");
        assert!(figure.get("p50_ms") <= figure.get("p99_ms"), "{name}: p50 above p99");
    }
    assert_eq!(report.get("discord_gateway_sessions").unwrap().get("sessions"), Some(6.0));
    assert_eq!(report.get("discord_gateway_fanout").unwrap().get("sessions"), Some(6.0));
}

/// The `idle-connections` workload (issue 27; run alone, at 18,000
/// connections, by scripts/bench.sh) at a tiny size: every member's poll
/// woken in every round, the idle ones held, memory per connection reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_idle_connections_workload_reports_its_figures() {
    let hs = Homeserver::start(Backend::RocksDb).await;
    let mut config = Config::new(hs.base_url()).expect("a loopback URL");
    config.server_name = Some(hs.server_name());
    config.pid = hs.pid();
    config.duration = Duration::from_secs(2);
    config.connections = 150;
    config.members = 10;
    let bench = Bench::new(config).expect("a driver");

    let report = tokio::time::timeout(SMOKE_TIMEOUT, bench.run(Workload::IdleConnections))
        .await
        .unwrap_or_else(|_| panic!("the idle-connections run took longer than {SMOKE_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("the idle-connections run failed: {e:#}"));
    eprintln!("{}", report.to_text());
    let held = report.get("idle_connections").expect("the held figure");
    assert_eq!(held.get("connections"), Some(150.0));
    assert_eq!(held.get("errors"), Some(0.0), "a held connection failed");
    if hs.pid().is_some() {
        assert!(held.get("kib_per_connection").is_some_and(f64::is_finite));
    }
    let wake = report.get("idle_connections_wake").expect("the wake figure");
    assert_eq!(wake.get("errors"), Some(0.0), "a member's poll was not woken");
    let count = wake.get("count").unwrap();
    assert!(count >= 10.0 && count % 10.0 == 0.0, "every member once per round: {count}");
    assert!(wake.get("p50_ms") <= wake.get("p99_ms"));
}

/// Runs one of the package's benchmark binaries (as `scripts/bench.sh`
/// does, at a tiny size) and returns its JSON.
fn run_bench_binary(path: &str, args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new(path)
        .args(args)
        .arg("--json")
        .env("NEXUS_BIN", nexus_complement::homeserver::nexus_binary())
        .output()
        .unwrap_or_else(|e| panic!("could not run {path}: {e}"));
    assert!(output.status.success(), "{path} failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{path} printed no JSON ({e}):\n{}", String::from_utf8_lossy(&output.stdout)))
}

/// `federated-join` (joins over federation, issue 27) at a tiny size: a
/// 20-member room joined by a second Nexus, every phase timed in order.
#[test]
fn the_federated_join_benchmark_reports_its_figures() {
    let figures = run_bench_binary(env!("CARGO_BIN_EXE_federated-join"), &["20", "--pairs", "nexus-nexus"]);
    let pair = &figures["pairs"][0];
    assert_eq!(pair["members"], 20, "{figures:#}");
    let phases: Vec<f64> = ["join_ms", "send_ms", "read_ms", "all_members_ms"]
        .iter()
        .map(|key| pair[*key].as_f64().unwrap_or_else(|| panic!("no {key}: {figures:#}")))
        .collect();
    assert!(phases.windows(2).all(|w| w[0] > 0.0 && w[0] <= w[1]), "phases out of order: {figures:#}");
}

/// `cold-start` (start-up time against history, issue 27) at a tiny size.
#[test]
fn the_cold_start_benchmark_reports_its_figures() {
    let figures = run_bench_binary(env!("CARGO_BIN_EXE_cold-start"), &["300", "--users", "16"]);
    assert_eq!(figures["events"], 300, "{figures:#}");
    for key in ["start_empty_ms", "start_after_stop_ms", "start_after_kill9_ms", "store_mib"] {
        assert!(figures[key].as_f64().is_some_and(|v| v > 0.0), "no {key}: {figures:#}");
    }
}

/// `giant-room` (a big room's costs beside a small one's, issue 27) at a
/// tiny size.
#[test]
fn the_giant_room_benchmark_reports_its_figures() {
    let figures = run_bench_binary(env!("CARGO_BIN_EXE_giant-room"), &["30"]);
    assert_eq!(figures["members"], 32, "{figures:#}");
    for room in ["small", "giant"] {
        for key in ["send_ms", "members_ms", "joined_members_ms", "lazy_initial_sync_ms", "incremental_sync_ms"] {
            let figure = &figures[room][key];
            let (p50, p99) = (figure["p50"].as_f64().unwrap_or(0.0), figure["p99"].as_f64().unwrap_or(0.0));
            assert!(p50 > 0.0 && p50 <= p99, "{room} {key}: {figures:#}");
        }
    }
    assert_eq!(figures["growth"].as_array().map(Vec::len), Some(10), "{figures:#}");
}
