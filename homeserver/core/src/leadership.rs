//! Work that must run in one process at a time: the federation and
//! appservice senders, the timers and the jobs resumed at start. Alone, a
//! process leads at once. In a cluster, the process holding the store's
//! `upkeep` lease leads; the others wait to take it over when its holder
//! stops renewing it (docs/scale-out.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nexus_storage::Store;

const JOB: &str = "upkeep";

pub struct Leadership {
    store: Arc<dyn Store>,
    leading: AtomicBool,
}

impl Leadership {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Leadership { store, leading: AtomicBool::new(false) }
    }

    /// Returns once this process leads; from then on keeps the lease
    /// renewed. A leader that cannot renew in time exits: the tasks it
    /// leads cannot all be stopped mid-flight, and a successor may already
    /// be running them.
    pub async fn elected(self: &Arc<Self>) {
        let Some(cluster) = self.store.cluster() else {
            self.leading.store(true, Ordering::Release);
            return;
        };
        let every = cluster.lease() / 4;
        loop {
            match cluster.hold_job(JOB).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not ask for the cluster's upkeep lease"),
            }
            tokio::time::sleep(every).await;
        }
        tracing::info!(instance = cluster.instance(), "this process now runs the cluster's upkeep");
        self.leading.store(true, Ordering::Release);
        let this = self.clone();
        tokio::spawn(async move { this.renew_forever(every).await });
    }

    async fn renew_forever(&self, every: Duration) {
        let cluster = self.store.cluster().expect("only a clustered leader renews");
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(every).await;
            match cluster.hold_job(JOB).await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    tracing::error!("another process took the cluster's upkeep lease; exiting so it restarts clean");
                    std::process::exit(75);
                }
                Err(e) if renewed.elapsed() + every >= cluster.lease() => {
                    tracing::error!(error = %e, "could not renew the cluster's upkeep lease in time; exiting");
                    std::process::exit(75);
                }
                Err(e) => tracing::warn!(error = %e, "could not renew the cluster's upkeep lease; retrying"),
            }
        }
    }

    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }
}
