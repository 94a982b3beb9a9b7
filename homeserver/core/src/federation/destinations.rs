//! What this server knows of each server it sends to (Synapse's
//! `destinations`, for the admin API): when delivery last failed and how
//! long the sender waits before trying again, and the newest stream
//! ordering the destination acknowledged. The sender records it as it
//! delivers; an admin may cut a backoff short (`reset_connection`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_storage::catalog::FEDERATION_DESTINATIONS;
use nexus_storage::{Direction, KeyRange, Store};
use ruma::{OwnedServerName, ServerName};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::values::{corrupt, decode, encode, now_ms};
use crate::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// When the sender last tried after a failure (0: not backing off).
    pub retry_last_ts: u64,
    /// How long it waits before the next try (0: not backing off).
    pub retry_interval_ms: u64,
    /// When the current run of failures began.
    pub failure_ts: Option<u64>,
    /// The newest stream ordering the destination acknowledged.
    pub last_successful_stream_ordering: Option<u64>,
}

pub struct Destinations {
    store: Arc<dyn Store>,
    /// Wakes a destination's sender out of its backoff.
    resets: Mutex<HashMap<OwnedServerName, Arc<Notify>>>,
}

impl Destinations {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Destinations { store, resets: Mutex::new(HashMap::new()) }
    }

    pub async fn get(&self, destination: &ServerName) -> Result<Option<Destination>> {
        let bytes = self.store.get(&FEDERATION_DESTINATIONS, destination.as_bytes()).await?;
        bytes.map(|b| decode(&FEDERATION_DESTINATIONS, &b)).transpose()
    }

    /// Every destination this server has sent to.
    pub async fn all(&self) -> Result<Vec<(OwnedServerName, Destination)>> {
        let rows = self.store.scan(&FEDERATION_DESTINATIONS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        let mut all = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            let name = String::from_utf8(key).map_err(|e| corrupt(&FEDERATION_DESTINATIONS, e))?;
            let name = OwnedServerName::try_from(name).map_err(|e| corrupt(&FEDERATION_DESTINATIONS, e))?;
            all.push((name, decode(&FEDERATION_DESTINATIONS, &value)?));
        }
        Ok(all)
    }

    async fn put(&self, destination: &ServerName, record: &Destination) -> Result<()> {
        Ok(self.store.put(&FEDERATION_DESTINATIONS, destination.as_bytes(), &encode(record)).await?)
    }

    /// A transaction up to `ordering` was acknowledged.
    pub(super) async fn delivered(&self, destination: &ServerName, ordering: Option<u64>) -> Result<()> {
        let before = self.get(destination).await?.unwrap_or_default();
        let after = Destination {
            retry_last_ts: 0,
            retry_interval_ms: 0,
            failure_ts: None,
            last_successful_stream_ordering: ordering.or(before.last_successful_stream_ordering),
        };
        if after != before {
            self.put(destination, &after).await?;
        }
        Ok(())
    }

    /// Delivery failed; the sender waits `wait` before the next try.
    pub(super) async fn failed(&self, destination: &ServerName, wait: Duration) -> Result<()> {
        let mut record = self.get(destination).await?.unwrap_or_default();
        let now = now_ms();
        record.failure_ts = record.failure_ts.or(Some(now));
        record.retry_last_ts = now;
        record.retry_interval_ms = wait.as_millis() as u64;
        self.put(destination, &record).await
    }

    /// The signal that cuts this destination's backoff short.
    pub(super) fn reset_signal(&self, destination: &ServerName) -> Arc<Notify> {
        let mut resets = self.resets.lock().expect("destinations poisoned");
        resets.entry(destination.to_owned()).or_default().clone()
    }

    /// Forgets a destination's backoff and has its sender try now (the
    /// admin API's `reset_connection`).
    pub async fn reset(&self, destination: &ServerName) -> Result<()> {
        let Some(mut record) = self.get(destination).await? else {
            return Err(Error::NotFound("Unknown destination".to_owned()));
        };
        if record.retry_last_ts == 0 {
            return Err(Error::BadRequest(
                "The retry timing does not need to be reset for this destination.".to_owned(),
            ));
        }
        record.retry_last_ts = 0;
        record.retry_interval_ms = 0;
        record.failure_ts = None;
        self.put(destination, &record).await?;
        self.reset_signal(destination).notify_one();
        Ok(())
    }
}
