//! The archive an export writes: a zip file built on a blocking thread
//! that owns the `ZipWriter`, fed through a small bounded channel, so the
//! producer's memory stays flat whatever the export's size.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use crate::{Error, Result};

/// Chunks in flight between the producer and the writer.
const IN_FLIGHT: usize = 8;

enum Piece {
    /// Starts a new file in the archive; compressed unless `false` (media,
    /// mostly compressed already, is stored as it is).
    File(String, bool),
    /// Bytes of the current file.
    Data(Vec<u8>),
}

pub(crate) struct ArchiveWriter {
    pieces: mpsc::Sender<Piece>,
    writer: tokio::task::JoinHandle<std::io::Result<u64>>,
    path: PathBuf,
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("writing the export archive: {e}"))
}

impl ArchiveWriter {
    /// Starts writing a new archive at `path` (replacing any there).
    pub(crate) fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let file = File::create(path).map_err(failed)?;
        let (pieces, mut receiver) = mpsc::channel::<Piece>(IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || {
            let mut zip = ZipWriter::new(file);
            let options = SimpleFileOptions::default().large_file(true).unix_permissions(0o644);
            while let Some(piece) = receiver.blocking_recv() {
                match piece {
                    Piece::File(name, compressed) => {
                        let method = match compressed {
                            true => zip::CompressionMethod::Deflated,
                            false => zip::CompressionMethod::Stored,
                        };
                        zip.start_file(name, options.compression_method(method)).map_err(std::io::Error::other)?
                    }
                    Piece::Data(bytes) => zip.write_all(&bytes)?,
                }
            }
            let file = zip.finish().map_err(std::io::Error::other)?;
            file.sync_all()?;
            file.metadata().map(|m| m.len())
        });
        Ok(ArchiveWriter { pieces, writer, path: path.to_owned() })
    }

    async fn send(&self, piece: Piece) -> Result<()> {
        // A closed channel means the writer stopped on an error, which
        // `finish` reports.
        self.pieces.send(piece).await.map_err(|_| failed("the archive writer stopped"))
    }

    /// Starts a compressed file; [`ArchiveWriter::write`] adds to it.
    pub(crate) async fn start(&self, name: impl Into<String>) -> Result<()> {
        self.send(Piece::File(name.into(), true)).await
    }

    /// Starts a file stored as it is (media).
    pub(crate) async fn start_stored(&self, name: impl Into<String>) -> Result<()> {
        self.send(Piece::File(name.into(), false)).await
    }

    pub(crate) async fn write(&self, bytes: Vec<u8>) -> Result<()> {
        self.send(Piece::Data(bytes)).await
    }

    /// A whole small file.
    pub(crate) async fn file(&self, name: impl Into<String>, bytes: Vec<u8>) -> Result<()> {
        self.start(name).await?;
        self.write(bytes).await
    }

    /// Finishes the archive; its size in bytes.
    pub(crate) async fn finish(self) -> Result<u64> {
        drop(self.pieces);
        self.writer.await.map_err(failed)?.map_err(failed)
    }

    /// Gives up: the partial archive is deleted.
    pub(crate) async fn abandon(self) {
        drop(self.pieces);
        let _ = self.writer.await;
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}
