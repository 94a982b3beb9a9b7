//! The driver's settings: command-line parsing, defaults, the smoke
//! profile, and the loopback-only rule.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::appservice::AppserviceConfig;

/// One workload of the driver, by its command-line name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    SequentialSends,
    ConcurrentSends,
    LongPollWake,
    InitialSync,
    IncrementalSync,
    SlidingSync,
    Memory,
    DriverCeiling,
    Appservice,
    Discord,
    Search,
    IdleConnections,
    All,
    Smoke,
}

impl Workload {
    pub const ALL: [Workload; 14] = [
        Workload::SequentialSends,
        Workload::ConcurrentSends,
        Workload::LongPollWake,
        Workload::InitialSync,
        Workload::IncrementalSync,
        Workload::SlidingSync,
        Workload::Memory,
        Workload::DriverCeiling,
        Workload::Appservice,
        Workload::Discord,
        Workload::Search,
        Workload::IdleConnections,
        Workload::All,
        Workload::Smoke,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::SequentialSends => "sequential-sends",
            Workload::ConcurrentSends => "concurrent-sends",
            Workload::LongPollWake => "long-poll-wake",
            Workload::InitialSync => "initial-sync",
            Workload::IncrementalSync => "incremental-sync",
            Workload::SlidingSync => "sliding-sync",
            Workload::Memory => "memory",
            Workload::DriverCeiling => "driver-ceiling",
            Workload::Appservice => "appservice",
            Workload::Discord => "discord",
            Workload::Search => "search",
            Workload::IdleConnections => "idle-connections",
            Workload::All => "all",
            Workload::Smoke => "smoke",
        }
    }

    pub fn parse(name: &str) -> Result<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name).with_context(|| {
            let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
            format!("unknown workload {name:?}; one of: {}", names.join(", "))
        })
    }
}

/// Everything a run needs. Every measured loop stops at `count` requests or
/// after `duration`, whichever comes first.
#[derive(Clone, Debug)]
pub struct Config {
    /// The homeserver's base URL, e.g. `http://127.0.0.1:8008` (loopback only).
    pub url: String,
    /// More processes of the same server (a cluster, docs/scale-out.md):
    /// `concurrent-sends` spreads its senders over `url` and these, and
    /// `long-poll-wake` sends through the last while it syncs through `url`.
    pub also_urls: Vec<String>,
    /// The server's name; when given, registered user ids are checked against it.
    pub server_name: Option<String>,
    /// The fraction of the SBRC 2026 profile (200 users × 300 rooms × 300
    /// members) that `initial-sync` and `incremental-sync` build.
    pub scale: f64,
    /// The time bound of each measured loop.
    pub duration: Duration,
    /// Overrides every workload's default request count.
    pub count: Option<u64>,
    /// Concurrent senders (`concurrent-sends`, `driver-ceiling`).
    pub concurrency: usize,
    /// Rooms the concurrent senders share; default: concurrency / 4
    /// (`search`: the corpus's rooms, default 20).
    pub rooms: Option<usize>,
    /// The rooms of the `sliding-sync` account (default 1,000).
    pub sliding_rooms: usize,
    /// The server's process id, for `memory`.
    pub pid: Option<u32>,
    /// Print one JSON document instead of a table.
    pub json: bool,
    /// The appservice the server was started with (`appservice` workload).
    pub appservice: Option<AppserviceConfig>,
    /// Bot applications of the `discord` workload (default 32).
    pub bots: usize,
    /// Gateway sessions the `discord` workload holds at once (default
    /// 1,000; 0 skips that figure).
    pub gateway_sessions: usize,
    /// Long-polls `idle-connections` holds at once (default 18,000: under
    /// this machine's 20,000 open files per process, server and driver).
    pub connections: usize,
    /// The room whose members `idle-connections` wakes (default 1,000).
    pub members: usize,
}

