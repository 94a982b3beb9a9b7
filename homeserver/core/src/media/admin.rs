//! Media as a server admin manages it (Synapse's media admin API): each
//! user's uploads (an index by uploader), one item's facts, quarantine
//! (not served while quarantined) and protection from it, deletion —
//! the bytes go too once no other media id shares them (content is
//! stored once per SHA-256, so an index by hash counts who uses it) —
//! bulk deletion by age and size, the remote cache's purge, and
//! per-user statistics. The admin check is `Services`' (`admin_media`).

use std::collections::{BTreeMap, HashSet};

use nexus_storage::catalog::{MEDIA, MEDIA_BY_HASH, MEDIA_BY_UPLOADER};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, WriteBatch};
use ruma::{OwnedUserId, ServerName, UserId};

use super::{Media, Record};
use crate::Result;
use crate::values::{corrupt, decode, encode};

/// Media records read per batch by the bulk operations.
const CHUNK: usize = 1_000;

fn uploader_key(user: &UserId, media_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(media_id).build()
}

fn hash_key(sha256: &str, key: &str) -> Vec<u8> {
    KeyBuilder::new().str(sha256).str(key).build()
}

/// The marker that the indexes cover media stored before they existed.
fn backfilled_marker() -> Vec<u8> {
    KeyBuilder::new().str("").build()
}

/// One user's media statistics.
#[derive(Debug, Clone, Default)]
pub struct UploaderStats {
    pub media_count: u64,
    pub media_length: u64,
}

impl Media {
    /// A record and its index entries, for one batch.
    pub(super) fn record_batch(&self, key: &str, record: &Record) -> WriteBatch {
        let mut batch = WriteBatch::new();
        batch.put(&MEDIA, key.as_bytes().to_vec(), encode(record));
        if !key.contains('/') {
            batch.put(&MEDIA_BY_UPLOADER, uploader_key(&record.uploader, key), Vec::new());
        }
        if let Some(sha256) = &record.sha256 {
            batch.put(&MEDIA_BY_HASH, hash_key(sha256, key), Vec::new());
        }
        batch
    }

    /// Indexes media stored before the indexes existed (once; the marker
    /// says it is done). Runs in the background at start-up.
    pub async fn backfill_indexes(&self) -> Result<()> {
        if self.store.get(&MEDIA_BY_HASH, &backfilled_marker()).await?.is_some() {
            return Ok(());
        }
        let mut after: Option<Vec<u8>> = None;
        loop {
            let range = match &after {
                Some(last) => {
                    KeyRange { start: std::ops::Bound::Excluded(last.clone()), end: std::ops::Bound::Unbounded }
                }
                None => KeyRange::all(),
            };
            let rows = self.store.scan(&MEDIA, range, Direction::Forward, CHUNK).await?;
            let Some((last, _)) = rows.last() else { break };
            after = Some(last.clone());
            let mut batch = WriteBatch::new();
            for (key, value) in &rows {
                let key = String::from_utf8(key.clone()).map_err(|e| corrupt(&MEDIA, e))?;
                let record: Record = decode(&MEDIA, value)?;
                if !key.contains('/') {
                    batch.put(&MEDIA_BY_UPLOADER, uploader_key(&record.uploader, &key), Vec::new());
                }
                if let Some(sha256) = &record.sha256 {
                    batch.put(&MEDIA_BY_HASH, hash_key(sha256, &key), Vec::new());
                }
            }
            self.store.write(batch).await?;
        }
        self.store.put(&MEDIA_BY_HASH, &backfilled_marker(), &[]).await?;
        Ok(())
    }

    /// The key of `mxc://server/media_id` in the media map.
    fn key_of(&self, server: &ServerName, media_id: &str) -> Option<String> {
        if media_id.is_empty() || media_id.contains('/') {
            return None;
        }
        Some(if server == self.server_name { media_id.to_owned() } else { format!("{server}/{media_id}") })
    }

