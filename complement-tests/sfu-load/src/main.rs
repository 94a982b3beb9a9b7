//! `sfu-bench`: N publishers × M subscribers of audio through a Nexus
//! embedded SFU on loopback (see the `nexus_sfu_load` library); reports the
//! forwarding latency percentiles, the frames delivered against those
//! expected, and the server's CPU over the measured window.
//!
//! ```text
//! sfu-bench --url ws://127.0.0.1:8008/_nexus/sfu --secret-file DATA/sfu/api-secret \
//!           --publishers 2 --subscribers 50 --seconds 20 --pid 1234
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nexus_sfu_load::{Role, Tally, join_token, run_participant};
use serde_json::json;

struct Args {
    url: String,
    secret: String,
    publishers: usize,
    subscribers: usize,
    seconds: u64,
    pid: Option<u32>,
}

fn parse() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let (mut url, mut secret_file, mut publishers, mut subscribers, mut seconds, mut pid) =
        (None, None, 2, 20, 10, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = Some(value()?),
            "--secret-file" => secret_file = Some(value()?),
            "--publishers" => publishers = value()?.parse()?,
            "--subscribers" => subscribers = value()?.parse()?,
            "--seconds" => seconds = value()?.parse()?,
            "--pid" => pid = Some(value()?.parse()?),
            other => bail!("unknown argument {other}"),
        }
    }
    let secret_file = secret_file.context("--secret-file is needed")?;
    let secret = std::fs::read_to_string(&secret_file).with_context(|| format!("reading {secret_file}"))?;
    Ok(Args {
        url: url.context("--url is needed")?,
        secret: secret.trim().to_owned(),
        publishers,
        subscribers,
        seconds,
        pid,
    })
}

/// User plus system CPU seconds of a process so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks as f64 / per_second)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = parse()?;
    let epoch = Instant::now();
    let tally = Arc::new(Tally::default());
    let room = format!("bench-{}", std::process::id());
    // Long enough for everyone to join and settle, then the measured window.
    let setup = Duration::from_secs(30 + (args.publishers + args.subscribers) as u64 / 10);
    let stop = Instant::now() + setup + Duration::from_secs(args.seconds + 5);
    let mut tasks = Vec::new();
    let participants = (0..args.subscribers)
        .map(|i| (format!("listener-{i}"), Role::Subscriber))
        .chain((0..args.publishers).map(|i| (format!("speaker-{i}"), Role::Publisher)));
    for (identity, role) in participants {
        let token = join_token("nexus", &args.secret, &identity, &room);
        tasks.push(tokio::spawn(run_participant(args.url.clone(), token, role, epoch, tally.clone(), stop)));
        // Joins a few milliseconds apart, as people arrive.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = Instant::now() + setup;
    while tally.connected_publishers.load(Ordering::Relaxed) < args.publishers as u64 {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} publishers connected",
                tally.connected_publishers.load(Ordering::Relaxed),
                args.publishers
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Subscribers take each new track through a renegotiation: let them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received_before = tally.frames_received.load(Ordering::Relaxed);
    let cpu_before = args.pid.and_then(cpu_seconds);
    let started = Instant::now();
    tally.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    tally.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = args.pid.and_then(cpu_seconds);
    let received = tally.frames_received.load(Ordering::Relaxed) - received_before;
    let expected = (args.publishers * args.subscribers) as f64 * 50.0 * elapsed;
    let latencies = tally.latencies();
    let report = json!({
        "publishers": args.publishers,
        "subscribers": args.subscribers,
        "streams": args.publishers * args.subscribers,
        "seconds": elapsed,
        "frames_delivered": received,
        "frames_expected": expected.round(),
        "delivered_ratio": received as f64 / expected,
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p95": percentile(&latencies, 0.95),
            "p99": percentile(&latencies, 0.99),
            "max": percentile(&latencies, 1.0),
        },
        "server_cpu_cores": match (cpu_before, cpu_after) {
            (Some(before), Some(after)) => json!((after - before) / elapsed),
            _ => json!(null),
        },
    });
    println!("{report}");
    for task in tasks {
        task.abort();
    }
    Ok(())
}
