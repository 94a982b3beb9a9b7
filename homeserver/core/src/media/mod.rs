//! The content repository (spec: "Content repository"): uploads streamed to
//! disk, stored once per distinct content (by SHA-256), served with safe
//! headers, and thumbnails.

pub mod admin;
pub mod content_store;
pub mod preview;
pub mod remote;
pub mod thumbnails;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use nexus_storage::Store;
use nexus_storage::catalog::MEDIA;
use ruma::{OwnedMxcUri, OwnedServerName, OwnedUserId, ServerName, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

pub use thumbnails::Method;

use crate::settings::MediaSettings;
use crate::values::{ALPHANUMERIC, decode, now_ms, random_string};
use crate::{Error, Result};

/// How long a `/create`d media id waits for its content (spec: at least a
/// minute; the server says when in `unused_expires_at`).
const PENDING_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Hex SHA-256 of the content; `None` while pending.
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: u64,
    pub uploader: OwnedUserId,
    pub created_ts: u64,
    /// The admin who quarantined it: it is not served while set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_by: Option<String>,
    /// Protected from quarantine (the admin API's `protect`).
    #[serde(default)]
    pub safe_from_quarantine: bool,
}

/// Content ready to be served.
pub struct Content {
    pub path: PathBuf,
    pub size: u64,
    pub content_type: String,
    pub filename: Option<String>,
}

pub struct Media {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    dir: PathBuf,
    settings: MediaSettings,
    /// Fetches other servers' media; `None` in tests without federation.
    federation: Option<Arc<crate::federation::client::FederationClient>>,
    contents: Arc<dyn content_store::ContentStore>,
}

impl Media {
    pub fn new(
        store: Arc<dyn Store>,
        server_name: OwnedServerName,
        dir: PathBuf,
        settings: MediaSettings,
        federation: Option<Arc<crate::federation::client::FederationClient>>,
    ) -> Result<Self> {
        let contents = content_store::open(&settings, dir.join("content"))?;
        Ok(Media { store, server_name, dir, settings, federation, contents })
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.settings.max_upload_bytes
    }

    pub fn legacy_frozen(&self) -> bool {
        self.settings.freeze_legacy_endpoints
    }