impl Config {
    /// The defaults for `url`, after checking that it is a loopback URL.
    pub fn new(url: impl Into<String>) -> Result<Config> {
        let url = url.into().trim_end_matches('/').to_owned();
        check_loopback(&url)?;
        Ok(Config {
            url,
            also_urls: Vec::new(),
            server_name: None,
            scale: 0.05,
            duration: Duration::from_secs(30),
            count: None,
            concurrency: 64,
            rooms: None,
            sliding_rooms: 1_000,
            pid: None,
            json: false,
            appservice: None,
            bots: 32,
            gateway_sessions: 1_000,
            connections: 18_000,
            members: 1_000,
        })
    }

    /// The profile of the `smoke` workload: every workload, a few seconds in
    /// all, at a tiny scale. Keeps url, server name, pid and json.
    pub fn smoke(&self) -> Config {
        Config {
            scale: 0.01,
            duration: Duration::from_secs(2),
            count: Some(20),
            concurrency: 4,
            rooms: Some(2),
            sliding_rooms: 25,
            bots: 2,
            gateway_sessions: 10,
            connections: 60,
            members: 10,
            ..self.clone()
        }
    }

    /// `count` if given, else the workload's own default.
    pub fn count_or(&self, default: u64) -> u64 {
        self.count.unwrap_or(default).max(1)
    }

    /// How many setup requests run at once.
    pub fn setup_parallelism(&self) -> usize {
        self.concurrency.clamp(1, 16)
    }
}

/// Refuses anything but `http://` to a loopback address or `localhost`.
pub fn check_loopback(url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    if parsed.scheme() != "http" {
        bail!("only plain http:// on loopback is supported, not {url}");
    }
    let host = parsed.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("refusing a non-loopback target {host:?}: the driver only loads servers on this machine");
    }
    Ok(())
}

pub const USAGE: &str = "\
usage: nexus-bench --url http://127.0.0.1:PORT --workload NAME [options]

workloads: sequential-sends concurrent-sends long-poll-wake initial-sync
           incremental-sync sliding-sync memory driver-ceiling appservice discord
           search idle-connections all smoke

options:
  --also-url URL         another process of the same server (repeatable): senders
                         spread over all; long-poll-wake sends through the last
  --server-name NAME     check registered user ids against this server name
  --scale F              fraction of the SBRC 2026 profile (default 0.05)
  --duration-secs S      time bound of each measured loop (default 30)
  --count N              request count of each measured loop (default: per workload)
  --concurrency N        concurrent senders (default 64)
  --rooms M              rooms shared by the concurrent senders (default N/4);
                         discord: the server's text channels; search: the
                         corpus's rooms (default 20)
  --sliding-rooms R      rooms of the sliding-sync account (default 1000)
  --pid PID              the server's process id, for memory figures
  --as-port P            appservice: the port of the registration's url (the driver listens)
  --as-token T           appservice: the registration's as_token
  --hs-token T           appservice: the registration's hs_token (checked on every transaction)
  --as-prefix P          appservice: ghosts are @P... (default benchas_)
  --bots B               discord: bot applications in the server (default 32)
  --gateway-sessions G   discord: gateway sessions held at once (default 1000; 0 skips)
  --connections C        idle-connections: long-polls held at once (default 18000)
  --members M            idle-connections: the woken room's members (default 1000)
  --json                 print one JSON document of all figures

search: 1,000,000 x --scale messages, or NEXUS_BENCH_SEARCH_MESSAGES=N";

