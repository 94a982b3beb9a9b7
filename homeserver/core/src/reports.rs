//! Reports of events and rooms to this server's administrators (spec:
//! "Reporting content"). Kept for the admin API to read and delete.

use std::sync::Arc;

use nexus_storage::catalog::{EVENT_REPORTS, STREAM_ORDERING};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store};
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::values::{decode, encode, now_ms};

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    /// The room reported, or the room of the event reported; none for a
    /// report of a user.
    #[serde(default)]
    pub room_id: Option<OwnedRoomId>,
    pub event_id: Option<OwnedEventId>,
    /// The user reported (`POST /users/{userId}/report`).
    #[serde(default)]
    pub user_id: Option<OwnedUserId>,
    pub reporter: OwnedUserId,
    pub reason: Option<String>,
    pub score: Option<i64>,
    pub received_ts: u64,
}

pub struct Reports {
    store: Arc<dyn Store>,
}

impl Reports {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Reports { store }
    }

    /// Files a report; the caller has checked the reporter may see what
    /// they report.
    pub async fn file(&self, mut report: Report) -> Result<()> {
        report.received_ts = now_ms();
        // Report ids share the stream ordering: unique and time-ordered.
        let id = self.store.next(&STREAM_ORDERING).await?;
        self.store.put(&EVENT_REPORTS, &KeyBuilder::new().u64(id).build(), &encode(&report)).await?;
        tracing::info!(room_id = ?report.room_id, event_id = ?report.event_id, user_id = ?report.user_id, reporter = %report.reporter, "content reported");
        Ok(())
    }

    /// Every report, oldest first, with its id (for the admin API, which
    /// filters and pages them).
    pub async fn all(&self) -> Result<Vec<(u64, Report)>> {
        let rows = self.store.scan(&EVENT_REPORTS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        rows.into_iter()
            .map(|(key, value)| {
                let id =
                    KeyReader::new(&key).u64().map_err(|e| nexus_storage::Error::corrupt(EVENT_REPORTS.name, e))?;
                Ok((id, decode(&EVENT_REPORTS, &value)?))
            })
            .collect()
    }

    pub async fn get(&self, id: u64) -> Result<Option<Report>> {
        let found = self.store.get(&EVENT_REPORTS, &KeyBuilder::new().u64(id).build()).await?;
        found.map(|v| decode(&EVENT_REPORTS, &v)).transpose()
    }

    /// True when it existed.
    pub async fn delete(&self, id: u64) -> Result<bool> {
        let key = KeyBuilder::new().u64(id).build();
        if self.store.get(&EVENT_REPORTS, &key).await?.is_none() {
            return Ok(false);
        }
        self.store.delete(&EVENT_REPORTS, &key).await?;
        Ok(true)
    }
}
