//! Values in maps are JSON: readable when debugging, and tolerant of new
//! optional fields (`#[serde(default)]`) without migrations.

use nexus_storage::MapDef;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise: they contain only strings, numbers and maps")
}

pub(crate) fn decode<T: DeserializeOwned>(map: &'static MapDef, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::from(nexus_storage::Error::corrupt(map.name, e)))
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `len` random characters from `alphabet`, from the OS's CSPRNG.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect()
}

pub(crate) const UPPERCASE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub(crate) const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A stored record or key that does not decode: storage corruption, never
/// a client's fault.
pub(crate) fn corrupt(map: &'static MapDef, detail: impl std::fmt::Display) -> Error {
    nexus_storage::Error::corrupt(map.name, detail).into()
}

/// Entries deleted per batch when a whole key range goes (room purges):
/// memory stays flat however large the range.
const PURGE_CHUNK: usize = 1_000;

/// Deletes every entry of `map` under `prefix`, a chunk at a time; the
/// number deleted. Safe to repeat after a crash: it deletes what is left.
pub(crate) async fn delete_prefix(
    store: &dyn nexus_storage::Store,
    map: &'static MapDef,
    prefix: &[u8],
) -> Result<usize> {
    let mut deleted = 0;
    loop {
        let entries = store.scan_prefix(map, prefix, nexus_storage::Direction::Forward, PURGE_CHUNK).await?;
        if entries.is_empty() {
            return Ok(deleted);
        }
        let mut batch = nexus_storage::WriteBatch::new();
        for (key, _) in &entries {
            batch.delete(map, key.clone());
        }
        deleted += entries.len();
        store.write(batch).await?;
    }
}
