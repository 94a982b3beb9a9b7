//! Other servers' signing keys: fetched from the server itself
//! (`GET /_matrix/key/v2/server`), checked against its own signature, and
//! cached with their validity; and this server's key document, which also
//! answers notary queries (`/_matrix/key/v2/query`) from that cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use nexus_storage::Store;
use nexus_storage::catalog::REMOTE_SERVER_KEYS;
use ruma::canonical_json::CanonicalJsonObject;
use ruma::serde::Base64;
use ruma::signatures::{PublicKeyMap, PublicKeySet};
use ruma::{OwnedServerName, ServerName};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::FederationClient;
use crate::server_keys::ServerKeys;
use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

/// How long this server's key document says its key is valid; others
/// cache it that long (the spec suggests not more than a week).
const OWN_KEY_VALIDITY_MS: u64 = 7 * 24 * 3600 * 1000;
/// A document without `valid_until_ts`, or far-future ones, are refreshed
/// at least this often.
const MAX_CACHE_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedKey {
    /// Unpadded base64.
    key: String,
    /// Until when signatures by this key are valid; for an old key, when it
    /// expired.
    valid_until_ts: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerKeyRecord {
    /// The document as the server signed it (returned to notary queries).
    document: String,
    keys: BTreeMap<String, CachedKey>,
    fetched_ts: u64,
    valid_until_ts: u64,
}

pub struct RemoteKeys {
    store: Arc<dyn Store>,
    client: Arc<FederationClient>,
    own: Arc<ServerKeys>,
    server_name: OwnedServerName,
}

impl RemoteKeys {
    pub fn new(store: Arc<dyn Store>, client: Arc<FederationClient>, own: Arc<ServerKeys>) -> Self {
        let server_name = client.server_name().to_owned();
        RemoteKeys { store, client, own, server_name }
    }

    /// This server's key document, signed (`GET /_matrix/key/v2/server`).
    pub fn own_document(&self) -> Result<Value> {
        let mut document = json!({
            "server_name": self.server_name,
            "valid_until_ts": now_ms() + OWN_KEY_VALIDITY_MS,
            "verify_keys": { self.own.key_id(): { "key": self.own.public_key_base64() } },
            "old_verify_keys": {},
        });
        self.sign(&mut document)?;
        Ok(document)
    }

    /// Adds this server's signature to a JSON object.
    pub fn sign(&self, value: &mut Value) -> Result<()> {
        let mut object: CanonicalJsonObject = serde_json::from_value(value.clone())
            .map_err(|e| Error::Internal(format!("signing non-canonical JSON: {e}")))?;
        ruma::signatures::sign_json(self.server_name.as_str(), self.own.key_pair(), &mut object)
            .map_err(|e| Error::Internal(format!("signing: {e}")))?;
        *value = ruma::CanonicalJsonValue::Object(object).into();
        Ok(())
    }

    /// The keys of `servers`, fetching any server whose keys are unknown or
    /// stale. A server whose keys cannot be had is left out (verification
    /// then fails for it, which is the right outcome).
    ///
    /// With `valid_at` (room versions 5 and later, spec: "Validating
    /// hashes and signatures on received events"), a key whose validity
    /// ended before that time does not count.
    pub async fn public_key_map(
        &self,
        servers: impl IntoIterator<Item = &ServerName>,
        valid_at: Option<u64>,
    ) -> Result<PublicKeyMap> {
        let mut map = PublicKeyMap::new();
        for server in servers {
            let keys = self.keys_of(server).await?;
            let mut set = PublicKeySet::new();
            for (key_id, key) in keys {
                if valid_at.is_some_and(|ts| key.valid_until_ts < ts) {
                    continue;
                }
                if let Ok(bytes) = Base64::parse(&key.key) {
                    set.insert(key_id, bytes);
                }
            }
            map.insert(server.to_string(), set);
        }
        Ok(map)
    }

    /// The key `key_id` of `server`, if it can be had.
    pub async fn key(&self, server: &ServerName, key_id: &str) -> Result<Option<String>> {
        let record = self.record(server).await?;
        if let Some(key) = record.as_ref().and_then(|r| r.keys.get(key_id)) {
            return Ok(Some(key.key.clone()));
        }
        // A key we have not seen: the server may have rotated; ask again.
        let fresh = self.fetch(server).await?;
        Ok(fresh.and_then(|r| r.keys.get(key_id).map(|k| k.key.clone())))
    }

    async fn keys_of(&self, server: &ServerName) -> Result<BTreeMap<String, CachedKey>> {
        if server == self.server_name {
            let key = CachedKey { key: self.own.public_key_base64(), valid_until_ts: u64::MAX };
            return Ok(BTreeMap::from([(self.own.key_id(), key)]));
        }
        let record = match self.record(server).await? {
            Some(record) if record.valid_until_ts > now_ms() => Some(record),
            stale => self.fetch(server).await?.or(stale),
        };
        Ok(record.map(|r| r.keys).unwrap_or_default())
    }

    async fn record(&self, server: &ServerName) -> Result<Option<ServerKeyRecord>> {
        let bytes = self.store.get(&REMOTE_SERVER_KEYS, server.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&REMOTE_SERVER_KEYS, &b)).transpose()
    }

    /// Fetches and checks a server's key document, and caches it.
    async fn fetch(&self, server: &ServerName) -> Result<Option<ServerKeyRecord>> {
        let document = match self.client.get_unsigned(server, "/_matrix/key/v2/server").await {
            Ok(document) => document,
            Err(e) => {
                tracing::warn!(%server, error = %e, "could not fetch the server's keys");
                return Ok(None);
            }
        };
        match self.check_document(server, &document) {
            Ok(record) => {
                self.store.put(&REMOTE_SERVER_KEYS, server.as_str().as_bytes(), &encode(&record)).await?;
                Ok(Some(record))
            }
            Err(reason) => {
                tracing::warn!(%server, %reason, "refused the server's key document");
                Ok(None)
            }
        }
    }

    /// A key document must name the server, and be signed by every key it
    /// lists as current.
    fn check_document(&self, server: &ServerName, document: &Value) -> std::result::Result<ServerKeyRecord, String> {
        if document.get("server_name").and_then(Value::as_str) != Some(server.as_str()) {
            return Err("server_name does not match".to_owned());
        }
        let mut keys = BTreeMap::new();
        let valid_until_ts =
            document.get("valid_until_ts").and_then(Value::as_u64).unwrap_or(0).min(now_ms() + MAX_CACHE_MS);
        let verify_keys = document.get("verify_keys").and_then(Value::as_object).ok_or("no verify_keys")?;
        for (key_id, key) in verify_keys {
            let key = key.get("key").and_then(Value::as_str).ok_or("a verify key has no key")?;
            keys.insert(key_id.clone(), CachedKey { key: key.to_owned(), valid_until_ts });
        }
        if let Some(old) = document.get("old_verify_keys").and_then(Value::as_object) {
            for (key_id, key) in old {
                let (Some(k), Some(expired)) =
                    (key.get("key").and_then(Value::as_str), key.get("expired_ts").and_then(Value::as_u64))
                else {
                    continue;
                };
                keys.entry(key_id.clone()).or_insert(CachedKey { key: k.to_owned(), valid_until_ts: expired });
            }
        }
        let object: CanonicalJsonObject =
            serde_json::from_value(document.clone()).map_err(|e| format!("not canonical JSON: {e}"))?;
        let mut current = PublicKeySet::new();
        for key_id in verify_keys.keys() {
            let key = Base64::parse(&keys[key_id].key).map_err(|e| format!("{key_id}: {e}"))?;
            current.insert(key_id.clone(), key);
        }
        let map = PublicKeyMap::from([(server.to_string(), current)]);
        ruma::signatures::verify_json(&map, &object).map_err(|e| format!("bad self-signature: {e}"))?;
        Ok(ServerKeyRecord {
            document: serde_json::to_string(document).map_err(|e| e.to_string())?,
            keys,
            fetched_ts: now_ms(),
            valid_until_ts,
        })
    }

    /// A notary answer for `server` (`/_matrix/key/v2/query`): its document,
    /// countersigned by this server; fetched when ours is older than
    /// `minimum_valid_until_ts` asks.
    pub async fn notarise(&self, server: &ServerName, minimum_valid_until_ts: u64) -> Result<Option<Value>> {
        if server == self.server_name {
            return self.own_document().map(Some);
        }
        let record = match self.record(server).await? {
            Some(record) if record.valid_until_ts >= minimum_valid_until_ts && record.valid_until_ts > now_ms() => {
                Some(record)
            }
            _ => self.fetch(server).await?,
        };
        let Some(record) = record else { return Ok(None) };
        let mut document: Value =
            serde_json::from_str(&record.document).map_err(|e| Error::Internal(format!("cached key document: {e}")))?;
        self.sign(&mut document)?;
        Ok(Some(document))
    }
}
