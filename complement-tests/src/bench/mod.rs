//! `nexus-bench`: a load driver for any Matrix homeserver on loopback (issue
//! 10). It speaks the client-server API over plain HTTP, so the same run can
//! be pointed at Nexus and at Synapse.
//!
//! Every workload first sets up its users and rooms (never measured), then
//! runs a measured loop bounded by a request count *and* a duration, and
//! reports a [`Figure`]: count, wall duration, throughput and latency
//! percentiles, plus the 429 retries of the measured phase
//! (`retries_429`) and of the setup (`setup_retries_429`).

pub mod appservice;
pub mod config;
pub mod connections;
pub mod discord;
pub mod http;
pub mod population;
pub mod search;
pub mod sends;
pub mod sliding;
pub mod stats;
pub mod syncs;
pub mod system;

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

pub use config::{Config, Workload, parse_args};
pub use stats::{Figure, Report};

use http::{Account, Http, Pool};

/// The figures `all` (and `smoke`) produce; the memory ones only with a pid.
pub const ALL_FIGURES: [&str; 14] = [
    "memory_idle",
    "driver_ceiling_sequential",
    "driver_ceiling_concurrent",
    "sequential_sends",
    "concurrent_sends",
    "long_poll_wake",
    "initial_sync_limit_1",
    "initial_sync_limit_5",
    "initial_sync_limit_20",
    "incremental_sync",
    "sliding_sync_initial_all",
    "sliding_sync_initial_first_page",
    "sliding_sync_incremental",
    "memory_after_load",
];

/// One run against one server: its settings, a setup client, and a nonce
/// that keeps user names and transaction ids unique across runs.
pub struct Bench {
    pub config: Config,
    /// Setup traffic goes through this client (never a measured one).
    pub setup: Http,
    nonce: String,
    next_txn: AtomicU64,
}

impl Bench {
    pub fn new(config: Config) -> Result<Bench> {
        config::check_loopback(&config.url)?;
        let setup = Http::new(&config.url, Pool::Many(32))?;
        let nonce = format!("{:08x}", rand::random::<u32>());
        Ok(Bench { config, setup, nonce, next_txn: AtomicU64::new(0) })
    }

    /// A client of its own for a measured phase.
    pub fn client(&self, pool: Pool) -> Result<Http> {
        Http::new(&self.config.url, pool)
    }

    /// One client per process of the server (`--url`, then each
    /// `--also-url`), each with this pool.
    pub fn clients(&self, pool: Pool) -> Result<Vec<Http>> {
        std::iter::once(&self.config.url).chain(&self.config.also_urls).map(|url| Http::new(url, pool)).collect()
    }

    /// A transaction id never used before by this run.
    pub fn txn_id(&self) -> String {
        format!("bench-{}-{}", self.nonce, self.next_txn.fetch_add(1, Ordering::Relaxed))
    }

    /// A text unique to this run, for recognising an event in a `/sync`.
    pub fn marker(&self, what: &str) -> String {
        format!("{what} {}-{}", self.nonce, self.next_txn.fetch_add(1, Ordering::Relaxed))
    }

    /// Registers `n` fresh users named `bench-<nonce>-<tag>-<i>`.
    pub async fn users(&self, tag: &str, n: usize) -> Result<Vec<Account>> {
        let jobs: Vec<_> = (0..n)
            .map(|i| {
                let http = self.setup.clone();
                let localpart = format!("bench-{}-{tag}-{i}", self.nonce);
                let password = format!("bench-password-{}", self.nonce);
                async move { http::register(&http, &localpart, &password).await }
            })
            .collect();
        let users = http::bounded(self.config.setup_parallelism(), jobs).await.context("register the users")?;
        if let Some(name) = &self.config.server_name
            && let Some(user) = users.iter().find(|u| !u.user_id.ends_with(&format!(":{name}")))
        {
            bail!("registered {} but --server-name is {name}", user.user_id);
        }
        Ok(users)
    }

    /// Runs one workload (or all of them) and returns its figures.
    pub async fn run(&self, workload: Workload) -> Result<Report> {
        let mut report = Report::default();
        match workload {
            Workload::SequentialSends => report.add("sequential_sends", sends::sequential(self).await?),
            Workload::ConcurrentSends => report.add("concurrent_sends", sends::concurrent(self).await?),
            Workload::LongPollWake => report.add("long_poll_wake", syncs::long_poll_wake(self).await?),
            Workload::InitialSync => {
                let population = population::Population::build(self).await?;
                report.extend(syncs::initial_sync(self, &population).await?);
            }
            Workload::IncrementalSync => {
                let population = population::Population::build(self).await?;
                report.add("incremental_sync", syncs::incremental_sync(self, &population).await?);
            }
            Workload::SlidingSync => report.extend(sliding::sliding_sync_workloads(self).await?),
            Workload::Memory => {
                let pid = self.config.pid.context("the memory workload needs --pid")?;
                report.add("memory", system::memory(pid)?);
            }
            Workload::DriverCeiling => report.extend(system::driver_ceiling(self).await?),
            Workload::Appservice => {
                for (name, figure) in appservice::appservice_workloads(self).await? {
                    report.add(name, figure);
                }
            }
            Workload::Discord => report.extend(discord::discord_workloads(self).await?),
            Workload::Search => report.extend(search::search_workloads(self).await?),
            Workload::IdleConnections => report.extend(connections::idle_connections(self).await?),
            Workload::All => return self.run_all().await,
            Workload::Smoke => return Bench::new(self.config.smoke())?.run_all().await,
        }
        Ok(report)
    }

    async fn run_all(&self) -> Result<Report> {
        let mut report = Report::default();
        let pid = self.config.pid;
        if let Some(pid) = pid {
            report.add("memory_idle", system::memory(pid)?);
        } else {
            eprintln!("nexus-bench: no --pid, so no memory figures");
        }
        report.extend(system::driver_ceiling(self).await?);
        report.add("sequential_sends", sends::sequential(self).await.context("sequential-sends")?);
        report.add("concurrent_sends", sends::concurrent(self).await.context("concurrent-sends")?);
        report.add("long_poll_wake", syncs::long_poll_wake(self).await.context("long-poll-wake")?);
        let population = population::Population::build(self).await.context("initial-sync setup")?;
        report.extend(syncs::initial_sync(self, &population).await.context("initial-sync")?);
        report.add("incremental_sync", syncs::incremental_sync(self, &population).await.context("incremental-sync")?);
        report.extend(sliding::sliding_sync_workloads(self).await.context("sliding-sync")?);
        if let Some(pid) = pid {
            report.add("memory_after_load", system::memory(pid)?);
        }
        Ok(report)
    }
}