    fn content_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("content").join(&sha256[..2]).join(sha256)
    }

    fn mxc(&self, media_id: &str) -> OwnedMxcUri {
        format!("mxc://{}/{media_id}", self.server_name).into()
    }

    /// `POST /media/v1/create`: a media id to upload to later.
    pub async fn create(&self, uploader: &UserId) -> Result<(OwnedMxcUri, u64)> {
        let media_id = random_string(ALPHANUMERIC, 24);
        let record = Record {
            sha256: None,
            content_type: None,
            filename: None,
            size: 0,
            uploader: uploader.to_owned(),
            created_ts: now_ms(),
            quarantined_by: None,
            safe_from_quarantine: false,
        };
        self.store.write(self.record_batch(&media_id, &record)).await?;
        Ok((self.mxc(&media_id), record.created_ts + PENDING_LIFETIME_MS))
    }

    /// `POST /upload` (no `media_id`) or `PUT /upload/{server}/{mediaId}`
    /// (content for a `/create`d id, by its creator, once).
    pub async fn upload<E: std::fmt::Display>(
        &self,
        uploader: &UserId,
        target: Option<(&ServerName, &str)>,
        content_type: Option<String>,
        filename: Option<String>,
        body: impl Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    ) -> Result<OwnedMxcUri> {
        let media_id = match target {
            None => random_string(ALPHANUMERIC, 24),
            Some((server, media_id)) => {
                if server != self.server_name {
                    return Err(Error::Forbidden("media can only be uploaded to this server".to_owned()));
                }
                let record =
                    self.record(media_id).await?.ok_or_else(|| Error::NotFound("no such media id".to_owned()))?;
                if record.uploader != uploader {
                    return Err(Error::Forbidden("this media id was created by someone else".to_owned()));
                }
                if record.sha256.is_some() {
                    return Err(Error::CannotOverwriteMedia("this media already has content".to_owned()));
                }
                if now_ms() > record.created_ts + PENDING_LIFETIME_MS {
                    return Err(Error::NotFound("this media id has expired".to_owned()));
                }
                media_id.to_owned()
            }
        };
        let (sha256, size) = self.receive(body).await?;
        let record = Record {
            sha256: Some(sha256.clone()),
            content_type,
            filename,
            size,
            uploader: uploader.to_owned(),
            created_ts: now_ms(),
            quarantined_by: None,
            safe_from_quarantine: false,
        };
        self.store.write(self.record_batch(&media_id, &record)).await?;
        thumbnails::pregenerate(
            self.thumbnail_dir(),
            self.content_path(&sha256),
            sha256,
            self.settings.thumbnail_sizes.clone(),
        );
        Ok(self.mxc(&media_id))
    }

    /// Streams a body to a temporary file while hashing it, then files it
    /// under its hash (once: identical content is stored once).
    async fn receive<E: std::fmt::Display>(
        &self,
        mut body: impl Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    ) -> Result<(String, u64)> {
        let incoming = self.dir.join("incoming");
        tokio::fs::create_dir_all(&incoming).await.map_err(io)?;
        let temp = incoming.join(random_string(ALPHANUMERIC, 16));
        let mut file = tokio::fs::File::create(&temp).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let outcome: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::BadRequest(format!("the upload was interrupted: {e}")))?;
                size += chunk.len() as u64;
                if size > self.settings.max_upload_bytes {
                    return Err(Error::TooLarge(format!(
                        "uploads are limited to {} bytes",
                        self.settings.max_upload_bytes
                    )));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(io)?;
            }
            // Acknowledged media must survive a crash: flush before filing.
            file.sync_all().await.map_err(io)
        }
        .await;
        drop(file);
        if let Err(e) = outcome {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
        let sha256 = hex::encode(hasher.finalize());
        let stored = self.contents.store(&sha256, &temp, &self.content_path(&sha256)).await;
        if stored.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        stored?;
        Ok((sha256, size))
    }

    async fn record(&self, media_id: &str) -> Result<Option<Record>> {
        let bytes = self.store.get(&MEDIA, media_id.as_bytes()).await?;
        bytes.map(|b| decode(&MEDIA, &b)).transpose()
    }

    /// The content of `mxc://server/media_id`, for download.
    pub async fn content(&self, server: &ServerName, media_id: &str) -> Result<Content> {
        if server != self.server_name {
            return self.remote_content(server, media_id).await;
        }
        if media_id.contains('/') {
            return Err(Error::NotFound("no such media".to_owned()));
        }
        let record = self.record(media_id).await?.ok_or_else(|| Error::NotFound("no such media".to_owned()))?;
        if record.quarantined_by.is_some() {
            return Err(Error::NotFound("no such media".to_owned()));
        }
        let Some(sha256) = record.sha256 else {
            // Spec: content not yet uploaded to a created id.
            return Err(Error::NotYetUploaded("the media has not been uploaded yet".to_owned()));
        };
        let path = self.content_path(&sha256);
        self.contents.fetch(&sha256, &path).await?;
        Ok(Content {
            path,
            size: record.size,
            content_type: record.content_type.unwrap_or_else(|| "application/octet-stream".to_owned()),
            filename: record.filename,
        })
    }

    fn thumbnail_dir(&self) -> PathBuf {
        self.dir.join("thumbnails")
    }

    /// A thumbnail of at most `width`×`height` (cropped or scaled); a 400
    /// when the media is not an image this server can read (spec).
    pub async fn thumbnail(
        &self,
        server: &ServerName,
        media_id: &str,
        width: u32,
        height: u32,
        method: Method,
        animated: bool,
    ) -> Result<Content> {
        if width == 0 || height == 0 || width > 4096 || height > 4096 {
            return Err(Error::InvalidParam("thumbnail sizes are 1 to 4096 pixels".to_owned()));
        }
        let original = self.content(server, media_id).await?;
        let sha256 = original.path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        match thumbnails::make(&self.thumbnail_dir(), &original.path, &sha256, width, height, method, animated).await? {
            Some((path, size, content_type)) => Ok(Content { path, size, content_type, filename: None }),
            None => Err(Error::BadRequest("this media is not an image a thumbnail can be made of".to_owned())),
        }
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Internal(format!("media storage: {e}"))
}

/// The default media directory beside the database.
pub fn default_dir(storage_path: &Path) -> PathBuf {
    storage_path.join("media")
}