/// Parses the command line (without the program name). `Ok(None)` means
/// `--help` was asked for.
pub fn parse_args(args: &[String]) -> Result<Option<(Config, Workload)>> {
    let mut url = None;
    let mut workload = None;
    let mut rest: Vec<(String, String)> = Vec::new();
    let mut json = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => json = true,
            "--url" | "--also-url" | "--workload" | "--server-name" | "--scale" | "--duration-secs" | "--count"
            | "--concurrency" | "--rooms" | "--sliding-rooms" | "--pid" | "--as-port" | "--as-token" | "--hs-token"
            | "--as-prefix" | "--bots" | "--gateway-sessions" | "--connections" | "--members" => {
                let value = match inline {
                    Some(v) => v,
                    None => iter.next().with_context(|| format!("{flag} needs a value"))?.clone(),
                };
                match flag.as_str() {
                    "--url" => url = Some(value),
                    "--workload" => workload = Some(Workload::parse(&value)?),
                    _ => rest.push((flag, value)),
                }
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    let mut config = Config::new(url.context("--url is required")?)?;
    config.json = json;
    let (mut as_port, mut as_token, mut hs_token, mut as_prefix) = (None, None, None, "benchas_".to_owned());
    for (flag, value) in rest {
        let bad = || format!("bad value for {flag}: {value:?}");
        match flag.as_str() {
            "--also-url" => {
                let also = value.trim_end_matches('/').to_owned();
                check_loopback(&also)?;
                config.also_urls.push(also);
            }
            "--server-name" => config.server_name = Some(value.clone()),
            "--scale" => {
                config.scale = value.parse().with_context(bad)?;
                if !(config.scale > 0.0 && config.scale <= 1.0) {
                    bail!("--scale must be in (0, 1]");
                }
            }
            "--duration-secs" => config.duration = Duration::from_secs_f64(value.parse().with_context(bad)?),
            "--count" => config.count = Some(value.parse().with_context(bad)?),
            "--concurrency" => config.concurrency = value.parse::<usize>().with_context(bad)?.max(1),
            "--rooms" => config.rooms = Some(value.parse::<usize>().with_context(bad)?.max(1)),
            "--sliding-rooms" => config.sliding_rooms = value.parse::<usize>().with_context(bad)?.max(1),
            "--pid" => config.pid = Some(value.parse().with_context(bad)?),
            "--as-port" => as_port = Some(value.parse::<u16>().with_context(bad)?),
            "--as-token" => as_token = Some(value.clone()),
            "--hs-token" => hs_token = Some(value.clone()),
            "--as-prefix" => as_prefix = value.clone(),
            "--bots" => config.bots = value.parse::<usize>().with_context(bad)?.max(1),
            "--gateway-sessions" => config.gateway_sessions = value.parse().with_context(bad)?,
            "--connections" => config.connections = value.parse::<usize>().with_context(bad)?.max(1),
            "--members" => config.members = value.parse::<usize>().with_context(bad)?.max(1),
            _ => unreachable!("only value flags are collected"),
        }
    }
    config.appservice = match (as_port, as_token, hs_token) {
        (Some(port), Some(as_token), Some(hs_token)) => {
            Some(AppserviceConfig { port, as_token, hs_token, prefix: as_prefix })
        }
        (None, None, None) => None,
        _ => bail!("--as-port, --as-token and --hs-token go together"),
    };
    Ok(Some((config, workload.context("--workload is required")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(check_loopback("http://127.0.0.1:8008").is_ok());
        assert!(check_loopback("http://127.1.2.3:8008/").is_ok());
        assert!(check_loopback("http://localhost:8008").is_ok());
        assert!(check_loopback("http://[::1]:8008").is_ok());
        assert!(check_loopback("http://10.0.0.1:8008").is_err());
        assert!(check_loopback("http://matrix.org").is_err());
        assert!(check_loopback("https://127.0.0.1:8448").is_err());
    }

    #[test]
    fn arguments_parse() {
        let args: Vec<String> =
            ["--url", "http://127.0.0.1:1", "--workload=all", "--scale", "0.1", "--pid", "7", "--json"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let (config, workload) = parse_args(&args).unwrap().unwrap();
        assert_eq!(workload, Workload::All);
        assert_eq!(config.scale, 0.1);
        assert_eq!(config.pid, Some(7));
        assert!(config.json);
    }
}
