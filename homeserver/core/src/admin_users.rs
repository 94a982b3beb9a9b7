//! What a server admin does to one account beyond `accounts::admin`:
//! read its account data, check a name is free, shadow-ban it.

use ruma::UserId;
use serde_json::Value;

use crate::moderation::Restriction;
use crate::tokens::Identity;
use crate::{Error, Result, Services};

impl Services {
    /// `GET /_synapse/admin/v1/users/{userId}/accountdata`:
    /// `{global: {type: content}, rooms: {roomId: {type: content}}}`.
    pub async fn admin_account_data(&self, caller: &Identity, user: &UserId) -> Result<Value> {
        self.require_local_account(caller, user, "Can only look up local users", "User not found").await?;
        self.account_data.grouped(user).await
    }

    /// The admin check and the target of the admin API's per-user
    /// endpoints: a local account (else 400 `remote`) that exists (else
    /// 404 `missing`; Synapse's words differ by endpoint).
    pub(crate) async fn require_local_account(
        &self,
        caller: &Identity,
        user: &UserId,
        remote: &str,
        missing: &str,
    ) -> Result<()> {
        self.accounts.require_admin(caller).await?;
        if user.server_name() != self.server_name() {
            return Err(Error::BadRequest(remote.to_owned()));
        }
        if self.accounts.account(caller, user).await?.is_none() {
            return Err(Error::NotFound(missing.to_owned()));
        }
        Ok(())
    }

    /// `GET /_synapse/admin/v1/username_available`: `Ok` when free, the
    /// registration's own refusal otherwise (taken, invalid, reserved by an
    /// application service).
    pub async fn admin_username_available(&self, caller: &Identity, username: &str) -> Result<()> {
        self.accounts.require_admin(caller).await?;
        self.accounts.username_available(username).await?;
        let localpart = self.accounts.localpart_for(username)?;
        if let Ok(user) = UserId::parse_with_server_name(localpart.as_str(), self.server_name())
            && self.appservices.exclusive_owner_of_user(&user).is_some()
        {
            return Err(Error::Exclusive(format!("{user} is reserved by an application service")));
        }
        Ok(())
    }

    /// Shadow-bans a local account, or lifts it.
    pub async fn admin_shadow_ban(&self, caller: &Identity, user: &UserId, on: bool) -> Result<()> {
        if user.server_name() != self.server_name() {
            return Err(Error::BadRequest("Only local users can be shadow-banned".to_owned()));
        }
        self.accounts.restrict(caller, user, Restriction::ShadowBanned, on).await.map(drop)
    }
}
