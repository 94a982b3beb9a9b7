//! Login tokens (spec: "Login", `m.login.token`, and
//! `POST /_matrix/client/v1/login/get_token`): a signed-in device asks for
//! a short-lived, single-use token with which another device signs in —
//! the QR-code and "sign in with another device" flows. Only the token's
//! SHA-256 is stored; redeeming deletes it.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_storage::catalog::LOGIN_TOKENS;
use nexus_storage::{Store, WriteBatch};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

/// How long a login token may wait to be used (Synapse: 2 minutes).
pub const LIFETIME: Duration = Duration::from_secs(120);

#[derive(Debug, Serialize, Deserialize)]
struct LoginTokenRecord {
    localpart: String,
    expires_at_ms: u64,
}

fn key(token: &str) -> Vec<u8> {
    hex::encode(Sha256::digest(token.as_bytes())).into_bytes()
}

pub struct LoginTokens {
    store: Arc<dyn Store>,
}

impl LoginTokens {
    pub fn new(store: Arc<dyn Store>) -> Self {
        LoginTokens { store }
    }

    /// A new token for `localpart`; the caller has checked who asks.
    pub async fn issue(&self, localpart: &str) -> Result<String> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!("nxl_{}", URL_SAFE_NO_PAD.encode(secret));
        let record =
            LoginTokenRecord { localpart: localpart.to_owned(), expires_at_ms: now_ms() + LIFETIME.as_millis() as u64 };
        let mut batch = WriteBatch::new();
        batch.put(&LOGIN_TOKENS, key(&token), encode(&record));
        self.store.write(batch).await?;
        Ok(token)
    }

    /// The user a token signs in, once: the token is gone afterwards.
    pub async fn redeem(&self, token: &str) -> Result<String> {
        let key = key(token);
        let _guard = self.store.lock(&[b"login_token:".as_slice(), &key].concat()).await?;
        let refused = || Error::Forbidden("invalid or expired login token".to_owned());
        let Some(bytes) = self.store.get(&LOGIN_TOKENS, &key).await? else { return Err(refused()) };
        self.store.delete(&LOGIN_TOKENS, &key).await?;
        let record: LoginTokenRecord = decode(&LOGIN_TOKENS, &bytes)?;
        if record.expires_at_ms < now_ms() {
            return Err(refused());
        }
        Ok(record.localpart)
    }
}
