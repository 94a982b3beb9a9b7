//! Account moderation (spec: "Account moderation"): which local accounts
//! are locked (every request but logout answers 401 `M_USER_LOCKED`) or
//! suspended (the account may read, leave, redact its own events and log
//! out, but not join, invite, send or change its profile: 403
//! `M_USER_SUSPENDED`) or shadow-banned (its events and invites are
//! answered as if sent, and dropped). Only restricted accounts have an entry, so the
//! check on every authenticated request is one point read that usually
//! finds nothing. Who may restrict whom is `accounts::admin`'s to say.

use std::collections::HashMap;
use std::sync::Arc;

use nexus_storage::catalog::ACCOUNT_MODERATION;
use nexus_storage::{Direction, KeyRange, Store};
use ruma::{OwnedServerName, UserId};
use serde::{Deserialize, Serialize};

use crate::values::{decode, encode};
use crate::{Error, Result};

/// What restricts one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restrictions {
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub suspended: bool,
    /// Shadow-banned (Synapse's admin API): what the account sends to rooms
    /// is answered as if sent, and goes nowhere.
    #[serde(default)]
    pub shadow_banned: bool,
}

/// One account's restriction to change.
#[derive(Debug, Clone, Copy)]
pub enum Restriction {
    Locked,
    Suspended,
    ShadowBanned,
}

pub struct Moderation {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
}

impl Moderation {
    pub fn new(store: Arc<dyn Store>, server_name: OwnedServerName) -> Self {
        Moderation { store, server_name }
    }

    /// A local account's restrictions (none for other servers' users).
    pub async fn restrictions(&self, user_id: &UserId) -> Result<Restrictions> {
        if user_id.server_name() != self.server_name {
            return Ok(Restrictions::default());
        }
        match self.store.get(&ACCOUNT_MODERATION, user_id.localpart().as_bytes()).await? {
            Some(bytes) => decode(&ACCOUNT_MODERATION, &bytes),
            None => Ok(Restrictions::default()),
        }
    }

    /// Every restricted account, by localpart (the admin API's lists).
    pub async fn all(&self) -> Result<HashMap<String, Restrictions>> {
        let rows = self.store.scan(&ACCOUNT_MODERATION, KeyRange::all(), Direction::Forward, usize::MAX).await?;
        let mut all = HashMap::with_capacity(rows.len());
        for (key, value) in rows {
            let localpart = String::from_utf8(key)
                .map_err(|e| nexus_storage::Error::corrupt(ACCOUNT_MODERATION.name, e.to_string()))?;
            all.insert(localpart, decode(&ACCOUNT_MODERATION, &value)?);
        }
        Ok(all)
    }

    /// Sets or lifts one restriction. The caller (accounts::admin) has
    /// checked who may; concurrent changes to one account are serialised
    /// by its user lock there.
    pub(crate) async fn set(&self, localpart: &str, restriction: Restriction, on: bool) -> Result<Restrictions> {
        let key = localpart.as_bytes();
        let mut current: Restrictions = match self.store.get(&ACCOUNT_MODERATION, key).await? {
            Some(bytes) => decode(&ACCOUNT_MODERATION, &bytes)?,
            None => Restrictions::default(),
        };
        match restriction {
            Restriction::Locked => current.locked = on,
            Restriction::Suspended => current.suspended = on,
            Restriction::ShadowBanned => current.shadow_banned = on,
        }
        if current == Restrictions::default() {
            self.store.delete(&ACCOUNT_MODERATION, key).await?;
        } else {
            self.store.put(&ACCOUNT_MODERATION, key, &encode(&current)).await?;
        }
        Ok(current)
    }

    /// Refuses a locked account (authentication, login).
    pub async fn refuse_if_locked(&self, user_id: &UserId) -> Result<()> {
        if self.restrictions(user_id).await?.locked {
            return Err(Error::UserLocked);
        }
        Ok(())
    }

    /// Refuses an action a suspended account may not take.
    pub async fn refuse_if_suspended(&self, user_id: &UserId, action: &str) -> Result<()> {
        if self.restrictions(user_id).await?.suspended {
            return Err(Error::UserSuspended(format!("Your account is suspended: you may not {action}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use nexus_storage::backend::{Backend, StoreOptions};
    use nexus_storage::catalog::NEXUS;

    use super::*;

    #[tokio::test]
    async fn restrictions_are_set_lifted_and_forgotten_when_none_remain() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            backend: Backend::RocksDb { path: dir.path().to_owned() },
            sync_writes: false,
            cluster: None,
        };
        let store = nexus_storage::open(&options, NEXUS).await.unwrap();
        let moderation = Moderation::new(store, "example.org".try_into().unwrap());
        let alice: &UserId = "@alice:example.org".try_into().unwrap();
        let remote: &UserId = "@alice:elsewhere.org".try_into().unwrap();
        assert_eq!(moderation.restrictions(alice).await.unwrap(), Restrictions::default());
        moderation.set("alice", Restriction::Locked, true).await.unwrap();
        moderation.set("alice", Restriction::Suspended, true).await.unwrap();
        assert!(matches!(moderation.refuse_if_locked(alice).await, Err(Error::UserLocked)));
        assert!(matches!(moderation.refuse_if_suspended(alice, "send").await, Err(Error::UserSuspended(_))));
        assert!(moderation.refuse_if_locked(remote).await.is_ok());
        moderation.set("alice", Restriction::Locked, false).await.unwrap();
        assert_eq!(moderation.all().await.unwrap().len(), 1);
        moderation.set("alice", Restriction::Suspended, false).await.unwrap();
        assert!(moderation.all().await.unwrap().is_empty());
        assert!(moderation.refuse_if_suspended(alice, "send").await.is_ok());
    }
}
