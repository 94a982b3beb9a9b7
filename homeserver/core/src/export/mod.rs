//! Personal data exports (extensions-spec §23): any user, anytime, takes
//! all their data with them — one zip archive with a README, the account
//! and profile, devices, pushers, account data (push rules included),
//! every room they are or were in with the events they may see there (or
//! only their own), the media they uploaded, and their key backup (still
//! encrypted). An export is a durable background job: recorded before it
//! starts, started again from the beginning if a restart interrupts it,
//! its archive kept for `export.retention_secs` and then deleted. One user
//! starts at most one export per `export.min_interval_secs`.

mod archive;
mod contents;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nexus_storage::catalog::EXPORTS;
use nexus_storage::codec::KeyBuilder;
use nexus_storage::{Direction, KeyRange};
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use crate::tokens::Identity;
use crate::values::{ALPHANUMERIC, decode, encode, now_ms, random_string};
use crate::{Error, Result, Services};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStatus {
    Pending,
    Running,
    Complete,
    Failed,
}

/// Which messages go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageScope {
    /// Every event the user may see in each room.
    Visible,
    /// Only the user's own events.
    Own,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    pub export_id: String,
    pub user_id: OwnedUserId,
    /// The device that asked (events are formatted as it would read them).
    pub device_id: OwnedDeviceId,
    pub messages: MessageScope,
    pub status: ExportStatus,
    pub created_ts: u64,
    #[serde(default)]
    pub completed_ts: Option<u64>,
    #[serde(default)]
    pub expires_ts: Option<u64>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub rooms_total: usize,
    #[serde(default)]
    pub rooms_done: usize,
    #[serde(default)]
    pub error: Option<String>,
}

fn export_key(user: &UserId, export_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(export_id).build()
}

impl Services {
    fn export_dir(&self) -> PathBuf {
        self.settings.export.path.clone().unwrap_or_else(|| PathBuf::from("./nexus-data/exports"))
    }

    fn archive_path(&self, record: &ExportRecord) -> PathBuf {
        self.export_dir().join(format!("{}.zip", record.export_id))
    }

    async fn save_export(&self, record: &ExportRecord) -> Result<()> {
        Ok(self.store.put(&EXPORTS, &export_key(&record.user_id, &record.export_id), &encode(record)).await?)
    }

