//! OpenID tokens (spec: client-server "OpenID", server-server
//! `/openid/userinfo`): a user asks for a short-lived token that proves
//! their identity to a third party, which checks it with this server.
//! Stored hashed, like access tokens.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_storage::Store;
use nexus_storage::catalog::OPENID_TOKENS;
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::values::{ALPHANUMERIC, decode, encode, now_ms, random_string};
use crate::{Error, Result};

/// How long an OpenID token is good for.
pub const LIFETIME_SECS: u64 = 3600;

#[derive(Serialize, Deserialize)]
struct Record {
    user_id: OwnedUserId,
    expires_ts: u64,
}

pub struct OpenId {
    store: Arc<dyn Store>,
}

fn token_key(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())).into_bytes()
}

impl OpenId {
    pub fn new(store: Arc<dyn Store>) -> Self {
        OpenId { store }
    }

    /// A new token for `user`.
    pub async fn issue(&self, user: &UserId) -> Result<String> {
        let token = random_string(ALPHANUMERIC, 43);
        let record = Record { user_id: user.to_owned(), expires_ts: now_ms() + LIFETIME_SECS * 1000 };
        self.store.put(&OPENID_TOKENS, &token_key(&token), &encode(&record)).await?;
        Ok(token)
    }

    /// The user a token was issued to, while it is valid.
    pub async fn user_of(&self, token: &str) -> Result<OwnedUserId> {
        let bytes = self.store.get(&OPENID_TOKENS, &token_key(token)).await?;
        let record: Option<Record> = bytes.map(|b| decode(&OPENID_TOKENS, &b)).transpose()?;
        match record {
            Some(record) if record.expires_ts > now_ms() => Ok(record.user_id),
            _ => Err(Error::UnknownToken { soft_logout: false }),
        }
    }
}
