//! The Prometheus endpoint (`[listeners] metrics`), scraped as Prometheus
//! scrapes it: the text format parses line by line (every sample under a
//! `# TYPE`, histograms whole), Synapse's series are there under Synapse's
//! names and labels (so its Grafana panels work), and they move when the
//! server works — sends under `RoomSendEventRestServlet`, syncs timed under
//! `SyncRestServlet`, persisted events, `process_*`, the store's figures.
//! The client listener does not serve it.

use std::collections::BTreeMap;

use nexus_complement::homeserver::free_port;
use nexus_complement::{Backend, Homeserver, both_backends};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

/// One scrape: every sample by its name and sorted labels.
struct Scrape {
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// Parses the text format strictly; panics on anything Prometheus
    /// would refuse.
    fn parse(text: &str) -> Scrape {
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut samples = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line:?}");
                assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "a second TYPE for {name}");
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, labels_of(rest.strip_suffix('}').expect("labels end with }"), line)),
                None => (series, Vec::new()),
            };
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') && !name.is_empty(),
                "bad metric name in {line:?}"
            );
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix).filter(|base| types.get(*base).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "{name} has no # TYPE line before it");
            let mut key = name.to_owned();
            if !labels.is_empty() {
                let mut labels = labels;
                labels.sort();
                let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                key = format!("{name}{{{}}}", inner.join(","));
            }
            samples.insert(key, value);
        }
        Scrape { samples }
    }

    /// The sum of every sample of `name` whose labels include all of `with`.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(key, _)| {
                let (sample, labels) = key.split_once('{').unwrap_or((key, ""));
                sample == name
                    && with
                        .iter()
                        .all(|(k, v)| labels.split(',').any(|l| l.trim_end_matches('}') == format!("{k}={v}")))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    fn has(&self, name: &str, with: &[(&str, &str)]) -> bool {
        self.samples.keys().any(|key| {
            let (sample, labels) = key.split_once('{').unwrap_or((key, ""));
            sample == name
                && with.iter().all(|(k, v)| labels.split(',').any(|l| l.trim_end_matches('}') == format!("{k}={v}")))
        })
    }
}

/// `a="x",b="y"` (values may hold escaped quotes and commas).
fn labels_of(text: &str, line: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad labels in {line:?}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => value.push(chars.next().map(|(_, c)| c).expect("an escape")),
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        labels.push((name.to_owned(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(kind.starts_with("text/plain"), "the text format's content type, not {kind:?}");
    Scrape::parse(&response.text().await.unwrap())
}

async fn scraped_series_are_synapses_and_they_move(backend: Backend) {
    let port = free_port();
    let hs = Homeserver::builder(backend).env("NEXUS__LISTENERS__METRICS", format!("127.0.0.1:{port}")).start().await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let alice = hs.api().register("alice", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "private_chat"})).await;
    for i in 0..3 {
        alice.send_message(&room, &format!("message {i}")).await;
    }
    alice.sync_reply("timeout=0").await.expect_ok();

    let first = scrape(&url).await;
    let send = [("method", "PUT"), ("servlet", "RoomSendEventRestServlet")];
    assert!(first.sum("synapse_http_server_requests_received_total", &send) >= 3.0, "sends counted");
    assert!(
        first.has(
            "synapse_http_server_response_time_seconds_bucket",
            &[("servlet", "SyncRestServlet"), ("code", "200"), ("le", "0.001")]
        ),
        "sync timed in Synapse's buckets"
    );
    assert!(first.sum("synapse_http_server_responses_total", &[("method", "PUT"), ("code", "200")]) >= 3.0);
    assert!(first.has("synapse_http_server_in_flight_requests_count", &[("servlet", "RoomSendEventRestServlet")]));
    let persisted = first.sum("synapse_storage_events_persisted_events_total", &[]);
    assert!(persisted >= 3.0, "the room's events and the messages were persisted: {persisted}");
    for process in
        ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"]
    {
        assert!(first.has(process, &[]), "{process}");
    }
    assert!(first.has("nexus_tokio_alive_tasks", &[]));
    let store = match backend {
        Backend::RocksDb => "rocksdb_memtables_bytes",
        Backend::Postgres => "postgres_pool_connections",
    };
    assert!(first.sum("nexus_store_statistic", &[("name", store)]) > 0.0, "{store}");

    // Two more sends: the counters move by exactly what happened.
    for i in 3..5 {
        alice.send_message(&room, &format!("message {i}")).await;
    }
    let second = scrape(&url).await;
    assert_eq!(
        second.sum("synapse_http_server_requests_received_total", &send)
            - first.sum("synapse_http_server_requests_received_total", &send),
        2.0
    );
    assert!(second.sum("synapse_storage_events_persisted_events_total", &[]) >= persisted + 2.0);

    // Not on the client listener: only who reaches the metrics port sees it.
    let on_client = reqwest::get(format!("{}/metrics", hs.base_url())).await.expect("the client listener answers");
    assert_eq!(on_client.status(), 404);
}
both_backends!(scraped_series_are_synapses_and_they_move);

/// Every series the Grafana dashboard (`docker/grafana-dashboard.json`)
/// queries is one the server exports: seen in a scrape, or named in the
/// server's source (series that appear only once something happened, such
/// as a failed push).
#[tokio::test]
async fn the_dashboard_queries_only_series_the_server_exports() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docker/grafana-dashboard.json")).unwrap()).unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_owned()))
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut names: Vec<String> = exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(str::to_owned).collect::<Vec<_>>()
        })
        .filter(|w| ["synapse_", "process_", "nexus_"].iter().any(|p| w.starts_with(p)))
        .map(|w| w.strip_suffix("_bucket").map(str::to_owned).unwrap_or(w))
        .collect();
    names.sort();
    names.dedup();

    let port = free_port();
    let hs = Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__LISTENERS__METRICS", format!("127.0.0.1:{port}"))
        .start()
        .await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room = alice.create_room(json!({})).await;
    alice.send_message(&room, "hello").await;
    let scraped = scrape(&format!("http://127.0.0.1:{port}/metrics")).await;
    let mut sources = String::new();
    read_sources(&root.join("homeserver"), &mut sources);
    let unknown: Vec<&String> = names
        .iter()
        .filter(|name| {
            let seen = scraped.samples.keys().any(|k| k.starts_with(name.as_str()));
            !seen && !sources.contains(&format!("\"{name}\""))
        })
        .collect();
    assert!(unknown.is_empty(), "the dashboard queries series the server never exports: {unknown:?}");
}

fn read_sources(dir: &std::path::Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
}
