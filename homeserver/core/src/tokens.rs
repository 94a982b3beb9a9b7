//! Access and refresh tokens.
//!
//! A token is `<kind>_<id>_<secret>`: the id (96 random bits, hex) finds the
//! record, the secret (256 random bits) proves possession. Only a SHA-256 of
//! the secret is stored, and it is compared in constant time, so neither a
//! database reader nor a timing attacker learns a usable token.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_storage::catalog::{ACCESS_TOKENS, DEVICE_TOKENS, REFRESH_TOKENS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, MapDef, Store, WriteBatch};
use rand::RngCore;
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::settings::AuthSettings;
use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

const ACCESS_PREFIX: &str = "nxa";
const REFRESH_PREFIX: &str = "nxr";
const ID_BYTES: usize = 12;

/// Who a valid access token speaks for.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    /// Set when an application service acts (its `as_token`), possibly
    /// masquerading as one of its users (`crate::appservice::masquerade`).
    pub appservice: Option<crate::appservice::masquerade::Acting>,
    /// The server's operator at its console (`nexus admin` on the store):
    /// an admin without an account. Never the result of authenticating a
    /// request: only the binary constructs it, with [`Identity::operator`].
    pub operator: bool,
}

impl Identity {
    /// The operator of `server`, acting as `@nexus-admin` (a name recorded
    /// where an action records who did it; no such account is needed).
    pub fn operator(server: &ruma::ServerName) -> Identity {
        Identity {
            user_id: UserId::parse_with_server_name("nexus-admin", server).expect("a valid localpart"),
            device_id: OwnedDeviceId::from("_operator"),
            appservice: None,
            operator: true,
        }
    }

    pub fn localpart(&self) -> &str {
        self.user_id.localpart()
    }
}

/// Tokens handed to a client at login, registration or refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Set when the access token expires (only with a refresh token).
    pub expires_in: Option<Duration>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TokenRecord {
    localpart: String,
    device_id: OwnedDeviceId,
    secret_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
    /// A refresh token that stays valid until this token is first used, so
    /// that a client whose refresh response was lost can retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retires_refresh_id: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Access => ACCESS_PREFIX,
            Kind::Refresh => REFRESH_PREFIX,
        }
    }

    fn map(self) -> &'static MapDef {
        match self {
            Kind::Access => &ACCESS_TOKENS,
            Kind::Refresh => &REFRESH_TOKENS,
        }
    }

    fn tag(self) -> u64 {
        match self {
            Kind::Access => 0,
            Kind::Refresh => 1,
        }
    }
}

pub struct Tokens {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    settings: AuthSettings,
}

struct Parsed<'a> {
    id: &'a str,
    secret: &'a str,
}

fn parse(kind: Kind, token: &str) -> Option<Parsed<'_>> {
    let rest = token.strip_prefix(kind.prefix())?.strip_prefix('_')?;
    let (id, secret) = rest.split_at_checked(ID_BYTES * 2)?;
    let secret = secret.strip_prefix('_')?;
    id.bytes().all(|b| b.is_ascii_hexdigit()).then_some(Parsed { id, secret })
}

fn secret_hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

fn device_token_key(localpart: &str, device_id: &str, kind: Kind, id: &str) -> Vec<u8> {
    KeyBuilder::new().str(localpart).str(device_id).u64(kind.tag()).str(id).build()
}

impl Tokens {
    pub fn new(store: Arc<dyn Store>, server_name: OwnedServerName, settings: AuthSettings) -> Self {
        Tokens { store, server_name, settings }
    }

    fn mint(
        &self,
        batch: &mut WriteBatch,
        kind: Kind,
        localpart: &str,
        device_id: &OwnedDeviceId,
        expires_at_ms: Option<u64>,
        retires_refresh_id: Option<String>,
    ) -> (String, String) {
        let mut id = [0u8; ID_BYTES];
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let secret = URL_SAFE_NO_PAD.encode(secret);
        let record = TokenRecord {
            localpart: localpart.to_owned(),
            device_id: device_id.clone(),
            secret_sha256: secret_hash(&secret),
            expires_at_ms,
            retires_refresh_id,
        };
        batch.put(kind.map(), id.as_bytes(), encode(&record));
        batch.put(&DEVICE_TOKENS, device_token_key(localpart, device_id.as_str(), kind, &id), Vec::new());
        (format!("{}_{id}_{secret}", kind.prefix()), id)
    }

    /// Adds an access token for a device to `batch` that stops working at
    /// `expires_at_ms` (if given) and cannot be refreshed.
    pub fn issue_until(
        &self,
        batch: &mut WriteBatch,
        localpart: &str,
        device_id: &OwnedDeviceId,
        expires_at_ms: Option<u64>,
    ) -> String {
        self.mint(batch, Kind::Access, localpart, device_id, expires_at_ms, None).0
    }

    /// Adds new tokens for a device to `batch`. With `with_refresh`, the
    /// access token expires after the configured lifetime (if any).
    pub fn issue(
        &self,
        batch: &mut WriteBatch,
        localpart: &str,
        device_id: &OwnedDeviceId,
        with_refresh: bool,
    ) -> IssuedTokens {
        self.issue_replacing(batch, localpart, device_id, with_refresh, None)
    }

    fn issue_replacing(
        &self,
        batch: &mut WriteBatch,
        localpart: &str,
        device_id: &OwnedDeviceId,
        with_refresh: bool,
        retires_refresh_id: Option<String>,
    ) -> IssuedTokens {
        let lifetime = with_refresh.then(|| self.settings.access_token_lifetime()).flatten();
        let expires_at_ms = lifetime.map(|l| now_ms() + l.as_millis() as u64);
        let (access_token, _) =
            self.mint(batch, Kind::Access, localpart, device_id, expires_at_ms, retires_refresh_id.clone());
        let refresh_token =
            with_refresh.then(|| self.mint(batch, Kind::Refresh, localpart, device_id, None, retires_refresh_id).0);
        IssuedTokens { access_token, refresh_token, expires_in: lifetime }
    }

