//! What a server admin does to one account beyond `accounts::admin`:
//! read its account data, check a name is free, shadow-ban it.

use ruma::UserId;
use serde_json::{Map, Value, json};

use crate::moderation::Restriction;
use crate::tokens::Identity;
use crate::{Error, Result, Services};

impl Services {
    /// `GET /_synapse/admin/v1/users/{userId}/accountdata`:
    /// `{global: {type: content}, rooms: {roomId: {type: content}}}`.
    pub async fn admin_account_data(&self, caller: &Identity, user: &UserId) -> Result<Value> {
        self.accounts.require_admin(caller).await?;
        if user.server_name() != self.server_name() {
            return Err(Error::BadRequest("Can only look up local users".to_owned()));
        }
        if self.accounts.account(caller, user).await?.is_none() {
            return Err(Error::NotFound("User not found".to_owned()));
        }
        let mut global = Map::new();
        let mut rooms: Map<String, Value> = Map::new();
        for (room, kind, content) in self.account_data.all_of(user).await? {
            match room {
                None => {
                    global.insert(kind, Value::Object(content));
                }
                Some(room) => {
                    rooms.entry(room).or_insert_with(|| json!({}))[kind] = Value::Object(content);
                }
            }
        }
        Ok(json!({ "global": global, "rooms": rooms }))
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
