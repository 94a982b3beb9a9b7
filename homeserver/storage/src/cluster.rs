//! What several `nexus serve` processes sharing one database coordinate
//! through it (see docs/scale-out.md): the stream floor of each writing
//! process, under a lease, and leases on jobs that run once cluster-wide.
//!
//! Only a shared backend (PostgreSQL) has one; a store used by one process
//! (RocksDB, or PostgreSQL without `[redis]`) answers `Store::cluster()`
//! with `None` and keeps its stream position in memory.

use std::time::Duration;

use async_trait::async_trait;

use crate::{CounterDef, Result};

/// How this process takes part in a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Names this process's writer row; unique per start (a restarted
    /// process is a new writer: the old one's orderings never commit).
    pub instance: String,
    /// How long a silent process keeps its place. Readers wait behind a
    /// dead writer's orderings for at most this long; a live process renews
    /// it several times per lease.
    pub lease: Duration,
}

/// The stream floor of this process as seen by the others, and job leases.
/// Values are the counter's own (not offset).
#[async_trait]
pub trait Cluster: Send + Sync {
    fn instance(&self) -> &str;

    fn lease(&self) -> Duration;

    /// Marks this process busy with a floor at the counter's last value,
    /// before it takes a value: everything it takes after is above the
    /// floor, and readers that read the counter after this see the mark.
    async fn go_busy(&self, counter: &'static CounterDef) -> Result<()>;

    /// Publishes this process's floor (`Some`: every value of its own
    /// `<=` it has committed or will never exist; `None`: nothing in
    /// flight) and renews its lease. Fails with [`crate::Error::Fenced`]
    /// once another process reaped it.
    async fn publish_floor(&self, floor: Option<u64>) -> Result<()>;

    /// The highest value below which every process's values have
    /// committed: the counter's last value, capped by every busy writer's
    /// floor (read in that order; see docs/scale-out.md).
    async fn floor(&self, counter: &'static CounterDef) -> Result<u64>;

    /// Removes writers whose lease lapsed, after their open transactions
    /// end (from then on those processes can commit nothing); how many.
    async fn reap(&self) -> Result<u64>;

    /// Takes or renews the lease on `job` for this process; whether this
    /// process holds it now.
    async fn hold_job(&self, job: &str) -> Result<bool>;
}
