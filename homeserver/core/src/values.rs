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
