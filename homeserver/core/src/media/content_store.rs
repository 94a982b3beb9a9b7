//! Where media content lives: the local filesystem (the default), or any
//! S3-compatible object store (through the `object_store` crate), behind
//! one trait. Content is addressed by its SHA-256. Either way a local copy
//! is kept under the media directory: serving and thumbnailing read files,
//! and with S3 the local copy is a cache the object store can refill.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::settings::MediaSettings;
use crate::values::{ALPHANUMERIC, random_string};
use crate::{Error, Result};

#[async_trait::async_trait]
pub trait ContentStore: Send + Sync {
    /// Files `temp` (a complete, hashed upload) as content `sha256`; the
    /// local copy is at `local` afterwards, and `temp` is gone.
    async fn store(&self, sha256: &str, temp: &Path, local: &Path) -> Result<()>;

    /// Makes sure `local` holds content `sha256`.
    async fn fetch(&self, sha256: &str, local: &Path) -> Result<()>;

    /// Deletes content `sha256` and its local copy (nothing refers to it
    /// any more).
    async fn remove(&self, sha256: &str, local: &Path) -> Result<()>;
}

async fn remove_local(local: &Path) -> Result<()> {
    match tokio::fs::remove_file(local).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("media storage: {e}"))
}

async fn move_into_place(temp: &Path, local: &Path) -> Result<()> {
    if tokio::fs::try_exists(local).await.map_err(io)? {
        tokio::fs::remove_file(temp).await.map_err(io)?;
    } else {
        tokio::fs::create_dir_all(local.parent().expect("content paths have a parent")).await.map_err(io)?;
        tokio::fs::rename(temp, local).await.map_err(io)?;
    }
    Ok(())
}

/// Content as files under the media directory.
pub struct FileSystem;

#[async_trait::async_trait]
impl ContentStore for FileSystem {
    async fn store(&self, _sha256: &str, temp: &Path, local: &Path) -> Result<()> {
        move_into_place(temp, local).await
    }

    async fn fetch(&self, sha256: &str, local: &Path) -> Result<()> {
        if tokio::fs::try_exists(local).await.map_err(io)? {
            Ok(())
        } else {
            Err(Error::Internal(format!("media storage: the content {sha256} is missing")))
        }
    }

    async fn remove(&self, _sha256: &str, local: &Path) -> Result<()> {
        remove_local(local).await
    }
}

/// Content in an S3-compatible bucket under `content/<sha256>`, with a
/// bounded local copy: past `media.s3_local_cache_bytes`, the copies least
/// recently stored or served are deleted (the bucket refills them).
pub struct S3 {
    store: Arc<dyn ObjectStore>,
    local_dir: PathBuf,
    budget: u64,
    /// Bytes placed locally since the cache was last trimmed: trimming walks
    /// the directory, so it runs once per tenth of the budget, not per file.
    added: AtomicU64,
}

/// A local copy used this recently is never deleted: a request may be
/// about to open it.
const IN_USE_GRACE: Duration = Duration::from_secs(5);

/// Uploads go in parts of this size: memory stays flat whatever the file.
const PART_BYTES: usize = 8 * 1024 * 1024;

impl S3 {
    pub fn new(settings: &MediaSettings, local_dir: PathBuf) -> Result<Self> {
        let bucket = settings
            .s3_bucket
            .as_deref()
            .ok_or_else(|| Error::Internal("media.s3_bucket is required for the s3 backend".to_owned()))?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(settings.s3_region.clone().unwrap_or_else(|| "us-east-1".to_owned()))
            .with_allow_http(settings.s3_allow_http);
        if let Some(endpoint) = &settings.s3_endpoint {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        if let Some(key) = &settings.s3_access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| Error::Internal(format!("media.s3: {e}")))?;
        Ok(S3 { store: Arc::new(store), local_dir, budget: settings.s3_local_cache_bytes, added: AtomicU64::new(0) })
    }

    /// Counts a new local copy, and trims the cache when enough arrived.
    fn placed(&self, bytes: u64) {
        let added = self.added.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if added >= (self.budget / 10).max(1) {
            self.added.store(0, Ordering::Relaxed);
            let (dir, budget) = (self.local_dir.clone(), self.budget);
            tokio::task::spawn_blocking(move || trim(&dir, budget));
        }
    }

    fn key(sha256: &str) -> ObjectPath {
        ObjectPath::from(format!("content/{sha256}"))
    }
}

#[async_trait::async_trait]
impl ContentStore for S3 {
    async fn store(&self, sha256: &str, temp: &Path, local: &Path) -> Result<()> {
        let key = Self::key(sha256);
        // Identical content is stored once.
        if self.store.head(&key).await.is_err() {
            let upload = self.store.put_multipart(&key).await.map_err(io)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut file = tokio::fs::File::open(temp).await.map_err(io)?;
            let mut buffer = vec![0u8; 1024 * 1024];
            loop {
                let read = file.read(&mut buffer).await.map_err(io)?;
                if read == 0 {
                    break;
                }
                writer.wait_for_capacity(2).await.map_err(io)?;
                writer.write(&buffer[..read]);
            }
            writer.finish().await.map_err(io)?;
        }
        let size = tokio::fs::metadata(temp).await.map_err(io)?.len();
        move_into_place(temp, local).await?;
        self.placed(size);
        Ok(())
    }

    async fn fetch(&self, sha256: &str, local: &Path) -> Result<()> {
        if tokio::fs::try_exists(local).await.map_err(io)? {
            // Served now: the most recently used copy is kept longest.
            let local = local.to_owned();
            let _ = tokio::task::spawn_blocking(move || {
                std::fs::File::options().write(true).open(&local).and_then(|f| f.set_modified(SystemTime::now()))
            })
            .await;
            return Ok(());
        }
        let result = self.store.get(&Self::key(sha256)).await.map_err(io)?;
        let dir = local.parent().expect("content paths have a parent");
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let temp = dir.join(format!(".{}", random_string(ALPHANUMERIC, 16)));
        let mut file = tokio::fs::File::create(&temp).await.map_err(io)?;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(io)?;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        let size = file.metadata().await.map_err(io)?.len();
        drop(file);
        move_into_place(&temp, local).await?;
        self.placed(size);
        Ok(())
    }

    async fn remove(&self, sha256: &str, local: &Path) -> Result<()> {
        match self.store.delete(&Self::key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io(e)),
        }
        remove_local(local).await
    }
}

/// Deletes the least recently used local copies until they fit in 90 % of
/// `budget`, sparing those used within [`IN_USE_GRACE`].
fn trim(dir: &Path, budget: u64) {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(next) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                todo.push(entry.path());
            } else if let Ok(modified) = meta.modified() {
                files.push((modified, meta.len(), entry.path()));
            }
        }
    }
    let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
    let target = budget / 10 * 9;
    if total <= budget {
        return;
    }
    files.sort();
    let now = SystemTime::now();
    for (modified, len, path) in files {
        if total <= target {
            break;
        }
        if now.duration_since(modified).unwrap_or_default() < IN_USE_GRACE {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
    tracing::debug!(kept_bytes = total, "trimmed the local media cache");
}

/// The configured store; `local_dir` holds the local copies.
pub fn open(settings: &MediaSettings, local_dir: PathBuf) -> Result<Arc<dyn ContentStore>> {
    match settings.backend.as_str() {
        "filesystem" => Ok(Arc::new(FileSystem)),
        "s3" => Ok(Arc::new(S3::new(settings, local_dir)?)),
        other => Err(Error::Internal(format!("media.backend: unknown backend {other:?} (filesystem or s3)"))),
    }
}
