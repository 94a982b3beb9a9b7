//! Registration tokens an admin makes (Synapse's admin API): each may be
//! limited in uses and time. They are valid for the
//! `m.login.registration_token` stage beside the configured ones; a
//! registration that completes with one counts a use. The stage and the
//! registration happen in one request here, so no use is ever pending.

use nexus_storage::catalog::REGISTRATION_TOKENS;
use nexus_storage::{Direction, KeyRange};
use serde::{Deserialize, Serialize};

use super::{Accounts, user_lock};
use crate::tokens::Identity;
use crate::values::{decode, encode, now_ms, random_string};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistrationToken {
    pub token: String,
    /// `None`: unlimited.
    pub uses_allowed: Option<u64>,
    pub completed: u64,
    /// Unix milliseconds; `None`: never expires.
    pub expiry_time: Option<u64>,
}

impl RegistrationToken {
    pub fn valid_at(&self, now: u64) -> bool {
        self.uses_allowed.is_none_or(|allowed| self.completed < allowed) && self.expiry_time.is_none_or(|t| t > now)
    }
}

/// The characters Synapse allows in a token.
fn valid_token(token: &str) -> bool {
    (1..=64).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

impl Accounts {
    async fn stored_token(&self, token: &str) -> Result<Option<RegistrationToken>> {
        let found = self.store.get(&REGISTRATION_TOKENS, token.as_bytes()).await?;
        found.map(|v| decode(&REGISTRATION_TOKENS, &v)).transpose()
    }

    /// Whether an admin-made token may be used now.
    pub(super) async fn stored_token_valid(&self, token: &str) -> Result<bool> {
        Ok(self.stored_token(token).await?.is_some_and(|t| t.valid_at(now_ms())))
    }

    /// A registration completed with `token`: one use of it.
    pub(super) async fn token_used(&self, token: &str) -> Result<()> {
        let _guard = self.store.lock(&user_lock(&format!("registration-token:{token}"))).await?;
        if let Some(mut stored) = self.stored_token(token).await? {
            stored.completed += 1;
            self.store.put(&REGISTRATION_TOKENS, token.as_bytes(), &encode(&stored)).await?;
        }
        Ok(())
    }

    /// Every admin-made token (`valid`: only those usable now, or only
    /// those not).
    pub async fn registration_tokens(&self, caller: &Identity, valid: Option<bool>) -> Result<Vec<RegistrationToken>> {
        self.require_admin(caller).await?;
        let now = now_ms();
        let rows = self.store.scan(&REGISTRATION_TOKENS, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        let mut tokens = Vec::with_capacity(rows.len());
        for (_, value) in rows {
            let token: RegistrationToken = decode(&REGISTRATION_TOKENS, &value)?;
            if valid.is_none_or(|v| token.valid_at(now) == v) {
                tokens.push(token);
            }
        }
        Ok(tokens)
    }

    pub async fn registration_token(&self, caller: &Identity, token: &str) -> Result<Option<RegistrationToken>> {
        self.require_admin(caller).await?;
        self.stored_token(token).await
    }

    /// Makes a token (`token`, or a random one of `length` characters).
    pub async fn create_registration_token(
        &self,
        caller: &Identity,
        token: Option<String>,
        length: usize,
        uses_allowed: Option<u64>,
        expiry_time: Option<u64>,
    ) -> Result<RegistrationToken> {
        self.require_admin(caller).await?;
        if expiry_time.is_some_and(|t| t < now_ms()) {
            return Err(Error::InvalidParam("expiry_time must not be in the past".to_owned()));
        }
        let token = match token {
            Some(token) if valid_token(&token) => token,
            Some(_) => {
                return Err(Error::InvalidParam(
                    "token must consist only of characters matched by the regex [A-Za-z0-9._~-]".to_owned(),
                ));
            }
            None if (1..=64).contains(&length) => {
                random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-", length)
            }
            None => return Err(Error::InvalidParam("length must be an integer > 0 and <= 64".to_owned())),
        };
        let _guard = self.store.lock(&user_lock(&format!("registration-token:{token}"))).await?;
        if self.stored_token(&token).await?.is_some() {
            return Err(Error::InvalidParam(format!("Token already in use: {token}")));
        }
        let made = RegistrationToken { token: token.clone(), uses_allowed, completed: 0, expiry_time };
        self.store.put(&REGISTRATION_TOKENS, token.as_bytes(), &encode(&made)).await?;
        Ok(made)
    }

    /// Changes a token's limits (`Some(None)`: unlimited).
    pub async fn update_registration_token(
        &self,
        caller: &Identity,
        token: &str,
        uses_allowed: Option<Option<u64>>,
        expiry_time: Option<Option<u64>>,
    ) -> Result<Option<RegistrationToken>> {
        self.require_admin(caller).await?;
        let _guard = self.store.lock(&user_lock(&format!("registration-token:{token}"))).await?;
        let Some(mut stored) = self.stored_token(token).await? else { return Ok(None) };
        if let Some(uses_allowed) = uses_allowed {
            stored.uses_allowed = uses_allowed;
        }
        if let Some(expiry_time) = expiry_time {
            if expiry_time.is_some_and(|t| t < now_ms()) {
                return Err(Error::InvalidParam("expiry_time must not be in the past".to_owned()));
            }
            stored.expiry_time = expiry_time;
        }
        self.store.put(&REGISTRATION_TOKENS, token.as_bytes(), &encode(&stored)).await?;
        Ok(Some(stored))
    }

    /// True when it existed.
    pub async fn delete_registration_token(&self, caller: &Identity, token: &str) -> Result<bool> {
        self.require_admin(caller).await?;
        if self.stored_token(token).await?.is_none() {
            return Ok(false);
        }
        self.store.delete(&REGISTRATION_TOKENS, token.as_bytes()).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_run_out_and_expire() {
        let token = RegistrationToken { token: "t".into(), uses_allowed: Some(1), completed: 0, expiry_time: Some(10) };
        assert!(token.valid_at(5));
        assert!(!token.valid_at(10));
        assert!(!RegistrationToken { completed: 1, ..token.clone() }.valid_at(5));
        assert!(RegistrationToken { uses_allowed: None, expiry_time: None, completed: 9, ..token }.valid_at(99));
        assert!(valid_token("abc-_.~9") && !valid_token("a b") && !valid_token(""));
    }
}
