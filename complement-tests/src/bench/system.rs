//! The server's resident memory, and the driver's own ceiling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::http::Pool;
use super::{Bench, Figure, Report};

const CEILING_SEQUENTIAL_COUNT: u64 = 5_000;
const CEILING_CONCURRENT_COUNT: u64 = 20_000;

/// (f) `VmRSS` (and the peak, `VmHWM`) of a process, from `/proc/<pid>/status`.
pub fn memory(pid: u32) -> Result<Figure> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let kib = |field: &str| -> Result<f64> {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .with_context(|| format!("no {field} in {path}"))?;
        let number = line.trim().trim_end_matches("kB").trim();
        number.parse::<f64>().with_context(|| format!("{field} {line:?} in {path}"))
    };
    let rss = kib("VmRSS:")?;
    let name = status.lines().find_map(|line| line.strip_prefix("Name:")).unwrap_or_default().trim();
    eprintln!("nexus-bench: resident memory of pid {pid} ({name}): {rss} KiB");
    Ok(Figure::default().with("rss_kib", rss).with("rss_mib", rss / 1024.0).with("hwm_kib", kib("VmHWM:")?))
}

/// The driver against a trivial endpoint (`GET /_matrix/client/versions`):
/// one request after another on one connection, then `--concurrency`
/// requesters at once. If these are far above the workload figures, the
/// driver was not the bottleneck.
pub async fn driver_ceiling(bench: &Bench) -> Result<Report> {
    let mut report = Report::default();

    let client = bench.client(Pool::Single)?;
    client.versions().await?;
    let count = bench.config.count_or(CEILING_SEQUENTIAL_COUNT);
    let (mut samples, mut errors) = (Vec::new(), 0);
    let retries_before = client.retries();
    let started = Instant::now();
    for _ in 0..count {
        if started.elapsed() >= bench.config.duration {
            break;
        }
        let t0 = Instant::now();
        match client.versions().await {
            Ok(()) => samples.push(t0.elapsed()),
            Err(_) => errors += 1,
        }
    }
    let figure = Figure::from_latencies(&samples, started.elapsed(), client.retries() - retries_before, errors)?;
    report.add("driver_ceiling_sequential", figure.with("connections", 1.0));

    let workers = bench.config.concurrency;
    let client = bench.client(Pool::Many(workers))?;
    let warmups: Vec<_> = (0..workers)
        .map(|_| {
            let client = client.clone();
            async move { client.versions().await }
        })
        .collect();
    super::http::bounded(workers, warmups).await?;
    let count = bench.config.count_or(CEILING_CONCURRENT_COUNT);
    let issued = Arc::new(AtomicU64::new(0));
    let retries_before = client.retries();
    let started = Instant::now();
    let deadline = started + bench.config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, issued) = (client.clone(), issued.clone());
        tasks.spawn(async move {
            let (mut samples, mut errors) = (Vec::<Duration>::new(), 0u64);
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < count {
                let t0 = Instant::now();
                match client.versions().await {
                    Ok(()) => samples.push(t0.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        });
    }
    let (mut samples, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (s, e) = done.context("a requester task panicked")?;
        samples.extend(s);
        errors += e;
    }
    let figure = Figure::from_latencies(&samples, started.elapsed(), client.retries() - retries_before, errors)?;
    report.add("driver_ceiling_concurrent", figure.with("connections", workers as f64));
    Ok(report)
}