    /// The caller's exports, oldest first.
    pub async fn exports_of(&self, caller: &Identity) -> Result<Vec<ExportRecord>> {
        let prefix = KeyBuilder::new().str(caller.user_id.as_str()).build();
        let rows = self.store.scan_prefix(&EXPORTS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut records: Vec<ExportRecord> = rows.iter().map(|(_, v)| decode(&EXPORTS, v)).collect::<Result<_>>()?;
        records.sort_by_key(|r| r.created_ts);
        Ok(records)
    }

    /// One of the caller's exports.
    pub async fn export(&self, caller: &Identity, export_id: &str) -> Result<ExportRecord> {
        let bytes = self.store.get(&EXPORTS, &export_key(&caller.user_id, export_id)).await?;
        let bytes = bytes.ok_or_else(|| Error::NotFound("no such export".to_owned()))?;
        decode(&EXPORTS, &bytes)
    }

    /// Starts an export of the caller's data; refused while one is under
    /// way or too soon after the last.
    pub async fn start_export(self: &Arc<Self>, caller: &Identity, messages: MessageScope) -> Result<ExportRecord> {
        if caller.appservice.is_some() {
            return Err(Error::Forbidden("an application service cannot export a user's data".to_owned()));
        }
        let _guard = self.store.lock(format!("export:{}", caller.user_id).as_bytes()).await?;
        let now = now_ms();
        let min_interval = self.settings.export.min_interval_secs * 1000;
        if let Some(last) = self.exports_of(caller).await?.last() {
            let busy = matches!(last.status, ExportStatus::Pending | ExportStatus::Running);
            let next_allowed = last.created_ts + min_interval;
            if busy || now < next_allowed {
                let wait = next_allowed.saturating_sub(now).max(1000);
                return Err(Error::LimitExceeded { retry_after: Duration::from_millis(wait) });
            }
        }
        let record = ExportRecord {
            export_id: random_string(ALPHANUMERIC, 16),
            user_id: caller.user_id.clone(),
            device_id: caller.device_id.clone(),
            messages,
            status: ExportStatus::Pending,
            created_ts: now,
            completed_ts: None,
            expires_ts: None,
            size: None,
            rooms_total: 0,
            rooms_done: 0,
            error: None,
        };
        self.save_export(&record).await?;
        tracing::info!(user_id = %caller.user_id, export_id = %record.export_id, "personal data export started");
        let services = self.clone();
        let job = record.clone();
        tokio::spawn(async move { services.run_export(job).await });
        Ok(record)
    }

    /// The archive of a finished export, for download.
    pub async fn export_archive(&self, caller: &Identity, export_id: &str) -> Result<PathBuf> {
        let record = self.export(caller, export_id).await?;
        if record.status != ExportStatus::Complete {
            return Err(Error::NotFound("this export has no archive (yet)".to_owned()));
        }
        Ok(self.archive_path(&record))
    }

    /// Deletes one of the caller's exports and its archive.
    pub async fn delete_export(&self, caller: &Identity, export_id: &str) -> Result<()> {
        let record = self.export(caller, export_id).await?;
        if matches!(record.status, ExportStatus::Pending | ExportStatus::Running) {
            return Err(Error::BadRequest("this export is still being written".to_owned()));
        }
        self.forget_export(&record).await
    }

    async fn forget_export(&self, record: &ExportRecord) -> Result<()> {
        match tokio::fs::remove_file(self.archive_path(record)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Internal(format!("deleting an export archive: {e}"))),
        }
        Ok(self.store.delete(&EXPORTS, &export_key(&record.user_id, &record.export_id)).await?)
    }

    /// Restarts interrupted exports and deletes expired archives (start-up
    /// and then now and again).
    pub(crate) async fn upkeep_exports(self: &Arc<Self>, restart_interrupted: bool) -> Result<()> {
        let rows = self.store.scan(&EXPORTS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        let now = now_ms();
        for (_, value) in rows {
            let record: ExportRecord = decode(&EXPORTS, &value)?;
            match record.status {
                ExportStatus::Pending | ExportStatus::Running if restart_interrupted => {
                    tracing::info!(export_id = %record.export_id, "restarting an interrupted export");
                    let services = self.clone();
                    tokio::spawn(async move { services.run_export(record).await });
                }
                ExportStatus::Complete | ExportStatus::Failed if record.expires_ts.is_some_and(|at| at <= now) => {
                    self.forget_export(&record).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn run_export(&self, mut record: ExportRecord) {
        record.status = ExportStatus::Running;
        record.rooms_done = 0;
        let outcome = match self.save_export(&record).await {
            Ok(()) => self.write_archive(&mut record).await,
            Err(e) => Err(e),
        };
        let now = now_ms();
        match outcome {
            Ok(size) => {
                record.status = ExportStatus::Complete;
                record.size = Some(size);
            }
            Err(e) => {
                tracing::warn!(export_id = %record.export_id, error = %e, "personal data export failed");
                record.status = ExportStatus::Failed;
                record.error = Some(e.to_string());
            }
        }
        record.completed_ts = Some(now);
        record.expires_ts = Some(now + self.settings.export.retention_secs * 1000);
        if let Err(e) = self.save_export(&record).await {
            tracing::warn!(export_id = %record.export_id, error = %e, "could not record an export's end");
        }
    }

    async fn write_archive(&self, record: &mut ExportRecord) -> Result<u64> {
        let archive = archive::ArchiveWriter::create(&self.archive_path(record))?;
        match self.write_contents(&archive, record).await {
            Ok(()) => archive.finish().await,
            Err(e) => {
                archive.abandon().await;
                Err(e)
            }
        }
    }
}