    async fn find(&self, kind: Kind, token: &str) -> Result<Option<(String, TokenRecord)>> {
        let Some(parsed) = parse(kind, token) else { return Ok(None) };
        let Some(bytes) = self.store.get(kind.map(), parsed.id.as_bytes()).await? else { return Ok(None) };
        let record: TokenRecord = decode(kind.map(), &bytes)?;
        let presented = secret_hash(parsed.secret);
        let matches: bool = presented.as_bytes().ct_eq(record.secret_sha256.as_bytes()).into();
        Ok(matches.then(|| (parsed.id.to_owned(), record)))
    }

    fn user_id(&self, localpart: &str) -> Result<OwnedUserId> {
        UserId::parse_with_server_name(localpart, &self.server_name)
            .map_err(|e| Error::Internal(format!("stored localpart {localpart:?} is invalid: {e}")))
    }

    /// The identity behind an access token.
    pub async fn authenticate(&self, access_token: &str) -> Result<Identity> {
        let Some((id, mut record)) = self.find(Kind::Access, access_token).await? else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        if record.expires_at_ms.is_some_and(|at| at <= now_ms()) {
            // The client still holds a refresh token: it may recover the
            // session without logging in again.
            return Err(Error::UnknownToken { soft_logout: true });
        }
        if let Some(retired) = record.retires_refresh_id.take() {
            self.retire_refresh(&id, Kind::Access, &record, &retired).await?;
        }
        Ok(Identity {
            user_id: self.user_id(&record.localpart)?,
            device_id: record.device_id,
            appservice: None,
            operator: false,
        })
    }

    /// First use of a token minted by a refresh: the refresh token it
    /// replaced can go.
    async fn retire_refresh(&self, id: &str, kind: Kind, record: &TokenRecord, retired: &str) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(kind.map(), id.as_bytes(), encode(record));
        self.delete_token(&mut batch, Kind::Refresh, &record.localpart, record.device_id.as_str(), retired);
        Ok(self.store.write(batch).await?)
    }

    fn delete_token(&self, batch: &mut WriteBatch, kind: Kind, localpart: &str, device_id: &str, id: &str) {
        batch.delete(kind.map(), id.as_bytes());
        batch.delete(&DEVICE_TOKENS, device_token_key(localpart, device_id, kind, id));
    }

    /// Whose refresh token this is, if it is one.
    pub async fn refresh_token_owner(&self, refresh_token: &str) -> Result<Option<OwnedUserId>> {
        match self.find(Kind::Refresh, refresh_token).await? {
            Some((_, record)) => Ok(Some(self.user_id(&record.localpart)?)),
            None => Ok(None),
        }
    }

    /// Exchanges a refresh token for a new access token and refresh token
    /// (`POST /refresh`). The old access token stops working at once.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens> {
        let Some((id, record)) = self.find(Kind::Refresh, refresh_token).await? else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        let _guard = self.store.lock(format!("device:{}:{}", record.localpart, record.device_id).as_bytes()).await?;
        // A concurrent refresh may have retired it while we waited.
        if self.store.get(&REFRESH_TOKENS, id.as_bytes()).await?.is_none() {
            return Err(Error::UnknownToken { soft_logout: false });
        }
        let mut batch = WriteBatch::new();
        for (kind, other) in self.device_token_ids(&record.localpart, record.device_id.as_str()).await? {
            if kind == Kind::Access {
                self.delete_token(&mut batch, kind, &record.localpart, record.device_id.as_str(), &other);
            }
        }
        let issued = self.issue_replacing(&mut batch, &record.localpart, &record.device_id, true, Some(id));
        self.store.write(batch).await?;
        Ok(issued)
    }

    async fn device_token_ids(&self, localpart: &str, device_id: &str) -> Result<Vec<(Kind, String)>> {
        let prefix = KeyBuilder::new().str(localpart).str(device_id).build();
        let entries = self.store.scan_prefix(&DEVICE_TOKENS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut ids = Vec::with_capacity(entries.len());
        for (key, _) in entries {
            let mut reader = KeyReader::new(&key[prefix.len()..]);
            let corrupt = |e| nexus_storage::Error::corrupt(DEVICE_TOKENS.name, e);
            let kind = if reader.u64().map_err(corrupt)? == Kind::Access.tag() { Kind::Access } else { Kind::Refresh };
            ids.push((kind, reader.str().map_err(corrupt)?));
        }
        Ok(ids)
    }

    /// Adds the removal of every token of a device to `batch`.
    pub async fn revoke_device(&self, batch: &mut WriteBatch, localpart: &str, device_id: &str) -> Result<()> {
        for (kind, id) in self.device_token_ids(localpart, device_id).await? {
            self.delete_token(batch, kind, localpart, device_id, &id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_own_format() {
        let id = "0123456789abcdef01234567";
        let token = format!("nxa_{id}_c2VjcmV0_with-dash");
        let parsed = parse(Kind::Access, &token).unwrap();
        assert_eq!(parsed.id, id);
        assert_eq!(parsed.secret, "c2VjcmV0_with-dash");
        assert!(parse(Kind::Refresh, &token).is_none());
        assert!(parse(Kind::Access, "nxa_short_x").is_none());
        assert!(parse(Kind::Access, "nxa_zz23456789abcdef01234567_x").is_none());
        assert!(parse(Kind::Access, "").is_none());
        assert!(parse(Kind::Access, "nxa_0123456789abcdef0123456é_x").is_none());
    }
}
