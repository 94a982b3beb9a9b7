//! The server's ed25519 signing key: generated on first start, stored with
//! the rest of the data (so every worker on a shared database signs with the
//! same key, and a backup includes it), loaded on every later start.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use nexus_storage::catalog::SERVER_SIGNING_KEYS;
use nexus_storage::{Direction, KeyRange, Store};
use ruma::signatures::Ed25519KeyPair;
use serde::{Deserialize, Serialize};

use crate::values::{ALPHANUMERIC, decode, encode, now_ms, random_string};
use crate::{Error, Result};

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// The PKCS#8 document, base64.
    pkcs8: String,
    created_ts: u64,
}

pub struct ServerKeys {
    key_pair: Ed25519KeyPair,
}

impl ServerKeys {
    pub async fn load_or_generate(store: &dyn Store) -> Result<Self> {
        // Two workers starting together on one database must not both
        // generate a key.
        let _guard = store.lock(b"server_signing_key").await?;
        let existing = store.scan(&SERVER_SIGNING_KEYS, KeyRange::all(), Direction::Forward, 1).await?;
        let (key_id, stored) = match existing.into_iter().next() {
            Some((key_id, bytes)) => {
                let key_id = String::from_utf8(key_id)
                    .map_err(|e| nexus_storage::Error::corrupt(SERVER_SIGNING_KEYS.name, e))?;
                (key_id, decode::<StoredKey>(&SERVER_SIGNING_KEYS, &bytes)?)
            }
            None => {
                let key_id = format!("ed25519:{}", random_string(ALPHANUMERIC, 6));
                let stored =
                    StoredKey { pkcs8: STANDARD_NO_PAD.encode(&*Ed25519KeyPair::generate()), created_ts: now_ms() };
                store.put(&SERVER_SIGNING_KEYS, key_id.as_bytes(), &encode(&stored)).await?;
                tracing::info!(%key_id, "generated the server's signing key");
                (key_id, stored)
            }
        };
        let der = STANDARD_NO_PAD
            .decode(&stored.pkcs8)
            .map_err(|e| nexus_storage::Error::corrupt(SERVER_SIGNING_KEYS.name, e))?;
        let version = key_id.strip_prefix("ed25519:").unwrap_or(&key_id).to_owned();
        let key_pair = Ed25519KeyPair::from_der(&der, version)
            .map_err(|e| Error::Internal(format!("the stored signing key does not parse: {e}")))?;
        Ok(ServerKeys { key_pair })
    }

    /// `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.key_pair.version())
    }

    /// The public key, unpadded base64 as Matrix writes keys.
    pub fn public_key_base64(&self) -> String {
        STANDARD_NO_PAD.encode(self.key_pair.public_key())
    }

    pub fn key_pair(&self) -> &Ed25519KeyPair {
        &self.key_pair
    }
}

#[cfg(test)]
mod tests {
    use nexus_storage::backend::{Backend, StoreOptions};
    use nexus_storage::catalog::NEXUS;

    use super::*;

    #[tokio::test]
    async fn the_signing_key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            backend: Backend::RocksDb { path: dir.path().to_owned() },
            sync_writes: false,
            cluster: None,
        };
        let first = {
            let store = nexus_storage::open(&options, NEXUS).await.unwrap();
            let keys = ServerKeys::load_or_generate(store.as_ref()).await.unwrap();
            store.close().await.unwrap();
            (keys.key_id(), keys.public_key_base64())
        };
        let store = nexus_storage::open(&options, NEXUS).await.unwrap();
        let again = ServerKeys::load_or_generate(store.as_ref()).await.unwrap();
        assert_eq!((again.key_id(), again.public_key_base64()), first);
        assert!(first.0.starts_with("ed25519:"));
        assert_eq!(first.1.len(), 43, "32 bytes of unpadded base64");
    }
}