    /// One item, local or cached from another server.
    pub async fn info(&self, server: &ServerName, media_id: &str) -> Result<Option<Record>> {
        let Some(key) = self.key_of(server, media_id) else { return Ok(None) };
        let bytes = self.store.get(&MEDIA, key.as_bytes()).await?;
        bytes.map(|b| decode(&MEDIA, &b)).transpose()
    }

    /// A local user's uploads, `(media id, record)`.
    pub async fn uploads_of(&self, user: &UserId) -> Result<Vec<(String, Record)>> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let keys = self.store.scan_prefix(&MEDIA_BY_UPLOADER, &prefix, Direction::Forward, usize::MAX).await?;
        let mut uploads = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let media_id = KeyReader::new(&key[prefix.len()..]).str().map_err(|e| corrupt(&MEDIA_BY_UPLOADER, e))?;
            if let Some(record) = self.record(&media_id).await? {
                uploads.push((media_id, record));
            }
        }
        Ok(uploads)
    }

    /// Changes one item's record; `false` if there is none.
    async fn update(&self, key: &str, change: impl FnOnce(&mut Record)) -> Result<bool> {
        let _guard = self.store.lock(format!("media:{key}").as_bytes()).await?;
        let Some(bytes) = self.store.get(&MEDIA, key.as_bytes()).await? else { return Ok(false) };
        let mut record: Record = decode(&MEDIA, &bytes)?;
        change(&mut record);
        self.store.put(&MEDIA, key.as_bytes(), &encode(&record)).await?;
        Ok(true)
    }

    /// Quarantines (`Some(admin)`) or releases (`None`) one item. A
    /// protected item is not quarantined. Whether it existed.
    pub async fn set_quarantine(&self, server: &ServerName, media_id: &str, by: Option<&UserId>) -> Result<bool> {
        let Some(key) = self.key_of(server, media_id) else { return Ok(false) };
        self.update(&key, |record| match by {
            Some(admin) if !record.safe_from_quarantine => record.quarantined_by = Some(admin.to_string()),
            Some(_) => {}
            None => record.quarantined_by = None,
        })
        .await
    }

    /// Protects a local item from quarantine, or lifts that.
    pub async fn set_protected(&self, media_id: &str, protected: bool) -> Result<bool> {
        if media_id.contains('/') {
            return Ok(false);
        }
        self.update(media_id, |record| record.safe_from_quarantine = protected).await
    }

    /// Quarantines every item of `mxcs` (`mxc://server/id`) that is not
    /// protected or already quarantined; how many.
    pub async fn quarantine_all(&self, mxcs: &[String], by: &UserId) -> Result<usize> {
        let mut count = 0;
        for mxc in mxcs {
            let Some((server, media_id)) = mxc.strip_prefix("mxc://").and_then(|rest| rest.split_once('/')) else {
                continue;
            };
            let Ok(server) = <&ServerName>::try_from(server) else { continue };
            let Some(key) = self.key_of(server, media_id) else { continue };
            let mut changed = false;
            self.update(&key, |record| {
                if !record.safe_from_quarantine && record.quarantined_by.is_none() {
                    record.quarantined_by = Some(by.to_string());
                    changed = true;
                }
            })
            .await?;
            count += usize::from(changed);
        }
        Ok(count)
    }

    /// Deletes one item and its indexes; its bytes and thumbnails go
    /// when no other item shares them. Whether it existed.
    pub async fn delete(&self, server: &ServerName, media_id: &str) -> Result<bool> {
        let Some(key) = self.key_of(server, media_id) else { return Ok(false) };
        let _guard = self.store.lock(format!("media:{key}").as_bytes()).await?;
        let Some(bytes) = self.store.get(&MEDIA, key.as_bytes()).await? else { return Ok(false) };
        let record: Record = decode(&MEDIA, &bytes)?;
        let mut batch = WriteBatch::new();
        batch.delete(&MEDIA, key.as_bytes().to_vec());
        if !key.contains('/') {
            batch.delete(&MEDIA_BY_UPLOADER, uploader_key(&record.uploader, &key));
        }
        if let Some(sha256) = &record.sha256 {
            batch.delete(&MEDIA_BY_HASH, hash_key(sha256, &key));
        }
        self.store.write(batch).await?;
        if let Some(sha256) = &record.sha256 {
            let prefix = KeyBuilder::new().str(sha256).build();
            let others = self.store.scan_prefix(&MEDIA_BY_HASH, &prefix, Direction::Forward, 1).await?;
            if others.is_empty() {
                self.contents.remove(sha256, &self.content_path(sha256)).await?;
                remove_thumbnails(self.thumbnail_dir(), sha256.clone()).await;
            }
        }
        Ok(true)
    }

    /// Every item (local and cached), a chunk at a time: `visit` sees each
    /// key and record.
    async fn each_record(&self, mut visit: impl FnMut(&str, &Record)) -> Result<()> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let range = match &after {
                Some(last) => {
                    KeyRange { start: std::ops::Bound::Excluded(last.clone()), end: std::ops::Bound::Unbounded }
                }
                None => KeyRange::all(),
            };
            let rows = self.store.scan(&MEDIA, range, Direction::Forward, CHUNK).await?;
            let Some((last, _)) = rows.last() else { return Ok(()) };
            after = Some(last.clone());
            for (key, value) in &rows {
                let key = std::str::from_utf8(key).map_err(|e| corrupt(&MEDIA, e))?;
                visit(key, &decode(&MEDIA, value)?);
            }
        }
    }

    /// Deletes local media created before `before_ts` and larger than
    /// `size_gt`, except the listed mxc URIs; the ids deleted.
    pub async fn delete_older(&self, before_ts: u64, size_gt: u64, keep: &HashSet<String>) -> Result<Vec<String>> {
        let mut doomed = Vec::new();
        self.each_record(|key, record| {
            if !key.contains('/')
                && record.created_ts < before_ts
                && record.size > size_gt
                && !record.safe_from_quarantine
                && !keep.contains(self.mxc(key).as_str())
            {
                doomed.push(key.to_owned());
            }
        })
        .await?;
        let mut deleted = Vec::with_capacity(doomed.len());
        for media_id in doomed {
            if self.delete(&self.server_name.clone(), &media_id).await? {
                deleted.push(media_id);
            }
        }
        Ok(deleted)
    }

    /// Deletes other servers' media cached here before `before_ts` (not
    /// quarantined ones: the quarantine would be forgotten); how many.
    pub async fn purge_remote_cache(&self, before_ts: u64) -> Result<usize> {
        let mut doomed = Vec::new();
        self.each_record(|key, record| {
            if let Some((server, media_id)) = key.split_once('/')
                && record.created_ts < before_ts
                && record.quarantined_by.is_none()
            {
                doomed.push((server.to_owned(), media_id.to_owned()));
            }
        })
        .await?;
        let mut count = 0;
        for (server, media_id) in doomed {
            let Ok(server) = ruma::OwnedServerName::try_from(server) else { continue };
            count += usize::from(self.delete(&server, &media_id).await?);
        }
        Ok(count)
    }

    /// Uploads per local user (created from `from_ts` until `until_ts`).
    pub async fn statistics(
        &self,
        from_ts: u64,
        until_ts: Option<u64>,
    ) -> Result<BTreeMap<OwnedUserId, UploaderStats>> {
        let mut stats: BTreeMap<OwnedUserId, UploaderStats> = BTreeMap::new();
        self.each_record(|key, record| {
            if !key.contains('/')
                && record.sha256.is_some()
                && record.created_ts >= from_ts
                && until_ts.is_none_or(|until| record.created_ts < until)
            {
                let entry = stats.entry(record.uploader.clone()).or_default();
                entry.media_count += 1;
                entry.media_length += record.size;
            }
        })
        .await?;
        Ok(stats)
    }

    /// The mxc URI of a local media id.
    pub fn local_mxc(&self, media_id: &str) -> String {
        self.mxc(media_id).to_string()
    }
}

/// Removes a content's thumbnails (`{sha256}-{w}x{h}-{method}.{ext}`).
async fn remove_thumbnails(dir: std::path::PathBuf, sha256: String) {
    let _ = tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&format!("{sha256}-")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    })
    .await;
}
