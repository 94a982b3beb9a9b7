//! How fast one user may send events to rooms (`rate_limits.message_*`,
//! off by default): a token bucket per user, in memory, and per-user
//! overrides an admin sets (Synapse's `override_ratelimit`; 0 and 0 means
//! no limit for that user), stored. Application services are not limited
//! (their bridged traffic arrives in bursts by nature).

use std::sync::Arc;

use nexus_storage::Store;
use nexus_storage::catalog::RATELIMIT_OVERRIDES;
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::rate_limits::{Rule, TokenBuckets};
use crate::tokens::Identity;
use crate::values::{decode, encode};

/// An admin's override for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub messages_per_second: u64,
    pub burst_count: u64,
}

pub struct MessageLimits {
    store: Arc<dyn Store>,
    /// The server's rule; `None`: not limited.
    default: Option<Rule>,
    buckets: TokenBuckets<OwnedUserId>,
}

impl MessageLimits {
    pub fn new(store: Arc<dyn Store>, per_second: f64, burst: u32) -> Self {
        let default = (per_second > 0.0).then(|| Rule::new(per_second, burst));
        MessageLimits { store, default, buckets: TokenBuckets::default() }
    }

    pub async fn override_of(&self, user: &UserId) -> Result<Option<Override>> {
        let bytes = self.store.get(&RATELIMIT_OVERRIDES, user.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&RATELIMIT_OVERRIDES, &b)).transpose()
    }

    /// Sets (`Some`) or removes a user's override. The caller (the admin
    /// API through `Services`) checked who may.
    pub(crate) async fn set_override(&self, user: &UserId, value: Option<Override>) -> Result<()> {
        let key = user.as_str().as_bytes();
        match value {
            Some(value) => self.store.put(&RATELIMIT_OVERRIDES, key, &encode(&value)).await?,
            None => self.store.delete(&RATELIMIT_OVERRIDES, key).await?,
        }
        Ok(())
    }

    /// Takes one send from the caller's allowance, or `M_LIMIT_EXCEEDED`
    /// with how long to wait.
    /// In a cluster: one allowance per user across every process.
    pub fn share(&self, keys: nexus_storage::redis_channel::RedisKeys) {
        self.buckets.share(keys, "messages");
    }

    pub async fn check(&self, caller: &Identity) -> Result<()> {
        if caller.appservice.is_some() {
            return Ok(());
        }
        let rule = match self.override_of(&caller.user_id).await? {
            Some(Override { messages_per_second: 0, burst_count: 0 }) => None,
            Some(o) => Some(Rule::new(o.messages_per_second as f64, u32::try_from(o.burst_count).unwrap_or(u32::MAX))),
            None => self.default,
        };
        match rule {
            Some(rule) => self.buckets.take_now(caller.user_id.clone(), rule).await,
            None => Ok(()),
        }
    }
}

impl crate::Services {
    /// `GET /_synapse/admin/v1/users/{userId}/override_ratelimit`.
    pub async fn admin_ratelimit_override(&self, caller: &Identity, user: &UserId) -> Result<Option<Override>> {
        self.require_local_account(caller, user, "Can only look up local users", "User not found").await?;
        self.message_limits.override_of(user).await
    }

    /// `POST` (`Some`) or `DELETE` (`None`) of a user's override.
    pub async fn admin_set_ratelimit_override(
        &self,
        caller: &Identity,
        user: &UserId,
        value: Option<Override>,
    ) -> Result<()> {
        self.require_local_account(caller, user, "Only local users can be ratelimited", "User not found").await?;
        self.message_limits.set_override(user, value).await
    }
}
